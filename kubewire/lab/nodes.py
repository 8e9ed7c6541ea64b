"""Booting, finding and stopping one node: systemd-nspawn in the node's namespace and cgroups.

What runs in a node is read from the system, never assumed from a PID file: the live processes
in the node's cgroups and network namespace. systemd-nspawn killed with SIGKILL leaves the
node's systemd and sshd running; they still count, and are stopped before the node starts again.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from . import cgroups, network
from .base import LabError, LabNode, run
from .images import NODE_IMAGES_MOUNT, images_dir
from .keys import client_key, host_key
from .rootfs import NODE_REPO_MOUNT, cached_rootfs

SSH_PORT = 22
BOOT_TIMEOUT = 60.0
SHUTDOWN_TIMEOUT = 15.0
# systemd as PID 1 powers off on SIGRTMIN+4 (systemd(1), "Signals"); used on a node's systemd
# left running without its systemd-nspawn, so that it shuts its services down cleanly.
POWEROFF_SIGNAL = signal.SIGRTMIN + 4

# Moves this shell into each cgroup given, then execs the command after them: the node starts
# in its own groups, with no window where systemd-nspawn (or a child) sits elsewhere.
_JOIN_CGROUPS = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'


def prepare_root(node: LabNode) -> None:
    """Mount the node's copy-on-write root (its suite's cached root below, its own changes
    above) and write what makes it this node."""
    if is_mounted(node.root):
        return
    rootfs = cached_rootfs(node.suite)[0]
    for sub in ("upper", "work", "root", "containerd"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    os.chmod(node.containerd_dir, 0o711)
    run("mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir={rootfs},upperdir={node.dir / 'upper'},workdir={node.dir / 'work'}", str(node.root))
    etc = node.root / "etc"
    (etc / "hostname").write_text(node.name + "\n")
    (etc / "machine-id").write_text(uuid.UUID(node.machine_uuid).hex + "\n")
    ssh_dir = node.root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(client_key().with_suffix(".pub"), ssh_dir / "authorized_keys")
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    for suffix in ("", ".pub"):
        target = etc / "ssh" / ("ssh_host_ed25519_key" + suffix)
        shutil.copy(str(host_key(node)) + suffix, target)
        os.chmod(target, 0o600 if not suffix else 0o644)


def is_mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/self/mounts").read_text().splitlines())


def spawn_command(node: LabNode) -> list[str]:
    _, repo = cached_rootfs(node.suite)
    return [
        "systemd-nspawn", "--boot", f"--directory={node.root}", f"--machine={node.name}",
        f"--network-namespace-path=/run/netns/{node.netns}", f"--uuid={node.machine_uuid}",
        "--register=no", "--keep-unit", "--console=passive", "--private-network",
        f"--bind-ro={repo}:{NODE_REPO_MOUNT}", f"--bind-ro={images_dir(node.suite)}:{NODE_IMAGES_MOUNT}",
        f"--bind={node.containerd_dir}:/var/lib/containerd",
        # nspawn's seccomp filter blocks the keyring calls that runc makes to give each
        # container its own session keyring ("unable to join session keyring"): allow them
        # (systemd-nspawn(1), --system-call-filter=; `systemd-analyze syscall-filter @keyring`).
        "--system-call-filter=@keyring",
    ]


def start(node: LabNode, log=print) -> int:
    """Boot the node on its kept root in a fresh namespace and its own cgroups; returns
    systemd-nspawn's PID. Processes left running in it (systemd-nspawn killed) are stopped first."""
    leftovers = live_processes(node)
    if leftovers:
        log(f"{node.name}: stopping {len(leftovers)} processes left running without their systemd-nspawn")
        stop([node])
    prepare_root(node)
    network.wire(node)
    groups = cgroups.make_node_cgroups(node)
    procs = [str(group / "cgroup.procs") for group in groups]
    with open(node.dir / "console.log", "ab") as log_file:
        process = subprocess.Popen(
            ["sh", "-c", _JOIN_CGROUPS, "kubewire-lab-join-cgroups", str(len(procs)), *procs, *spawn_command(node)],
            stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True,
        )
    return process.pid


def is_alive(pid: int) -> bool:
    """A live (not zombie) process; this machine's PID 1 reaps late, so zombies linger."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child (lab up in this process)
    except ChildProcessError:
        pass
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except (FileNotFoundError, ProcessLookupError):
        return False


def is_nspawn(pid: int | None) -> bool:
    if not pid or not is_alive(pid):
        return False
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"systemd-nspawn")
    except FileNotFoundError:
        return False


def live_processes(node: LabNode) -> list[int]:
    """Every live process of the node: in its cgroups or in its network namespace."""
    pids = cgroups.cgroup_pids(cgroups.node_cgroups(node))
    if node.netns in network.netns_list():
        pids.update(network.netns_pids(node.netns))
    return sorted(pid for pid in pids if is_alive(pid))


def _nspids(pid: int | str) -> list[str]:
    """The process's PID in each PID namespace it is in, outermost first (proc(5), NSpid)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return []
    return next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])


def _node_inits(pids: list[int]) -> list[int]:
    """The node's own PID 1 among its processes: PID 1 one PID namespace below ours (containers
    the node runs are deeper)."""
    depth = len(_nspids("self")) + 1
    return [pid for pid in pids if (nspids := _nspids(pid)) and len(nspids) == depth and nspids[-1] == "1"]


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_until_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        pids = [pid for pid in pids if is_alive(pid)]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.05)


def stop(nodes: list[LabNode], nspawn_pids: dict[str, int] | None = None) -> int:
    """Shut the nodes down, all at once, and leave nothing running in them; returns how many
    processes had to be killed. Their roots stay mounted, their namespaces and cgroups are
    removed.

    1. SIGTERM to systemd-nspawn: it asks the node's systemd to power off;
    2. a node's systemd left without its systemd-nspawn gets the power-off signal itself;
    3. whatever still runs after SHUTDOWN_TIMEOUT is killed, by PID."""
    nspawn_pids = nspawn_pids or {}
    asked = [pid for node in nodes if is_nspawn(pid := nspawn_pids.get(node.name))]
    for pid in asked:
        _signal(pid, signal.SIGTERM)
    orphans = [pid for node in nodes if not is_nspawn(nspawn_pids.get(node.name))
               for pid in _node_inits(live_processes(node))]
    for pid in orphans:
        _signal(pid, POWEROFF_SIGNAL)
    _wait_until_gone(asked + orphans, SHUTDOWN_TIMEOUT)
    killed = 0
    for _ in range(20):  # a process may fork while its siblings are being killed
        remaining = [pid for node in nodes for pid in live_processes(node)]
        if not remaining:
            break
        for pid in remaining:
            _signal(pid, signal.SIGKILL)
        killed += len(remaining)
        _wait_until_gone(remaining, 5)
    else:
        raise LabError(f"processes keep running in {', '.join(node.name for node in nodes)}")
    for node in nodes:
        cgroups.remove_node_cgroups(node)
        network.unwire(node.netns)
    return killed


def ssh_answers(node: LabNode) -> bool:
    try:
        with socket.create_connection((str(node.ip), SSH_PORT), timeout=0.5) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def wait_for_ssh(nodes: list[LabNode]) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    waiting = list(nodes)
    while waiting:
        waiting = [node for node in waiting if not ssh_answers(node)]
        if waiting and time.monotonic() > deadline:
            names = ", ".join(node.name for node in waiting)
            console = waiting[0].dir / "console.log"
            tail = console.read_text(errors="replace").splitlines()[-15:] if console.exists() else []
            raise LabError(f"no SSH from {names} after {BOOT_TIMEOUT:.0f}s; {waiting[0].name}'s console ends:\n"
                           + "\n".join(tail))
        if waiting:
            time.sleep(0.1)
