"""Every node must be a distinct machine: hostname, MAC of the node interface, machine id
and product_uuid (where the machine has one) unique across the inventory.

Cloned VMs and copied images share these silently and break Kubernetes in odd ways (nodes
replacing each other, DHCP and CNI confusion), so the main job checks them from facts
before anything changes, and fails naming both hosts and the value.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import gevent
from gevent.lock import Semaphore
from pyinfra import state
from pyinfra.api.exceptions import PyinfraError

from .facts import Probes, first_line
from .inventory import cluster_spec
from .spec import ClusterSpec


class NodeIdentityClash(PyinfraError):
    pass


@dataclass(frozen=True)
class NodeIdentity:
    host: str
    hostname: str
    mac: str
    machine_id: str
    product_uuid: str  # empty where the machine has no DMI (containers, some VMs)


def identity_probes(node_ip: str) -> tuple[tuple[str, str], ...]:
    return (
        ("hostname", "hostname"),
        ("machine-id", "cat /etc/machine-id"),
        ("mac", f"ip -o -4 addr show to {node_ip} | awk '{{print $2}}' | head -n1 | "
                "xargs -I{} cat /sys/class/net/{}/address"),
        ("product-uuid", "cat /sys/class/dmi/id/product_uuid"),
    )


def read_identity(host, spec: ClusterSpec) -> NodeIdentity:
    node = spec.node(host.name)
    probed = host.get_fact(Probes, probes=identity_probes(str(node.node_ip)))
    # With hosts_set_hostname the hosts role renames the node: what matters is its future name.
    hostname = node.name if node.hosts.set_hostname else first_line(probed, "hostname")
    return NodeIdentity(host.name, hostname, first_line(probed, "mac").lower(),
                        first_line(probed, "machine-id"), first_line(probed, "product-uuid").lower())


def identity_clashes(identities: list[NodeIdentity]) -> list[str]:
    clashes = []
    for field, label in (("hostname", "hostname"), ("mac", "MAC of the node interface"),
                         ("machine_id", "/etc/machine-id"), ("product_uuid", "product_uuid")):
        seen: dict[str, str] = {}
        for identity in identities:
            value = getattr(identity, field)
            if not value:
                continue  # e.g. no product_uuid without DMI: compare the rest
            if value in seen:
                clashes.append(f"{seen[value]} and {identity.host} have the same {label} {value!r}")
            else:
                seen[value] = identity.host
    return clashes


_checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # inventory -> clashes
_lock = Semaphore()


def check_node_identities() -> None:
    """Read every host's identity once (in parallel) and fail the run on any clash."""
    with _lock:  # the deploy file runs once per host, concurrently; the first one checks
        key = state.inventory
        if key not in _checked:
            spec = cluster_spec()
            order = [node.host for node in spec.nodes]  # report clashes in inventory order
            hosts = sorted(state.inventory.get_active_hosts(), key=lambda host: order.index(host.name))
            jobs = [gevent.spawn(read_identity, host, spec) for host in hosts]
            gevent.joinall(jobs, raise_error=True)
            _checked[key] = identity_clashes([job.value for job in jobs])
    if _checked[key]:
        raise NodeIdentityClash(
            "nodes are not distinct machines (nothing was changed):\n  - " + "\n  - ".join(_checked[key])
            + "\n(regenerate a machine id with `rm /etc/machine-id && systemd-machine-id-setup`; "
            "fix MACs and product_uuids in the VM or image settings)"
        )
