"""What the Kubernetes schema cannot know about the add-ons' rendered objects: each add-on's own
checks (the DNS Service's address is inside the service range, kube-proxy's cluster CIDR is the
pod CIDR, the ingress node ports are the spec's, no Role grants more than upstream's), and the
helpers to find an object and a field in a render. Every problem names the object and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from ipaddress import IPv4Address
from typing import Any

import yaml

from . import rbac
from .errors import Problem
from .ports import NODE_PORT_FIRST, NODE_PORT_LAST
from .spec import ClusterSpec

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


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


def value_at(obj: dict, path: str) -> Any:
    for key in path.split("."):
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


# An add-on's own checks: its rendered objects in, the problems found out.
Check = Callable[[ClusterSpec, list[dict]], list[Problem]]


def kube_proxy_checks(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
    config_map = find(objects, "ConfigMap", "kube-proxy")
    if config_map is None:
        return [Problem.in_object("ConfigMap kube-system/kube-proxy", "(object)", "is missing")]
    config = yaml.safe_load(config_map["data"]["config.conf"])
    problems = []
    if config.get("clusterCIDR") != str(spec.pod_cidr):
        problems.append(Problem.in_object(object_name(config_map), "data.config.conf.clusterCIDR",
                                          f"is {config.get('clusterCIDR')!r}, not pod_cidr {spec.pod_cidr}"))
    if config.get("mode") != spec.kube_proxy_mode:
        problems.append(Problem.in_object(object_name(config_map), "data.config.conf.mode",
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


def coredns_checks(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
    service = find(objects, "Service", "kube-dns")
    if service is None:
        return [Problem.in_object("Service kube-system/kube-dns", "(object)", "is missing")]
    problem = dns_address_problem(spec, service["spec"].get("clusterIP"))
    return [Problem.in_object(object_name(service), "spec.clusterIP", problem)] if problem else []


def _rbac_problems(objects: list[dict], allowed: set[rbac.Triple]) -> list[Problem]:
    """Grants of the Roles and ClusterRoles beyond upstream's own for the features switched on."""
    problems = []
    for obj in objects:
        extra = sorted(rbac.rendered_triples([obj]) - allowed)
        if extra:
            grants = ", ".join(f"{verb} {group or 'core'}/{resource}" for group, resource, verb in extra)
            problems.append(Problem.in_object(object_name(obj), "rules",
                                              f"grants {grants}, beyond upstream's own RBAC (kubewire/rbac.py)"))
    return problems


def _container_env(pod_owner: dict, container: str) -> dict[str, Any]:
    """A container's env by name: the value, or the valueFrom source."""
    containers = value_at(pod_owner, "spec.template.spec.containers") or []
    env = next((item.get("env") or [] for item in containers if item.get("name") == container), [])
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in env}


def weave_checks(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
    daemonset = find(objects, "DaemonSet", "weave-net")
    if daemonset is None:
        return [Problem.in_object("DaemonSet kube-system/weave-net", "(object)", "is missing")]
    problems = _rbac_problems(objects, rbac.ceiling("weave"))
    ipalloc = _container_env(daemonset, "weave").get("IPALLOC_RANGE")
    if ipalloc != str(spec.pod_cidr):
        problems.append(Problem.in_object(object_name(daemonset), "containers[weave].env.IPALLOC_RANGE",
                                          f"is {ipalloc!r}, not pod_cidr {spec.pod_cidr} (Weave would allocate pod "
                                          "addresses from its own default, 10.32.0.0/12, unknown to kube-proxy)"))
    return problems


def ingress_checks(addon: str) -> Check:
    def check(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
        return (_node_port_problems(spec, objects) + _ingress_class_problems(spec, objects)
                + _rbac_problems(objects, rbac.ceiling(addon, spec.ingress.custom_resources)))
    return check


def _node_port_problems(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
    service = next((obj for obj in objects if obj["kind"] == "Service" and obj["spec"].get("type") == "NodePort"), None)
    if service is None:
        return [Problem.in_object("Service (NodePort)", "(object)", "is missing")]
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
            problems.append(Problem.in_object(object_name(service), field_name, message))
        seen.add(node_port)
    return problems


def _ingress_class_problems(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
    classes = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "IngressClass"}
    if spec.ingress.class_name not in classes:
        return [Problem.in_object(f"IngressClass {spec.ingress.class_name}", "(object)", "is missing")]
    problems = []
    default = (classes[spec.ingress.class_name]["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION)
    if (default == "true") != spec.ingress.default_class:
        problems.append(Problem.in_object(f"IngressClass {spec.ingress.class_name}",
                                          f"metadata.annotations.{DEFAULT_CLASS_ANNOTATION}",
                                          f"is {default!r}, but ingress_default_class is {spec.ingress.default_class}"))
    for ingress in (obj for obj in objects if obj["kind"] == "Ingress"):
        if ingress["spec"].get("ingressClassName") not in classes:
            problems.append(Problem.in_object(object_name(ingress), "spec.ingressClassName",
                                              f"{ingress['spec'].get('ingressClassName')!r} is not an IngressClass "
                                              f"kubewire creates ({', '.join(classes)})"))
    return problems
