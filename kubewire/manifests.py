"""The cluster add-ons' manifests: rendered from the spec, validated offline, then applied.

Every add-on is a folder `templates/<name>/` holding `<name>.yaml.j2` (and the files it
includes) plus one `Addon` entry in `ADDONS` below. Rendering happens on the controller; every object is
checked against the Kubernetes schema of the spec's version (strict: unknown fields fail,
and an object with no schema fails), then by the add-on's own checks of what the schema
cannot know (the DNS Service's address is inside the service range, …). A problem stops the
run before anything is applied, naming the object and the field (one `ManifestError` with
every problem, kubewire/errors.py).

Here: the add-ons and the pipeline over them. One add-on's render and schema check are in
kubewire/manifest_render.py, the checks the schema cannot make in kubewire/manifest_checks.py.

kubeadm's own configuration kinds have no schema in kubernetes-validate, so
`kubeadm-config.yaml` gets semantic checks only.

A Secret (Weave's password) is kept out of every file: it is its own `Manifest` with
`secret=True`, which `kubewire render` does not write and the addons role pipes to kubectl on
stdin, so no diff, log or file on the controller ever holds it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import SecretBytes

from .errors import ManifestError, Problem
from .kubeadm import kubeadm_checks, render_kubeadm_config
from .manifest_checks import (
    coredns_checks,
    find,
    ingress_checks,
    kube_proxy_checks,
    object_name,
    weave_checks,
)
from .manifest_render import (
    FIELD_MANAGER,
    SECRET_FINGERPRINT,
    Addon,
    Manifest,
    parse_objects,
    render_addon,
    render_secrets,
    schema_problems,
)
from .settings import INGRESS_NAMESPACES
from .spec import ClusterSpec
from .versions import (
    INGRESS_NGINX_IMAGE,
    INGRESS_NGINX_KUBERNETES_MINORS,
    INGRESS_NGINX_VERSION,
    NGINX_INC_INGRESS_IMAGE,
    coredns_image,
    kube_proxy_image,
    weave_images,
)

# The pipeline's names, wherever they are defined: what roles, the CLI and the tests use.
__all__ = [
    "ADDONS", "FIELD_MANAGER", "SECRET_FINGERPRINT", "Addon", "Manifest", "ManifestError", "addon_warnings",
    "find", "manifest_problems", "object_name", "parse_objects", "render_addon",
    "render_all", "render_kubeadm_config", "render_secrets", "schema_problems", "write_manifests",
]

# kubeadm's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go): the forward plugin's limit
# on queries in flight, and, from 1.32 (kubernetes/kubernetes#128359), a cache that leaves the
# cluster domain to the kubernetes plugin.
COREDNS_FORWARD_MAX_CONCURRENT = 1000
COREDNS_CACHE_SKIPS_CLUSTER_DOMAIN_FROM_MINOR = 32
WEAVE_SECRET_NAME = "weave-passwd"  # the name and key upstream's Weave docs use
WEAVE_PASSWORD_SECRET = f"Secret kube-system/{WEAVE_SECRET_NAME}"


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
    def unusable(why: str) -> ManifestError:
        return ManifestError([Problem.in_object(WEAVE_PASSWORD_SECRET, "data.weave-passwd",
                                                f"weave_password_file {path} {why}")])

    try:
        password = Path(path).read_bytes().rstrip(b"\r\n")
    except OSError as error:
        raise unusable(f"cannot be read: {error.strerror}") from None
    if not password.strip():
        raise unusable("holds no password")
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
    return Addon(name, "ingress", lambda spec: image, ingress_checks(name),
                 is_enabled=lambda spec: spec.ingress.enabled and spec.ingress.controller == controller,
                 switch="ingress_enabled, ingress_controller",
                 context=lambda spec: {"namespace": namespace(spec), "leader_lease": leader_lease,
                                       "merged_tls": merged_tls},
                 own_namespace=namespace, leftovers=(f"Lease/{leader_lease}",))


ADDONS = (
    Addon("kube-proxy", "kube_proxy", lambda spec: kube_proxy_image(spec.kubernetes_version), kube_proxy_checks),
    Addon("coredns", "coredns", lambda spec: coredns_image(spec.minor), coredns_checks, context=_coredns_context),
    Addon("weave", "weave", lambda spec: weave_images(spec.weave.image_repo, spec.weave.image_tag)[0], weave_checks,
          is_enabled=lambda spec: spec.cni_plugin == "weave", switch="cni_plugin", context=_weave_context,
          secrets=_weave_secrets, also_deletes=("secret",)),
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


def manifest_problems(spec: ClusterSpec, manifest: Manifest) -> list[Problem]:
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

