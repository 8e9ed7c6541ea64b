"""Each role's data keys, validated with the rest of the cluster spec.

A role's keys are prefixed with its name (`hosts_extra_entries`, `coredns_pods`, …). Here every
key has its type, its default and its meaning: the field's description, the one place it is
written (the README's key tables are generated from it: `python -m kubewire.docs`). A role reads
the validated values from the spec (`spec.node(host.name).hosts.extra_entries`), never from
`host.data`, so no role passes `data_defaults`: the fields' defaults are the only ones.

Node roles hang off each `NodeSpec` and may differ per group or host; cluster roles hang off
the `ClusterSpec`, have one value for the whole cluster and are refused in host data.

Longer than 400 lines: one class per role, each key with its validation and its description;
the Ingress parser, the name types and the checks across roles live in modules of their own.
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


def _mtu_in_range(mtu: int | None) -> int | None:
    if mtu is not None and not 576 <= mtu <= 9000:
        raise PydanticCustomError("spec", "must be between 576 and 9000")
    return mtu


# A CNI network name, as the CNI spec allows (kubewire/names.py).
CniNetworkName = Pattern(CNI_NETWORK_NAME, "is not a CNI network name: a letter or digit, then letters, digits, "
                                           "'_', '.' or '-' (the CNI spec's rule), e.g. kubewire")
# An interface MTU, or None for the plugin's own default.
Mtu = Annotated[int | None, AfterValidator(_mtu_in_range)]


def readme_default(text: str) -> dict[str, str]:
    """How the README shows a default that is computed rather than written (json_schema_extra)."""
    return {"readme_default": text}


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


class HostsSettings(RoleSettings):
    """Role `hosts`: hostname and /etc/hosts."""

    model_config = prefixed("hosts")

    set_hostname: bool = Field(True, description="set each node's hostname to its node name")
    extra_entries: dict[str, list[str]] = Field({}, description=(
        'extra `/etc/hosts` entries on every node: `{"192.168.56.2": ["registry.lab"]}`'))

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

    prepare_proxy_mode: bool = Field(True, description=(
        'prepare what `kube_proxy_mode` needs (IPVS modules and `ipvsadm`, `nf_tables`); off only '
        'when the image provides it'))
    extra_packages: list[str] = Field([], description='more packages for every node (from its apt sources)')
    extra_modules: list[str] = Field([], description=(
        'more kernel modules to persist and load (absent ones are reported, not fatal)'))
    extra_sysctls: dict[str, str] = Field({}, description=(
        'more sysctls to persist and apply: `{"net.ipv4.conf.all.rp_filter": "1"}`'))
    disable_swap: bool = Field(True, description=(
        'swap off now and across reboots (fstab entries commented out, swap units masked); the '
        'kubelet refuses to start with swap on by default'))

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


FIREWALL_POLICIES = ("drop", "accept")


class FirewallSettings(RoleSettings):
    """Role `firewall`: an nftables allow-list per node role, in a table of kubewire's own."""

    model_config = prefixed("firewall")

    enabled: bool = Field(True, description="manage the firewall (off: kubewire's table and unit are removed)")
    input_policy: Literal[FIREWALL_POLICIES] = Field("drop", description=(
        'inbound traffic no rule allows: `drop`, or `accept` to audit'))
    extra_ports: list[PortRule] = Field([], description=(
        'more inbound ports, per group or host: `"8080/tcp"`, `"9000-9010/udp"`, or `{"port": 8443, '
        '"protocol": "tcp", "source": "nodes"}` (source `any` by default)'))

    @field_validator("extra_ports", mode="before")
    @classmethod
    def _parse_ports(cls, entries: Any) -> list[PortRule]:
        if not isinstance(entries, list | tuple):
            raise PydanticCustomError("spec", "must be a list such as ['8080/tcp', '9000-9010/udp']")
        return [_port_rule(entry) for entry in entries]

    # Kubernetes "Ports and Protocols": 10256 is used by "Self, Load balancers".
    kube_proxy_health_from: Literal["nodes", "any"] | tuple[str, ...] = Field("nodes", description=(
        "who reaches kube-proxy's health port 10256: `nodes`, `any`, or your load balancers' health-check "
        'networks, e.g. `["203.0.113.0/28"]`'))
    # IPVS answers these after the input chain, so the firewall accepts traffic addressed to them.
    load_balancer_addresses: tuple[str, ...] = Field((), description=(
        "`kube_proxy_mode: ipvs` only: the addresses MetalLB-style load balancers announce (and Services' "
        '`externalIPs`), e.g. `["192.168.56.240/28"]`'))
    coexist: bool = Field(False, description=(
        "run beside another firewall found on the node (ufw, firewalld, or nftables/iptables rules that drop "
        "in an input chain or drop pod traffic in a forward chain) instead of stopping the run before any change"))

    @field_validator("kube_proxy_health_from", mode="before")
    @classmethod
    def _health_sources(cls, value: Any) -> str | tuple[str, ...]:
        if value in ("nodes", "any"):
            return value
        if not isinstance(value, list | tuple) or not value:
            raise PydanticCustomError("spec", "must be 'nodes', 'any' or a list of networks such as ['203.0.113.0/28']")
        return _networks(value)

    @field_validator("load_balancer_addresses", mode="before")
    @classmethod
    def _load_balancer_networks(cls, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list | tuple):
            raise PydanticCustomError("spec", "must be a list of addresses or networks such as ['192.168.56.240/28']")
        return _networks(value)


def _networks(values: list | tuple) -> tuple[str, ...]:
    """IPv4 networks as written in nft sets ('192.168.56.240/28'); a bare address is a /32."""
    from ipaddress import IPv4Network

    parsed = []
    for value in values:
        try:
            parsed.append(str(IPv4Network(value)) if isinstance(value, str) else IPv4Network("x"))
        except ValueError:
            raise PydanticCustomError("spec", "has '{value}', which is not an IPv4 network such as 203.0.113.0/28 "
                                      "(no host bits set)", {"value": str(value)}) from None
    return tuple(parsed)


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

    kubeconfig: str = Field("/etc/kubernetes/admin.conf", description=(
        'the admin kubeconfig on the first controlplane node; kubectl applies the add-ons with it'))

    @field_validator("kubeconfig")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not path.startswith("/"):
            raise PydanticCustomError("spec", "must be an absolute path on the controlplane node")
        return path


class KubeProxySettings(RoleSettings):
    """Add-on `kube-proxy` (its mode is the cluster key `kube_proxy_mode`)."""

    model_config = prefixed("kube_proxy")

    enabled: bool = Field(True, description=(
        'deploy kube-proxy; `False` deletes what kubewire created for it (e.g. when a CNI replaces '
        'it)'))
    ipvs_scheduler: str = Field("rr", description=(
        'IPVS scheduler (mode `ipvs`): `rr`, `wrr`, `lc`, `wlc`, `lblc`, `lblcr`, `sh`, `dh`, `sed`, '
        '`nq`, `mh`'))
    ipvs_strict_arp: bool = Field(False, description=(
        'mode `ipvs`: answer ARP only for addresses on the receiving interface (MetalLB L2 needs it)'))
    masquerade_all: bool = Field(False, description=(
        'SNAT all traffic to service addresses, not only off-cluster (every mode)'))
    sync_period: str = Field("30s", description=(
        'how often kube-proxy resyncs its rules in full (a duration: `30s`, `1m`)'))
    min_sync_period: str = Field("1s", description='at most how often kube-proxy rewrites its rules')
    metrics_bind_address: str = Field("127.0.0.1:10249", description=(
        'where kube-proxy serves metrics: `ADDRESS:PORT` (`0.0.0.0:10249`, `[::]:10249`)'))

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

    enabled: bool = Field(True, description='deploy CoreDNS; `False` deletes what kubewire created for it')
    replicas: int = Field(default=2, ge=1, le=100, description='CoreDNS pods, spread over the nodes')
    pods: str = Field("insecure", description=(
        'pod records (`10-244-5-1.<namespace>.pod.<domain>`): `insecure` answers any, `verified` only'
        ' existing pods, `disabled` none'))
    upstreams: list[str] = Field([RESOLV_CONF], description=(
        'where outside names are resolved: server IPs (optionally `:port`) or `/etc/resolv.conf` (the'
        " node's)"))
    stub_domains: dict[str, list[str]] = Field({}, description=(
        'zones with their own servers: `{"corp.example": ["10.0.0.53", "10.0.0.54:5353"]}`'))

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


CNI_PLUGIN_SOURCES = ("upstream", "tarball", "package")


class CniSettings(RoleSettings):
    """Role `cni`: CNI plugin binaries, the network config, and pod routes between nodes."""

    model_config = prefixed("cni")

    bin_dir: str = Field("/opt/cni/bin", description='where the container runtime finds the CNI plugins')
    conf_dir: str = Field("/etc/cni/net.d", description=(
        'where it finds the network config (it loads the lexically first file)'))
    plugins_source: Literal[CNI_PLUGIN_SOURCES] = Field("upstream", description=(
        '`upstream` (release tarball, sha256 pinned in `kubewire/versions.py`), `tarball` (a file on '
        "the controller) or `package` (the distribution's `containernetworking-plugins`)"))
    plugins_version: str = Field(CNI_PLUGINS_VERSION, description=(
        "the plugins' version (for `upstream`, one pinned in `kubewire/versions.py`)"))
    plugins_tarball: str | None = Field(None, description=(
        "with `tarball`: the plugins tarball's path on the controller"))
    plugins_tarball_sha256: str | None = Field(None, description=(
        'with `tarball`: its sha256, checked on the controller and on the node before unpacking'))
    plugins_all: bool = Field(False, description=(
        "install every plugin of the tarball, not only the ones the CNI configs use (`loopback`, and "
        "`bridge`, `host-local`, `portmap` for `bridge`; `portmap` for `weave`); plugins already there stay checked"))
    bridge: str = Field("cni0", description='the Linux bridge the bridge plugin puts pods on')
    network_name: CniNetworkName = Field("kubewire", description="the CNI network's name")
    # The bridge plugin's "mtu" is optional and only passed on when given
    # (containernetworking/plugins pkg/ip/link_linux.go): unset, a veth gets the kernel's 1500.
    mtu: Mtu = Field(None, json_schema_extra=readme_default("the kernel's for a veth (1500), whatever the node "
                     "interface's"), description=(
        "the pods' interface MTU (and `cni0`'s); set it below the node network's MTU when that is smaller"))

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

    image_repo: str = Field(WEAVE_IMAGE_REPO, description=(
        'where the `weave-kube` and `weave-npc` images come from (`cni_plugin: weave`); point it at a'
        " maintained fork's repository"))
    image_tag: str = Field(WEAVE_VERSION, description="their tag (Weave Net's last release; a fork has its own)")
    mtu: Mtu = Field(None, json_schema_extra=readme_default("Weave's (1376)"), description=(
        "the MTU of Weave's network (`WEAVE_MTU`), 576 to 9000"))
    password_file: str | None = Field(None, json_schema_extra=readme_default('none (unencrypted)'), description=(
        "a file on the controller holding the password that encrypts Weave's traffic; put into the "
        'Secret `weave-passwd`, never printed'))

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

# Namespaces Kubernetes itself creates and uses: never an add-on's own namespace
# (https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/#initial-namespaces).
RESERVED_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
INGRESS_CONTROLLERS = ("nginx-inc", "ingress-nginx")
# Each controller's namespace unless `ingress_namespace` says otherwise (as upstream's manifests).
INGRESS_NAMESPACES = {"nginx-inc": "nginx-ingress", "ingress-nginx": "ingress-nginx"}
INGRESS_NODE_PORTS = {"http": 30080, "https": 30443}
class IngressSettings(RoleSettings):
    """Add-on `nginx-ingress` or `ingress-nginx`: an ingress controller, its IngressClass, and Ingresses."""

    model_config = prefixed("ingress")

    enabled: bool = Field(False, description=(
        'deploy an ingress controller (a lab cluster needs none to learn Services); `False` deletes '
        'what kubewire created for it'))
    controller: Literal[INGRESS_CONTROLLERS] = Field("nginx-inc", description=(
        "`nginx-inc` (NGINX Inc's controller) or `ingress-nginx` (the community one: retired "
        'upstream, allowed with a warning)'))
    namespace: str | None = Field(None, description="the controller's namespace", json_schema_extra=readme_default(
        "`nginx-ingress` (`ingress-nginx` for that controller)"))
    config: dict[str, str] = Field({}, description=(
        "the controller's ConfigMap: NGINX settings by name, values as strings: "
        '`{"client-max-body-size": "8m"}`'))
    class_name: str = Field(default="nginx", alias="ingress_class", description=(
        'the IngressClass the controller serves; every Ingress kubewire creates uses it'))
    default_class: bool = Field(False, description=(
        "make that IngressClass the cluster's default (`ingressclass.kubernetes.io/is-default-class`)"))
    node_ports: dict[str, int] = Field(INGRESS_NODE_PORTS, description=(
        "the NodePorts of the controller's Service (30000-32767, distinct; give one or both)"))
    custom_resources: bool = Field(False, description=(
        '`nginx-inc` only: also serve VirtualServer, VirtualServerRoute, TransportServer and Policy '
        '(install their CRDs yourself)'))
    resources: tuple[IngressResource, ...] = Field((), description=(
        'Ingresses to create (needs `ingress_enabled`); see "Ingresses from inventory data"'))

    @field_validator("namespace")
    @classmethod
    def _valid_namespace(cls, namespace: str | None) -> str | None:
        if namespace is not None and not is_dns_label(namespace):
            raise PydanticCustomError("spec", "is not a namespace name (an RFC 1123 label such as nginx-ingress)")
        if namespace in RESERVED_NAMESPACES:
            raise PydanticCustomError(
                "spec", "is one of Kubernetes' own namespaces ({reserved}); kubewire creates the controller's "
                "namespace and deletes it with the controller, so give it one of its own, such as nginx-ingress",
                {"reserved": ", ".join(RESERVED_NAMESPACES)})
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


# Container runtime and bootstrap (roles containerd, kubeadm) ---------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")
# A registry host as containerd's hosts directory names it: docker.io, registry.lab:5000, _default.
_REGISTRY_HOST = re.compile(r"_default|[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?")
_IMAGE_REF = re.compile(r"[a-z0-9]([a-z0-9.:-]*[a-z0-9])?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
                        r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?")
_MIRROR_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[\w./-]*)?")
CONTAINERD_SOURCES = ("package", "upstream", "tarball")
SNAPSHOTTERS = ("overlayfs", "native")
KUBEADM_PACKAGE_SOURCES = ("pkgs.k8s.io", "apt", "debs")


def _controller_file(path: str | None) -> str | None:
    """A file on the controller, checked before any host is contacted."""
    if path is not None and not os.path.isfile(os.path.expanduser(path)):
        raise PydanticCustomError("spec", "is not a file on the controller")
    return path


def _sha256_digest(digest: str | None) -> str | None:
    if digest is not None and not matches(_SHA256, digest):
        raise PydanticCustomError("spec", "must be a sha256 digest: 64 lower-case hex digits")
    return digest


Sha256 = Annotated[str | None, AfterValidator(_sha256_digest)]
ControllerFile = Annotated[str | None, AfterValidator(_controller_file)]


class ContainerdSettings(RoleSettings):
    """Role `containerd`: the container runtime the kubelet talks to (CRI), and runc under it."""

    model_config = prefixed("containerd")

    enabled: bool = Field(True, description=(
        "install and configure containerd (off: the runtime is managed elsewhere and left alone)"))
    source: Literal[CONTAINERD_SOURCES] = Field("package", description=(
        "`package` (the distribution's containerd and runc), `upstream` (the release tarball and runc binary, "
        "sha256 pinned in `kubewire/versions.py`) or `tarball` (files on the controller: `containerd_tarball` "
        "+ `containerd_tarball_sha256`, `containerd_runc` + `containerd_runc_sha256`)"))
    version: str = Field(CONTAINERD_VERSION, description="containerd's version (for `upstream`, one pinned)")
    runc_version: str = Field(RUNC_VERSION, description="runc's version (for `upstream`, one pinned)")
    tarball: ControllerFile = Field(None, description="with `tarball`: containerd's release tarball on the controller")
    tarball_sha256: Sha256 = Field(None, description="with `tarball`: its sha256")
    runc: ControllerFile = Field(None, description="with `tarball`: the runc binary on the controller")
    runc_sha256: Sha256 = Field(None, description="with `tarball`: its sha256")
    # The kubelet's cgroupDriver "systemd" (kubeadm's default since 1.22) and this must agree.
    systemd_cgroup: bool = Field(True, description=(
        "let systemd manage the containers' cgroups (`SystemdCgroup`), as the kubelet's `systemd` cgroup driver "
        "expects"))
    sandbox_image: str | None = Field(None, json_schema_extra=readme_default(
        "the pause image kubeadm uses for `kubernetes_version`"), description="the pod sandbox image")
    registry_mirrors: dict[str, list[str]] = Field({}, description=(
        'registry mirrors for air-gapped sites: `{"docker.io": ["https://registry.lab:5000"]}` (containerd '
        "hosts.toml files; the upstream registry stays the fallback)"))
    snapshotter: Literal[SNAPSHOTTERS] = Field("overlayfs", description=(
        "`overlayfs`, or `native` (plain copies) for roots that are themselves on overlayfs"))
    no_new_keyring: bool = Field(False, description=(
        "runc without a new session keyring per container (hosts whose seccomp blocks keyring calls)"))
    restrict_oom_score_adj: bool = Field(False, description=(
        "never lower a container's oom_score_adj below containerd's own (hosts without CAP_SYS_RESOURCE)"))

    @field_validator("sandbox_image")
    @classmethod
    def _valid_image(cls, image: str | None) -> str | None:
        if image is not None and not matches(_IMAGE_REF, image):
            raise PydanticCustomError("spec", "is not an image reference such as registry.k8s.io/pause:3.10")
        return image

    @field_validator("registry_mirrors", mode="before")
    @classmethod
    def _valid_mirrors(cls, mirrors: Any) -> dict[str, list[str]]:
        if not isinstance(mirrors, dict):
            raise PydanticCustomError("spec", "must map registries to mirror URLs: "
                                      "{'docker.io': ['https://registry.lab:5000']}")
        bad_hosts = [host for host in mirrors if not matches(_REGISTRY_HOST, host)]
        bad_urls = [url for urls in mirrors.values() for url in (urls if isinstance(urls, list) else [urls])
                    if not matches(_MIRROR_URL, url)]
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
                    problems.append(problem_at((f"containerd_{key}",), version,
                                               f"has no pinned upstream checksum; use one of {sorted(pinned)}, "
                                               "or containerd_source 'tarball' with your own sha256"))
        if self.source == "tarball":
            problems += [problem_at((f"containerd_{key}",), None, "is needed with containerd_source 'tarball' "
                                    "(the files' paths on the controller and their sha256)")
                         for key in ("tarball", "tarball_sha256", "runc", "runc_sha256") if getattr(self, key) is None]
        if problems:
            raise ValidationError.from_exception_data("containerd", problems)
        return self


class KubeadmSettings(RoleSettings):
    """Role `kubeadm`: kubelet, kubeadm and kubectl, `kubeadm init` on the first controlplane node
    and `kubeadm join` everywhere else."""

    model_config = prefixed("kubeadm")

    enabled: bool = Field(True, description="bootstrap the cluster with kubeadm (off: it is made some other way)")
    packages_source: Literal[KUBEADM_PACKAGE_SOURCES] = Field("pkgs.k8s.io", description=(
        "where kubelet, kubeadm and kubectl come from: `pkgs.k8s.io` (the Kubernetes package repository for "
        "`kubernetes_version`'s minor, its signing key pinned), `apt` (the node's own apt sources) or `debs` "
        "(a directory of .deb files on the controller: `kubeadm_debs_dir`)"))
    debs_dir: str | None = Field(None, description="with `debs`: the directory of .deb files on the controller")
    admin_kubeconfig: str = Field("~/.kube/kubewire-admin.conf", description=(
        "where the admin kubeconfig is written on the controller (mode 0600)"))

    @model_validator(mode="after")
    def _debs_dir_given(self) -> KubeadmSettings:
        if self.packages_source == "debs" and not (self.debs_dir and os.path.isdir(os.path.expanduser(self.debs_dir))):
            raise ValidationError.from_exception_data("kubeadm", [problem_at(
                ("kubeadm_debs_dir",), self.debs_dir, "must be a directory on the controller holding the kubelet, "
                "kubeadm and kubectl .deb files (kubeadm_packages_source is 'debs')")])
        return self


# Flannel (templates/flannel, with cni_plugin "flannel") ------------------------------------

FLANNEL_BACKENDS = ("vxlan", "host-gw")
FLANNEL_CNI_PLUGIN_SOURCES = ("image", "file")


class FlannelSettings(RoleSettings):
    """Add-on `flannel`: kube-flannel, deployed when the cluster key `cni_plugin` is "flannel"."""

    model_config = prefixed("flannel")

    backend: Literal[FLANNEL_BACKENDS] = Field("vxlan", description=(
        "how flannel carries pod traffic between nodes: `vxlan` (an overlay, UDP 8472 between nodes) or "
        "`host-gw` (routes via each node's address: every node on one layer-2 network)"))
    cni_plugin_source: Literal[FLANNEL_CNI_PLUGIN_SOURCES] = Field("image", description=(
        "where the `flannel` CNI plugin comes from: `image` (upstream's way: the DaemonSet copies it from the "
        "pinned flannel-cni-plugin image) or `file` (a binary on the controller, `flannel_cni_plugin_file` + "
        "`flannel_cni_plugin_sha256`, checked on the controller and on the node)"))
    cni_plugin_file: ControllerFile = Field(None, description=(
        "with `file`: the plugin binary on the controller (`flannel-amd64` from the release tarball)"))
    cni_plugin_sha256: Sha256 = Field(None, description="with `file`: its sha256")

    @model_validator(mode="after")
    def _file_complete(self) -> FlannelSettings:
        if self.cni_plugin_source == "file":
            problems = [problem_at((f"flannel_{key}",), None, "is needed with flannel_cni_plugin_source 'file' "
                                   "(the binary's path on the controller and its sha256)")
                        for key in ("cni_plugin_file", "cni_plugin_sha256") if getattr(self, key) is None]
            if problems:
                raise ValidationError.from_exception_data("flannel", problems)
        return self
