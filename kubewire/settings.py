"""Each role's data keys, validated with the rest of the cluster spec.

A role's keys are prefixed with its name (`hosts_extra_entries`, `coredns_pods`, …) and set in
group or host data. Here every key has its type, its default and a comment; the role module
passes `Settings.defaults()` to `@deploy(data_defaults=...)` and reads the validated values
from the spec (`spec.node(host.name).hosts.extra_entries`).

Node roles (scope "node") may differ per group or host and hang off each `NodeSpec`; cluster
roles (scope "cluster") have one value for the whole cluster and hang off the `ClusterSpec`.
"""

from __future__ import annotations

import os
import re
from ipaddress import IPv4Address
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .ingress_resources import IngressResource, parse_ingresses
from .names import (
    CNI_NETWORK_NAME,
    GO_DURATION,
    SYSCTL_VALUE,
    Pattern,
    is_dns_label,
    is_dns_subdomain,
    is_server_address,
    matches,
    problem_at,
)
from .ports import NODE_PORT_FIRST, NODE_PORT_LAST, PortRule
from .versions import CNI_PLUGINS_SHA256, CNI_PLUGINS_VERSION, WEAVE_IMAGE_REPO, WEAVE_VERSION


def _mtu_in_range(mtu: int | None) -> int | None:
    if mtu is not None and not 576 <= mtu <= 9000:
        raise PydanticCustomError("spec", "must be between 576 and 9000")
    return mtu


# A CNI network name, as the CNI spec allows (kubewire/names.py).
CniNetworkName = Pattern(CNI_NETWORK_NAME, "is not a CNI network name: a letter or digit, then letters, digits, "
                                           "'_', '.' or '-' (the CNI spec's rule), e.g. kubewire")
# An interface MTU, or None for the plugin's own default.
Mtu = Annotated[int | None, AfterValidator(_mtu_in_range)]


def prefixed(role: str) -> ConfigDict:
    """Model config whose field `name` is read from the data key `<role>_<name>`."""
    return ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                      alias_generator=lambda name: f"{role}_{name}")


class RoleSettings(BaseModel):
    """A role's settings. Whether they are per node or cluster-wide follows from where they
    hang: a field of NodeSpec or of ClusterSpec, named after the role."""

    @classmethod
    def keys(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The data keys and their defaults, for `@deploy(data_defaults=...)`."""
        return cls().model_dump(by_alias=True)


class HostsSettings(RoleSettings):
    """Role `hosts`: hostname and /etc/hosts."""

    model_config = prefixed("hosts")

    # Set the node's hostname to its node name (`node_name`, default: the inventory name).
    set_hostname: bool = True
    # Extra /etc/hosts entries on every node: {"192.168.56.2": ["registry.lab"]}.
    extra_entries: dict[str, list[str]] = {}

    @field_validator("extra_entries")
    @classmethod
    def _valid_entries(cls, entries: dict[str, list[str]]) -> dict[str, list[str]]:
        for address, names in entries.items():
            try:
                IPv4Address(address)
            except ValueError:
                raise PydanticCustomError(
                    "spec", "has '{address}', which is not an IPv4 address; map addresses to lists of names",
                    {"address": address},
                ) from None
            bad = [name for name in names if not is_dns_subdomain(name)]
            if not names or bad:
                raise PydanticCustomError(
                    "spec", "gives {address} the names {bad}; use one or more valid DNS names",
                    {"address": address, "bad": bad or names},
                )
        return entries


# Sysctls every Kubernetes node needs, set by the prereqs role; extras may not undo them.
KUBERNETES_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}


class PrereqsSettings(RoleSettings):
    """Role `prereqs`: kernel modules, sysctls, swap and packages every node needs."""

    model_config = prefixed("prereqs")

    # Prepare what the chosen kube_proxy_mode needs (IPVS modules and ipvsadm, nf_tables).
    # Off only when the node image provides it; ipvs/nftables then refuse to render.
    prepare_proxy_mode: bool = True
    # More packages to install on every node (from the node's apt sources).
    extra_packages: list[str] = []
    # More kernel modules to persist and load (absent ones are reported, not fatal).
    extra_modules: list[str] = []
    # More sysctls to persist and apply: {"net.ipv4.conf.all.rp_filter": "1"}.
    extra_sysctls: dict[str, str] = {}
    # Turn swap off now and across reboots (the kubelet refuses to run with swap by default).
    disable_swap: bool = True

    @field_validator("extra_packages", "extra_modules")
    @classmethod
    def _valid_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not re.fullmatch(r"[a-z0-9][a-z0-9+._-]*", name)]
        if bad:
            raise PydanticCustomError("spec", "has invalid names {bad}; use package or module names", {"bad": bad})
        return names

    @field_validator("extra_sysctls", mode="before")
    @classmethod
    def _valid_sysctls(cls, sysctls: Any) -> dict[str, str]:
        if not isinstance(sysctls, dict):
            raise PydanticCustomError("spec", "must map sysctl keys to values: {'net.ipv4.ip_forward': '1'}")
        bad = [key for key in sysctls if not re.fullmatch(r"[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+", str(key))]
        if bad:
            raise PydanticCustomError("spec", "has invalid sysctl keys {bad}; use dotted names", {"bad": bad})
        bad = [key for key, value in sysctls.items() if not matches(SYSCTL_VALUE, str(value))]
        if bad:
            raise PydanticCustomError("spec", "has values for {bad} that are empty or span lines; write one line, "
                                      "e.g. '1' or '32768 60999'", {"bad": bad})
        return {str(key): str(value) for key, value in sysctls.items()}


class FirewallSettings(RoleSettings):
    """Role `firewall`: an nftables allow-list per node role, in a table of kubewire's own."""

    model_config = prefixed("firewall")

    # Manage the firewall at all (off: kubewire's table is removed).
    enabled: bool = True
    # What happens to inbound traffic that no rule allows: drop (the point) or accept (audit).
    input_policy: Literal["drop", "accept"] = "drop"
    # More inbound ports, per group or host: "8080/tcp", "9000-9010/udp", or
    # {"port": "8443", "protocol": "tcp", "source": "nodes", "purpose": "..."}; source "any" by default.
    extra_ports: list[PortRule] = []

    @field_validator("extra_ports", mode="before")
    @classmethod
    def _parse_ports(cls, entries: Any) -> list[PortRule]:
        if not isinstance(entries, list | tuple):
            raise PydanticCustomError("spec", "must be a list such as ['8080/tcp', '9000-9010/udp']")
        return [_port_rule(entry) for entry in entries]


PORT_ENTRY_KEYS = ("port", "protocol", "source", "purpose")


def _port_rule(entry: Any) -> PortRule:
    if isinstance(entry, PortRule):
        return entry
    if isinstance(entry, int):
        entry = str(entry)
    if isinstance(entry, str):
        entry = dict(zip(("port", "protocol"), entry.split("/", 1), strict=False))
    if not isinstance(entry, dict):
        raise PydanticCustomError("spec", "has {entry}; use 'PORT[/tcp|udp]' or a dict with port", {"entry": entry})
    unknown = sorted(set(entry) - set(PORT_ENTRY_KEYS), key=str)
    if unknown:
        raise PydanticCustomError("spec", "has {entry} with the unknown key(s) {unknown}; an entry has only {known}",
                                  {"entry": entry, "unknown": unknown, "known": ", ".join(PORT_ENTRY_KEYS)})
    port, protocol = str(entry.get("port", "")), entry.get("protocol", "tcp")
    source, purpose = entry.get("source", "any"), entry.get("purpose", "firewall_extra_ports")
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", port)
    first, last = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else (0, 0)
    if not (match and 1 <= first <= last <= 65535):
        raise PydanticCustomError("spec", "has port '{port}'; use 1-65535 or a range like 9000-9010", {"port": port})
    if protocol not in ("tcp", "udp"):
        raise PydanticCustomError("spec", "has protocol '{protocol}' for port {port}; use tcp or udp",
                                  {"protocol": str(protocol), "port": port})
    if source not in ("any", "nodes"):
        raise PydanticCustomError("spec", "has source '{source}' for port {port}; use any or nodes",
                                  {"source": str(source), "port": port})
    return PortRule(first, last, protocol, source, str(purpose))


# Cluster add-ons (roles/addons.py) ---------------------------------------------------------

IPVS_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "sh", "dh", "sed", "nq", "mh")
COREDNS_POD_MODES = ("insecure", "verified", "disabled")
# CoreDNS reads the upstream servers from this file in its pod (the node's, with dnsPolicy Default).
RESOLV_CONF = "/etc/resolv.conf"


class AddonsSettings(RoleSettings):
    """Role `addons`: how the cluster add-ons' manifests reach the cluster."""

    model_config = prefixed("addons")

    # The admin kubeconfig on the first controlplane node; kubectl applies the add-ons with it.
    kubeconfig: str = "/etc/kubernetes/admin.conf"

    @field_validator("kubeconfig")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise PydanticCustomError("spec", "must be an absolute path on the controlplane node")
        return path


class KubeProxySettings(RoleSettings):
    """Add-on `kube-proxy` (its mode is the cluster key `kube_proxy_mode`)."""

    model_config = prefixed("kube_proxy")

    # Deploy kube-proxy; False removes what kubewire created for it (e.g. when a CNI replaces it).
    enabled: bool = True
    # IPVS scheduler (mode ipvs): rr round robin, wlc weighted least connections, sh source hash, …
    ipvs_scheduler: str = "rr"
    # Mode ipvs: answer ARP only for addresses on the receiving interface (MetalLB L2 needs it).
    ipvs_strict_arp: bool = False
    # Modes iptables and nftables: SNAT all traffic to service addresses, not only off-cluster.
    masquerade_all: bool = False
    # How often kube-proxy resyncs its rules in full, and at most how often it rewrites them.
    sync_period: str = "30s"
    min_sync_period: str = "1s"
    # Where kube-proxy serves Prometheus metrics: ADDRESS:PORT (0.0.0.0:10249 for every address).
    metrics_bind_address: str = "127.0.0.1:10249"

    @field_validator("ipvs_scheduler")
    @classmethod
    def _valid_scheduler(cls, value: str) -> str:
        if value not in IPVS_SCHEDULERS:
            raise PydanticCustomError("spec", "is not an IPVS scheduler; use one of: {valid}",
                                      {"valid": ", ".join(IPVS_SCHEDULERS)})
        return value

    @field_validator("sync_period", "min_sync_period")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        if not matches(GO_DURATION, value):
            raise PydanticCustomError("spec", "is not a duration; write it like 30s, 1m or 500ms")
        return value

    @field_validator("metrics_bind_address")
    @classmethod
    def _valid_bind_address(cls, value: str) -> str:
        if not is_server_address(value, port_required=True):
            raise PydanticCustomError("spec", "must be ADDRESS:PORT, e.g. 127.0.0.1:10249 or 0.0.0.0:10249")
        return value


class CorednsSettings(RoleSettings):
    """Add-on `coredns`: the cluster DNS server at `dns_service_ip`."""

    model_config = prefixed("coredns")

    # Deploy CoreDNS; False removes what kubewire created for it.
    enabled: bool = True
    # CoreDNS pods, spread over the nodes (at most one per node while there are enough nodes).
    replicas: int = Field(default=2, ge=1, le=100)
    # Pod records (10-244-5-1.<namespace>.pod.<domain>): insecure answers any, verified only
    # existing pods, disabled none.
    pods: str = "insecure"
    # Where names outside the cluster are resolved: server IPs (optionally :port) or /etc/resolv.conf.
    upstreams: list[str] = [RESOLV_CONF]
    # Zones resolved by their own servers: {"corp.example": ["10.0.0.53", "10.0.0.54:5353"]}.
    stub_domains: dict[str, list[str]] = {}

    @field_validator("pods")
    @classmethod
    def _valid_pods(cls, value: str) -> str:
        if value not in COREDNS_POD_MODES:
            raise PydanticCustomError("spec", "is not a pods mode of CoreDNS; use one of: {valid}",
                                      {"valid": ", ".join(COREDNS_POD_MODES)})
        return value

    @field_validator("upstreams")
    @classmethod
    def _valid_upstreams(cls, servers: list[str]) -> list[str]:
        bad = [server for server in servers if server != RESOLV_CONF and not is_server_address(server)]
        if not servers or bad:
            raise PydanticCustomError(
                "spec", "has {bad}; list server IPs (optionally with :port, e.g. 1.1.1.1:53) or {resolv}",
                {"bad": bad or servers, "resolv": RESOLV_CONF})
        return servers

    @field_validator("stub_domains")
    @classmethod
    def _valid_stub_domains(cls, zones: dict[str, list[str]]) -> dict[str, list[str]]:
        for zone, servers in zones.items():
            if not is_dns_subdomain(zone):
                raise PydanticCustomError(
                    "spec", "has the zone '{zone}', which is not a DNS domain (e.g. corp.example, no trailing dot)",
                    {"zone": zone})
            bad = [server for server in servers if not is_server_address(server)]
            if not servers or bad:
                raise PydanticCustomError(
                    "spec", "gives the zone {zone} the servers {bad}; use server IPs, optionally with :port",
                    {"zone": zone, "bad": bad or servers})
        return zones


class CniSettings(RoleSettings):
    """Role `cni`: CNI plugin binaries, the network config, and pod routes between nodes."""

    model_config = prefixed("cni")

    # Where the container runtime finds the plugins and their configuration.
    bin_dir: str = "/opt/cni/bin"
    conf_dir: str = "/etc/cni/net.d"
    # Where the plugins come from: "upstream" (the release tarball for plugins_version, its
    # sha256 pinned in kubewire/versions.py), "tarball" (a tarball on the controller:
    # plugins_tarball + plugins_tarball_sha256) or "package" (the distribution's package).
    plugins_source: Literal["upstream", "tarball", "package"] = "upstream"
    # The plugins' version (upstream: one of those pinned in kubewire/versions.py).
    plugins_version: str = CNI_PLUGINS_VERSION
    plugins_tarball: str | None = None
    plugins_tarball_sha256: str | None = None
    # The Linux bridge the bridge plugin puts pods on, and the network's name.
    bridge: str = "cni0"
    network_name: CniNetworkName = "kubewire"
    # Pod interface MTU (default: the bridge plugin's, from the node's interface).
    mtu: Mtu = None
    # Write containerd's CNI settings (bin and conf dirs) when containerd is installed.
    configure_containerd: bool = True

    @field_validator("bin_dir", "conf_dir")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/") or any(part in ("", "..") for part in path.strip("/").split("/")):
            raise PydanticCustomError("spec", "must be an absolute path such as /opt/cni/bin")
        return path.rstrip("/")

    @field_validator("plugins_tarball_sha256")
    @classmethod
    def _sha256(cls, digest: str | None) -> str | None:
        if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise PydanticCustomError("spec", "must be a sha256 digest: 64 lower-case hex digits")
        return digest

    @field_validator("bridge")
    @classmethod
    def _interface_name(cls, name: str) -> str:
        if not re.fullmatch(r"[a-zA-Z0-9_.-]{1,15}", name):
            raise PydanticCustomError("spec", "is not a Linux interface name (1-15 of letters, digits, _ . -)")
        return name

    @field_validator("plugins_version")
    @classmethod
    def _pinned(cls, version: str, info: ValidationInfo) -> str:
        if info.data.get("plugins_source", "upstream") == "upstream" and version not in CNI_PLUGINS_SHA256:
            raise PydanticCustomError(
                "spec", "has no pinned upstream checksum; use one of {pinned}, or cni_plugins_source 'tarball' "
                "with your own sha256", {"pinned": sorted(CNI_PLUGINS_SHA256)})
        return version


# Weave Net (templates/weave, with cni_plugin "weave") ---------------------------------------

# An image repository: optional registry host[:port], then lower-case path components.
_IMAGE_REPO = re.compile(r"([a-z0-9.-]+(:\d+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*")
_IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


class WeaveSettings(RoleSettings):
    """Add-on `weave`: Weave Net, deployed when the cluster key `cni_plugin` is "weave"."""

    model_config = prefixed("weave")

    # Where the weave-kube and weave-npc images come from: upstream's (archived) or a maintained fork's.
    image_repo: str = WEAVE_IMAGE_REPO
    image_tag: str = WEAVE_VERSION
    # The MTU of Weave's network (default: Weave's own, 1376).
    mtu: Mtu = None
    # Encrypt Weave's traffic with the password in this file on the controller (read when
    # rendering, put in the Secret weave-passwd, never printed). None: unencrypted.
    password_file: str | None = None

    @field_validator("image_repo")
    @classmethod
    def _valid_repo(cls, repo: str) -> str:
        if not matches(_IMAGE_REPO, repo):
            raise PydanticCustomError("spec", "is not an image repository such as docker.io/weaveworks")
        return repo

    @field_validator("image_tag")
    @classmethod
    def _valid_tag(cls, tag: str) -> str:
        if not matches(_IMAGE_TAG, tag):
            raise PydanticCustomError("spec", "is not an image tag such as {tag}", {"tag": WEAVE_VERSION})
        return tag

    @field_validator("password_file")
    @classmethod
    def _readable(cls, path: str | None) -> str | None:
        # Only the path is checked here; the password itself is read when rendering.
        if path is not None and not (os.path.isfile(path) and os.access(path, os.R_OK)):
            raise PydanticCustomError("spec", "is not a readable file on the controller")
        if path is not None and os.path.getsize(path) == 0:
            raise PydanticCustomError("spec", "is empty; put the Weave password in it")
        return path


# Ingress (templates/nginx-ingress, templates/ingress-nginx) ---------------------------------

INGRESS_CONTROLLERS = ("nginx-inc", "ingress-nginx")
# Each controller's namespace unless `ingress_namespace` says otherwise (as upstream's manifests).
INGRESS_NAMESPACES = {"nginx-inc": "nginx-ingress", "ingress-nginx": "ingress-nginx"}
INGRESS_NODE_PORTS = {"http": 30080, "https": 30443}
class IngressSettings(RoleSettings):
    """Add-on `nginx-ingress` or `ingress-nginx`: an ingress controller, its IngressClass, and Ingresses."""

    model_config = prefixed("ingress")

    # Deploy an ingress controller (off by default: a lab cluster needs none to learn Services).
    enabled: bool = False
    # nginx-inc: NGINX Inc's controller; ingress-nginx: the community one (retired upstream).
    controller: Literal["nginx-inc", "ingress-nginx"] = "nginx-inc"
    # The controller's namespace (default: nginx-ingress, or ingress-nginx for that controller).
    namespace: str | None = None
    # The controller's ConfigMap: NGINX settings by name, e.g. {"client-max-body-size": "8m"}.
    config: dict[str, str] = {}
    # The IngressClass the controller serves, and whether it is the cluster's default class.
    class_name: str = Field(default="nginx", alias="ingress_class")
    default_class: bool = False
    # The NodePorts of the controller's Service, on every node.
    node_ports: dict[str, int] = INGRESS_NODE_PORTS
    # nginx-inc only: serve its VirtualServer/TransportServer/Policy resources (their CRDs must be installed).
    custom_resources: bool = False
    # The Ingresses to create: dicts with name, namespace, rules (kubectl's "host/path=service:port"
    # strings or {host, paths}), tls, default_backend, annotations. See the README.
    resources: tuple[IngressResource, ...] = ()

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, namespace: str | None) -> str | None:
        if namespace is not None and not is_dns_label(namespace):
            raise PydanticCustomError("spec", "is not a namespace name (an RFC 1123 label such as nginx-ingress)")
        return namespace

    @field_validator("class_name")
    @classmethod
    def _valid_class(cls, name: str) -> str:
        if not is_dns_subdomain(name):
            raise PydanticCustomError("spec", "is not an IngressClass name (a DNS subdomain such as nginx)")
        return name

    @field_validator("config", mode="before")
    @classmethod
    def _valid_config(cls, config: Any) -> dict[str, str]:
        if not isinstance(config, dict):
            raise PydanticCustomError("spec", "must map NGINX setting names to strings: {'client-max-body-size': '8m'}")
        bad = [key for key, value in config.items() if isinstance(value, bool) or not isinstance(value, str | int)]
        if bad:
            raise PydanticCustomError("spec", "has non-string values for {bad}; quote them ('true', '8m')",
                                      {"bad": bad})
        return {str(key): str(value) for key, value in config.items()}

    @field_validator("node_ports", mode="before")
    @classmethod
    def _valid_node_ports(cls, ports: Any) -> dict[str, int]:
        if not isinstance(ports, dict) or not set(ports) <= set(INGRESS_NODE_PORTS):
            raise PydanticCustomError("spec", "must map http and/or https to node ports: {default}",
                                      {"default": INGRESS_NODE_PORTS})
        merged = {**INGRESS_NODE_PORTS, **ports}
        bad = {name: port for name, port in merged.items()
               if isinstance(port, bool) or not isinstance(port, int) or not NODE_PORT_FIRST <= port <= NODE_PORT_LAST}
        if bad:
            raise PydanticCustomError("spec", "has {bad}; node ports lie in {first}-{last}",
                                      {"bad": bad, "first": NODE_PORT_FIRST, "last": NODE_PORT_LAST})
        if merged["http"] == merged["https"]:
            raise PydanticCustomError("spec", "gives http and https the same node port {port}",
                                      {"port": merged["http"]})
        return merged

    @field_validator("resources", mode="before")
    @classmethod
    def _valid_resources(cls, entries: Any) -> tuple[IngressResource, ...]:
        return parse_ingresses(entries)

    @model_validator(mode="after")
    def _consistent(self) -> IngressSettings:
        problems = []
        if self.resources and not self.enabled:
            problems.append(problem_at(("ingress_resources",), len(self.resources),
                            "needs ingress_enabled = True: an Ingress without a controller does nothing"))
        if self.custom_resources and self.controller != "nginx-inc":
            problems.append(problem_at(("ingress_custom_resources",), True,
                            "applies only to ingress_controller 'nginx-inc'"))
        if problems:
            raise ValidationError.from_exception_data("ingress", problems)
        return self
