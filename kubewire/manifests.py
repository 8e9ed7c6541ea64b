"""The cluster add-ons' manifests: rendered from the spec, validated offline, then applied.

Every add-on is a folder `templates/<name>/` holding `<name>.yaml.j2` (and the files it
includes) plus one `Addon` entry below. Rendering happens on the controller; every object is
checked against the Kubernetes schema of the spec's version (strict: unknown fields fail,
and an object with no schema fails), then by the add-on's own checks of what the schema
cannot know (the DNS Service's address is inside the service range, …). A problem stops the
run before anything is applied, naming the object and the field.

kubeadm's own configuration kinds have no schema in kubernetes-validate, so
`kubeadm-config.yaml` gets semantic checks only.

A Secret (Weave's password) is kept out of every file: it is its own `Manifest` with
`secret=True`, which `kubewire render` does not write and the addons role pipes to kubectl on
stdin, so no diff, log or file on the controller ever holds it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from pydantic import SecretBytes

from . import flannel, rbac
from .cache import CACHE_DIR, key_of
from .kubeadm import kubeadm_checks, render_kubeadm_config
from .ports import NODE_PORT_FIRST, NODE_PORT_LAST
from .settings import INGRESS_NAMESPACES
from .spec import ClusterSpec, Problem
from .templates import render
from .versions import (
    INGRESS_NGINX_IMAGE,
    INGRESS_NGINX_KUBERNETES_MINORS,
    INGRESS_NGINX_VERSION,
    NGINX_INC_INGRESS_IMAGE,
    coredns_image,
    kube_proxy_image,
    weave_images,
)

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
    "weave_status": 6784,  # on 127.0.0.1 only: not a firewall port
    "http": 80,
    "https": 443,
    "nginx_inc_readiness": 8081,
    "ingress_nginx_health": 10254,
}
# kubeadm's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go): the forward plugin's limit
# on queries in flight, and, from 1.32 (kubernetes/kubernetes#128359), a cache that leaves the
# cluster domain to the kubernetes plugin.
COREDNS_FORWARD_MAX_CONCURRENT = 1000
COREDNS_CACHE_SKIPS_CLUSTER_DOMAIN_FROM_MINOR = 32
WEAVE_SECRET_NAME = "weave-passwd"  # the name and key upstream's Weave docs use
WEAVE_PASSWORD_SECRET = f"Secret kube-system/{WEAVE_SECRET_NAME}"
# On each Secret kubewire applies: a slow, salted hash of the object, so a re-run can tell the
# Secret in the cluster is current without reading it (what a re-run prints holds no fast hash
# of a password either).
SECRET_FINGERPRINT = "kubewire/fingerprint"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


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


def _get(obj: dict, path: str) -> Any:
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _rbac_problems(objects: list[dict], allowed: set[rbac.Triple]) -> list[ManifestProblem]:
    """Grants of the Roles and ClusterRoles beyond upstream's own for the features switched on."""
    problems = []
    for obj in objects:
        extra = sorted(rbac.rendered_triples([obj]) - allowed)
        if extra:
            grants = ", ".join(f"{verb} {group or 'core'}/{resource}" for group, resource, verb in extra)
            problems.append(ManifestProblem(object_name(obj), "rules",
                                            f"grants {grants}, beyond upstream's own RBAC (kubewire/rbac.py)"))
    return problems


def _container_env(pod_owner: dict, container: str) -> dict[str, Any]:
    """A container's env by name: the value, or the valueFrom source."""
    containers = _get(pod_owner, "spec.template.spec.containers") or []
    env = next((item.get("env") or [] for item in containers if item.get("name") == container), [])
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in env}


def _weave_checks(spec: ClusterSpec, objects: list[dict]) -> list[ManifestProblem]:
    daemonset = find(objects, "DaemonSet", "weave-net")
    if daemonset is None:
        return [ManifestProblem("DaemonSet kube-system/weave-net", "(object)", "is missing")]
    problems = _rbac_problems(objects, rbac.ceiling("weave"))
    ipalloc = _container_env(daemonset, "weave").get("IPALLOC_RANGE")
    if ipalloc != str(spec.pod_cidr):
        problems.append(ManifestProblem(object_name(daemonset), "containers[weave].env.IPALLOC_RANGE",
                                        f"is {ipalloc!r}, not pod_cidr {spec.pod_cidr} (Weave would allocate pod "
                                        "addresses from its own default, 10.32.0.0/12, unknown to kube-proxy)"))
    return problems


def _ingress_checks(addon: str) -> Check:
    def check(spec: ClusterSpec, objects: list[dict]) -> list[ManifestProblem]:
        return (_node_port_problems(spec, objects) + _ingress_class_problems(spec, objects)
                + _rbac_problems(objects, rbac.ceiling(addon, spec.ingress.custom_resources)))
    return check


def _node_port_problems(spec: ClusterSpec, objects: list[dict]) -> list[ManifestProblem]:
    service = next((obj for obj in objects if obj["kind"] == "Service" and obj["spec"].get("type") == "NodePort"), None)
    if service is None:
        return [ManifestProblem("Service (NodePort)", "(object)", "is missing")]
    problems, seen = [], set()
    for index, port in enumerate(service["spec"]["ports"]):
        node_port, field_name = port.get("nodePort"), f"spec.ports.{index}.nodePort"
        if node_port != spec.ingress.node_ports.get(port["name"]):
            message = f"is {node_port}, not ingress_node_ports {spec.ingress.node_ports}"
        elif not NODE_PORT_FIRST <= node_port <= NODE_PORT_LAST:
            message = f"{node_port} is outside the node-port range {NODE_PORT_FIRST}-{NODE_PORT_LAST}"
        elif node_port in seen:
            message = f"{node_port} is used by another port too"
        else:
            message = None
        if message:
            problems.append(ManifestProblem(object_name(service), field_name, message))
        seen.add(node_port)
    return problems


def _ingress_class_problems(spec: ClusterSpec, objects: list[dict]) -> list[ManifestProblem]:
    classes = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "IngressClass"}
    if spec.ingress.class_name not in classes:
        return [ManifestProblem(f"IngressClass {spec.ingress.class_name}", "(object)", "is missing")]
    problems = []
    default = (classes[spec.ingress.class_name]["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)
    if (default == "true") != spec.ingress.default_class:
        problems.append(ManifestProblem(f"IngressClass {spec.ingress.class_name}",
                                        f"metadata.annotations.{DEFAULT_CLASS_ANNOTATION}",
                                        f"is {default!r}, but ingress_default_class is {spec.ingress.default_class}"))
    for ingress in (obj for obj in objects if obj["kind"] == "Ingress"):
        if ingress["spec"].get("ingressClassName") not in classes:
            problems.append(ManifestProblem(object_name(ingress), "spec.ingressClassName",
                                            f"{ingress['spec'].get('ingressClassName')!r} is not an IngressClass "
                                            f"kubewire creates ({', '.join(classes)})"))
    return problems


# The add-ons ----------------------------------------------------------------------------------


def _no_context(spec: ClusterSpec) -> dict[str, Any]:
    return {}


def _no_secrets(spec: ClusterSpec) -> list[dict]:
    return []


def _no_namespace(spec: ClusterSpec) -> str | None:
    return None


@dataclass(frozen=True)
class Addon:
    name: str  # template folder, output file and label value: "kube-proxy"
    role: str  # its settings on the spec (`spec.kube_proxy`, data keys `kube_proxy_*`)
    image: Callable[[ClusterSpec], str]
    checks: Check
    # Whether it is deployed; by default its role's `enabled` key, named by `switch`.
    is_enabled: Callable[[ClusterSpec], bool] | None = None
    switch: str = ""
    # More template variables.
    context: Callable[[ClusterSpec], dict[str, Any]] = _no_context
    # Secrets it needs, kept out of its manifest file (see the module docstring).
    secrets: Callable[[ClusterSpec], list[dict]] = _no_secrets
    # Resource types to delete with the add-on even when its render holds none (an optional Secret).
    also_deletes: tuple[str, ...] = ()
    # The namespace it creates (when no one else did) and may delete; None: it uses kube-system only.
    own_namespace: Callable[[ClusterSpec], str | None] = _no_namespace
    # Objects its controller creates in that namespace (kind/name), which do not keep the namespace.
    leftovers: tuple[str, ...] = ()

    def settings(self, spec: ClusterSpec) -> Any:
        return getattr(spec, self.role)

    def enabled(self, spec: ClusterSpec) -> bool:
        return self.is_enabled(spec) if self.is_enabled else self.settings(spec).enabled

    @property
    def switched_by(self) -> str:
        return self.switch or f"{self.role}_enabled"

    @property
    def labels(self) -> dict[str, str]:
        """On every object kubewire creates for this add-on."""
        return {**MANAGED_BY, ADDON_LABEL: self.name}

    @property
    def selector(self) -> str:
        return ",".join(f"{key}={value}" for key, value in self.labels.items())


def _coredns_context(spec: ClusterSpec) -> dict[str, Any]:
    return {"forward_max_concurrent": COREDNS_FORWARD_MAX_CONCURRENT,
            "cache_skips_cluster_domain": spec.minor >= COREDNS_CACHE_SKIPS_CLUSTER_DOMAIN_FROM_MINOR}


def merged_tls(entries: Iterable[Any]) -> list[dict[str, Any]]:
    """One TLS entry per Secret (None: the controller's default certificate), its hosts in order
    and each once: `ingress_resources` rules naming one Secret for several hosts give several entries."""
    merged: dict[str | None, list[str]] = {}
    for entry in entries:
        hosts = merged.setdefault(entry.secret, [])
        hosts += [host for host in entry.hosts if host not in hosts]
    return [{"hosts": hosts, "secret": secret} for secret, hosts in merged.items()]


def weave_password(path: str) -> SecretBytes:
    """The Weave password from its file on the controller (a trailing newline is not part of it)."""
    try:
        password = Path(path).read_bytes().rstrip(b"\r\n")
    except OSError as error:
        raise ManifestError([ManifestProblem(WEAVE_PASSWORD_SECRET, "data.weave-passwd",
                                             f"weave_password_file {path} cannot be read: {error.strerror}")]) from None
    if not password.strip():
        raise ManifestError([ManifestProblem(WEAVE_PASSWORD_SECRET, "data.weave-passwd",
                                             f"weave_password_file {path} holds no password")])
    return SecretBytes(password)


def _weave_context(spec: ClusterSpec) -> dict[str, Any]:
    """Images, CNI directories, and whether the pods read a password from the Secret."""
    settings, cni = spec.weave, spec.nodes[0].cni  # the CNI directories are the same on every node (spec check)
    return {"npc_image": weave_images(settings.image_repo, settings.image_tag)[1],
            "cni_bin_dir": cni.bin_dir, "cni_conf_dir": cni.conf_dir,
            "password_secret": WEAVE_SECRET_NAME if settings.password_file else None,
            # Nodes prepared for kube-proxy's nftables mode: Weave's rules go where kube-proxy's are.
            "iptables_backend": "nft" if spec.kube_proxy_mode == "nftables" else None}


def _weave_secrets(spec: ClusterSpec) -> list[dict]:
    """The Secret weave-passwd, from weave_password_file (read only when Weave is the cluster's CNI)."""
    if not spec.weave.password_file:
        return []
    password = weave_password(spec.weave.password_file).get_secret_value()
    return [{"apiVersion": "v1", "kind": "Secret",
             "metadata": {"name": WEAVE_SECRET_NAME, "namespace": "kube-system"},
             "type": "Opaque", "data": {WEAVE_SECRET_NAME: base64.b64encode(password).decode()}}]


def _ingress_addon(name: str, controller: str, image: str) -> Addon:
    def namespace(spec: ClusterSpec) -> str:
        return spec.ingress.namespace or INGRESS_NAMESPACES[controller]

    leader_lease = f"{name}-leader"
    return Addon(name, "ingress", lambda spec: image, _ingress_checks(name),
                 is_enabled=lambda spec: spec.ingress.enabled and spec.ingress.controller == controller,
                 switch="ingress_enabled, ingress_controller",
                 context=lambda spec: {"namespace": namespace(spec), "leader_lease": leader_lease,
                                       "merged_tls": merged_tls},
                 own_namespace=namespace, leftovers=(f"Lease/{leader_lease}",))


ADDONS = (
    Addon("kube-proxy", "kube_proxy", lambda spec: kube_proxy_image(spec.kubernetes_version), _kube_proxy_checks),
    Addon("coredns", "coredns", lambda spec: coredns_image(spec.minor), _coredns_checks, context=_coredns_context),
    Addon("weave", "weave", lambda spec: weave_images(spec.weave.image_repo, spec.weave.image_tag)[0], _weave_checks,
          is_enabled=lambda spec: spec.cni_plugin == "weave", switch="cni_plugin", context=_weave_context,
          secrets=_weave_secrets, also_deletes=("secret",)),
    Addon("flannel", "flannel", flannel.image, flannel.checks, is_enabled=lambda spec: spec.cni_plugin == "flannel",
          switch="cni_plugin", context=flannel.context, own_namespace=lambda spec: flannel.NAMESPACE),
    _ingress_addon("nginx-ingress", "nginx-inc", NGINX_INC_INGRESS_IMAGE),
    _ingress_addon("ingress-nginx", "ingress-nginx", INGRESS_NGINX_IMAGE),
)
INGRESS_NGINX = ADDONS[-1]


def addon_warnings(spec: ClusterSpec) -> list[Problem]:
    """What the enabled add-ons' upstreams do not promise for this cluster (printed, not refused)."""
    found = []
    if INGRESS_NGINX.enabled(spec) and spec.minor not in INGRESS_NGINX_KUBERNETES_MINORS:
        tested = f"1.{INGRESS_NGINX_KUBERNETES_MINORS.start}-1.{INGRESS_NGINX_KUBERNETES_MINORS.stop - 1}"
        found.append(Problem("kubernetes_version", spec.kubernetes_version,
                             f"ingress-nginx {INGRESS_NGINX_VERSION} is tested upstream with Kubernetes {tested} "
                             "only (its README's Supported Versions table); it may work, without that promise. "
                             "Prefer ingress_controller 'nginx-inc' or a Kubernetes version in that range"))
    if spec.cni_plugin == "weave" and spec.kube_proxy.masquerade_all:
        # weave-npc enforces NetworkPolicies on the packet's source address as it reaches the weave
        # bridge (weaveworks/weave docs/k8s-src-ip.md, measured with --masquerade-all=false); with
        # masquerade-all every Service packet arrives from a node address instead.
        found.append(Problem("kube_proxy_masquerade_all", True,
                             "with Weave Net, kube-proxy's masquerade-all hides every client's pod address behind "
                             "a node address, so weave-npc's NetworkPolicies match the wrong source; leave it off"))
    return found


@dataclass(frozen=True)
class Manifest:
    name: str  # the file is `<name>.yaml`
    # Not in the repr: they may hold a Secret.
    objects: tuple[dict, ...] = field(repr=False)
    text: str = field(repr=False)
    addon: Addon | None = None
    # Holds Secrets: never written to a file or uploaded, only piped to kubectl.
    secret: bool = False

    @property
    def filename(self) -> str:
        return f"{self.name}.yaml"

    @property
    def fingerprints(self) -> dict[str, str]:
        """Each object's SECRET_FINGERPRINT annotation, by namespace/name: {"kube-system/weave-passwd": "…"}."""
        return {f"{obj['metadata']['namespace']}/{obj['metadata']['name']}":
                obj["metadata"]["annotations"][SECRET_FINGERPRINT] for obj in self.objects}

    @property
    def resource_types(self) -> list[str]:
        """kubectl's fully qualified resource types of the objects (deployment.apps, service, …) to delete
        by label. Never namespace: deleting one deletes everything in it (see roles/addons.py)."""
        also = self.addon.also_deletes if self.addon else ()
        return sorted(({_resource_type(obj) for obj in self.objects} | set(also)) - {"namespace"})

    def without_namespace(self) -> Manifest:
        """This manifest without its Namespace: for a namespace that exists and is not kubewire's."""
        objects = tuple(obj for obj in self.objects if obj["kind"] != "Namespace")
        return Manifest(self.name, objects, _dump(list(objects), self.name), self.addon, self.secret)


def _resource_type(obj: dict) -> str:
    group = obj["apiVersion"].rpartition("/")[0]
    return f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()


# Rendering ------------------------------------------------------------------------------------


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
                  image=addon.image(spec), ports=PORTS,
                  **addon.context(spec))
    objects = [_labelled(obj, addon) for obj in parse_objects(text)]
    return Manifest(addon.name, tuple(objects), _dump(objects, addon.name), addon)


def fingerprint(obj: dict, spec: ClusterSpec) -> str:
    """scrypt (RFC 7914, Python's hashlib) of the object, salted with the cluster's name: slow to guess from."""
    content = json.dumps(obj, sort_keys=True).encode()
    salt = f"kubewire {spec.cluster_name} {object_name(obj)}".encode()
    return hashlib.scrypt(content, salt=salt, n=2**14, r=8, p=1, dklen=32).hex()


def _fingerprinted(obj: dict, spec: ClusterSpec) -> dict:
    metadata = obj["metadata"]
    metadata["annotations"] = {**metadata.get("annotations", {}), SECRET_FINGERPRINT: fingerprint(obj, spec)}
    return obj


def render_secrets(spec: ClusterSpec, addon: Addon) -> Manifest | None:
    """The add-on's Secrets (labelled like its other objects, and fingerprinted), or None."""
    objects = [_fingerprinted(_labelled(obj, addon), spec) for obj in addon.secrets(spec)]
    if not objects:
        return None
    return Manifest(f"{addon.name}-secrets", tuple(objects), yaml.dump_all(objects, sort_keys=False,
                                                                           explicit_start=True), addon, secret=True)


# Validation -----------------------------------------------------------------------------------


# What a Secret's values are validated as: an error message may quote the value it checked.
_REDACTED = base64.b64encode(b"redacted").decode()


def _redacted(obj: dict) -> dict:
    if obj.get("kind") != "Secret":
        return obj
    return {**obj, "data": dict.fromkeys(obj.get("data") or {}, _REDACTED)}


# An object that passed the schema once passes again: kept by content, Kubernetes version and
# validator version, so a re-run of an unchanged cluster spends no time in the schemas.
VALIDATED_CACHE = CACHE_DIR / "schema-valid"


def schema_problems(obj: dict, kubernetes_version: str) -> list[ManifestProblem]:
    """Strict validation against the Kubernetes schema: unknown fields and unknown kinds fail."""
    checked = _redacted(obj)
    passed = VALIDATED_CACHE / key_of(checked, kubernetes_version, version("kubernetes-validate"))
    if passed.exists():
        return []
    try:
        kubernetes_validate.validate(checked, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        field = ".".join(str(part) for part in error.path) or "(object)"
        return [ManifestProblem(object_name(obj), field, error.message)]
    except kubernetes_validate.SchemaNotFoundError:
        return [ManifestProblem(object_name(obj), "apiVersion/kind",
                                f"{obj.get('apiVersion')} {obj.get('kind')} has no schema in Kubernetes "
                                f"{kubernetes_version}; kubewire applies only objects it can validate")]
    VALIDATED_CACHE.mkdir(parents=True, exist_ok=True)
    passed.touch()
    return []


def manifest_problems(spec: ClusterSpec, manifest: Manifest) -> list[ManifestProblem]:
    if manifest.addon is None:
        return kubeadm_checks(spec, list(manifest.objects))
    problems = [problem for obj in manifest.objects for problem in schema_problems(obj, spec.kubernetes_version)]
    return problems if manifest.secret else problems + manifest.addon.checks(spec, list(manifest.objects))


def render_all(spec: ClusterSpec) -> list[Manifest]:
    """Every add-on's manifest (enabled or not; disabled ones first, so their objects are deleted before
    a replacement is applied: both ingress controllers create the IngressClass, whose controller
    field cannot change) and kubeadm's configuration, validated.

    Raises ManifestError listing every problem, so nothing is applied from a bad render."""
    addons = sorted(ADDONS, key=lambda addon: addon.enabled(spec))
    manifests = []
    for addon in addons:
        # An enabled add-on's Secrets come first: its pods read them when they start.
        secrets = render_secrets(spec, addon) if addon.enabled(spec) else None
        manifests += [secrets, render_addon(spec, addon)] if secrets else [render_addon(spec, addon)]
    manifests.append(render_kubeadm_config(spec))
    problems = [problem for manifest in manifests for problem in manifest_problems(spec, manifest)]
    if problems:
        raise ManifestError(problems)
    return manifests


def write_manifests(manifests: list[Manifest], spec: ClusterSpec, out: Path) -> list[str]:
    """Write each enabled add-on's file (and kubeadm-config.yaml) into `out`; remove disabled ones'.
    Secrets are not written: the password stays only in the file the user keeps it in.

    Returns a line per file, saying what was done."""
    out.mkdir(parents=True, exist_ok=True)
    done = []
    for manifest in manifests:
        path = out / manifest.filename
        if manifest.secret:
            done.extend(f"{object_name(obj)}: not written (it holds a password); the addons role applies it, or "
                        f"create it yourself: kubectl create secret generic {obj['metadata']['name']} "
                        f"--namespace={obj['metadata']['namespace']} --from-file={obj['metadata']['name']}=FILE "
                        "(FILE without a trailing newline)" for obj in manifest.objects)
            continue
        if manifest.addon is not None and not manifest.addon.enabled(spec):
            path.unlink(missing_ok=True)
            done.append(f"{manifest.addon.name}: disabled ({manifest.addon.switched_by}), {path} not written")
            continue
        path.write_text(manifest.text)
        done.append(f"{path}: {len(manifest.objects)} objects")
    return done

