"""The cluster spec: one typed, validated object that every role reads.

`ClusterSpec` holds the cluster-wide keys and the nodes (`NodeSpec`), each with its roles'
settings (kubewire/settings.py). A field's type says what is valid (kubewire/names.py); the
checks across fields are in kubewire/checks.py and the warnings in kubewire/spec_warnings.py.
Inventory data becomes a spec in kubewire/parse.py (`parse_cluster`), which reports every
problem at once as a `SpecError`.
Values the components derive from the spec (the API endpoint, the kubelet's DNS settings,
kubeadm's API version) are properties here, so node roles need no add-on pipeline for them.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails

from . import checks, spec_warnings
from .errors import Problem, SpecError
from .names import (
    Choice,
    Cidr,
    DnsLabel,
    DnsSubdomain,
    OptionalCidr,
    OptionalIpv4,
    address,
    is_dns_label,
    is_dns_subdomain,
    spec_error,
)
from .paths import NODE_GROUPS
from .settings import (
    AddonsSettings,
    CniSettings,
    ContainerdSettings,
    CorednsSettings,
    FirewallSettings,
    FlannelSettings,
    HostsSettings,
    IngressSettings,
    KubeadmSettings,
    KubeProxySettings,
    PrereqsSettings,
    RoleSettings,
    WeaveSettings,
    readme_default,
)

__all__ = ["ClusterSpec", "NodeSpec", "Problem", "SpecError", "is_dns_label", "is_dns_subdomain"]

# Kubernetes minor versions kubewire renders and tests for: those kubewire/versions.py pins releases for.
SUPPORTED_K8S_MINORS = range(29, 37)
DEFAULT_K8S_VERSION = "1.33"
NFTABLES_MIN_MINOR = checks.NFTABLES_MIN_MINOR
IPVS_DEPRECATED_MINOR = spec_warnings.IPVS_DEPRECATED_MINOR
# kubeadm's configuration API: v1beta4 from Kubernetes 1.31, v1beta3 before.
KUBEADM_V1BETA4_MINOR = 31
# The API server's secure port (kube-apiserver --secure-port default; "Ports and Protocols").
API_SERVER_PORT = 6443

CNI_PLUGINS = ("bridge", "weave", "flannel")
KUBE_PROXY_MODES = ("iptables", "ipvs", "nftables")


def _kubernetes_version(value: Any) -> str:
    supported = f"1.{SUPPORTED_K8S_MINORS.start}-1.{SUPPORTED_K8S_MINORS.stop - 1}"
    if isinstance(value, float):
        raise spec_error("must be a quoted string such as '1.30' (a bare number loses trailing zeros)")
    match = re.fullmatch(r"v?1\.(\d+)(\.\d+)?", value) if isinstance(value, str) else None
    if not match:
        raise spec_error("is not a Kubernetes version; use 'MAJOR.MINOR' within {supported}", supported=supported)
    if int(match.group(1)) not in SUPPORTED_K8S_MINORS:
        raise spec_error("is not supported; kubewire supports {supported}", supported=supported)
    return value.removeprefix("v")


def _prefix_length(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 30:
        raise spec_error("must be a prefix length between 8 and 30 (24 gives each node 254 pod addresses)")
    return value


def _node_ip(value: Any) -> IPv4Address:
    if value is None:
        raise spec_error("is missing: set node_ip in the host's data (its address on the node network)")
    return address(value)


def _is_ipv4(text: str) -> bool:
    try:
        IPv4Address(text)
    except ValueError:
        return False
    return True


def _control_plane_endpoint(value: Any) -> str | None:
    # kubeadm: "a stable IP address or DNS name for the control plane", with an optional port
    # (ClusterConfiguration.controlPlaneEndpoint, kubeadm's v1beta3/v1beta4 API reference).
    if value is None:
        return None
    host, _, port = value.rpartition(":") if isinstance(value, str) and ":" in value else (value, "", "")
    valid_host = isinstance(host, str) and (_is_ipv4(host) or is_dns_subdomain(host))
    if not valid_host or (port and not (port.isdigit() and 1 <= int(port) <= 65535)):
        raise spec_error("must be HOST or HOST:PORT, HOST an IPv4 address or DNS name (e.g. 192.168.56.5:6443 or "
                         "api.lab.example)")
    return value


KubernetesVersion = Annotated[str, BeforeValidator(_kubernetes_version)]
ControlPlaneEndpoint = Annotated[str | None, BeforeValidator(_control_plane_endpoint)]
NodePodPrefix = Annotated[int, BeforeValidator(_prefix_length)]
NodeName = DnsLabel("is not a valid node name: use lower-case letters, digits and '-' "
                    "(an RFC 1123 label, at most 63 characters)")
NodeIp = Annotated[IPv4Address, BeforeValidator(_node_ip)]
ClusterName = DnsLabel("must be an RFC 1123 label: lower-case letters, digits and '-', e.g. 'lab'")
ClusterDomain = DnsSubdomain("is not a valid DNS domain: dot-separated lower-case labels of letters, digits "
                             "and '-', no trailing dot (e.g. cluster.local)")
PodCidr = Cidr("10.244.0.0/16")
ServiceCidr = Cidr("10.96.0.0/12")
NodeCidr = OptionalCidr("192.168.56.0/24")
HostPodCidr = OptionalCidr("10.244.1.0/24")
CniPlugin = Choice(CNI_PLUGINS, "a CNI plugin kubewire configures")
KubeProxyMode = Choice(KUBE_PROXY_MODES, "a kube-proxy mode",
                       removed={"userspace": "was removed from kube-proxy in Kubernetes 1.26"})


class NodeSpec(BaseModel):
    """One cluster node, from its inventory host."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field(description="The inventory host name.")
    name: NodeName = Field(description="the node's hostname and Kubernetes node name",
                           json_schema_extra=readme_default("the inventory host name"))
    node_ip: NodeIp = Field(description="the node's address on the node network",
                            json_schema_extra=readme_default("`ssh_hostname` when it is an IPv4 address"))
    groups: frozenset[str]
    pod_cidr: HostPodCidr = Field(default=None,
                                  description="this node's own pod subnet, inside the cluster's `pod_cidr`",
                                  json_schema_extra=readme_default("allocated (above)"))
    # Node roles' settings (kubewire/settings.py), from the host's group and host data.
    hosts: HostsSettings = HostsSettings()
    prereqs: PrereqsSettings = PrereqsSettings()
    firewall: FirewallSettings = FirewallSettings()
    cni: CniSettings = CniSettings()
    containerd: ContainerdSettings = ContainerdSettings()

    @property
    def is_controlplane(self) -> bool:
        return "controlplane" in self.groups

    @property
    def is_worker(self) -> bool:
        return "workers" in self.groups


class ClusterSpec(BaseModel):
    """The whole cluster: settings shared by every node, and the nodes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cluster_name: ClusterName = Field("kubewire", description="the cluster's name (an RFC 1123 label)")
    kubernetes_version: KubernetesVersion = Field(
        DEFAULT_K8S_VERSION,
        description=f"`\"MAJOR.MINOR\"` (quoted), 1.{SUPPORTED_K8S_MINORS.start} to 1.{SUPPORTED_K8S_MINORS.stop - 1}",
        json_schema_extra=readme_default(f'`"{DEFAULT_K8S_VERSION}"`'))
    pod_cidr: PodCidr = Field(IPv4Network("10.244.0.0/16"),
                              description="the pod network; each node gets a subnet of it")
    node_pod_prefix: NodePodPrefix = Field(24, description="size of each node's pod subnet")
    service_cidr: ServiceCidr = Field(
        IPv4Network("10.96.0.0/12"),
        description="the service (ClusterIP) range, at most a /12 (the API server's limit); its first "
                    "address is the API server's `kubernetes` service")
    dns_service_ip: OptionalIpv4 = Field(None, description="the cluster DNS service address",
                                         json_schema_extra=readme_default(
                                             "10th address of `service_cidr` (`10.96.0.10`)"))
    cluster_domain: ClusterDomain = Field("cluster.local", description="the cluster's DNS domain")
    node_cidr: NodeCidr = Field(None, description="the nodes' own network",
                                json_schema_extra=readme_default(
                                    "smallest network holding every `node_ip`, at least a /24"))
    cni_plugin: CniPlugin = Field("bridge", description="`bridge`, `weave` or `flannel`")
    kube_proxy_mode: KubeProxyMode = Field(
        "iptables",
        description="`iptables`, `ipvs` (deprecated upstream in 1.35: allowed, with a warning) or `nftables` "
                    "(1.31+); `userspace` was removed in 1.26")
    control_plane_endpoint: ControlPlaneEndpoint = Field(None, description=(
        "where every node and kubeconfig reaches the API server: `HOST` or `HOST:PORT` (e.g. a load balancer "
        "in front of several controlplanes); it is in the API server's certificate"),
        json_schema_extra=readme_default("the first controlplane node's `node_ip`:6443"))
    nodes: tuple[NodeSpec, ...]
    # Cluster roles' settings (kubewire/settings.py), from group data: the add-ons and how they are applied.
    addons: AddonsSettings = AddonsSettings()
    kube_proxy: KubeProxySettings = KubeProxySettings()
    coredns: CorednsSettings = CorednsSettings()
    weave: WeaveSettings = WeaveSettings()
    flannel: FlannelSettings = FlannelSettings()
    ingress: IngressSettings = IngressSettings()
    kubeadm: KubeadmSettings = KubeadmSettings()

    @field_validator("nodes")
    @classmethod
    def _valid_nodes(cls, nodes: tuple[NodeSpec, ...]) -> tuple[NodeSpec, ...]:
        problems = checks.node_list_problems(nodes, NODE_GROUPS)
        if problems:
            raise ValidationError.from_exception_data("nodes", problems)
        return nodes

    @model_validator(mode="after")
    def _cross_checks(self) -> ClusterSpec:
        problems: list[InitErrorDetails] = checks.cross_field_problems(self)
        if problems:
            raise ValidationError.from_exception_data("ClusterSpec", problems)
        return self

    def warnings(self) -> list[Problem]:
        """What is allowed but probably not meant; `kubewire check`, `render` and the deploy show these."""
        return spec_warnings.warnings(self)

    # Derived values -------------------------------------------------------------------------

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
    def kubelet_dns(self) -> dict[str, Any]:
        """What the kubelet tells pods about DNS (KubeletConfiguration clusterDNS and clusterDomain)."""
        return {"clusterDNS": [str(self.cluster_dns_ip)], "clusterDomain": self.cluster_domain}

    @property
    def kubeadm_api_version(self) -> str:
        """kubeadm's configuration API for this Kubernetes version (kubeadm.k8s.io/<this>)."""
        return "v1beta4" if self.minor >= KUBEADM_V1BETA4_MINOR else "v1beta3"

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

    def pod_routes(self, host: str) -> dict[str, str]:
        """The bridge CNI's routes on `host`: every other node's pod subnet, via that node's address."""
        return {str(self.pod_cidr_for(other.host)): str(other.node_ip) for other in self.nodes if other.host != host}

    def pod_cidr_for(self, host: str) -> IPv4Network:
        return self._pod_subnets[host]


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
            taken.update(checks.slots(pod_cidr, prefix, node.pod_cidr))
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
# Host data keys, by the NodeSpec field each sets.
HOST_FIELDS = {"node_ip": "node_ip", "node_name": "name", "pod_cidr": "pod_cidr"}
HOST_KEYS = tuple(HOST_FIELDS)


def role_of_key(key: str, roles: dict[str, type[RoleSettings]]) -> str | None:
    """The role whose prefix `key` has (`coredns_pods` -> coredns), if any; cluster keys have none."""
    if key in CLUSTER_KEYS:
        return None
    return next((role for role in sorted(roles, key=len, reverse=True) if key.startswith(role + "_")), None)


def __getattr__(name: str) -> Any:
    # Inventory data -> spec lives in kubewire/parse.py; these names stay importable from here.
    if name in ("HostInput", "parse_cluster"):
        from . import parse

        return getattr(parse, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

