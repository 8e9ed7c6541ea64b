"""The spec's checks across fields: what the components would refuse, found first.

Each check returns problems located at the key the user wrote (`service_cidr`,
`hosts.node01.node_ip`, `coredns_upstreams`) with the fix in the message, and names the fields
it reads (`depends`), so a check is skipped when one of those is itself invalid. Limits are
the components' own, cited where they are enforced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, ip_address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic_core import InitErrorDetails

from .names import duration_seconds, problem_at, split_host_port
from .settings import KUBERNETES_SYSCTLS, RESOLV_CONF

if TYPE_CHECKING:
    from .spec import ClusterSpec, NodeSpec

# kube-proxy's nftables mode: beta (usable) from 1.31, GA in 1.33.
NFTABLES_MIN_MINOR = 31
# The widest service range: kube-apiserver refuses more than 20 host bits
# (cmd/kube-apiserver/app/options/validation.go, "specified --service-cluster-ip-range is too
# large"), as does kubeadm (cmd/kubeadm/app/constants: MaximumBitsForServiceSubnet = 20).
SERVICE_RANGE_MAX_HOST_BITS = 20
# kubeadm refuses a node mask more than 16 bits longer than the pod subnet's
# (cmd/kubeadm/app/constants: PodSubnetNodeMaskMaxDiff = 16; the controller-manager's CIDR set
# has the same limit).
POD_SUBNET_NODE_MASK_MAX_DIFF = 16
# CoreDNS's forward plugin takes at most 15 upstreams per zone (plugin/forward/setup.go: max = 15).
FORWARD_MAX_UPSTREAMS = 15

Problems = list[InitErrorDetails]


def node_list_problems(nodes: tuple[NodeSpec, ...], groups: tuple[str, ...]) -> Problems:
    problems: Problems = []
    if not nodes:
        problems.append(problem_at(("nodes",), [], "the inventory has no hosts; add hosts to the groups "
                                   "controlplane and workers", depends=("nodes",)))
    elif not any(node.is_controlplane for node in nodes):
        names = [node.host for node in nodes]
        problems.append(problem_at(("groups", "controlplane"), [],
                                   f"no host is in group controlplane; put one of {names} there", depends=("nodes",)))
    for node in nodes:
        if not node.groups & set(groups):
            problems.append(problem_at(("hosts", node.host, "groups"), sorted(node.groups),
                                       "the host is in neither controlplane nor workers; add it to one of them"))
    problems += _duplicates(nodes, "node_name", lambda node: node.name)
    problems += _duplicates(nodes, "node_ip", lambda node: node.node_ip)
    return problems


def _duplicates(nodes: Iterable[NodeSpec], key: str, value_of: Callable[[NodeSpec], Any]) -> Problems:
    seen: dict[Any, str] = {}
    problems = []
    for node in nodes:
        value = value_of(node)
        if value in seen:
            problems.append(problem_at(("hosts", node.host, key), str(value),
                                       f"is also used by host {seen[value]}; every node needs its own {key}"))
        else:
            seen[value] = node.host
    return problems


def cross_field_problems(spec: ClusterSpec) -> Problems:
    return [
        *_range_problems(spec),
        *_node_address_problems(spec),
        *_dns_service_ip_problems(spec),
        *_proxy_mode_problems(spec),
        *_pod_subnet_problems(spec),
        *_kube_proxy_problems(spec),
        *_coredns_problems(spec),
        *_weave_problems(spec),
        *_flannel_problems(spec),
        *_node_extras_problems(spec),
        *_plugins_tarball_problems(spec),
    ]


def _range_problems(spec: ClusterSpec) -> Problems:
    problems = []
    pods, services = spec.pod_cidr, spec.service_cidr
    if pods.overlaps(services):
        problems.append(problem_at(("service_cidr",), str(services),
            f"overlaps pod_cidr {pods}; pods and services need separate ranges "
            "(e.g. 10.96.0.0/12 and 10.244.0.0/16)", depends=("pod_cidr", "service_cidr")))
    widest = 32 - SERVICE_RANGE_MAX_HOST_BITS
    if services.prefixlen < widest:
        example = IPv4Network((services.network_address, widest), strict=False)
        problems.append(problem_at(("service_cidr",), str(services),
            f"is too large: kube-apiserver and kubeadm refuse a service range wider than a /{widest}; "
            f"use e.g. {example}", depends=("service_cidr",)))
    for key, net in (("pod_cidr", pods), ("service_cidr", services)):
        # A derived node network says nothing more than the node addresses checked below.
        if spec.node_cidr is not None and net.overlaps(spec.node_cidr):
            problems.append(problem_at((key,), str(net),
                f"overlaps the node network {spec.node_cidr}; choose a range the nodes do not use",
                depends=(key, "node_cidr")))
    return problems


def _node_address_problems(spec: ClusterSpec) -> Problems:
    problems = []
    network = spec.node_network
    derived = "" if spec.node_cidr is not None else " (derived from the node addresses; set node_cidr if it is wider)"
    for node in spec.nodes:
        location = ("hosts", node.host, "node_ip")
        for key, net in (("pod_cidr", spec.pod_cidr), ("service_cidr", spec.service_cidr)):
            if node.node_ip in net:
                problems.append(problem_at(location, str(node.node_ip),
                    f"lies inside {key} {net}; node addresses must be outside the pod and service ranges",
                    depends=(key,)))
        if spec.node_cidr is not None and node.node_ip not in spec.node_cidr:
            problems.append(problem_at(location, str(node.node_ip),
                f"lies outside node_cidr {spec.node_cidr}; fix the address or widen node_cidr", depends=("node_cidr",)))
        elif network.prefixlen < 31 and node.node_ip in (network.network_address, network.broadcast_address):
            which = "network" if node.node_ip == network.network_address else "broadcast"
            problems.append(problem_at(location, str(node.node_ip),
                f"is the {which} address of the node network {network}{derived}; no host can have it",
                depends=("node_cidr",)))
    return problems


def _dns_service_ip_problems(spec: ClusterSpec) -> Problems:
    dns, services = spec.cluster_dns_ip, spec.service_cidr
    example = services.network_address + 10
    if dns not in services:
        message = f"is outside service_cidr {services}; use an address inside it, e.g. {example}"
    elif dns in (services.network_address, services.broadcast_address):
        message = f"is the network or broadcast address of service_cidr {services}; use e.g. {example}"
    elif dns == spec.api_service_ip:
        message = ("is the first service address, which the API server's 'kubernetes' service takes; "
                   f"use e.g. {example}")
    else:
        return []
    return [problem_at(("dns_service_ip",), str(dns), message, depends=("dns_service_ip", "service_cidr"))]


def _proxy_mode_problems(spec: ClusterSpec) -> Problems:
    problems = []
    if spec.kube_proxy_mode != "iptables":
        problems += [problem_at(("hosts", node.host, "prereqs_prepare_proxy_mode"), False,
            f"kube_proxy_mode {spec.kube_proxy_mode!r} needs kernel modules and tools the prereqs role was told "
            "not to prepare on this node; set prereqs_prepare_proxy_mode True or use kube_proxy_mode 'iptables'",
            depends=("kube_proxy_mode",)) for node in spec.nodes if not node.prereqs.prepare_proxy_mode]
    if spec.kube_proxy_mode == "nftables" and spec.minor < NFTABLES_MIN_MINOR:
        problems.append(problem_at(("kube_proxy_mode",), spec.kube_proxy_mode,
            f"needs Kubernetes 1.{NFTABLES_MIN_MINOR} or newer (this cluster is {spec.kubernetes_version}); "
            "use iptables or raise kubernetes_version", depends=("kube_proxy_mode", "kubernetes_version")))
    return problems


def slots(pod_cidr: IPv4Network, prefix: int, subnet: IPv4Network) -> range:
    """The indexes of the /prefix node subnets of pod_cidr that subnet covers."""
    size = 2 ** (32 - prefix)
    first = (int(subnet.network_address) - int(pod_cidr.network_address)) // size
    last = (int(subnet.broadcast_address) - int(pod_cidr.network_address)) // size
    return range(first, last + 1)


def _pod_subnet_problems(spec: ClusterSpec) -> Problems:
    pods, prefix = spec.pod_cidr, spec.node_pod_prefix
    depends = ("pod_cidr", "node_pod_prefix")
    # kubeadm's pod-subnet/node-mask validation (cmd/kubeadm/app/apis/kubeadm/validation:
    # ValidatePodSubnetNodeMask): the pod subnet must hold at least one node subnet, and at most 2^16.
    if prefix < pods.prefixlen:
        return [problem_at(("node_pod_prefix",), prefix,
            f"is wider than pod_cidr {pods} itself (kubeadm refuses a pod subnet smaller than one node subnet); "
            f"use a prefix of at least {pods.prefixlen}, e.g. {min(pods.prefixlen + 8, 30)}", depends=depends)]
    if prefix - pods.prefixlen > POD_SUBNET_NODE_MASK_MAX_DIFF:
        return [problem_at(("node_pod_prefix",), prefix,
            f"is more than {POD_SUBNET_NODE_MASK_MAX_DIFF} bits longer than pod_cidr {pods}, which kubeadm and "
            f"the controller-manager refuse; use at most {pods.prefixlen + POD_SUBNET_NODE_MASK_MAX_DIFF} "
            "or a smaller pod_cidr", depends=depends)]
    problems = []
    capacity = 2 ** (prefix - pods.prefixlen)
    # Per-host subnets wider than node_pod_prefix take several slots (see allocate_pod_subnets).
    reserved = {slot for node in spec.nodes if node.pod_cidr is not None and node.pod_cidr.subnet_of(pods)
                for slot in slots(pods, prefix, node.pod_cidr)}
    unassigned = sum(1 for node in spec.nodes if node.pod_cidr is None)
    if capacity < len(spec.nodes) or capacity - len(reserved) < unassigned:
        taken = f" and per-host pod_cidr values take {len(reserved)} of them" if reserved else ""
        problems.append(problem_at(("pod_cidr",), str(pods),
            f"holds only {capacity} node subnets of /{prefix} but there are {len(spec.nodes)} nodes{taken}; "
            "widen pod_cidr or raise node_pod_prefix", depends=(*depends, "nodes")))
    for node in spec.nodes:
        if node.pod_cidr is not None and not node.pod_cidr.subnet_of(pods):
            problems.append(problem_at(("hosts", node.host, "pod_cidr"), str(node.pod_cidr),
                f"is outside the cluster's pod_cidr {pods}; pick a subnet inside it", depends=("pod_cidr",)))
    explicit = [node for node in spec.nodes if node.pod_cidr is not None]
    for index, node in enumerate(explicit):
        for other in explicit[index + 1:]:
            if node.pod_cidr.overlaps(other.pod_cidr):
                problems.append(problem_at(("hosts", other.host, "pod_cidr"), str(other.pod_cidr),
                    f"overlaps the pod subnet {node.pod_cidr} of host {node.host}; give each node its own subnet"))
    return problems


def _kube_proxy_problems(spec: ClusterSpec) -> Problems:
    # kube-proxy's own validation (pkg/proxy/apis/config/validation/validation.go): syncPeriod
    # must be greater than 0, minSyncPeriod at least 0 and not greater than syncPeriod.
    proxy = spec.kube_proxy
    sync, minimum = duration_seconds(proxy.sync_period), duration_seconds(proxy.min_sync_period)
    if sync <= 0:
        return [problem_at(("kube_proxy_sync_period",), proxy.sync_period,
                           "must be greater than 0 (kube-proxy refuses 0); write e.g. 30s", depends=("kube_proxy",))]
    if minimum > sync:
        return [problem_at(("kube_proxy_min_sync_period",), proxy.min_sync_period,
                           f"is longer than kube_proxy_sync_period {proxy.sync_period}, which kube-proxy refuses; "
                           f"use at most {proxy.sync_period} (e.g. 1s)", depends=("kube_proxy",))]
    return []


def _coredns_problems(spec: ClusterSpec) -> Problems:
    dns, domain = str(spec.cluster_dns_ip), spec.cluster_domain
    upstreams = spec.coredns.upstreams
    problems = []
    if dns in (split_host_port(upstream)[0] for upstream in upstreams):
        problems.append(problem_at(("coredns_upstreams",), upstreams,
            f"includes the cluster DNS address {dns} itself, which would forward queries in a loop; "
            "use the servers outside the cluster", depends=("coredns", "dns_service_ip", "service_cidr")))
    zones = {"coredns_upstreams": upstreams, **{f"coredns_stub_domains.{zone}": servers
                                                 for zone, servers in spec.coredns.stub_domains.items()}}
    for key, servers in zones.items():
        local = [server for server in servers if _is_local_to_pod(server)]
        if local:
            # CoreDNS runs in a pod: loopback there is CoreDNS itself, and its loop plugin stops it.
            problems.append(problem_at((key,), servers,
                f"has {local}: a loopback or unspecified address means CoreDNS's own pod, not a server; "
                "list the servers' real addresses (a node's local resolver such as 127.0.0.53 is not "
                "reachable from pods)", depends=("coredns",)))
        if len(servers) > FORWARD_MAX_UPSTREAMS:
            problems.append(problem_at((key,), servers,
                f"lists {len(servers)} servers; CoreDNS's forward plugin takes at most {FORWARD_MAX_UPSTREAMS}",
                depends=("coredns",)))
    for zone in spec.coredns.stub_domains:
        if zone == domain or zone.endswith("." + domain):
            problems.append(problem_at(("coredns_stub_domains",), zone,
                f"lies inside the cluster domain {domain}, which CoreDNS answers itself; "
                "stub domains are for zones outside the cluster", depends=("coredns", "cluster_domain")))
    return problems


def _is_local_to_pod(server: str) -> bool:
    if server == RESOLV_CONF:
        return False
    address = ip_address(split_host_port(server)[0])
    return address.is_loopback or address.is_unspecified


def _weave_problems(spec: ClusterSpec) -> Problems:
    # One DaemonSet mounts the same CNI directories on every node (Weave Net's, and flannel's).
    if spec.cni_plugin not in ("weave", "flannel"):
        return []
    problems = []
    for key in ("bin_dir", "conf_dir"):
        values = {getattr(node.cni, key) for node in spec.nodes}
        if len(values) > 1:
            problems.append(problem_at((f"cni_{key}",), sorted(values),
                f"differs between nodes, but the {spec.cni_plugin} DaemonSet mounts one path on every node; "
                "set it in group_data/all.py", depends=("cni_plugin", "nodes")))
    return problems


# kube-controller-manager's node IPAM keeps at most 2^16 node subnets: clusterSubnetMaxDiff in
# kubernetes/kubernetes pkg/controller/nodeipam/ipam/cidrset/cidr_set.go.
NODE_IPAM_MAX_PREFIX_DIFFERENCE = 16


def _flannel_problems(spec: ClusterSpec) -> Problems:
    """With flannel the controller manager gives each node its podCIDR: kubewire's per-node subnets do not apply."""
    if spec.cni_plugin != "flannel":
        return []
    problems = [problem_at(("hosts", node.host, "pod_cidr"), str(node.pod_cidr),
                           "has no effect with cni_plugin 'flannel': kube-controller-manager allocates each node's "
                           "podCIDR from pod_cidr; remove it", depends=("cni_plugin",))
                for node in spec.nodes if node.pod_cidr is not None]
    if spec.node_pod_prefix - spec.pod_cidr.prefixlen > NODE_IPAM_MAX_PREFIX_DIFFERENCE:
        problems.append(problem_at(("node_pod_prefix",), spec.node_pod_prefix,
            f"is more than {NODE_IPAM_MAX_PREFIX_DIFFERENCE} bits longer than pod_cidr's /{spec.pod_cidr.prefixlen}; "
            "kube-controller-manager, which allocates the node subnets flannel uses, refuses that: use a shorter "
            "node_pod_prefix or a smaller pod_cidr", depends=("cni_plugin", "pod_cidr")))
    return problems


def _node_extras_problems(spec: ClusterSpec) -> Problems:
    """User extras that would undo what Kubernetes needs on a node."""
    problems = []
    names = {name: node for node in spec.nodes for name in {node.name, node.host}}
    for node in spec.nodes:
        for key, value in node.prereqs.extra_sysctls.items():
            needed = KUBERNETES_SYSCTLS.get(_sysctl_alias(key))
            if needed is not None and value.strip() != needed:
                problems.append(problem_at(("hosts", node.host, "prereqs_extra_sysctls"), {key: value},
                    f"sets {key} to {value!r}, but Kubernetes needs {needed}: {_WHY_SYSCTL[_sysctl_alias(key)]}; "
                    "remove it"))
        for entry_address, entry_names in node.hosts.extra_entries.items():
            for name in entry_names:
                if name in names and IPv4Address(entry_address) != names[name].node_ip:
                    problems.append(problem_at(("hosts", node.host, "hosts_extra_entries"), {entry_address: name},
                        f"maps the cluster node {name} to {entry_address}, but it is at {names[name].node_ip} and "
                        "node names must resolve to node addresses; remove the entry"))
    return problems


_WHY_SYSCTL = {
    # kubeadm's preflight refuses a node without it (cmd/kubeadm/app/preflight/checks.go, ipv4Forward).
    "net.ipv4.ip_forward": "without forwarding no packet leaves a pod for another node or a Service",
    # Kubernetes' network plugin requirements: bridged pod traffic must pass iptables (kube-proxy).
    "net.bridge.bridge-nf-call-iptables": "without it kube-proxy's rules never see traffic between pods on "
                                          "one bridge, so Services break",
    "net.bridge.bridge-nf-call-ip6tables": "the same for IPv6 traffic between pods on one bridge",
}


def _sysctl_alias(key: str) -> str:
    # net.ipv4.conf.all.forwarding is the same kernel setting as net.ipv4.ip_forward.
    return "net.ipv4.ip_forward" if key == "net.ipv4.conf.all.forwarding" else key


def _plugins_tarball_problems(spec: ClusterSpec) -> Problems:
    """A tarball on the controller is checked here, before any host is contacted."""
    problems = []
    for node in spec.nodes:
        cni = node.cni
        if cni.plugins_source != "tarball":
            continue
        location = ("hosts", node.host)
        if cni.plugins_tarball is None or cni.plugins_tarball_sha256 is None:
            missing = "cni_plugins_tarball" if cni.plugins_tarball is None else "cni_plugins_tarball_sha256"
            problems.append(problem_at((*location, missing), None,
                "is needed with cni_plugins_source 'tarball': the tarball's path on the controller and its sha256 "
                "(for the one-machine lab: run `kubewire lab up` first)"))
            continue
        path = Path(cni.plugins_tarball).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            problems.append(problem_at((*location, "cni_plugins_tarball"), cni.plugins_tarball,
                                       "is not a readable file on the controller"))
            continue
        from .cni_plugins import sha256_of  # hashed once per run, for the roles' own check too

        actual = sha256_of(path)
        if actual != cni.plugins_tarball_sha256:
            problems.append(problem_at((*location, "cni_plugins_tarball_sha256"), cni.plugins_tarball_sha256,
                f"does not match cni_plugins_tarball {cni.plugins_tarball}, whose sha256 is {actual}; "
                "check where the tarball came from before changing the digest"))
    return problems


