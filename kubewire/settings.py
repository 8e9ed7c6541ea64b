"""Each role's data keys, validated with the rest of the cluster spec.

A role's keys are prefixed with its name (`hosts_extra_entries`, `coredns_pods`, …) and set in
group or host data. Here every key has its type, its default and a comment; the role module
passes `Settings.defaults()` to `@deploy(data_defaults=...)` and reads the validated values
from the spec (`spec.node(host.name).hosts.extra_entries`).

Node roles (scope "node") may differ per group or host and hang off each `NodeSpec`; cluster
roles (scope "cluster") have one value for the whole cluster and hang off the `ClusterSpec`.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, ip_address
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from .ports import PortRule
from .versions import CNI_PLUGINS_SHA256, CNI_PLUGINS_VERSION


def _is_hostname(value: str) -> bool:
    from .spec import is_dns_subdomain

    return is_dns_subdomain(value)


def prefixed(role: str) -> ConfigDict:
    """Model config whose field `name` is read from the data key `<role>_<name>`."""
    return ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                      alias_generator=lambda name: f"{role}_{name}")


class RoleSettings(BaseModel):
    role: ClassVar[str]
    scope: ClassVar[str]  # "node" or "cluster"

    @classmethod
    def keys(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The data keys and their defaults, for `@deploy(data_defaults=...)`."""
        return cls().model_dump(by_alias=True)


class HostsSettings(RoleSettings):
    """Role `hosts`: hostname and /etc/hosts."""

    role: ClassVar[str] = "hosts"
    scope: ClassVar[str] = "node"
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

    role: ClassVar[str] = "prereqs"
    scope: ClassVar[str] = "node"
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

    role: ClassVar[str] = "firewall"
    scope: ClassVar[str] = "node"
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

    role: ClassVar[str] = "addons"
    scope: ClassVar[str] = "cluster"
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

    role: ClassVar[str] = "kube_proxy"
    scope: ClassVar[str] = "cluster"
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

    role: ClassVar[str] = "coredns"
    scope: ClassVar[str] = "cluster"
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

    role: ClassVar[str] = "cni"
    scope: ClassVar[str] = "node"
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
    # Pod interface MTU (default: the bridge plugin's, from the node's interface).
    mtu: int | None = None
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

    @field_validator("mtu")
    @classmethod
    def _mtu(cls, mtu: int | None) -> int | None:
        if mtu is not None and not 576 <= mtu <= 9000:
            raise PydanticCustomError("spec", "must be between 576 and 9000")
        return mtu

    @field_validator("plugins_version")
    @classmethod
    def _pinned(cls, version: str, info: ValidationInfo) -> str:
        if info.data.get("plugins_source", "upstream") == "upstream" and version not in CNI_PLUGINS_SHA256:
            raise PydanticCustomError(
                "spec", "has no pinned upstream checksum; use one of {pinned}, or cni_plugins_source 'tarball' "
                "with your own sha256", {"pinned": sorted(CNI_PLUGINS_SHA256)})
        return version
