"""kubeadm's configuration, rendered from the spec: what `kubeadm init` runs with on the first
controlplane node (InitConfiguration, ClusterConfiguration, KubeletConfiguration) and what every
other node joins with (JoinConfiguration).

kubeadm's kinds have no schema in kubernetes-validate, so the rendered values kubewire relies on
are checked here instead (`kubeadm_checks`).
"""

from __future__ import annotations

from typing import Any

from .errors import Problem
from .manifest_checks import find, object_name, value_at
from .manifest_render import Manifest, parse_objects
from .spec import API_SERVER_PORT, ClusterSpec, NodeSpec
from .templates import render
from .versions import kubernetes_release

KUBEADM_CONFIG = "kubeadm-config"
# containerd's CRI socket (kubeadm's nodeRegistration.criSocket).
CRI_SOCKET = "unix:///run/containerd/containerd.sock"
# The token kubeadm init makes for itself: nodes join with one made per run instead.
INIT_TOKEN_TTL = "15m0s"


def kubeadm_api(spec: ClusterSpec) -> str:
    return spec.kubeadm_api_version


def cgroup_driver(node: NodeSpec) -> str:
    """The kubelet's cgroupDriver must match containerd's SystemdCgroup."""
    return "systemd" if node.containerd.systemd_cgroup else "cgroupfs"


def cert_sans(spec: ClusterSpec) -> list[str]:
    """The API server certificate's extra names: the endpoint's host and every controlplane address."""
    endpoint_host = spec.api_server_endpoint.rpartition(":")[0]
    return list(dict.fromkeys([endpoint_host, *(str(node.node_ip) for node in spec.controlplane)]))


def init_config_text(spec: ClusterSpec) -> str:
    node = spec.controlplane[0]
    return render("kubeadm", f"{KUBEADM_CONFIG}.yaml.j2", spec=spec, node=node, kubeadm_api=kubeadm_api(spec),
                  kubernetes_release=kubernetes_release(spec.kubernetes_version), api_server_port=API_SERVER_PORT,
                  cri_socket=CRI_SOCKET, init_token_ttl=INIT_TOKEN_TTL, cert_sans=cert_sans(spec),
                  cgroup_driver=cgroup_driver(node), upload_certs=len(spec.controlplane) > 1)


def render_kubeadm_config(spec: ClusterSpec) -> Manifest:
    text = init_config_text(spec)
    return Manifest(KUBEADM_CONFIG, tuple(parse_objects(text)), text)


def join_config_text(spec: ClusterSpec, node: NodeSpec, token: str, ca_cert_hash: str,
                     certificate_key: str | None) -> str:
    """A node's JoinConfiguration; holds the secret token (and certificate key): never logged or kept."""
    return render("kubeadm", "join.yaml.j2", spec=spec, node=node, kubeadm_api=kubeadm_api(spec),
                  api_server_port=API_SERVER_PORT, cri_socket=CRI_SOCKET, token=token, ca_cert_hash=ca_cert_hash,
                  certificate_key=certificate_key)


def extra_args(obj: dict, path: str) -> dict[str, str]:
    """extraArgs / kubeletExtraArgs as a dict, from v1beta3's map or v1beta4's list of {name, value}."""
    found = value_at(obj, path)
    if isinstance(found, list):
        return {item.get("name"): item.get("value") for item in found if isinstance(item, dict)}
    return dict(found) if isinstance(found, dict) else {}


def kubeadm_checks(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
    """kubeadm's kinds have no published schema: check the values kubewire sets in them."""
    init = find(objects, "InitConfiguration") or {"kind": "InitConfiguration"}
    cluster = find(objects, "ClusterConfiguration") or {"kind": "ClusterConfiguration"}
    kubelet = find(objects, "KubeletConfiguration") or {"kind": "KubeletConfiguration"}
    first = spec.controlplane[0]
    expected: list[tuple[dict, str, Any]] = [
        (cluster, "apiVersion", f"kubeadm.k8s.io/{kubeadm_api(spec)}"),
        (init, "apiVersion", f"kubeadm.k8s.io/{kubeadm_api(spec)}"),
        (init, "localAPIEndpoint.advertiseAddress", str(first.node_ip)),
        (cluster, "controlPlaneEndpoint", spec.api_server_endpoint),
        (cluster, "networking.podSubnet", str(spec.pod_cidr)),
        (cluster, "networking.serviceSubnet", str(spec.service_cidr)),
        (cluster, "networking.dnsDomain", spec.cluster_domain),
        *((kubelet, key, value) for key, value in spec.kubelet_dns.items()),
    ]
    problems = []
    for obj, path, want in expected:
        found = value_at(obj, path)
        if found != want:
            problems.append(Problem.in_object(object_name(obj), path, f"is {found!r}, the spec says {want!r}"))
    node_ip = extra_args(init, "nodeRegistration.kubeletExtraArgs").get("node-ip")
    if node_ip != str(first.node_ip):
        problems.append(Problem.in_object(object_name(init), "nodeRegistration.kubeletExtraArgs.node-ip",
                                          f"is {node_ip!r}, the spec says {str(first.node_ip)!r}"))
    if not set(cert_sans(spec)) <= set(value_at(cluster, "apiServer.certSANs") or []):
        problems.append(Problem.in_object(object_name(cluster), "apiServer.certSANs",
                                          f"lacks some of {cert_sans(spec)}: the API server's certificate must name "
                                          "the endpoint every kubeconfig uses"))
    if extra_args(cluster, "controllerManager.extraArgs").get("allocate-node-cidrs") != "false":
        problems.append(Problem.in_object(object_name(cluster), "controllerManager.extraArgs.allocate-node-cidrs",
                                          "must be 'false': kubewire sets each node's podCIDR to its own pod subnet"))
    return problems
