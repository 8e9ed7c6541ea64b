"""The cluster spec: one typed, validated object that every role reads.

`parse_cluster(settings, nodes)` turns raw inventory data into a `ClusterSpec` or raises
`SpecError` listing *every* problem, each naming the key, the bad value and the fix.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from .settings import (
    AddonsSettings,
    CniSettings,
    ContainerdSettings,
    CorednsSettings,
    FirewallSettings,
    HostsSettings,
    IngressSettings,
    KubeadmSettings,
    KubeProxySettings,
    PrereqsSettings,
    RoleSettings,
    WeaveSettings,
    split_host_port,
)

# The API server's secure port (kube-apiserver --secure-port, kubeadm's default bind port).
API_SERVER_PORT = 6443
# Kubernetes minor versions kubewire renders and tests for (inclusive).
SUPPORTED_K8S_MINORS = range(29, 38)
DEFAULT_K8S_VERSION = "1.33"
# kube-proxy's nftables mode: beta (usable) from 1.31, GA in 1.33.
NFTABLES_MIN_MINOR = 31
# Upstream deprecated kube-proxy's ipvs mode in this minor (KEP-5495); kubewire warns about it.
IPVS_DEPRECATED_MINOR = 35

CNI_PLUGINS = ("bridge", "weave")
KUBE_PROXY_MODES = ("iptables", "ipvs", "nftables")
GROUPS = ("controlplane", "workers")

# RFC 1123 label: what Kubernetes accepts for node names and DNS labels.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def is_dns_label(value: str) -> bool:
    return bool(_DNS_LABEL.match(value))


def is_dns_subdomain(value: str) -> bool:
    return 0 < len(value) <= 253 and all(is_dns_label(label) for label in value.split("."))


@dataclass(frozen=True)
class Problem:
    key: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.key} = {self.value!r}: {self.message}"


class SpecError(Exception):
    """Every problem found in the cluster spec, reported together."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        lines = [f"the cluster spec has {count} error{'s' if count != 1 else ''}; nothing was changed:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


def _problem(key_path: tuple, value: Any, message: str, depends: tuple[str, ...] = ()) -> InitErrorDetails:
    """A problem found by a check across fields; `depends` names the fields the check reads,
    so that it is not reported when one of them is itself invalid (see parse_cluster)."""
    error = PydanticCustomError("spec", message, {"depends": ",".join(depends)})
    return InitErrorDetails(type=error, loc=key_path, input=value)


def _network(value: Any, key_hint: str) -> IPv4Network:
    if not isinstance(value, str):
        raise PydanticCustomError("spec", "must be a CIDR string such as {hint}", {"hint": key_hint})
    try:
        return IPv4Network(value, strict=True)
    except ValueError as error:
        if "has host bits set" in str(error):
            fixed = IPv4Network(value, strict=False)
            raise PydanticCustomError(
                "spec", "has host bits set; the network is {fixed}", {"fixed": str(fixed)}
            ) from None
        raise PydanticCustomError(
            "spec", "is not a valid IPv4 CIDR (like {hint})", {"hint": key_hint}
        ) from None


def _address(value: Any) -> IPv4Address:
    try:
        return IPv4Address(value) if isinstance(value, str) else IPv4Address("x")
    except ValueError:
        raise PydanticCustomError(
            "spec", "is not a valid IPv4 address (like 192.168.56.10)"
        ) from None


class NodeSpec(BaseModel):
    """One cluster node, from its inventory host."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(description="The inventory host name.")
    name: str = Field(description="The node's hostname and Kubernetes node name.")
    node_ip: IPv4Address
    groups: frozenset[str]
    pod_cidr: IPv4Network | None = Field(
        default=None, description="This node's own pod subnet, if set per host."
    )
    # Node roles' settings (kubewire/settings.py), from the host's group and host data.
    hosts: HostsSettings = HostsSettings()
    prereqs: PrereqsSettings = PrereqsSettings()
    firewall: FirewallSettings = FirewallSettings()
    cni: CniSettings = CniSettings()
    containerd: ContainerdSettings = ContainerdSettings()

    @field_validator("name", mode="before")
    @classmethod
    def _valid_name(cls, value: Any) -> str:
        if not isinstance(value, str) or not is_dns_label(value):
            raise PydanticCustomError(
                "spec",
                "is not a valid node name: use lower-case letters, digits and '-' "
                "(an RFC 1123 label, at most 63 characters)",
            )
        return value

    @field_validator("node_ip", mode="before")
    @classmethod
    def _valid_ip(cls, value: Any) -> IPv4Address:
        if value is None:
            raise PydanticCustomError(
                "spec", "is missing: set node_ip in the host's data (its address on the node network)"
            )
        return _address(value)

    @field_validator("pod_cidr", mode="before")
    @classmethod
    def _valid_pod_cidr(cls, value: Any) -> IPv4Network | None:
        return None if value is None else _network(value, "10.244.1.0/24")

    @property
    def is_controlplane(self) -> bool:
        return "controlplane" in self.groups

    @property
    def is_worker(self) -> bool:
        return "workers" in self.groups


class ClusterSpec(BaseModel):
    """The whole cluster: settings shared by every node, and the nodes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_name: str = "kubewire"
    kubernetes_version: str = DEFAULT_K8S_VERSION
    pod_cidr: IPv4Network = IPv4Network("10.244.0.0/16")
    node_pod_prefix: int = 24
    service_cidr: IPv4Network = IPv4Network("10.96.0.0/12")
    dns_service_ip: IPv4Address | None = None
    cluster_domain: str = "cluster.local"
    node_cidr: IPv4Network | None = None
    cni_plugin: Literal["bridge", "weave"] = "bridge"
    kube_proxy_mode: Literal["iptables", "ipvs", "nftables"] = "iptables"
    # Where every node and kubeconfig reaches the API server: "HOST[:PORT]" (a load balancer in
    # front of several controlplanes); default: the first controlplane node's node_ip:6443.
    control_plane_endpoint: str | None = None
    nodes: tuple[NodeSpec, ...]
    # Cluster roles' settings (kubewire/settings.py), from group data: the add-ons and how they are applied.
    addons: AddonsSettings = AddonsSettings()
    kube_proxy: KubeProxySettings = KubeProxySettings()
    coredns: CorednsSettings = CorednsSettings()
    weave: WeaveSettings = WeaveSettings()
    ingress: IngressSettings = IngressSettings()
    kubeadm: KubeadmSettings = KubeadmSettings()

    # Field checks ---------------------------------------------------------------------------

    @field_validator("cluster_name", mode="before")
    @classmethod
    def _valid_cluster_name(cls, value: Any) -> str:
        if not isinstance(value, str) or not is_dns_label(value):
            raise PydanticCustomError(
                "spec", "must be an RFC 1123 label: lower-case letters, digits and '-', e.g. 'lab'"
            )
        return value

    @field_validator("kubernetes_version", mode="before")
    @classmethod
    def _valid_version(cls, value: Any) -> str:
        supported = f"1.{SUPPORTED_K8S_MINORS.start}-1.{SUPPORTED_K8S_MINORS.stop - 1}"
        if isinstance(value, float):
            raise PydanticCustomError(
                "spec", "must be a quoted string such as '1.30' (a bare number loses trailing zeros)"
            )
        match = re.fullmatch(r"v?1\.(\d+)(\.\d+)?", value) if isinstance(value, str) else None
        if not match:
            raise PydanticCustomError(
                "spec", "is not a Kubernetes version; use 'MAJOR.MINOR' within {supported}",
                {"supported": supported},
            )
        if int(match.group(1)) not in SUPPORTED_K8S_MINORS:
            raise PydanticCustomError(
                "spec", "is not supported; kubewire supports {supported}", {"supported": supported}
            )
        return value.removeprefix("v")

    @field_validator("pod_cidr", mode="before")
    @classmethod
    def _valid_pod_cidr(cls, value: Any) -> IPv4Network:
        return _network(value, "10.244.0.0/16")

    @field_validator("service_cidr", mode="before")
    @classmethod
    def _valid_service_cidr(cls, value: Any) -> IPv4Network:
        return _network(value, "10.96.0.0/12")

    @field_validator("node_cidr", mode="before")
    @classmethod
    def _valid_node_cidr(cls, value: Any) -> IPv4Network | None:
        return None if value is None else _network(value, "192.168.56.0/24")

    @field_validator("control_plane_endpoint", mode="before")
    @classmethod
    def _valid_endpoint(cls, value: Any) -> str | None:
        # kubeadm: "a stable IP address or DNS name for the control plane", with an optional port
        # (ClusterConfiguration.controlPlaneEndpoint, kubeadm's v1beta3/v1beta4 API reference).
        if value is None:
            return None
        host, _, port = value.rpartition(":") if isinstance(value, str) and ":" in value else (value, "", "")
        valid_host = isinstance(host, str) and (_looks_like_ip(host) or is_dns_subdomain(host))
        if not valid_host or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
            raise PydanticCustomError(
                "spec", "must be HOST or HOST:PORT, HOST an IPv4 address or DNS name (e.g. 192.168.56.5:6443 or "
                "api.lab.example)")
        return value

    @field_validator("dns_service_ip", mode="before")
    @classmethod
    def _valid_dns_ip(cls, value: Any) -> IPv4Address | None:
        return None if value is None else _address(value)

    @field_validator("node_pod_prefix", mode="before")
    @classmethod
    def _valid_prefix(cls, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 30:
            raise PydanticCustomError(
                "spec", "must be a prefix length between 8 and 30 (24 gives each node 254 pod addresses)"
            )
        return value

    @field_validator("cluster_domain", mode="before")
    @classmethod
    def _valid_domain(cls, value: Any) -> str:
        if not isinstance(value, str) or not is_dns_subdomain(value):
            raise PydanticCustomError(
                "spec",
                "is not a valid DNS domain: dot-separated lower-case labels of letters, digits "
                "and '-', no trailing dot (e.g. cluster.local)",
            )
        return value

    @field_validator("cni_plugin", mode="before")
    @classmethod
    def _valid_cni(cls, value: Any) -> str:
        if value not in CNI_PLUGINS:
            raise PydanticCustomError(
                "spec", "is not a CNI plugin kubewire configures; use one of: {valid}",
                {"valid": ", ".join(CNI_PLUGINS)},
            )
        return value

    @field_validator("kube_proxy_mode", mode="before")
    @classmethod
    def _valid_proxy_mode(cls, value: Any) -> str:
        valid = ", ".join(KUBE_PROXY_MODES)
        if value == "userspace":
            raise PydanticCustomError(
                "spec",
                "was removed from kube-proxy in Kubernetes 1.26; use one of: {valid}",
                {"valid": valid},
            )
        if value not in KUBE_PROXY_MODES:
            raise PydanticCustomError(
                "spec", "is not a kube-proxy mode; use one of: {valid}", {"valid": valid}
            )
        return value

    @field_validator("nodes")
    @classmethod
    def _valid_nodes(cls, nodes: tuple[NodeSpec, ...]) -> tuple[NodeSpec, ...]:
        problems: list[InitErrorDetails] = []
        if not nodes:
            problems.append(_problem(("nodes",), [],
                "the inventory has no hosts; add hosts to the groups controlplane and workers", depends=("nodes",)))
        elif not any(node.is_controlplane for node in nodes):
            names = [node.host for node in nodes]
            problems.append(
                _problem(("groups", "controlplane"), [], f"no host is in group controlplane; put one of {names} there",
                         depends=("nodes",))
            )
        for node in nodes:
            if not node.groups & set(GROUPS):
                problems.append(
                    _problem(
                        ("hosts", node.host, "groups"), sorted(node.groups),
                        "the host is in neither controlplane nor workers; add it to one of them",
                    )
                )
        problems += _duplicates(nodes, "node_name", lambda node: node.name)
        problems += _duplicates(nodes, "node_ip", lambda node: node.node_ip)
        if problems:
            raise ValidationError.from_exception_data("nodes", problems)
        return nodes

    # Cross-field checks ---------------------------------------------------------------------

    @model_validator(mode="after")
    def _cross_checks(self) -> ClusterSpec:
        problems: list[InitErrorDetails] = []
        pods, services = self.pod_cidr, self.service_cidr

        if pods.overlaps(services):
            problems.append(_problem(("service_cidr",), str(services),
                f"overlaps pod_cidr {pods}; pods and services need separate ranges "
                "(e.g. 10.96.0.0/12 and 10.244.0.0/16)", depends=("pod_cidr", "service_cidr")))
        for key, net in (("pod_cidr", pods), ("service_cidr", services)):
            # A derived node network says nothing more than the node addresses checked below.
            if self.node_cidr is not None and net.overlaps(self.node_cidr):
                problems.append(_problem((key,), str(net),
                    f"overlaps the node network {self.node_cidr}; choose a range the nodes do not use",
                    depends=(key, "node_cidr")))

        for node in self.nodes:
            for key, net in (("pod_cidr", pods), ("service_cidr", services)):
                if node.node_ip in net:
                    problems.append(_problem(("hosts", node.host, "node_ip"), str(node.node_ip),
                        f"lies inside {key} {net}; node addresses must be outside the pod and service ranges",
                        depends=(key,)))
            if self.node_cidr is not None and node.node_ip not in self.node_cidr:
                problems.append(_problem(("hosts", node.host, "node_ip"), str(node.node_ip),
                    f"lies outside node_cidr {self.node_cidr}; fix the address or widen node_cidr",
                    depends=("node_cidr",)))

        problems += self._dns_service_ip_problems()
        if self.kube_proxy_mode != "iptables":
            problems += [_problem(("hosts", node.host, "prereqs_prepare_proxy_mode"), False,
                f"kube_proxy_mode {self.kube_proxy_mode!r} needs kernel modules and tools the prereqs role was told "
                "not to prepare on this node; set prereqs_prepare_proxy_mode True or use kube_proxy_mode 'iptables'",
                depends=("kube_proxy_mode",)) for node in self.nodes if not node.prereqs.prepare_proxy_mode]
        problems += self._pod_subnet_problems()
        problems += self._coredns_problems()
        problems += self._weave_problems()

        if self.kube_proxy_mode == "nftables" and self.minor < NFTABLES_MIN_MINOR:
            problems.append(_problem(("kube_proxy_mode",), self.kube_proxy_mode,
                f"needs Kubernetes 1.{NFTABLES_MIN_MINOR} or newer (this cluster is {self.kubernetes_version}); "
                "use iptables or raise kubernetes_version", depends=("kube_proxy_mode", "kubernetes_version")))
        if problems:
            raise ValidationError.from_exception_data("ClusterSpec", problems)
        return self

    def _dns_service_ip_problems(self) -> list[InitErrorDetails]:
        dns, services = self.cluster_dns_ip, self.service_cidr
        example = services.network_address + 10
        if dns not in services:
            message = f"is outside service_cidr {services}; use an address inside it, e.g. {example}"
        elif dns in (services.network_address, services.broadcast_address):
            message = f"is the network or broadcast address of service_cidr {services}; use e.g. {example}"
        elif dns == self.api_service_ip:
            message = ("is the first service address, which the API server's 'kubernetes' service takes; "
                       f"use e.g. {example}")
        else:
            return []
        return [_problem(("dns_service_ip",), str(dns), message, depends=("dns_service_ip", "service_cidr"))]

    def _coredns_problems(self) -> list[InitErrorDetails]:
        dns, domain = str(self.cluster_dns_ip), self.cluster_domain
        problems = []
        if dns in (split_host_port(upstream)[0] for upstream in self.coredns.upstreams):
            problems.append(_problem(("coredns_upstreams",), self.coredns.upstreams,
                f"includes the cluster DNS address {dns} itself, which would forward queries in a loop; "
                "use the servers outside the cluster", depends=("coredns", "dns_service_ip", "service_cidr")))
        for zone in self.coredns.stub_domains:
            if zone == domain or zone.endswith("." + domain):
                problems.append(_problem(("coredns_stub_domains",), zone,
                    f"lies inside the cluster domain {domain}, which CoreDNS answers itself; "
                    "stub domains are for zones outside the cluster", depends=("coredns", "cluster_domain")))
        return problems

    def _weave_problems(self) -> list[InitErrorDetails]:
        # One DaemonSet mounts the same CNI directories on every node.
        if self.cni_plugin != "weave":
            return []
        problems = []
        for key in ("bin_dir", "conf_dir"):
            values = {getattr(node.cni, key) for node in self.nodes}
            if len(values) > 1:
                problems.append(_problem((f"cni_{key}",), sorted(values),
                    "differs between nodes, but Weave Net's DaemonSet mounts one path on every node; "
                    "set it in group_data/all.py", depends=("cni_plugin", "nodes")))
        return problems

    def _pod_subnet_problems(self) -> list[InitErrorDetails]:
        pods, prefix = self.pod_cidr, self.node_pod_prefix
        if prefix < pods.prefixlen:
            return [_problem(("node_pod_prefix",), prefix,
                f"is wider than pod_cidr {pods} itself; use a prefix of at least {pods.prefixlen}, "
                f"e.g. {min(pods.prefixlen + 8, 30)}", depends=("pod_cidr", "node_pod_prefix"))]
        problems = []
        capacity = 2 ** (prefix - pods.prefixlen)
        # Per-host subnets wider than node_pod_prefix take several slots (see allocate_pod_subnets).
        reserved = {slot for node in self.nodes if node.pod_cidr is not None and node.pod_cidr.subnet_of(pods)
                    for slot in _slots(pods, prefix, node.pod_cidr)}
        unassigned = sum(1 for node in self.nodes if node.pod_cidr is None)
        if capacity < len(self.nodes) or capacity - len(reserved) < unassigned:
            taken = f" and per-host pod_cidr values take {len(reserved)} of them" if reserved else ""
            problems.append(_problem(("pod_cidr",), str(pods),
                f"holds only {capacity} node subnets of /{prefix} but there are {len(self.nodes)} nodes{taken}; "
                f"widen pod_cidr or raise node_pod_prefix", depends=("pod_cidr", "node_pod_prefix", "nodes")))
        for node in self.nodes:
            if node.pod_cidr is not None and not node.pod_cidr.subnet_of(pods):
                problems.append(_problem(("hosts", node.host, "pod_cidr"), str(node.pod_cidr),
                    f"is outside the cluster's pod_cidr {pods}; pick a subnet inside it", depends=("pod_cidr",)))
        explicit = [node for node in self.nodes if node.pod_cidr is not None]
        for index, node in enumerate(explicit):
            for other in explicit[index + 1:]:
                if node.pod_cidr.overlaps(other.pod_cidr):
                    problems.append(_problem(("hosts", other.host, "pod_cidr"), str(other.pod_cidr),
                        f"overlaps the pod subnet {node.pod_cidr} of host {node.host}; give each node its own subnet"))
        return problems

    # Derived values -------------------------------------------------------------------------

    def warnings(self) -> list[Problem]:
        """What is allowed but probably not meant; `kubewire check`, `render` and the deploy show these."""
        found = []
        if self.kube_proxy_mode == "ipvs":
            found.append(Problem("kube_proxy_mode", "ipvs",
                f"upstream deprecated kube-proxy's ipvs mode in Kubernetes 1.{IPVS_DEPRECATED_MINOR}; "
                "plan a move to nftables"))
        unused_ipvs = {"ipvs_scheduler", "ipvs_strict_arp"} & self.kube_proxy.model_fields_set
        if self.kube_proxy_mode != "ipvs":
            for name in sorted(unused_ipvs):
                found.append(Problem(f"kube_proxy_{name}", getattr(self.kube_proxy, name),
                    f"has no effect: kube_proxy_mode is {self.kube_proxy_mode}, not ipvs"))
        if self.cni_plugin == "weave":
            found.append(Problem("cni_plugin", "weave",
                "Weave Net is archived upstream (Weaveworks shut down in 2024): no fixes, not even for security; "
                "pin a maintained fork with weave_image_repo and plan a migration"))
        if self.ingress.enabled and self.ingress.controller == "ingress-nginx":
            found.append(Problem("ingress_controller", "ingress-nginx",
                "ingress-nginx is retired upstream (no fixes since March 2026); prefer nginx-inc or plan a "
                "move to the Gateway API"))
        return found

    @property
    def api_server_endpoint(self) -> str:
        """HOST:PORT of the API server for nodes and kubeconfigs: control_plane_endpoint, or the first
        controlplane node's node_ip on the API server's port."""
        if self.control_plane_endpoint is None:
            return f"{self.controlplane[0].node_ip}:{API_SERVER_PORT}"
        host, _, port = self.control_plane_endpoint.rpartition(":")
        return self.control_plane_endpoint if port.isdigit() else f"{self.control_plane_endpoint}:{API_SERVER_PORT}"

    @property
    def minor(self) -> int:
        return int(self.kubernetes_version.split(".")[1])

    @property
    def api_service_ip(self) -> IPv4Address:
        """The 'kubernetes' service's address: always the first of the service range."""
        return self.service_cidr.network_address + 1

    @property
    def cluster_dns_ip(self) -> IPv4Address:
        return self.dns_service_ip or self.service_cidr.network_address + 10

    @property
    def node_network(self) -> IPv4Network:
        """The nodes' own network: as set, or the smallest network holding every node, at least a /24."""
        if self.node_cidr is not None:
            return self.node_cidr
        return node_network_of([node.node_ip for node in self.nodes])

    @property
    def controlplane(self) -> tuple[NodeSpec, ...]:
        return tuple(node for node in self.nodes if node.is_controlplane)

    @property
    def workers(self) -> tuple[NodeSpec, ...]:
        return tuple(node for node in self.nodes if node.is_worker)

    def node(self, host: str) -> NodeSpec:
        return next(node for node in self.nodes if node.host == host)

    @functools.cached_property
    def _pod_subnets(self) -> dict[str, IPv4Network]:
        # Every role asks for every node's subnet on every host: allocate once per spec.
        return allocate_pod_subnets(self.pod_cidr, self.node_pod_prefix, self.node_network, self.nodes)

    def pod_subnets(self) -> dict[str, IPv4Network]:
        """Each node's pod subnet, by inventory host name (see `allocate_pod_subnets`)."""
        return dict(self._pod_subnets)

    def pod_cidr_for(self, host: str) -> IPv4Network:
        return self._pod_subnets[host]


def _duplicates(nodes, key: str, value_of) -> list[InitErrorDetails]:
    seen: dict[Any, str] = {}
    problems = []
    for node in nodes:
        value = value_of(node)
        if value in seen:
            problems.append(_problem(("hosts", node.host, key), str(value),
                f"is also used by host {seen[value]}; every node needs its own {key}"))
        else:
            seen[value] = node.host
    return problems


def node_network_of(addresses: list[IPv4Address]) -> IPv4Network:
    if not addresses:
        return IPv4Network("0.0.0.0/32")
    prefix = 24
    while prefix > 0:
        network = IPv4Network((addresses[0], prefix), strict=False)
        if all(address in network for address in addresses):
            return network
        prefix -= 1
    return IPv4Network("0.0.0.0/0")


def _slots(pod_cidr: IPv4Network, prefix: int, subnet: IPv4Network) -> range:
    """The indexes of the /prefix node subnets of pod_cidr that subnet covers."""
    size = 2 ** (32 - prefix)
    first = (int(subnet.network_address) - int(pod_cidr.network_address)) // size
    last = (int(subnet.broadcast_address) - int(pod_cidr.network_address)) // size
    return range(first, last + 1)


def allocate_pod_subnets(
    pod_cidr: IPv4Network, prefix: int, node_network: IPv4Network, nodes: tuple[NodeSpec, ...]
) -> dict[str, IPv4Network]:
    """Give every node a pod subnet, deterministically and stably.

    A node's subnet index is its address's offset in the node network (192.168.56.12 gets
    10.244.12.0/24), wrapped to the number of subnets; a taken index moves to the next free
    one, in node-address order. So adding or removing a node never moves another node's
    subnet unless their indexes collide. Subnets set per host are reserved first.
    """
    count = 2 ** (prefix - pod_cidr.prefixlen)
    size = 2 ** (32 - prefix)
    assigned: dict[str, IPv4Network] = {}
    taken: set[int] = set()
    for node in nodes:
        if node.pod_cidr is not None:
            assigned[node.host] = node.pod_cidr
            taken.update(_slots(pod_cidr, prefix, node.pod_cidr))
    for node in sorted((n for n in nodes if n.pod_cidr is None), key=lambda n: n.node_ip):
        index = (int(node.node_ip) - int(node_network.network_address)) % count
        for step in range(count):
            candidate = (index + step) % count
            if candidate not in taken:
                break
        else:
            raise ValueError(f"no free pod subnet for {node.host}")
        taken.add(candidate)
        assigned[node.host] = ipaddress.IPv4Network((int(pod_cidr.network_address) + candidate * size, prefix))
    return assigned


def _roles_of(model: type[BaseModel]) -> dict[str, type[RoleSettings]]:
    return {name: info.annotation for name, info in model.model_fields.items()
            if isinstance(info.annotation, type) and issubclass(info.annotation, RoleSettings)}


# Role settings by role name: per node (may differ per group or host), or cluster-wide.
NODE_ROLES = _roles_of(NodeSpec)
CLUSTER_ROLES = _roles_of(ClusterSpec)
# Keys of the cluster spec, read from group (or `all`) data; host data may set only these:
CLUSTER_KEYS = tuple(key for key in ClusterSpec.model_fields if key != "nodes" and key not in CLUSTER_ROLES)
HOST_KEYS = ("node_ip", "node_name", "pod_cidr")


def role_of_key(key: str, roles: dict[str, type[RoleSettings]]) -> str | None:
    """The role whose prefix `key` has (`coredns_pods` -> coredns), if any; cluster keys have none."""
    if key in CLUSTER_KEYS:
        return None
    return next((role for role in sorted(roles, key=len, reverse=True) if key.startswith(role + "_")), None)


def role_keys(data: dict[str, Any], roles: dict[str, type[RoleSettings]]) -> dict[str, dict[str, Any]]:
    """Split data into the roles' settings: {"hosts": {"hosts_extra_entries": ...}}."""
    split: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        role = role_of_key(key, roles)
        if role is not None:
            split.setdefault(role, {})[key] = value
    return split


@dataclass(frozen=True)
class HostInput:
    """What the inventory says about one host, before validation."""

    host: str
    groups: frozenset[str]
    host_data: dict[str, Any]
    ssh_hostname: str | None = None
    # Node roles' keys as this host sees them (host data over group data over `all`).
    role_data: dict[str, Any] = field(default_factory=dict)


def parse_cluster(settings: dict[str, Any], hosts: list[HostInput]) -> ClusterSpec:
    """Validate cluster settings and hosts into a ClusterSpec, or raise SpecError with every problem."""
    nodes = []
    for item in hosts:
        node_ip = item.host_data.get("node_ip")
        if node_ip is None and item.ssh_hostname and _looks_like_ip(item.ssh_hostname):
            node_ip = item.ssh_hostname
        nodes.append({
            "host": item.host,
            "name": item.host_data.get("node_name", item.host),
            "node_ip": node_ip,
            "groups": item.groups,
            "pod_cidr": item.host_data.get("pod_cidr"),
            **role_keys(item.role_data, NODE_ROLES),
        })
    raw = {key: value for key, value in settings.items() if key in CLUSTER_KEYS}
    raw.update(role_keys(settings, CLUSTER_ROLES))
    raw["nodes"] = nodes
    try:
        return ClusterSpec.model_validate(raw)
    except ValidationError as error:
        errors = error.errors()
    problems = [_to_problem(item, hosts) for item in errors]

    # Pydantic runs the checks across fields only when every field is valid. To report every
    # problem at once, check again without the invalid fields (their defaults stand in) and
    # without the invalid nodes, keeping only problems that do not read an invalid field.
    invalid = {item["loc"][0] for item in errors if item["loc"][0] != "nodes"}
    bad_nodes = {item["loc"][1] for item in errors if item["loc"][:1] == ("nodes",) and isinstance(item["loc"][1], int)}
    if invalid or bad_nodes:
        invalid |= {"nodes"} if bad_nodes else set()
        kept = [index for index in range(len(hosts)) if index not in bad_nodes]
        retry = {key: value for key, value in raw.items() if key not in invalid}
        retry["nodes"] = [nodes[index] for index in kept]
        try:
            ClusterSpec.model_validate(retry)
        except ValidationError as again:
            for item in again.errors():
                depends = set(filter(None, item.get("ctx", {}).get("depends", "").split(",")))
                problem = _to_problem(item, [hosts[index] for index in kept])
                if not depends & invalid and problem not in problems:
                    problems.append(problem)
    raise SpecError(problems)


def _looks_like_ip(value: str) -> bool:
    try:
        IPv4Address(value)
        return True
    except ValueError:
        return False


def _to_problem(error: dict, hosts: list[HostInput]) -> Problem:
    location = list(error["loc"])
    if len(location) > 1 and location[0] == "nodes" and isinstance(location[1], str):
        location = location[1:]  # checks across nodes already name their host
    # Field errors inside a node come as ("nodes", index, field, ...): name the host instead.
    if len(location) >= 2 and location[0] == "nodes" and isinstance(location[1], int):
        host = hosts[location[1]].host
        rest = location[2:]
        if rest and rest[0] == "name":
            rest[0] = "node_name"
        if len(rest) > 1 and rest[0] in NODE_ROLES:
            rest = rest[1:]  # (role, data key): the prefixed data key names itself
        location = ["hosts", host, *rest]
    elif len(location) > 1 and location[0] in CLUSTER_ROLES:
        location = location[1:]
    key = ".".join(str(part) for part in location if part != "")
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = _unknown_key_message(str(location[-1]))
    return Problem(key=key, value=error.get("input"), message=message)


def _unknown_key_message(key: str) -> str:
    roles = {**NODE_ROLES, **CLUSTER_ROLES}
    role = role_of_key(key, roles)
    known = roles[role].keys() if role else list(CLUSTER_KEYS)
    close = difflib.get_close_matches(key, known + list(CLUSTER_KEYS), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"is not a key of {'role ' + role if role else 'the cluster spec'}; {hint}known: {', '.join(known)}"
