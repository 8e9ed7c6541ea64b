"""Real sockets between nodes: listeners on one node, connections from another.

socat is on every node (the prereqs role installs it). Listeners end by themselves (timeout)
and are also stopped by PID when a check is done.
"""

from __future__ import annotations

import contextlib

LISTEN_SECONDS = 60


@contextlib.contextmanager
def listeners(host, tcp_ports=(), udp_ports=()):
    """TCP listeners that accept and close; UDP receivers that append to /tmp/kw-udp-PORT."""
    starts = [f"socat TCP-LISTEN:{port},fork,reuseaddr EXEC:/bin/true" for port in tcp_ports]
    starts += [f"socat -u UDP-RECV:{port} OPEN:/tmp/kw-udp-{port},creat,trunc" for port in udp_ports]
    script = "; ".join(f"setsid timeout {LISTEN_SECONDS} {start} </dev/null >/dev/null 2>&1 & echo $!"
                       for start in starts)
    pids = host.run(script + "; sleep 0.3").stdout.split()
    try:
        yield
    finally:
        host.run("kill " + " ".join(pids) + " 2>/dev/null; rm -f /tmp/kw-udp-*")


def tcp_reachable(client, address: str, ports, timeout: float = 1.0) -> dict[int, bool]:
    """Try every port at once from `client`; a dropped port costs `timeout`, in parallel."""
    probes = " ".join(
        f"(socat -u /dev/null TCP:{address}:{port},connect-timeout={timeout} && echo {port} open"
        f" || echo {port} closed) &" for port in ports)
    out = client.run(f"{probes} wait").stdout.split("\n")
    results = dict(line.split() for line in out if line.strip())
    return {int(port): results.get(str(port)) == "open" for port in ports}


def udp_delivered(client, target, address: str, port: int) -> bool:
    client.run(f"echo kubewire | socat -u - UDP-SENDTO:{address}:{port}; sleep 0.3")
    return "kubewire" in target.run(f"cat /tmp/kw-udp-{port}").stdout
