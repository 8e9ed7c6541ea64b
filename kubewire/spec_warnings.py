"""The spec's warnings: what is allowed but probably not meant.

`kubewire check`, `kubewire render` and the deploy print them; they never stop a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import Problem

if TYPE_CHECKING:
    from .spec import ClusterSpec

# Upstream deprecated kube-proxy's ipvs mode in this minor (KEP-5495); kubewire warns about it.
IPVS_DEPRECATED_MINOR = 35
# What each ingress controller reads from Ingress annotations (other prefixes it ignores):
# NGINX Inc's nginx.org/* (docs.nginx.com, "Advanced configuration with Annotations") and
# ingress-nginx's nginx.ingress.kubernetes.io/* (kubernetes.github.io/ingress-nginx, "Annotations").
INGRESS_ANNOTATION_PREFIXES = {"nginx-inc": "nginx.org/", "ingress-nginx": "nginx.ingress.kubernetes.io/"}


def warnings(spec: ClusterSpec) -> list[Problem]:
    """What is allowed but probably not meant."""
    found = []
    if spec.kube_proxy_mode == "ipvs":
        found.append(Problem("kube_proxy_mode", "ipvs",
            f"upstream deprecated kube-proxy's ipvs mode in Kubernetes 1.{IPVS_DEPRECATED_MINOR}; "
            "plan a move to nftables"))
    if spec.kube_proxy_mode != "ipvs":
        for name in sorted({"ipvs_scheduler", "ipvs_strict_arp"} & spec.kube_proxy.model_fields_set):
            found.append(Problem(f"kube_proxy_{name}", getattr(spec.kube_proxy, name),
                f"has no effect: kube_proxy_mode is {spec.kube_proxy_mode}, not ipvs"))
    if not spec.kube_proxy.enabled:
        # Neither kubewire's bridge CNI nor Weave Net implements Services themselves.
        found.append(Problem("kube_proxy_enabled", False,
            f"no Service (ClusterIP, NodePort, the 'kubernetes' API service) works without kube-proxy, and "
            f"cni_plugin {spec.cni_plugin!r} does not replace it; keep it unless you install a CNI that does"))
    if spec.cni_plugin == "bridge":
        found.append(Problem("cni_plugin", "bridge",
            "NetworkPolicy is not enforced: the bridge CNI has no policy controller, so every pod reaches "
            "every other pod whatever policies say; use cni_plugin 'weave' (or another CNI) to enforce them"))
    if spec.cni_plugin == "flannel":
        # flannel's README: "Flannel is focused on networking. For network policy, other projects such as
        # Calico can be used."
        found.append(Problem("cni_plugin", "flannel",
            "NetworkPolicy is not enforced: flannel has no policy controller; use cni_plugin 'weave' (or add "
            "a policy engine) to enforce them"))
    if spec.cni_plugin == "weave":
        found.append(Problem("cni_plugin", "weave",
            "Weave Net is archived upstream (Weaveworks shut down in 2024): no fixes, not even for security; "
            "pin a maintained fork with weave_image_repo and plan a migration"))
        if spec.kube_proxy.masquerade_all:
            # Weave Net's docs ("Things to watch out for", site/kubernetes/kube-addon.md).
            found.append(Problem("kube_proxy_masquerade_all", True,
                "breaks Weave Net's network policy: every pod-to-pod connection through a Service gets the "
                "node's source address, so policies cannot tell pods apart (Weave Net's docs say not to)"))
    if spec.ingress.enabled and spec.ingress.controller == "ingress-nginx":
        found.append(Problem("ingress_controller", "ingress-nginx",
            "ingress-nginx is retired upstream (no fixes since March 2026); prefer nginx-inc or plan a "
            "move to the Gateway API"))
    found += _foreign_annotation_warnings(spec)
    return found


def _foreign_annotation_warnings(spec: ClusterSpec) -> list[Problem]:
    if not spec.ingress.enabled:
        return []
    controller = spec.ingress.controller
    found = []
    for ingress in spec.ingress.resources:
        for other, prefix in INGRESS_ANNOTATION_PREFIXES.items():
            foreign = sorted(key for key in ingress.annotations if other != controller and key.startswith(prefix))
            if foreign:
                found.append(Problem(f"ingress_resources.{ingress.name}.annotations", foreign,
                    f"are {other}'s annotations, which ingress_controller {controller!r} ignores; "
                    f"use its own {INGRESS_ANNOTATION_PREFIXES[controller]}* annotations"))
    return found

