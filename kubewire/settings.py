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
from ipaddress import IPv4Address, ip_address
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
from pydantic_core import InitErrorDetails, PydanticCustomError

from .ports import NODE_PORT_FIRST, NODE_PORT_LAST, PortRule
from .versions import (
    CNI_PLUGINS_SHA256,
    CNI_PLUGINS_VERSION,
    CONTAINERD_SHA256,
    CONTAINERD_VERSION,
    RUNC_SHA256,
    RUNC_VERSION,
    WEAVE_IMAGE_REPO,
    WEAVE_VERSION,
)


def _is_hostname(value: str) -> bool:
    from .spec import is_dns_subdomain

    return is_dns_subdomain(value)


def _mtu_in_range(mtu: int | None) -> int | None:
    if mtu is not None and not 576 <= mtu <= 9000:
        raise PydanticCustomError("spec", "must be between 576 and 9000")
    return mtu


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
            bad = [name for name in names if not _is_hostname(name)]
            if not names or bad:
                raise PydanticCustomError(
                    "spec", "gives {address} the names {bad}; use one or more valid DNS names",
                    {"address": address, "bad": bad or names},
                )
        return entries


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


def _port_rule(entry: Any) -> PortRule:
    if isinstance(entry, PortRule):
        return entry
    if isinstance(entry, int):
        entry = str(entry)
    if isinstance(entry, str):
        entry = dict(zip(("port", "protocol"), entry.split("/", 1), strict=False))
    if not isinstance(entry, dict):
        raise PydanticCustomError("spec", "has {entry}; use 'PORT[/tcp|udp]' or a dict with port", {"entry": entry})
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
# A Go duration as kube-proxy reads it: 30s, 1m, 500ms, 1m30s.
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def split_host_port(value: str) -> tuple[str, int | None]:
    """'10.0.0.1:53' -> ('10.0.0.1', 53); '[fd00::1]:53' -> ('fd00::1', 53); no port -> None."""
    if value.startswith("["):
        address, _, port = value[1:].partition("]:")
        return address, int(port) if port.isdigit() else -1
    if value.count(":") == 1:
        address, _, port = value.partition(":")
        return address, int(port) if port.isdigit() else -1
    return value, None


def is_server_address(value: Any, port_required: bool = False) -> bool:
    """An IP address, optionally with a port ('10.0.0.1', '10.0.0.1:53', '[fd00::1]:53')."""
    if not isinstance(value, str):
        return False
    address, port = split_host_port(value)
    if port is None and port_required or port is not None and not 0 < port < 65536:
        return False
    try:
        ip_address(address)
    except ValueError:
        return False
    return True


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
        if not _GO_DURATION.match(value):
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
            if not _is_hostname(zone):
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
    network_name: str = "kubewire"
    # Pod interface MTU (default: none set, so the kernel's for a veth, 1500: the bridge plugin's
    # "mtu" is optional and only passed on when given, containernetworking/plugins pkg/ip/link_linux.go).
    mtu: Mtu = None

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
_IMAGE_REPO = re.compile(r"^([a-z0-9.-]+(:\d+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


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
        if not _IMAGE_REPO.match(repo):
            raise PydanticCustomError("spec", "is not an image repository such as docker.io/weaveworks")
        return repo

    @field_validator("image_tag")
    @classmethod
    def _valid_tag(cls, tag: str) -> str:
        if not _IMAGE_TAG.match(tag):
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
PATH_TYPES = ("Prefix", "Exact", "ImplementationSpecific")
# kubectl create ingress --rule="host/path=service:port[,tls[=secret]]"; a path ending in * is a Prefix.
_KUBECTL_RULE = re.compile(r"^(?P<host>[^/=]*)(?P<path>/[^=]*)=(?P<service>[^:,=]+):(?P<port>[^,]+)"
                           r"(?P<tls>,tls(=(?P<secret>[^,]*))?)?$")
# Paths Kubernetes and ingress-nginx (strict path validation, the default since 1.12) accept for
# Exact and Prefix: no regex characters, no empty, . or .. segments.
_PLAIN_PATH = re.compile(r"^/[A-Za-z0-9._~/-]*$")
# A Service port name (IANA_SVC_NAME): at most 15 characters, a letter among them, no '--'.
_PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
# RFC 1035 label: Service names start with a letter.
_SERVICE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_ANNOTATION_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


class IngressBackend(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str
    port: int | str  # a number or the Service port's name


class IngressPath(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    path_type: str
    backend: IngressBackend


class IngressRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str | None
    paths: tuple[IngressPath, ...]


class IngressTls(BaseModel):
    model_config = ConfigDict(frozen=True)

    hosts: tuple[str, ...]
    secret: str | None  # None: the controller's default certificate


class IngressResource(BaseModel):
    """One Ingress from `ingress_resources`, validated."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str = "default"
    rules: tuple[IngressRule, ...] = ()
    tls: tuple[IngressTls, ...] = ()
    default_backend: IngressBackend | None = None
    annotations: dict[str, str] = {}


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
        if namespace is not None and not _is_dns_label(namespace):
            raise PydanticCustomError("spec", "is not a namespace name (an RFC 1123 label such as nginx-ingress)")
        return namespace

    @field_validator("class_name")
    @classmethod
    def _valid_class(cls, name: str) -> str:
        if not _is_hostname(name):
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
            problems.append(_ingress_problem(("ingress_resources",), len(self.resources),
                            "needs ingress_enabled = True: an Ingress without a controller does nothing"))
        if self.custom_resources and self.controller != "nginx-inc":
            problems.append(_ingress_problem(("ingress_custom_resources",), True,
                            "applies only to ingress_controller 'nginx-inc'"))
        if problems:
            raise ValidationError.from_exception_data("ingress", problems)
        return self


def _is_dns_label(value: str) -> bool:
    from .spec import is_dns_label

    return is_dns_label(value)


def _ingress_problem(loc: tuple, value: Any, message: str) -> InitErrorDetails:
    # The message goes in as context: user values may hold braces.
    return InitErrorDetails(type=PydanticCustomError("spec", "{message}", {"message": message}), loc=loc, input=value)


def parse_ingresses(entries: Any) -> tuple[IngressResource, ...]:
    """`ingress_resources` into Ingresses, or a ValidationError naming every bad ingress, rule and field."""
    if isinstance(entries, tuple) and all(isinstance(entry, IngressResource) for entry in entries):
        return entries
    if not isinstance(entries, list | tuple):
        raise PydanticCustomError("spec", "must be a list of ingresses (dicts with name, rules, …)")
    problems: list[InitErrorDetails] = []
    parsed = [_parse_ingress(index, entry, problems) for index, entry in enumerate(entries)]
    seen: set[tuple[str, str]] = set()
    for ingress in parsed:
        if ingress and (ingress.namespace, ingress.name) in seen:
            problems.append(_ingress_problem((ingress.name, "name"), ingress.name,
                            f"names another ingress in namespace {ingress.namespace} too; names must be unique"))
        elif ingress:
            seen.add((ingress.namespace, ingress.name))
    if problems:
        raise ValidationError.from_exception_data("ingress_resources", problems)
    return tuple(parsed)


_INGRESS_KEYS = ("name", "namespace", "rules", "tls", "default_backend", "annotations")


def _parse_ingress(index: int, entry: Any, problems: list) -> IngressResource | None:
    if not isinstance(entry, dict):
        problems.append(_ingress_problem((str(index),), entry, "must be a dict with name and rules"))
        return None
    name = entry.get("name")
    # Problems are keyed by the ingress's name when it has a valid one, else by its index.
    label = name if isinstance(name, str) and _is_hostname(name) else str(index)
    before = len(problems)

    def report(loc: tuple, value: Any, message: str) -> None:
        problems.append(_ingress_problem((label, *loc), value, message))

    unknown = sorted(set(entry) - set(_INGRESS_KEYS))
    if unknown:
        report((unknown[0],), entry[unknown[0]], f"is not an ingress key; known: {', '.join(_INGRESS_KEYS)}")
    if label != name:
        report(("name",), name, "is not an Ingress name (a DNS subdomain such as shop or shop.web)")
    namespace = entry.get("namespace", "default")
    if not isinstance(namespace, str) or not _is_dns_label(namespace):
        report(("namespace",), namespace, "is not a namespace name (an RFC 1123 label)")
    rules, tls = _parse_rules(entry.get("rules", []), report)
    tls += _parse_tls(entry.get("tls", []), report)
    default_backend = None
    if entry.get("default_backend") is not None:
        default_backend = _parse_backend(entry["default_backend"], ("default_backend",), report)
    if not rules and default_backend is None:
        report(("rules",), entry.get("rules"), "is empty and there is no default_backend; the ingress routes nothing")
    annotations = entry.get("annotations", {})
    if not isinstance(annotations, dict) or not all(
            isinstance(key, str) and _ANNOTATION_KEY.match(key) and isinstance(value, str)
            for key, value in annotations.items()):
        report(("annotations",), annotations, "must map annotation names to strings")
    if len(problems) > before:
        return None
    return IngressResource(name=name, namespace=namespace, rules=rules, tls=tuple(tls),
                           default_backend=default_backend, annotations=annotations)


def _parse_rules(rules: Any, report) -> tuple[tuple[IngressRule, ...], list[IngressTls]]:
    """Rules by host (kubectl strings for one host are merged into one rule), and the TLS their strings ask for."""
    if not isinstance(rules, list | tuple):
        report(("rules",), rules, "must be a list of 'host/path=service:port' strings or {host, paths} dicts")
        return (), []
    by_host: dict[str | None, list[IngressPath]] = {}
    tls: list[IngressTls] = []
    for number, rule in enumerate(rules):
        loc = (f"rules[{number}]",)
        if isinstance(rule, str):
            host, path, rule_tls = _parse_kubectl_rule(rule, loc, report)
            paths = [path] if path else []
            tls += rule_tls
        elif isinstance(rule, dict):
            host, paths = _parse_rule_dict(rule, loc, report)
        else:
            report(loc, rule, "must be a 'host/path=service:port' string or a {host, paths} dict")
            continue
        if host is not None and (problem := host_problem(host)):
            report((*loc, "host"), host, problem)
        by_host.setdefault(host, []).extend(paths)
    return tuple(IngressRule(host=host, paths=tuple(paths)) for host, paths in by_host.items()), tls


def _parse_kubectl_rule(rule: str, loc: tuple, report) -> tuple[str | None, IngressPath | None, list[IngressTls]]:
    match = _KUBECTL_RULE.match(rule)
    if not match:
        report(loc, rule, "is not a rule like 'shop.example.com/=shop:80' or "
               "'shop.example.com/api*=api:http,tls=shop-tls'")
        return None, None, []
    host = match["host"] or None
    path, path_type = (match["path"][:-1], "Prefix") if match["path"].endswith("*") else (match["path"], "Exact")
    backend = _parse_backend(f"{match['service']}:{match['port']}", loc, report)
    ingress_path = _checked_path(path, path_type, backend, loc, report)
    tls = [IngressTls(hosts=(host,) if host else (), secret=match["secret"] or None)] if match["tls"] else []
    for entry in tls:
        if entry.secret is not None and not _is_hostname(entry.secret):
            report((*loc, "tls"), entry.secret, "is not a Secret name (a DNS subdomain)")
    return host, ingress_path, tls


def _parse_rule_dict(rule: dict, loc: tuple, report) -> tuple[str | None, list[IngressPath]]:
    host, paths = rule.get("host"), rule.get("paths")
    if set(rule) - {"host", "paths"}:
        report(loc, sorted(rule), "may have only host and paths")
    if not isinstance(paths, list | tuple) or not paths:
        report((*loc, "paths"), paths, "must list paths: [{'path': '/', 'path_type': 'Prefix', 'service': 'shop', "
               "'port': 80}]")
        return host, []
    parsed = []
    for number, entry in enumerate(paths):
        path_loc = (*loc, f"paths[{number}]")
        if not isinstance(entry, dict) or set(entry) - {"path", "path_type", "service", "port"}:
            report(path_loc, entry, "must be a dict with path, path_type, service and port")
            continue
        backend = _parse_backend({"service": entry.get("service"), "port": entry.get("port")}, path_loc, report)
        path = _checked_path(entry.get("path", "/"), entry.get("path_type", "Prefix"), backend, path_loc, report)
        if path:
            parsed.append(path)
    return host, parsed


def _checked_path(path: Any, path_type: Any, backend: IngressBackend | None, loc: tuple, report) -> IngressPath | None:
    if path_type not in PATH_TYPES:
        report((*loc, "path_type"), path_type, f"is not a path type; use one of: {', '.join(PATH_TYPES)}")
        return None
    if problem := path_problem(path, path_type):
        report((*loc, "path"), path, problem)
        return None
    return IngressPath(path=path, path_type=path_type, backend=backend) if backend else None


def _parse_backend(value: Any, loc: tuple, report) -> IngressBackend | None:
    """'service:port' or {service, port}; a port of digits is a number, anything else a port name."""
    if isinstance(value, str):
        service, _, port = value.partition(":")
        value = {"service": service, "port": int(port) if port.isdigit() else port}
    if not isinstance(value, dict):
        report(loc, value, "must be 'service:port' or {'service': ..., 'port': ...}")
        return None
    service, port = value.get("service"), value.get("port")
    if not isinstance(service, str) or not _SERVICE_NAME.match(service):
        report((*loc, "service"), service, "is not a Service name (an RFC 1035 label: starts with a letter)")
        return None
    if problem := port_problem(port):
        report((*loc, "port"), port, problem)
        return None
    return IngressBackend(service=service, port=port)


def _parse_tls(entries: Any, report) -> list[IngressTls]:
    if not isinstance(entries, list | tuple):
        report(("tls",), entries, "must be a list of {'hosts': [...], 'secret': NAME}")
        return []
    parsed = []
    for number, entry in enumerate(entries):
        loc = (f"tls[{number}]",)
        hosts, secret = (entry.get("hosts", []), entry.get("secret")) if isinstance(entry, dict) else (None, None)
        if not isinstance(hosts, list | tuple) or not isinstance(secret, str | None):
            report(loc, entry, "must be {'hosts': [...], 'secret': NAME}")
            continue
        bad = [host for host in hosts if host_problem(host)]
        if bad:
            report((*loc, "hosts"), bad, "are not host names (DNS names, a wildcard only as the first label)")
        if secret is not None and not _is_hostname(secret):
            report((*loc, "secret"), secret, "is not a Secret name (a DNS subdomain)")
        if not bad and (secret is None or _is_hostname(secret)):
            parsed.append(IngressTls(hosts=tuple(hosts), secret=secret))
    return parsed


def host_problem(host: Any) -> str | None:
    """Why Kubernetes refuses `host` in an Ingress rule, if it does."""
    if not isinstance(host, str):
        return "must be a host name"
    name = host[2:] if host.startswith("*.") else host
    try:
        ip_address(host)
        return "is an IP address; Ingress hosts are DNS names"
    except ValueError:
        pass
    if "*" in name or not _is_hostname(name):
        return "is not a host name (a DNS subdomain, lower case; a wildcard only as the first label: *.example.com)"
    return None


def path_problem(path: Any, path_type: str) -> str | None:
    """Why Kubernetes (or ingress-nginx's strict path validation) refuses `path`, if it does."""
    if not isinstance(path, str) or not path.startswith("/"):
        return "must start with /"
    if path_type == "ImplementationSpecific":
        return None
    segments = path[1:].split("/")
    if path.endswith("/"):
        segments.pop()  # a trailing / is fine
    if not _PLAIN_PATH.match(path) or any(segment in ("", ".", "..") for segment in segments):
        return (f"is not a plain path, which {path_type} needs (letters, digits, / . _ ~ -; no empty, . or .. "
                "segments); use ImplementationSpecific for regular expressions")
    return None


def port_problem(port: Any) -> str | None:
    if isinstance(port, bool) or not isinstance(port, int | str):
        return "must be a port number or name"
    if isinstance(port, int):
        return None if 1 <= port <= 65535 else "must be 1-65535"
    if not _PORT_NAME.match(port) or "--" in port:
        return "is not a port name (IANA_SVC_NAME: up to 15 of a-z, 0-9, '-', with a letter)"
    return None


# Container runtime and bootstrap (roles containerd, kubeadm) ---------------------------------

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# A registry host as containerd's hosts directory names it: docker.io, registry.lab:5000, _default.
_REGISTRY_HOST = re.compile(r"^(_default|[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?)$")
_IMAGE_REF = re.compile(r"^[a-z0-9]([a-z0-9.:-]*[a-z0-9])?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
                        r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
_MIRROR_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[\w./-]*)?$")


def _controller_file(path: str | None) -> str | None:
    """A file on the controller, checked before any host is contacted."""
    if path is not None and not os.path.isfile(os.path.expanduser(path)):
        raise PydanticCustomError("spec", "is not a file on the controller")
    return path


def _sha256_digest(digest: str | None) -> str | None:
    if digest is not None and not _SHA256.match(digest):
        raise PydanticCustomError("spec", "must be a sha256 digest: 64 lower-case hex digits")
    return digest


class ContainerdSettings(RoleSettings):
    """Role `containerd`: the container runtime the kubelet talks to (CRI), and runc under it."""

    model_config = prefixed("containerd")

    # Install and configure containerd (off: the runtime is managed elsewhere and left alone).
    enabled: bool = True
    # Where containerd and runc come from: "package" (the distribution's containerd and runc),
    # "upstream" (the release tarball and runc binary, sha256 pinned in kubewire/versions.py) or
    # "tarball" (files on the controller: tarball + tarball_sha256, runc + runc_sha256).
    source: Literal["package", "upstream", "tarball"] = "package"
    version: str = CONTAINERD_VERSION
    runc_version: str = RUNC_VERSION
    tarball: str | None = None
    tarball_sha256: Annotated[str | None, AfterValidator(_sha256_digest)] = None
    runc: str | None = None
    runc_sha256: Annotated[str | None, AfterValidator(_sha256_digest)] = None
    # Let systemd manage the containers' cgroups (SystemdCgroup), as the kubelet's cgroupDriver
    # "systemd" (kubeadm's default since 1.22) expects: both must agree.
    systemd_cgroup: bool = True
    # The pod sandbox image; default: the pause image kubeadm uses for kubernetes_version.
    sandbox_image: str | None = None
    # Registry mirrors for air-gapped sites: {"docker.io": ["https://registry.lab:5000"]}
    # (written as containerd's hosts.toml files; the upstream registry stays the fallback).
    registry_mirrors: dict[str, list[str]] = {}
    # containerd's snapshotter: overlayfs (the default) or native (plain copies, for roots on overlayfs).
    snapshotter: Literal["overlayfs", "native"] = "overlayfs"
    # runc without a new session keyring per container (for hosts whose seccomp blocks keyring calls).
    no_new_keyring: bool = False
    # Never lower a container's oom_score_adj below containerd's own (for hosts without CAP_SYS_RESOURCE).
    restrict_oom_score_adj: bool = False

    @field_validator("tarball", "runc")
    @classmethod
    def _on_controller(cls, path: str | None) -> str | None:
        return _controller_file(path)

    @field_validator("sandbox_image")
    @classmethod
    def _valid_image(cls, image: str | None) -> str | None:
        if image is not None and not _IMAGE_REF.match(image):
            raise PydanticCustomError("spec", "is not an image reference such as registry.k8s.io/pause:3.10")
        return image

    @field_validator("registry_mirrors", mode="before")
    @classmethod
    def _valid_mirrors(cls, mirrors: Any) -> dict[str, list[str]]:
        if not isinstance(mirrors, dict):
            raise PydanticCustomError("spec", "must map registries to mirror URLs: "
                                      "{'docker.io': ['https://registry.lab:5000']}")
        bad_hosts = [host for host in mirrors if not isinstance(host, str) or not _REGISTRY_HOST.match(host)]
        bad_urls = [url for urls in mirrors.values() for url in (urls if isinstance(urls, list) else [urls])
                    if not isinstance(url, str) or not _MIRROR_URL.match(url)]
        if bad_hosts or bad_urls or not all(isinstance(urls, list) and urls for urls in mirrors.values()):
            raise PydanticCustomError("spec", "has invalid registries {hosts} or mirror URLs {urls}; map a registry "
                                      "host to a list of http(s) URLs", {"hosts": bad_hosts, "urls": bad_urls})
        return mirrors

    @model_validator(mode="after")
    def _source_complete(self) -> ContainerdSettings:
        problems = []
        if self.source == "upstream":
            for key, version, pinned in (("version", self.version, CONTAINERD_SHA256),
                                         ("runc_version", self.runc_version, RUNC_SHA256)):
                if version not in pinned:
                    problems.append((f"containerd_{key}", version, f"has no pinned upstream checksum; use one of "
                                     f"{sorted(pinned)}, or containerd_source 'tarball' with your own sha256"))
        if self.source == "tarball":
            for key in ("tarball", "tarball_sha256", "runc", "runc_sha256"):
                if getattr(self, key) is None:
                    problems.append((f"containerd_{key}", None, "is needed with containerd_source 'tarball' "
                                     "(the files' paths on the controller and their sha256)"))
        if problems:
            raise ValidationError.from_exception_data("containerd", [
                InitErrorDetails(type=PydanticCustomError("spec", "{message}", {"message": message}),
                                 loc=(key,), input=value) for key, value, message in problems])
        return self


class KubeadmSettings(RoleSettings):
    """Role `kubeadm`: kubelet, kubeadm and kubectl, `kubeadm init` on the first controlplane node
    and `kubeadm join` everywhere else."""

    model_config = prefixed("kubeadm")

    # Bootstrap the cluster with kubeadm (off: the cluster is made some other way).
    enabled: bool = True
    # Where kubelet, kubeadm and kubectl come from: "pkgs.k8s.io" (the Kubernetes package
    # repository for kubernetes_version's minor, its signing key pinned), "apt" (the node's own apt
    # sources, e.g. a mirror) or "debs" (a directory of .deb files on the controller: debs_dir).
    packages_source: Literal["pkgs.k8s.io", "apt", "debs"] = "pkgs.k8s.io"
    debs_dir: str | None = None
    # Where the admin kubeconfig is written on the controller (mode 0600).
    admin_kubeconfig: str = "~/.kube/kubewire-admin.conf"

    @model_validator(mode="after")
    def _debs_dir_given(self) -> KubeadmSettings:
        if self.packages_source == "debs" and not (self.debs_dir and os.path.isdir(os.path.expanduser(self.debs_dir))):
            raise ValidationError.from_exception_data("kubeadm", [InitErrorDetails(
                type=PydanticCustomError("spec", "must be a directory on the controller holding the kubelet, kubeadm "
                                         "and kubectl .deb files (kubeadm_packages_source is 'debs')"),
                loc=("kubeadm_debs_dir",), input=self.debs_dir)])
        return self
