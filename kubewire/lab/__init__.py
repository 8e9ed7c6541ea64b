"""A lab of real Debian nodes on one machine.

Each node is a debootstrap'd Debian root (bookworm or trixie), copy-on-write per node
(overlayfs), booted with `systemd-nspawn --boot` (systemd is PID 1) inside its own network
namespace and its own cgroups, and plugged into a Linux bridge with a veth pair -- the
`ip netns` / `ip link` recipe of the course:

    ip link add kw-br0 type bridge; ip addr add 192.168.56.1/24 dev kw-br0
    ip netns add kw-node01
    ip link add kw-node01 type veth peer name eth0 netns kw-node01
    ip link set kw-node01 master kw-br0 up
    ip -n kw-node01 addr add 192.168.56.11/24 dev eth0

Nodes have no default route and no NAT: nothing leaves the bridge. Packages reach them from
the controller, as at an air-gapped site: a local apt repository, built once beside the
cached root and mounted read-only into every node.

By concern: `base` (names, addresses, paths), `network` (bridge, namespaces), `cgroups`,
`rootfs` (cached roots, apt repositories, CNI tarball), `images` (container images for
nodes), `keys` (SSH), `nodes` (one node: boot, find, stop), `lifecycle` (the lab as a whole).
"""

from . import rootfs as _rootfs
from .base import (
    BRIDGE,
    BRIDGE_IP,
    CACHE_DIR,
    DEFAULT_SUITE,
    KEYS_DIR,
    LAB_NETWORK,
    MAX_NODES,
    PREFIX,
    PROJECT_ROOT,
    STATE_DIR,
    SUITES,
    LabError,
    LabNode,
    assert_lab_address,
    lab_nodes,
    node_names,
    parse_suites,
)
from .cgroups import node_cgroups
from .images import LabImages, ensure_images
from .images import lab_images as _lab_images
from .keys import client_key, known_hosts_file, ssh_config_file
from .lifecycle import (
    down,
    lab_node_count,
    lab_suite,
    node_state,
    read_state,
    reboot_node,
    ssh_command,
    start_node,
    state_file,
    status,
    stop_node,
    up,
)
from .network import netns_list
from .nodes import live_processes, spawn_command
from .rootfs import NODE_REPO_MOUNT, cached_rootfs, ensure_rootfs


def cni_tarball():
    """The CNI plugins tarball for the running lab (built from its controlplane's suite)."""
    return _rootfs.cni_tarball(lab_suite())


def cni_tarball_sha256():
    return _rootfs.cni_tarball_sha256(lab_suite())


def cni_tarball_version():
    return _rootfs.cni_tarball_version(lab_suite())


def lab_images(suite: str | None = None) -> LabImages:
    """Where a lab node finds its container images and how to refer to them: `node_archive`
    (read-only in every node) holds `busybox` and `sandbox` (the pause image), ready for
    `ctr -n k8s.io images import`. The same references on every node, whatever its suite."""
    return _lab_images(suite or lab_suite())


__all__ = [
    "BRIDGE", "BRIDGE_IP", "CACHE_DIR", "DEFAULT_SUITE", "KEYS_DIR", "LAB_NETWORK", "MAX_NODES", "PREFIX",
    "PROJECT_ROOT", "STATE_DIR", "SUITES", "NODE_REPO_MOUNT", "LabError", "LabNode", "LabImages",
    "assert_lab_address", "lab_nodes", "node_names", "parse_suites", "node_cgroups", "ensure_images",
    "lab_images", "client_key", "known_hosts_file", "ssh_config_file", "down", "lab_node_count", "lab_suite",
    "node_state", "read_state", "reboot_node", "ssh_command", "start_node", "state_file", "status", "stop_node",
    "up", "netns_list", "live_processes", "spawn_command", "cached_rootfs", "ensure_rootfs", "cni_tarball",
    "cni_tarball_sha256", "cni_tarball_version",
]
