"""RBAC of the add-ons' controllers: upstream's grants (the ceiling) and what each really needs.

Rules are compared flattened to (apiGroup, resource, verb) triples, ignoring resourceNames
(a named rule grants less than the same rule unnamed, never more) and whether it comes from a
Role or a ClusterRole. Rendered rules must stay within upstream's own for the features switched
on (a manifest check, kubewire/manifests.py); the tests also check that they hold everything the
controller needs.
"""

from __future__ import annotations

from collections.abc import Iterable

Triple = tuple[str, str, str]  # (apiGroup, resource, verb); "" is the core group
# ((apiGroups), (resources), (verbs)): one RBAC rule, written compactly.
Rule = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]

READ = ("get", "list", "watch")


def triples_of(rules: Iterable[Rule]) -> set[Triple]:
    return {(group, resource, verb) for groups, resources, verbs in rules
            for group in groups for resource in resources for verb in verbs}


def rendered_triples(objects: Iterable[dict]) -> set[Triple]:
    """Every permission the Roles and ClusterRoles among `objects` grant."""
    return triples_of((tuple(rule.get("apiGroups", ())), tuple(rule.get("resources", ())), tuple(rule["verbs"]))
                      for obj in objects if obj.get("kind") in ("Role", "ClusterRole")
                      for rule in obj.get("rules") or ())


# Weave Net 2.8.1: the ClusterRole and Role of weave-daemonset-k8s.yaml (prog/weave-kube/
# weave-daemonset-k8s-1.11.yaml in weaveworks/weave).
WEAVE_UPSTREAM: tuple[Rule, ...] = (
    (("",), ("pods", "namespaces", "nodes"), READ),
    (("extensions",), ("networkpolicies",), READ),
    (("networking.k8s.io",), ("networkpolicies",), READ),
    (("",), ("nodes/status",), ("patch", "update")),
    (("",), ("configmaps",), ("get", "update", "create")),  # the Role: weave-net's own ConfigMap
)
# extensions/v1beta1 NetworkPolicy was removed in Kubernetes 1.16; weave-npc reads networking.k8s.io's.
WEAVE_NEEDS = triples_of(rule for rule in WEAVE_UPSTREAM if rule[0] != ("extensions",))

# NGINX Inc's controller: the ClusterRole of deployments/rbac/rbac.yaml in nginx/kubernetes-ingress
# (v5.5; the Helm chart's templates/clusterrole.yaml and controller-role.yaml split the same
# grants by feature).
NGINX_INC_UPSTREAM: tuple[Rule, ...] = (
    (("discovery.k8s.io",), ("endpointslices",), READ),
    (("apps",), ("replicasets", "daemonsets", "statefulsets"), ("get",)),
    (("",), ("services",), (*READ, "create", "update", "patch", "delete")),
    (("",), ("secrets",), READ),
    (("",), ("configmaps",), (*READ, "update", "create")),
    (("",), ("pods",), (*READ, "update")),
    (("",), ("namespaces",), READ),
    (("",), ("nodes",), ("list",)),
    (("",), ("events",), ("create", "patch", "list")),
    (("coordination.k8s.io",), ("leases",), (*READ, "update", "create")),
    (("networking.k8s.io",), ("ingresses",), READ),
    (("networking.k8s.io",), ("ingresses/status",), ("update",)),
    (("networking.k8s.io",), ("ingressclasses",), ("get", "list")),
    (("k8s.nginx.org",), ("virtualservers", "virtualserverroutes", "globalconfigurations", "transportservers",
                          "policies"), READ),
    (("k8s.nginx.org",), ("virtualservers/status", "virtualserverroutes/status", "policies/status",
                          "transportservers/status", "dnsendpoints/status"), ("update",)),
    (("cis.f5.com",), ("ingresslinks",), READ),
    (("cert-manager.io",), ("certificates",), (*READ, "update", "create", "delete")),
    (("externaldns.nginx.org", "externaldns.k8s.io"), ("dnsendpoints",), (*READ, "update", "create", "delete")),
    (("externaldns.nginx.org", "externaldns.k8s.io"), ("dnsendpoints/status",), ("update",)),
)
# API groups of features kubewire leaves off (IngressLink, cert-manager, ExternalDNS); with
# custom resources off, k8s.nginx.org too.
NGINX_INC_FEATURE_GROUPS = {"cis.f5.com", "cert-manager.io", "externaldns.nginx.org", "externaldns.k8s.io"}
NGINX_INC_CUSTOM_RESOURCE_GROUP = "k8s.nginx.org"

# What it does with Ingresses only (kubewire runs it with telemetry off, so no nodes list or
# apps/* get, which only feed the telemetry report; leader election for status reporting):
NGINX_INC_NEEDS = triples_of((
    (("",), ("services", "secrets", "pods", "namespaces"), READ),  # backends, TLS, own pod, watched namespaces
    (("",), ("configmaps",), READ),  # its ConfigMap (a Role: its own namespace)
    (("",), ("pods",), ("update",)),  # labels its own pod with its version (a Role)
    (("",), ("events",), ("create", "patch")),  # client-go's event recorder
    (("discovery.k8s.io",), ("endpointslices",), READ),
    (("networking.k8s.io",), ("ingresses",), READ),
    (("networking.k8s.io",), ("ingresses/status",), ("update",)),  # -report-ingress-status
    (("networking.k8s.io",), ("ingressclasses",), ("get",)),  # checks its class exists at start
    (("coordination.k8s.io",), ("leases",), (*READ, "update", "create")),  # leader election (a Role)
))
# With custom resources on: VirtualServer(Route), TransportServer and Policy, and their status.
NGINX_INC_CUSTOM_RESOURCE_NEEDS = triples_of((
    (("",), ("events",), ("list",)),  # as deployments/rbac/rbac.yaml grants it
    (("k8s.nginx.org",), ("virtualservers", "virtualserverroutes", "transportservers", "policies"), READ),
    (("k8s.nginx.org",), ("virtualservers/status", "virtualserverroutes/status", "transportservers/status",
                          "policies/status"), ("update",)),
))


def nginx_inc_ceiling(custom_resources: bool) -> set[Triple]:
    off = NGINX_INC_FEATURE_GROUPS | (set() if custom_resources else {NGINX_INC_CUSTOM_RESOURCE_GROUP})
    return {triple for triple in triples_of(NGINX_INC_UPSTREAM) if triple[0] not in off}


def nginx_inc_needs(custom_resources: bool) -> set[Triple]:
    return NGINX_INC_NEEDS | (NGINX_INC_CUSTOM_RESOURCE_NEEDS if custom_resources else set())


# ingress-nginx controller-v1.14.5: the controller's ClusterRole and Role in
# deploy/static/provider/baremetal/deploy.yaml (the admission webhook's, which kubewire does not
# deploy, left out). The controller needs all of it.
INGRESS_NGINX_UPSTREAM: tuple[Rule, ...] = (
    # ClusterRole ingress-nginx
    (("",), ("configmaps", "endpoints", "nodes", "pods", "secrets", "namespaces"), ("list", "watch")),
    (("coordination.k8s.io",), ("leases",), ("list", "watch")),
    (("",), ("nodes",), ("get",)),
    (("",), ("services",), READ),
    (("networking.k8s.io",), ("ingresses",), READ),
    (("",), ("events",), ("create", "patch")),
    (("networking.k8s.io",), ("ingresses/status",), ("update",)),
    (("networking.k8s.io",), ("ingressclasses",), READ),
    (("discovery.k8s.io",), ("endpointslices",), READ),
    # Role ingress-nginx (its namespace)
    (("",), ("namespaces",), ("get",)),
    (("",), ("configmaps", "pods", "secrets", "endpoints"), READ),
    (("coordination.k8s.io",), ("leases",), ("get", "update", "create")),
)
INGRESS_NGINX_NEEDS = triples_of(INGRESS_NGINX_UPSTREAM)


# Flannel v0.27.4: the ClusterRole flannel of Documentation/kustomization/kube-flannel/kube-flannel.yml
# (flannel-io/flannel). flanneld reads its own pod, lists and watches nodes (their podCIDR and its
# peers' annotations), and patches its node's status (NetworkUnavailable) and annotations.
FLANNEL_UPSTREAM: tuple[Rule, ...] = (
    (("",), ("pods",), ("get",)),
    (("",), ("nodes",), READ),
    (("",), ("nodes/status",), ("patch",)),
)
FLANNEL_NEEDS = triples_of(FLANNEL_UPSTREAM)


def ceiling(addon: str, custom_resources: bool = False) -> set[Triple]:
    """Upstream's grants for the add-on's controller with these features: no render may exceed them."""
    return {"weave": triples_of(WEAVE_UPSTREAM), "flannel": triples_of(FLANNEL_UPSTREAM),
            "nginx-ingress": nginx_inc_ceiling(custom_resources),
            "ingress-nginx": triples_of(INGRESS_NGINX_UPSTREAM)}[addon]


def needs(addon: str, custom_resources: bool = False) -> set[Triple]:
    """What the add-on's controller needs with these features."""
    return {"weave": WEAVE_NEEDS, "flannel": FLANNEL_NEEDS, "nginx-ingress": nginx_inc_needs(custom_resources),
            "ingress-nginx": INGRESS_NGINX_NEEDS}[addon]
