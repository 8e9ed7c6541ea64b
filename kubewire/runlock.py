"""One kubewire run per node at a time.

A second run started while another is converging a node would fail halfway (apt's lock, a
firewall table loaded twice) and leave its hosts in pyinfra's "No hosts remaining". So before
anything is read or changed, each node's lock is taken on a second channel of pyinfra's own SSH
connection: `flock` runs on the node for as long as that channel is open, holding
/run/lock/kubewire.lock. The channel closes when the run ends in any way (normal exit, error,
Ctrl-C, SIGKILL of the controller: the TCP connection drops and sshd ends the session), so the
lock is released with it and never goes stale. A run that finds it held stops before changing
anything, naming who holds it and since when (written in the lock file by the holder).

The main job asks for the lock first and reads its answer after the node's whole-state read was
sent (`request_run_lock`, then `confirm_run_lock`): both commands run on the node at once, and a
read changes nothing.
"""

from __future__ import annotations

import getpass
import os
import shlex
import socket
from datetime import UTC, datetime

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError

# /run/lock is a tmpfs writable by every user (Debian: mode 1777), so a run as root and a run
# through sudo by another user lock the same file; it is gone after a reboot.
LOCK_FILE = "/run/lock/kubewire.lock"
BUSY_EXIT = 75  # flock -E: the lock is held by someone else
LOCKED, BUSY = "kubewire-run-lock: taken", "kubewire-run-lock: busy"
# How long to wait for the node to answer the lock command itself.
ANSWER_TIMEOUT = 30.0

_held: dict[str, object] = {}  # host name -> the open channel that holds its lock
_asked: dict[str, object] = {}  # host name -> the channel whose answer is still to be read


class RunLocked(PyinfraError):
    pass


def holder_description() -> str:
    """Who this run is, as written into the lock file for a refused run to print."""
    since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{getpass.getuser()}@{socket.gethostname()} (pid {os.getpid()}) since {since}"


def lock_command(description: str) -> str:
    """Take the lock without waiting and hold it until stdin closes; print who holds it when busy."""
    path = shlex.quote(LOCK_FILE)
    # The shell's own `read` waits for stdin to close: no process besides flock and sh.
    hold = (f"printf '%s\\n' {shlex.quote(description)} > {path}; echo {shlex.quote(LOCKED)}; "
            "while read -r _; do :; done")
    return (f"flock --nonblock --conflict-exit-code {BUSY_EXIT} {path} sh -c {shlex.quote(hold)}"
            f" || {{ echo {shlex.quote(BUSY)}; cat {path}; }}")


def request_run_lock() -> None:
    """Ask for this host's run lock, without waiting for the answer (`confirm_run_lock` reads it).
    A no-op for connectors other than SSH."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None or host.name in _held or host.name in _asked:
        return
    channel = transport.open_session()
    channel.settimeout(ANSWER_TIMEOUT)
    channel.exec_command(lock_command(holder_description()))
    _asked[host.name] = channel


def confirm_run_lock() -> None:
    """Hold this host's requested run lock until the run ends, or stop when another run holds it."""
    channel = _asked.pop(host.name, None)
    if channel is None:
        return
    answer = channel.makefile("r")
    first = answer.readline().strip()
    if first == LOCKED:
        channel.settimeout(None)
        _held[host.name] = channel
        return
    holder = answer.readline().strip() if first == BUSY else ""
    channel.close()
    if first == BUSY:
        raise RunLocked(f"{host.name}: another kubewire run holds this node ({holder or 'holder unknown'}); "
                        "nothing was changed. Wait for it to end, then run again.")
    raise RunLocked(f"{host.name}: could not take kubewire's run lock ({LOCK_FILE}): {first or 'no answer'}; "
                    "nothing was changed (is `flock` from util-linux installed?)")


def take_run_lock() -> None:
    """Hold this host's run lock until the run ends (a no-op for connectors other than SSH)."""
    request_run_lock()
    confirm_run_lock()
