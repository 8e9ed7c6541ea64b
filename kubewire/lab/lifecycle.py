"""`kubewire lab up/down/status/start/stop/reboot`: the lab as a whole, and its state file."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from . import base, network, nodes
from .base import BRIDGE, DEFAULT_SUITE, LAB_NETWORK, PREFIX, LabError, LabNode, assert_lab_address, lab_nodes, run
from .images import ensure_images
from .keys import ensure_keys, ssh_config_file
from .rootfs import ensure_cni_tarball, ensure_rootfs

# Every node's systemd holds several inotify instances; the kernel default (128 per user,
# and all nodes run as root) runs out at about 20 nodes ("Too many open files" at boot).
INOTIFY_INSTANCES_PER_NODE = 32
START_WORKERS = 8  # nodes being started at once


def state_file() -> Path:
    return base.STATE_DIR / "state.json"


def read_state() -> dict:
    try:
        return json.loads(state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _write_state(state: dict) -> None:
    base.STATE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.rename(state_file())


def _entry(node: LabNode, pid: int | None) -> dict:
    return {**asdict(node), "ip": str(node.ip), "pid": pid}


def _node(entry: dict) -> LabNode:
    return LabNode(entry["name"], entry["index"], entry.get("suite", "bookworm"))


def lab_node_count() -> int | None:
    """How many nodes the running lab has, or None when no lab is up."""
    entries = read_state().get("nodes")
    return len(entries) if entries else None


def lab_suite() -> str:
    """The controlplane's suite in the running lab (the default one when no lab is up)."""
    entries = read_state().get("nodes")
    return entries[0].get("suite", "bookworm") if entries else DEFAULT_SUITE


def node_state(node: LabNode, pid: int | None) -> str:
    """What really runs: `up` (answers SSH), `booting`, `orphaned` (processes run in the node
    without its systemd-nspawn), or `stopped` (nothing runs in it)."""
    if nodes.is_nspawn(pid):
        return "up" if nodes.ssh_answers(node) else "booting"
    return "orphaned" if nodes.live_processes(node) else "stopped"


def up(count: int = 3, suites: tuple[str, ...] = (DEFAULT_SUITE,), recreate: bool = False,
       log=print) -> list[LabNode]:
    """Bring a lab of `count` nodes up. Of the lab already up (made from this checkout), nodes
    that run are kept as they are, stopped or orphaned ones start again on their kept state,
    missing ones are made, and nodes beyond `count` (or of another suite) are removed."""
    wanted = lab_nodes(count, suites)
    state = read_state()
    if recreate or state.get("keys_dir") != str(base.KEYS_DIR) or not network.link_exists(BRIDGE):
        # A lab made from another checkout has other keys: this checkout could not log in.
        if state or _leftovers():
            log("removing the lab that was up" if recreate else "removing a lab left behind")
            down(log=lambda *_: None)
        state = {}
    for suite in sorted({node.suite for node in wanted}):
        ensure_rootfs(log, suite)
        ensure_cni_tarball(suite)
        ensure_images(suite)
    ensure_keys(wanted)
    started = time.monotonic()
    _raise_inotify_limit(len(wanted))
    network.bridge_up()
    known = {entry["name"]: entry for entry in state.get("nodes", [])}
    wanted_by_name = {node.name: node for node in wanted}
    # Nodes beyond --nodes, or of another suite than wanted now, go.
    _remove([_node(entry) for name, entry in known.items() if wanted_by_name.get(name) != _node(entry)], known)
    state = {"nodes": [], "bridge": BRIDGE, "keys_dir": str(base.KEYS_DIR)}
    pids = {node.name: known[node.name]["pid"] for node in wanted
            if node.name in known and nodes.is_nspawn(known[node.name]["pid"])}  # kept as they run
    booted = [node for node in wanted if node.name not in pids]

    def record() -> None:  # every running node in the state as soon as it runs, for `down` to find
        state["nodes"] = [_entry(node, pids[node.name]) for node in wanted if node.name in pids]
        _write_state(state)

    record()
    try:
        # Side by side: a node's start is a dozen short commands (`ip`, `mount`, …) that wait their
        # turn on a machine busy booting the nodes started before (one by one, 50 took 14 s to start).
        with ThreadPoolExecutor(max_workers=START_WORKERS) as pool:
            starting = {pool.submit(nodes.start, node, log): node for node in booted}
            for done in as_completed(starting):
                if done.exception() is None:
                    pids[starting[done].name] = done.result()
                    record()
        for done in starting:
            if done.exception() is not None:
                raise done.exception()
        nodes.wait_for_ssh(wanted)
    except BaseException:
        if not known:  # a lab made now is removed whole; nodes kept from before stay
            down(log=lambda *_: None)
        raise
    kept = len(wanted) - len(booted)
    log(f"{len(booted)} nodes started, {kept} kept, in {time.monotonic() - started:.1f}s on {BRIDGE} ({LAB_NETWORK})")
    return wanted


def _remove(removed: list[LabNode], known: dict) -> None:
    if not removed:
        return
    nodes.stop(removed, {node.name: known[node.name]["pid"] for node in removed})
    for node in removed:
        run("umount", str(node.root), check=False)
        if not nodes.is_mounted(node.root):
            shutil.rmtree(node.dir, ignore_errors=True)


def _raise_inotify_limit(count: int) -> None:
    limit = Path("/proc/sys/fs/inotify/max_user_instances")
    wanted = 128 + INOTIFY_INSTANCES_PER_NODE * count
    if int(limit.read_text()) < wanted:
        limit.write_text(f"{wanted}\n")


def _state_entry(state: dict, name: str) -> dict:
    entry = next((n for n in state.get("nodes", []) if n["name"] == name), None)
    if entry is None:
        raise LabError(f"no lab node named {name!r}; see `kubewire lab status`")
    return entry


def start_node(name: str, log=print) -> None:
    """Start a stopped node again on its kept state and address (after a reboot inside it).
    A node that runs is left alone; one whose systemd-nspawn died is stopped first."""
    state = read_state()
    entry = _state_entry(state, name)
    node = _node(entry)
    if nodes.is_nspawn(entry["pid"]):
        return
    entry["pid"] = nodes.start(node, log)
    _write_state(state)
    nodes.wait_for_ssh([node])


def stop_node(name: str) -> None:
    """Power a node off and leave nothing running in it; its disk is kept for `start`."""
    entry = _state_entry(read_state(), name)
    nodes.stop([_node(entry)], {name: entry["pid"]})


def reboot_node(name: str, timeout: float = 30.0) -> None:
    """Reboot a node as its own admin would (`systemctl reboot` inside it), keeping its state.

    The node's systemd shuts down, systemd-nspawn exits, and the node is started again on the
    same root with a fresh network namespace (same link, MAC and address): kernel network
    state -- sysctls, nftables, routes -- starts empty, as on a real machine after a reboot,
    so what comes back is what the node restores at boot."""
    entry = _state_entry(read_state(), name)
    subprocess.run(ssh_command(name, ["systemctl", "reboot"]), capture_output=True, timeout=timeout)
    if nodes.wait_until_gone([entry["pid"]], timeout):
        raise LabError(f"{name} did not shut down within {timeout:.0f}s")
    start_node(name)


def _leftovers() -> bool:
    return (network.link_exists(BRIDGE) or any(name.startswith(PREFIX) for name in network.netns_list())
            or bool(_our_mounts()) or (base.STATE_DIR / "nodes").exists())


def _our_mounts() -> list[str]:
    prefix = str(base.STATE_DIR / "nodes") + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    # Deepest first, so nested mounts go before their parents.
    return sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True)


def down(log=print) -> None:
    """Remove every process, cgroup, mount, namespace and link the lab made. Safe to run twice."""
    state = read_state()
    entries = {entry["name"]: entry for entry in state.get("nodes", [])}
    # Nodes left without the state file are found by their namespace or directory.
    names = set(entries) | {name[len(PREFIX):] for name in network.netns_list() if name.startswith(PREFIX)}
    if (base.STATE_DIR / "nodes").is_dir():
        names |= {path.name for path in (base.STATE_DIR / "nodes").iterdir()}
    found = [_node(entries[name]) if name in entries else LabNode(name, 0) for name in sorted(names)]
    killed = nodes.stop(found, {name: entry["pid"] for name, entry in entries.items()})
    for mount in _our_mounts():
        run("umount", mount, check=False)
    network.bridge_down()
    if not _our_mounts():
        shutil.rmtree(base.STATE_DIR / "nodes", ignore_errors=True)
    state_file().unlink(missing_ok=True)
    log(f"lab down: {len(found)} nodes stopped ({killed} processes had to be killed)")


def status() -> list[dict]:
    rows = []
    for entry in read_state().get("nodes", []):
        node = _node(entry)
        rows.append({
            "name": node.name, "ip": str(node.ip), "groups": ",".join(node.groups), "suite": node.suite,
            "pid": entry["pid"], "state": node_state(node, entry["pid"]),
            "processes": len(nodes.live_processes(node)),
        })
    return rows


def ssh_command(name: str, command: list[str]) -> list[str]:
    assert_lab_address(_state_entry(read_state(), name)["ip"])
    return ["ssh", "-F", str(ssh_config_file()), *(["-t"] if not command else []), name, *command]
