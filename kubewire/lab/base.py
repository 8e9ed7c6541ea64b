"""What every part of the lab shares: its network, names, paths and the shell helpers."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from ..paths import CACHE_DIR  # noqa: F401 (CACHE_DIR: the lab's images live in the one cache)
from ..paths import REPOSITORY_ROOT as PROJECT_ROOT

LAB_NETWORK = IPv4Network("192.168.56.0/24")
BRIDGE = "kw-br0"
BRIDGE_IP = LAB_NETWORK.network_address + 1
FIRST_NODE_IP = LAB_NETWORK.network_address + 10
MAX_NODES = 200
PREFIX = "kw-"  # netns, host-side veth and cgroup names; with "controlplane" this is 15 chars, the limit

# Debian releases a node can run: 12 and 13, the current stable (https://www.debian.org/releases/).
SUITES = ("bookworm", "trixie")
# The current stable release; bookworm (oldstable) stays supported, and `make test` runs a lab
# of both.
DEFAULT_SUITE = "trixie"

# Machine-wide runtime state (one lab per machine: the bridge address is fixed), so that a lab
# left behind by another checkout is found and removed by `up` and `down`.
STATE_DIR = Path(os.environ.get("KUBEWIRE_STATE_DIR", "/var/lib/kubewire/lab"))
# SSH keys and node host keys: kept across down/up so known_hosts stays valid (git-ignored).
KEYS_DIR = Path(os.environ.get("KUBEWIRE_LAB_DIR", PROJECT_ROOT / ".lab"))


class LabError(Exception):
    pass


@dataclass(frozen=True)
class LabNode:
    name: str
    index: int
    suite: str = DEFAULT_SUITE

    @property
    def ip(self) -> IPv4Address:
        return FIRST_NODE_IP + self.index

    @property
    def netns(self) -> str:
        return PREFIX + self.name

    @property
    def veth(self) -> str:
        return PREFIX + self.name

    @property
    def mac(self) -> str:
        # Locally administered, unique per index.
        return "02:6b:77:00:{:02x}:{:02x}".format(*divmod(self.index, 256))

    @property
    def machine_uuid(self) -> str:
        # Stable per node name, distinct between nodes: the node's /etc/machine-id.
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.name}.lab.kubewire"))

    @property
    def groups(self) -> tuple[str, ...]:
        return ("controlplane",) if self.index == 0 else ("workers",)

    @property
    def dir(self) -> Path:
        return STATE_DIR / "nodes" / self.name

    @property
    def root(self) -> Path:
        return self.dir / "root"

    @property
    def containerd_dir(self) -> Path:
        """Bound at the node's /var/lib/containerd: a container runtime's snapshots need a real
        filesystem, not the node's overlayfs root (overlayfs refuses an overlayfs upperdir)."""
        return self.dir / "containerd"


def node_names(count: int) -> list[str]:
    return ["controlplane"] + [f"node{number:02d}" for number in range(1, count)]


def parse_suites(text: str) -> tuple[str, ...]:
    """`trixie` or `bookworm,trixie` (assigned to the nodes in turn)."""
    suites = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [suite for suite in suites if suite not in SUITES]
    if not suites or unknown:
        raise LabError(f"--suite {text!r}: each suite must be one of {', '.join(SUITES)} "
                       "(a comma-separated list is assigned to the nodes in turn)")
    return suites


def lab_nodes(count: int, suites: tuple[str, ...] = (DEFAULT_SUITE,)) -> list[LabNode]:
    """`count` nodes; node i runs suites[i % len(suites)]."""
    if not 1 <= count <= MAX_NODES:
        raise LabError(f"--nodes {count}: the lab holds 1 to {MAX_NODES} nodes")
    return [LabNode(name, index, suites[index % len(suites)]) for index, name in enumerate(node_names(count))]


def assert_lab_address(address: str) -> IPv4Address:
    """Refuse any target outside the lab bridge network before connecting to it."""
    try:
        ip = IPv4Address(address)
    except ValueError:
        raise LabError(f"{address!r} is not a lab node address") from None
    if ip not in LAB_NETWORK or ip == BRIDGE_IP:
        raise LabError(f"{ip} is outside the lab network {LAB_NETWORK}; refusing to connect")
    return ip


def run(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, text=True, capture_output=True, **kwargs)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result
