"""Real sockets between nodes: listeners on one node, connections from another.

socat is on every node (the prereqs role installs it). Listeners end by themselves (timeout)
and are also stopped by PID when a check is done. A listener that did not start, or a client
that cannot try, is an error: never a port that reads as closed.
"""

from __future__ import annotations

import contextlib
import shlex

LISTEN_SECONDS = 60


def until_listening(port: int, protocol: str = "tcp", seconds: float = 10) -> str:
    """Shell that waits (at most `seconds`) until something listens on `port`: a listener started in
    the background may not have bound yet when the next command runs, on a busy machine."""
    flags = {"tcp": "-Hltn", "udp": "-Hlun"}[protocol]
    return (f"for _ in $(seq {int(seconds * 10)}); do ss {flags} {shlex.quote(f'sport = :{int(port)}')} "
            "| grep -q . && break; sleep 0.1; done")


def start_peer_echo(server, port: int = 8000) -> None:
    """A listener on `server` (a node or a pod) that answers every connection with the address it
    saw the client come from; returns once it listens."""
    server.run(f"setsid timeout {LISTEN_SECONDS} socat TCP-LISTEN:{int(port)},fork,reuseaddr "
               f"SYSTEM:'echo $SOCAT_PEERADDR' </dev/null >/dev/null 2>&1 & {until_listening(port)}")


@contextlib.contextmanager
def listeners(host, tcp_ports=(), udp_ports=()):
    """TCP listeners that accept and close; UDP receivers that append to /tmp/kw-udp-PORT."""
    starts = [["socat", f"TCP-LISTEN:{port},fork,reuseaddr", "EXEC:/bin/true"] for port in tcp_ports]
    starts += [["socat", "-u", f"UDP-RECV:{port}", f"OPEN:/tmp/kw-udp-{port},creat,trunc"] for port in udp_ports]
    script = "; ".join(f"setsid timeout {LISTEN_SECONDS} {shlex.join(start)} </dev/null >/dev/null 2>&1 & echo $!"
                       for start in starts)
    ready = [until_listening(port) for port in tcp_ports] + [until_listening(port, "udp") for port in udp_ports]
    pids = host.run("; ".join([script, *ready])).stdout.split()
    try:
        assert len(pids) == len(starts), f"started {len(pids)} of {len(starts)} listeners: {pids}"
        # A listener that could not bind (port in use, no socat) has exited by now.
        pid_list = " ".join(map(shlex.quote, pids))
        alive = host.run(f"for pid in {pid_list}; do kill -0 \"$pid\" && echo \"$pid\"; done")
        dead = [" ".join(start) for start, pid in zip(starts, pids, strict=True) if pid not in alive.stdout.split()]
        assert not dead, f"listeners that did not start: {dead}"
        yield
    finally:
        host.run("kill " + " ".join(map(shlex.quote, pids)) + " 2>/dev/null; rm -f /tmp/kw-udp-*")


def tcp_reachable(client, address: str, ports, timeout: float = 1.0) -> dict[int, bool]:
    """Try every port at once from `client`; a dropped port costs `timeout`, in parallel."""
    probes = " ".join(
        f"(socat -u /dev/null {shlex.quote(f'TCP:{address}:{port},connect-timeout={timeout}')} && echo {port} open"
        f" || echo {port} closed) &" for port in ports)
    ran = client.run(f"command -v socat >/dev/null || exit 97; {probes} wait")
    assert ran.rc == 0, f"cannot try connections from {client}: rc {ran.rc} (97: no socat) {ran.stderr}"
    results = dict(line.split() for line in ran.stdout.splitlines() if line.strip())
    assert set(results) == {str(port) for port in ports}, f"no answer for some ports: {results}"
    return {int(port): results[str(port)] == "open" for port in ports}


def udp_delivered(client, target, address: str, port: int) -> bool:
    sent = client.run(f"echo kubewire | socat -u - {shlex.quote(f'UDP-SENDTO:{address}:{port}')}; sleep 0.3")
    assert sent.rc == 0, f"could not send a datagram from {client}: {sent.stderr}"
    received = target.run(f"cat /tmp/kw-udp-{int(port)}")
    assert received.rc == 0, f"no receiver file on {target} (did the UDP listener start?)"
    return "kubewire" in received.stdout
