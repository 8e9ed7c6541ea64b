"""Helpers for the lab lifecycle tests (the fixture is in conftest.py).

What runs in a node is read here straight from /proc and `ip netns`, not through the lab's
own bookkeeping, so that a test sees what really runs."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time
from pathlib import Path

from kubewire import lab
from kubewire.ssh import SshTarget, connect


def quiet(*_):
    pass


def run_on(node: lab.LabNode, command: str, timeout: float = 300) -> tuple[int, str, str]:
    target = SshTarget(node.name, str(node.ip), 22, "root", str(lab.client_key()), str(lab.known_hosts_file()), "yes")
    client = connect(target)
    try:
        _, stdout, stderr = client.exec_command(command, timeout=timeout)
        out, err = stdout.read().decode(), stderr.read().decode()
        return stdout.channel.recv_exit_status(), out, err
    finally:
        client.close()


def output_of(node: lab.LabNode, command: str) -> str:
    status, out, err = run_on(node, command)
    assert status == 0, f"{node.name}: {command} exited {status}: {err[-2000:]}"
    return out


def live(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def netns_processes(node: lab.LabNode) -> list[int]:
    """Live processes in the node's network namespace (none when it is gone)."""
    out = subprocess.run(["ip", "netns", "pids", node.netns], capture_output=True, text=True).stdout
    return [pid for pid in map(int, out.split()) if live(pid)]


def systemd_inits(node: lab.LabNode) -> list[int]:
    """The node's systemd instances: PID 1 of a PID namespace, living in the node's netns."""
    inits = []
    for pid in netns_processes(node):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:  # a short-lived process of the node
            continue
        nspid = next(line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:"))
        if len(nspid) > 1 and nspid[-1] == "1" and status.startswith("Name:\tsystemd\n"):
            inits.append(pid)
    return inits


def nspawn_pid(name: str) -> int:
    return next(entry["pid"] for entry in lab.read_state()["nodes"] if entry["name"] == name)


def kill_nspawn(name: str) -> int:
    """SIGKILL a node's systemd-nspawn, as an operator's stray `kill -9` would."""
    pid = nspawn_pid(name)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while live(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not live(pid)
    return pid


def cgroup_paths(pid: int) -> dict[str, str]:
    """The process's cgroup in each hierarchy ("" is the unified one)."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return {line.split(":", 2)[1]: line.split(":", 2)[2] for line in lines}


def kubewire_cgroups() -> list[str]:
    """Every cgroup named like a lab node's, anywhere in the first levels of every hierarchy."""
    found = []
    for depth in range(1, 5):
        found += glob.glob("/sys/fs/cgroup/*/" + "*/" * (depth - 1) + lab.PREFIX + "*")
    return sorted(path for path in found if Path(path).is_dir())


def lab_traces() -> dict:
    """Everything `up` makes that `down` must remove."""
    mounts = Path("/proc/self/mounts").read_text()
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {
        "namespaces": [name for name in lab.netns_list() if name.startswith(lab.PREFIX)],
        "links": [link["ifname"] for link in links if link["ifname"].startswith(lab.PREFIX)],
        "mounts": [line for line in mounts.splitlines() if str(lab.STATE_DIR) in line],
        "nft": [line for line in tables.splitlines() if "kubewire_lab" in line],
        "cgroups": kubewire_cgroups(),
        "state": lab.state_file().exists(),
        "node dirs": (lab.STATE_DIR / "nodes").exists(),
    }


NOTHING = {"namespaces": [], "links": [], "mounts": [], "nft": [], "cgroups": [], "state": False,
           "node dirs": False}
