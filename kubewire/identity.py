"""Checks across all nodes before any role changes anything, from one probe per node.

- Every node must run a distribution kubewire supports (Debian 12 or 13, from os-release;
  see kubewire/distribution.py).
- Every node must be a distinct machine: hostname, MAC of the node interface, machine id and
  product_uuid (where the machine has one) unique across the inventory. Cloned VMs and copied
  images share these silently and break Kubernetes in odd ways (nodes replacing each other,
  DHCP and CNI confusion).
- `kube_proxy_mode: nftables` needs Linux 5.13 or later on every node: "the nftables mode of
  kube-proxy requires version 1.0.1 or later of the nft command-line tool, as well as kernel
  5.13 or later" (https://kubernetes.io/docs/reference/node/kernel-version-requirements/).
- Another firewall on a node (ufw, firewalld, someone else's nftables/iptables input chain that
  drops) stops the run naming the kubewire ports it would drop, unless `firewall_coexist`; so
  does a foreign forward chain that drops pod traffic (e.g. Docker's FORWARD policy DROP).

Every node's problems are reported at once, and the run stops before any change.
"""

from __future__ import annotations

import re
import shlex
import weakref
from dataclasses import dataclass

import gevent
from gevent.lock import Semaphore
from pyinfra import logger, state
from pyinfra.api.exceptions import PyinfraError

from .distribution import OS_RELEASE_PROBE, unsupported_distribution
from .facts import HOSTNAME_PROBE, first_line, node_probed, read_line
from .foreign_firewall import (
    FOREIGN_FIREWALL_PROBES,
    blocked_ports,
    forward_drops,
    parse_iptables_save,
    parse_nft_tables,
)
from .inventory import cluster_spec
from .ports import node_rules
from .spec import ClusterSpec

# https://kubernetes.io/docs/reference/node/kernel-version-requirements/ (kube-proxy nftables mode)
NFTABLES_MIN_KERNEL = (5, 13)


class NodeIdentityClash(PyinfraError):
    pass


@dataclass(frozen=True)
class NodeFacts:
    """What the checks before any change read from one node."""
    host: str
    kernel: str = ""  # `uname -r`
    firewall_services: tuple[str, ...] = ()  # ufw, firewalld when active
    nft_tables: tuple[str, ...] = ()  # `nft -j list table` of each foreign table with an input/forward chain
    iptables_legacy: tuple[str, ...] = ()  # `iptables-legacy-save -t filter`
    os_release: tuple[str, ...] = ()  # /etc/os-release (os-release(5)); none read: refused as unknown


@dataclass(frozen=True)
class NodeIdentity:
    host: str
    hostname: str
    mac: str
    machine_id: str
    product_uuid: str  # empty where the machine has no DMI (containers, some VMs)


def identity_probes(node_ip: str) -> tuple[tuple[str, str], ...]:
    return (
        # The shell's own `read` where it can: each process costs the node a millisecond or more.
        ("hostname", HOSTNAME_PROBE),
        ("kernel", read_line("/proc/sys/kernel/osrelease")),  # uname -r
        *FOREIGN_FIREWALL_PROBES,
        OS_RELEASE_PROBE,
        ("machine-id", read_line("/etc/machine-id")),
        ("mac", f"ip -o -4 addr show to {shlex.quote(node_ip)} | "
                '{ read -r _ link _ && read -r mac < "/sys/class/net/$link/address" && echo "$mac"; }'),
        ("product-uuid", read_line("/sys/class/dmi/id/product_uuid")),
    )


def identity_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The checks' probes for one host (read with every role's by deploys/cluster.py)."""
    return identity_probes(str(cluster_spec().node(host_name).node_ip))


def read_node(host, spec: ClusterSpec) -> tuple[NodeIdentity, NodeFacts]:
    probed = node_probed("checks", identity_node_probes(host.name), host)
    node = spec.node(host.name)
    # With hosts_set_hostname the hosts role renames the node: what matters is its future name.
    hostname = node.name if node.hosts.set_hostname else first_line(probed, "hostname")
    identity = NodeIdentity(host.name, hostname, first_line(probed, "mac").lower(),
                            first_line(probed, "machine-id"), first_line(probed, "product-uuid").lower())
    return identity, NodeFacts(host.name, first_line(probed, "kernel"),
                               tuple(line.strip() for line in probed.get("firewall services", []) if line.strip()),
                               tuple(probed.get("nft filter tables", [])), tuple(probed.get("iptables legacy", [])),
                               tuple(probed.get(OS_RELEASE_PROBE[0], [])))


def kernel_problems(spec: ClusterSpec, facts: list[NodeFacts]) -> list[str]:
    if spec.kube_proxy_mode != "nftables":
        return []
    problems = []
    for node in facts:
        match = re.match(r"(\d+)\.(\d+)", node.kernel)
        if match and (int(match.group(1)), int(match.group(2))) >= NFTABLES_MIN_KERNEL:
            continue
        problems.append(f"{node.host} runs Linux {node.kernel or '(unknown)'}; kube_proxy_mode 'nftables' needs "
                        "5.13 or later (kube-proxy's minimum): upgrade its kernel or use kube_proxy_mode 'iptables'")
    return problems


def foreign_firewall_findings(spec: ClusterSpec, facts: list[NodeFacts]) -> tuple[list[str], list[str]]:
    """(problems, warnings): a node with another firewall is a problem unless firewall_coexist."""
    problems, warnings = [], []
    for node_facts in facts:
        node = spec.node(node_facts.host)
        ports = [(rule.protocol, rule.first, rule.last, str(rule)) for rule in node_rules(spec, node) if rule.has_ports]
        tables = parse_nft_tables(list(node_facts.nft_tables)) + parse_iptables_save(list(node_facts.iptables_legacy))
        chains = blocked_ports(tables, ports)
        forwarding = forward_drops(tables)
        if not chains and not forwarding and not node_facts.firewall_services:
            continue
        found = [f"{service} is active" for service in node_facts.firewall_services]
        found += [f"{chain} drops {', '.join(dropped)}" if dropped else f"{chain} drops none of kubewire's ports"
                  for chain, dropped in chains.items()]
        found += [f"{chain} drops forwarded pod traffic" for chain in forwarding]
        message = f"{node_facts.host} has another firewall: " + "; ".join(found)
        if node.firewall.coexist:
            warnings.append(message + " (firewall_coexist is set: kubewire runs beside it)")
        else:
            coexist = f"set firewall_coexist = True for {node_facts.host} to run beside it"
            if forwarding:
                # Address rules cannot be judged from here: once pods are let through, coexist says so.
                problems.append(f"{message}. Pods would not reach each other: accept forwarding from and to the "
                                f"pod network {spec.pod_cidr} in it (with Docker, in its DOCKER-USER chain), open "
                                f"any ports listed, then {coexist}")
            else:
                problems.append(f"{message}. Open those ports in it or turn it off, or {coexist}")
    return problems, warnings


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


_checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # inventory -> report
_lock = Semaphore()
IDENTITY_FIX = ("(regenerate a machine id with `rm /etc/machine-id && systemd-machine-id-setup`; "
                "fix MACs and product_uuids in the VM or image settings)")


def pre_change_report(spec: ClusterSpec, identities: list[NodeIdentity], facts: list[NodeFacts]
                      ) -> tuple[str, list[str]]:
    """(the error that stops the run, or "", warnings) from every node's facts."""
    sections = []
    distributions = [problem for node in facts if (problem := unsupported_distribution(node.host, node.os_release))]
    if distributions:
        sections.append("node distributions kubewire does not support:\n  - " + "\n  - ".join(distributions))
    clashes = identity_clashes(identities)
    if clashes:
        sections.append("nodes are not distinct machines:\n  - " + "\n  - ".join(clashes) + "\n" + IDENTITY_FIX)
    kernels = kernel_problems(spec, facts)
    if kernels:
        sections.append("kernels too old for kube-proxy's nftables mode:\n  - " + "\n  - ".join(kernels))
    firewalls, warnings = foreign_firewall_findings(spec, facts)
    if firewalls:
        sections.append("another firewall would drop what the cluster needs:\n  - " + "\n  - ".join(firewalls))
    return ("stopped before any change (nothing was changed):\n" + "\n".join(sections) if sections else ""), warnings


def check_node_identities() -> None:
    """Read every host once (in parallel) and fail the run, before any change, on any problem."""
    with _lock:  # the deploy file runs once per host, concurrently; the first one checks
        key = state.inventory
        if key not in _checked:
            spec = cluster_spec()
            order = [node.host for node in spec.nodes]  # report in inventory order
            hosts = sorted(state.inventory.get_active_hosts(), key=lambda host: order.index(host.name))
            jobs = [gevent.spawn(read_node, host, spec) for host in hosts]
            gevent.joinall(jobs, raise_error=True)
            error, warnings = pre_change_report(spec, [job.value[0] for job in jobs], [job.value[1] for job in jobs])
            for warning in warnings:
                logger.warning(f"kubewire: {warning}")
            _checked[key] = error
    if _checked[key]:
        raise NodeIdentityClash(_checked[key])
