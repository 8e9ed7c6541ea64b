"""The cluster add-ons' manifests: rendered from the spec, validated offline, then applied.

Every add-on is a folder `templates/<name>/` holding `<name>.yaml.j2` (and the files it
includes) plus one `Addon` entry below. Rendering happens on the controller; every object is
checked against the Kubernetes schema of the spec's version (strict: unknown fields fail,
and an object with no schema fails), then by the add-on's own checks of what the schema
cannot know (the DNS Service's address is inside the service range, …). A problem stops the
run before anything is applied, naming the object and the field.

kubeadm's own configuration kinds have no schema in kubernetes-validate, so
`kubeadm-config.yaml` gets semantic checks only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from .spec import ClusterSpec
from .templates import render
from .versions import coredns_image, kube_proxy_image, kubernetes_release

# Every object kubewire applies carries both labels, so a disabled add-on is deleted by label.
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubewire"}
ADDON_LABEL = "kubewire/addon"
FIELD_MANAGER = "kubewire"

# Ports the templates use, each written once.
PORTS = {
    "dns": 53,
    "coredns_metrics": 9153,
    "coredns_health": 8080,
    "coredns_ready": 8181,
    "kube_proxy_healthz": 10256,
}
API_SERVER_PORT = 6443
# kubeadm's configuration API: v1beta4 from Kubernetes 1.31, v1beta3 before.
KUBEADM_V1BETA4_MINOR = 31
KUBEADM_CONFIG = "kubeadm-config"


@dataclass(frozen=True)
class ManifestProblem:
    object: str  # "Service kube-system/kube-dns"
    field: str  # "spec.clusterIP"
    message: str

    def __str__(self) -> str:
        return f"{self.object}: {self.field}: {self.message}"


class ManifestError(Exception):
    """Rendered manifests that must not be applied, with every problem found."""

    def __init__(self, problems: list[ManifestProblem]):
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        lines = [f"the rendered manifests have {len(self.problems)} problem(s); nothing was applied:"]
        return "\n".join(lines + [f"  - {problem}" for problem in self.problems])


def object_name(obj: dict) -> str:
    """'Service kube-system/kube-dns'; kubeadm's configuration kinds have no name: 'KubeletConfiguration'."""
    metadata = obj.get("metadata") or {}
    if not metadata.get("name"):
        return str(obj.get("kind", "?"))
    namespace = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
    return f"{obj.get('kind', '?')} {namespace}{metadata['name']}"


def find(objects: Iterable[dict], kind: str, name: str | None = None) -> dict | None:
    return next((obj for obj in objects if obj.get("kind") == kind
                 and name in (None, (obj.get("metadata") or {}).get("name"))), None)


# Semantic checks ------------------------------------------------------------------------------

Check = Callable[[ClusterSpec, list[dict]], list[ManifestProblem]]


def _kube_proxy_checks(spec: ClusterSpec, objects: list[dict]) -> list[ManifestProblem]:
    config_map = find(objects, "ConfigMap", "kube-proxy")
    if config_map is None:
        return [ManifestProblem("ConfigMap kube-system/kube-proxy", "(object)", "is missing")]
    config = yaml.safe_load(config_map["data"]["config.conf"])
    problems = []
    if config.get("clusterCIDR") != str(spec.pod_cidr):
        problems.append(ManifestProblem(object_name(config_map), "data.config.conf.clusterCIDR",
                                        f"is {config.get('clusterCIDR')!r}, not pod_cidr {spec.pod_cidr}"))
    if config.get("mode") != spec.kube_proxy_mode:
        problems.append(ManifestProblem(object_name(config_map), "data.config.conf.mode",
                                        f"is {config.get('mode')!r}, not kube_proxy_mode {spec.kube_proxy_mode}"))
    return problems


def dns_address_problem(spec: ClusterSpec, address: Any) -> str | None:
    """Why `address` cannot be the cluster DNS Service's address, if it cannot."""
    services = spec.service_cidr
    try:
        address = IPv4Address(address)
    except ValueError:
        return f"{address!r} is not an IPv4 address"
    if address not in services:
        return f"{address} is outside service_cidr {services}"
    if address == spec.api_service_ip:
        return f"{address} is the first address of service_cidr, which the API server's 'kubernetes' service takes"
    if address != spec.cluster_dns_ip:
        return f"{address} is not dns_service_ip {spec.cluster_dns_ip}, which the kubelets send pods to"
    return None


def _coredns_checks(spec: ClusterSpec, objects: list[dict]) -> list[ManifestProblem]:
    service = find(objects, "Service", "kube-dns")
    if service is None:
        return [ManifestProblem("Service kube-system/kube-dns", "(object)", "is missing")]
    problem = dns_address_problem(spec, service["spec"].get("clusterIP"))
    return [ManifestProblem(object_name(service), "spec.clusterIP", problem)] if problem else []


def kubelet_dns_settings(spec: ClusterSpec) -> dict[str, Any]:
    """What the kubelet tells pods about DNS (KubeletConfiguration fields), from the spec."""
    return {"clusterDNS": [str(spec.cluster_dns_ip)], "clusterDomain": spec.cluster_domain}


def _kubeadm_checks(spec: ClusterSpec, objects: list[dict]) -> list[ManifestProblem]:
    """kubeadm's kinds have no published schema: check the values kubewire sets in them."""
    cluster = find(objects, "ClusterConfiguration") or {"kind": "ClusterConfiguration"}
    kubelet = find(objects, "KubeletConfiguration") or {"kind": "KubeletConfiguration"}
    expected = [
        (cluster, "apiVersion", f"kubeadm.k8s.io/{kubeadm_api(spec)}"),
        (cluster, "networking.podSubnet", str(spec.pod_cidr)),
        (cluster, "networking.serviceSubnet", str(spec.service_cidr)),
        (cluster, "networking.dnsDomain", spec.cluster_domain),
        *((kubelet, key, value) for key, value in kubelet_dns_settings(spec).items()),
    ]
    problems = []
    for obj, path, want in expected:
        found = _get(obj, path)
        if found != want:
            problems.append(ManifestProblem(object_name(obj), path, f"is {found!r}, the spec says {want!r}"))
    return problems


def _get(obj: dict, path: str) -> Any:
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


# The add-ons ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addon:
    name: str  # template folder, output file and label value: "kube-proxy"
    role: str  # its settings on the spec (`spec.kube_proxy`, data keys `kube_proxy_*`)
    image: Callable[[ClusterSpec], str]
    checks: Check

    def settings(self, spec: ClusterSpec) -> Any:
        return getattr(spec, self.role)

    def enabled(self, spec: ClusterSpec) -> bool:
        return self.settings(spec).enabled

    @property
    def labels(self) -> dict[str, str]:
        """On every object kubewire creates for this add-on."""
        return {**MANAGED_BY, ADDON_LABEL: self.name}

    @property
    def selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.labels.items())


ADDONS = (
    Addon("kube-proxy", "kube_proxy", lambda spec: kube_proxy_image(spec.kubernetes_version), _kube_proxy_checks),
    Addon("coredns", "coredns", lambda spec: coredns_image(spec.minor), _coredns_checks),
)


@dataclass(frozen=True)
class Manifest:
    name: str  # the file is `<name>.yaml`
    objects: tuple[dict, ...]
    text: str
    addon: Addon | None = None

    @property
    def filename(self) -> str:
        return f"{self.name}.yaml"

    @property
    def resource_types(self) -> list[str]:
        """kubectl's fully qualified resource types of the objects: deployment.apps, service, …"""
        return sorted({_resource_type(obj) for obj in self.objects})


def _resource_type(obj: dict) -> str:
    group = obj["apiVersion"].rpartition("/")[0]
    return f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()


# Rendering ------------------------------------------------------------------------------------


def kubeadm_api(spec: ClusterSpec) -> str:
    return "v1beta4" if spec.minor >= KUBEADM_V1BETA4_MINOR else "v1beta3"


def parse_objects(text: str) -> list[dict]:
    """The objects in a multi-document YAML text, with `kind: List` unpacked."""
    objects = []
    for document in yaml.safe_load_all(text):
        if document and document.get("kind") == "List":
            objects += document.get("items") or []
        elif document:
            objects.append(document)
    return objects


def _labelled(obj: dict, addon: Addon) -> dict:
    metadata = obj.setdefault("metadata", {})
    metadata["labels"] = {**metadata.get("labels", {}), **addon.labels}
    return obj


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the Corefile, kube-proxy's config) as readable `|` blocks."""


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def _dump(objects: list[dict], source: str) -> str:
    header = f"# Rendered by kubewire from templates/{source}/; edit the spec, not this file.\n"
    return header + yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, explicit_start=True)


def render_addon(spec: ClusterSpec, addon: Addon) -> Manifest:
    text = render(addon.name, f"{addon.name}.yaml.j2", spec=spec, settings=addon.settings(spec),
                  image=addon.image(spec), ports=PORTS, api_server_endpoint=api_server_endpoint(spec))
    objects = [_labelled(obj, addon) for obj in parse_objects(text)]
    return Manifest(addon.name, tuple(objects), _dump(objects, addon.name), addon)


def render_kubeadm_config(spec: ClusterSpec) -> Manifest:
    text = render("kube-proxy", f"{KUBEADM_CONFIG}.yaml.j2", spec=spec, kubeadm_api=kubeadm_api(spec),
                  kubernetes_release=kubernetes_release(spec.kubernetes_version))
    return Manifest(KUBEADM_CONFIG, tuple(parse_objects(text)), text)


def api_server_endpoint(spec: ClusterSpec) -> str:
    """Where node agents reach the API server without service routing: the first controlplane node."""
    return f"{spec.controlplane[0].node_ip}:{API_SERVER_PORT}"


# Validation -----------------------------------------------------------------------------------


def schema_problems(obj: dict, kubernetes_version: str) -> list[ManifestProblem]:
    """Strict validation against the Kubernetes schema: unknown fields and unknown kinds fail."""
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        field = ".".join(str(part) for part in error.path) or "(object)"
        return [ManifestProblem(object_name(obj), field, error.message)]
    except kubernetes_validate.SchemaNotFoundError:
        return [ManifestProblem(object_name(obj), "apiVersion/kind",
                                f"{obj.get('apiVersion')} {obj.get('kind')} has no schema in Kubernetes "
                                f"{kubernetes_version}; kubewire applies only objects it can validate")]
    return []


def manifest_problems(spec: ClusterSpec, manifest: Manifest) -> list[ManifestProblem]:
    if manifest.addon is None:
        return _kubeadm_checks(spec, list(manifest.objects))
    problems = [problem for obj in manifest.objects for problem in schema_problems(obj, spec.kubernetes_version)]
    return problems + manifest.addon.checks(spec, list(manifest.objects))


def render_all(spec: ClusterSpec) -> list[Manifest]:
    """Every add-on's manifest (enabled or not) and kubeadm's configuration, validated.

    Raises ManifestError listing every problem, so nothing is applied from a bad render."""
    manifests = [render_addon(spec, addon) for addon in ADDONS] + [render_kubeadm_config(spec)]
    problems = [problem for manifest in manifests for problem in manifest_problems(spec, manifest)]
    if problems:
        raise ManifestError(problems)
    return manifests


def write_manifests(manifests: list[Manifest], spec: ClusterSpec, out: Path) -> list[str]:
    """Write each enabled add-on's file (and kubeadm-config.yaml) into `out`; remove disabled ones'.

    Returns a line per file, saying what was done."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for manifest in manifests:
        path = out / manifest.filename
        if manifest.addon is not None and not manifest.addon.enabled(spec):
            path.unlink(missing_ok=True)
            done.append(f"{manifest.addon.name}: disabled ({manifest.addon.role}_enabled), {path} not written")
            continue
        path.write_text(manifest.text)
        done.append(f"{path}: {len(manifest.objects)} objects")
    return done

