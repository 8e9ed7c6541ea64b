"""One add-on's manifest: what an add-on is (`Addon`), its rendered objects (`Manifest`), rendered
from its templates and labelled as kubewire's, its Secrets fingerprinted, and every object
validated strictly against the Kubernetes schema of the spec's version. The add-ons themselves
and the whole pipeline are in kubewire/manifests.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import version
from typing import Any

import yaml

from . import paths
from .cache import key_of
from .errors import Problem
from .manifest_checks import Check, object_name
from .spec import ClusterSpec
from .templates import render

# Every object kubewire applies carries both labels, so a disabled add-on is deleted by label.
MANAGED_BY = {"app.kubernetes.io/managed-by": "kubewire"}
ADDON_LABEL = "kubewire/addon"
FIELD_MANAGER = "kubewire"

# On each Secret kubewire applies: a slow, salted hash of the object, so a re-run can tell the
# Secret in the cluster is current without reading it (what a re-run prints holds no fast hash
# of a password either).
SECRET_FINGERPRINT = "kubewire/fingerprint"

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
        return Manifest(self.name, objects, dump(list(objects), self.name), self.addon, self.secret)


def _resource_type(obj: dict) -> str:
    group = obj["apiVersion"].rpartition("/")[0]
    return f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()


# libyaml's parser when PyYAML has it (its wheels do): the same safe loading, several times faster.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_objects(text: str) -> list[dict]:
    """The objects in a multi-document YAML text, with `kind: List` unpacked."""
    objects = []
    for document in yaml.load_all(text, Loader=SAFE_LOADER):
        if document and document.get("kind") == "List":
            objects += document.get("items") or []
        elif document:
            objects.append(document)
    return objects


def _labelled(obj: dict, addon: Addon) -> dict:
    metadata = obj.setdefault("metadata", {})
    metadata["labels"] = {**metadata.get("labels", {}), **addon.labels}
    return obj


def _block_strings(dumper_class: type) -> type:
    """Multi-line strings (the Corefile, kube-proxy's config) as readable `|` blocks."""
    dumper = type(f"Block{dumper_class.__name__}", (dumper_class,), {})
    dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))
    return dumper


# libyaml's emitter when PyYAML has it (four times faster); its text is the same as the Python
# emitter's (tests/unit/test_manifests.py), so controllers with and without it apply the same.
PYTHON_DUMPER = _block_strings(yaml.SafeDumper)
_Dumper = _block_strings(getattr(yaml, "CSafeDumper", yaml.SafeDumper))


def dump(objects: list[dict], source: str, dumper: type = _Dumper) -> str:
    header = f"# Rendered by kubewire from templates/{source}/; edit the spec, not this file.\n"
    return header + yaml.dump_all(objects, Dumper=dumper, sort_keys=False, explicit_start=True)


def render_addon(spec: ClusterSpec, addon: Addon) -> Manifest:
    text = render(addon.name, f"{addon.name}.yaml.j2", spec=spec, settings=addon.settings(spec),
                  image=addon.image(spec), ports=PORTS,
                  **addon.context(spec))
    objects = [_labelled(obj, addon) for obj in parse_objects(text)]
    return Manifest(addon.name, tuple(objects), dump(objects, addon.name), addon)


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


# What a Secret's values are validated as: an error message may quote the value it checked.
_REDACTED = base64.b64encode(b"redacted").decode()


def _redacted(obj: dict) -> dict:
    if obj.get("kind") != "Secret":
        return obj
    return {**obj, "data": dict.fromkeys(obj.get("data") or {}, _REDACTED)}


# An object that passed the schema once passes again: kept by content, Kubernetes version and
# validator version, so a re-run of an unchanged cluster spends no time in the schemas. Under
# paths.CACHE_DIR as it is when a check runs (tests move it).
VALIDATED_DIR_NAME = "schema-valid"


@cache
def _validator_version() -> str:
    return version("kubernetes-validate")


def schema_problems(obj: dict, kubernetes_version: str) -> list[Problem]:
    """Strict validation against the Kubernetes schema: unknown fields and unknown kinds fail."""
    checked = _redacted(obj)
    validated = paths.CACHE_DIR / VALIDATED_DIR_NAME
    passed = validated / key_of(checked, kubernetes_version, _validator_version())
    if passed.exists():
        return []
    import kubernetes_validate  # here: its schemas' import (jsonschema) is a re-run's cost only when it validates

    try:
        kubernetes_validate.validate(checked, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as error:
        field = ".".join(str(part) for part in error.path) or "(object)"
        return [Problem.in_object(object_name(obj), field, error.message)]
    except kubernetes_validate.SchemaNotFoundError:
        return [Problem.in_object(object_name(obj), "apiVersion/kind",
                                  f"{obj.get('apiVersion')} {obj.get('kind')} has no schema in Kubernetes "
                                  f"{kubernetes_version}; kubewire applies only objects it can validate")]
    validated.mkdir(parents=True, exist_ok=True)
    passed.touch()
    return []
