"""The lab's network: one bridge on the controller, one network namespace and veth per node."""

from __future__ import annotations

import subprocess
import time

from .base import BRIDGE, BRIDGE_IP, LAB_NETWORK, LabNode, run


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", *args, check=check)


def link_exists(name: str) -> bool:
    return ip("link", "show", "dev", name, check=False).returncode == 0


def netns_list() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def netns_pids(name: str) -> list[int]:
    return [int(pid) for pid in ip("netns", "pids", name, check=False).stdout.split()]


def bridge_up() -> None:
    if not link_exists(BRIDGE):
        ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "replace", f"{BRIDGE_IP}/{LAB_NETWORK.prefixlen}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    # Belt and braces: nothing from the bridge is routed anywhere else by this machine.
    rules = (
        f"table inet kubewire_lab {{\n"
        f"  chain forward {{ type filter hook forward priority -10; policy accept;\n"
        f'    iifname "{BRIDGE}" oifname != "{BRIDGE}" drop\n'
        f'    oifname "{BRIDGE}" iifname != "{BRIDGE}" drop\n  }}\n}}\n'
    )
    run("nft", "-f", "-", input=rules)


def bridge_down() -> None:
    if link_exists(BRIDGE):
        ip("link", "delete", BRIDGE)
    run("nft", "delete", "table", "inet", "kubewire_lab", check=False)


def unwire(name: str) -> None:
    """Delete a node's namespace and its veth pair (nothing may run in it any more)."""
    if name in netns_list():
        ip("netns", "delete", name)
    # The kernel frees the namespace, and its veth pair, asynchronously.
    deadline = time.monotonic() + 5
    while link_exists(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    if link_exists(name):
        ip("link", "delete", name, check=False)


def wire(node: LabNode) -> None:
    """A fresh namespace for the node, as after a power-on: its kernel network state starts
    empty, its link, MAC and address are the same as before."""
    unwire(node.netns)
    ip("netns", "add", node.netns)
    ip("link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    ip("link", "set", node.veth, "master", BRIDGE, "up")
    ip("-n", node.netns, "link", "set", "lo", "up")
    ip("-n", node.netns, "link", "set", "eth0", "address", node.mac)
    ip("-n", node.netns, "addr", "add", f"{node.ip}/{LAB_NETWORK.prefixlen}", "dev", "eth0")
    ip("-n", node.netns, "link", "set", "eth0", "up")
