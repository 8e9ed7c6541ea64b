"""Flannel as the cluster's CNI (`cni_plugin: flannel`): its add-on manifest's context and checks,
the CNI config the cni role writes on every node, and the plugin binary from the controller.

flanneld runs with `--kube-subnet-mgr`: each node's subnet is the podCIDR kube-controller-manager
puts on its Node object (kubeadm's config turns that allocation on, kubewire/kubeadm.py), so
kubewire's own per-node subnets, pod routes and pod masquerading do not apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import rbac
from .errors import Problem
from .manifest_checks import find, object_name, rbac_problems
from .spec import ClusterSpec
from .templates import render
from .versions import FLANNEL_CNI_PLUGIN_IMAGE, FLANNEL_IMAGE

# Upstream's names (Documentation/kustomization/kube-flannel/kube-flannel.yml, v0.27.4).
NAMESPACE = "kube-flannel"
DAEMONSET = "kube-flannel-ds"
CONFIG_MAP = "kube-flannel-cfg"
CONFLIST = "10-flannel.conflist"
PLUGIN = "flannel"  # the plugin's name in the CNI bin dir
# flanneld writes the node's subnet to subnet.env there (the DaemonSet's hostPath "run").
RUN_DIR = "/run/flannel"
SUBNET_ENV = f"{RUN_DIR}/subnet.env"
# The vxlan backend's device (flannel's backend/vxlan: "flannel.<VNI>", VNI 1 by default) and the
# bridge the plugin delegates to (the bridge plugin's default name, as flannel-io/cni-plugin passes none).
VXLAN_LINK = "flannel.1"
BRIDGE = "cni0"
# flanneld's iptables chains (pkg/trafficmngr/iptables/iptables.go: FLANNEL-POSTRTG in nat, jumped to
# from POSTROUTING, "flanneld masq"; FLANNEL-FWD in filter, from FORWARD, "flanneld forward").
CHAIN_PREFIX = "FLANNEL"


def image(spec: ClusterSpec) -> str:
    return FLANNEL_IMAGE


def net_conf(spec: ClusterSpec) -> dict[str, Any]:
    """net-conf.json: flannel's network is the pod network, each node's subnet a /node_pod_prefix."""
    return {"Network": str(spec.pod_cidr), "SubnetLen": spec.node_pod_prefix, "EnableNFTables": False,
            "Backend": {"Type": spec.flannel.backend}}


def context(spec: ClusterSpec) -> dict[str, Any]:
    return {"namespace": NAMESPACE, "net_conf_json": json.dumps(net_conf(spec), indent=2) + "\n",
            "run_dir": RUN_DIR, "cni_bin_dir": spec.nodes[0].cni.bin_dir,  # the same on every node (spec check)
            "plugin_from_image": spec.flannel.cni_plugin_source == "image",
            "cni_plugin_image": FLANNEL_CNI_PLUGIN_IMAGE}


def conflist() -> str:
    """The CNI config the cni role writes as <conf dir>/10-flannel.conflist."""
    return render("flannel", f"{CONFLIST}.j2")


def plugin_file(spec: ClusterSpec) -> tuple[Path, str] | None:
    """With flannel_cni_plugin_source 'file': the binary on the controller, verified, and its sha256."""
    from .cni_plugins import _verified as verified

    settings = spec.flannel
    if settings.cni_plugin_source != "file":
        return None
    path = Path(settings.cni_plugin_file).expanduser()
    return verified(path, settings.cni_plugin_sha256), settings.cni_plugin_sha256


def checks(spec: ClusterSpec, objects: list[dict]) -> list[Problem]:
    """What the schema cannot know: flannel's network is pod_cidr, its subnets the spec's size, its
    backend the one the firewall opens ports for, and its RBAC no broader than upstream's."""
    config_map, daemonset = find(objects, "ConfigMap", CONFIG_MAP), find(objects, "DaemonSet", DAEMONSET)
    missing = [Problem.in_object(f"{kind} {NAMESPACE}/{name}", "(object)", "is missing")
               for kind, name, obj in (("ConfigMap", CONFIG_MAP, config_map), ("DaemonSet", DAEMONSET, daemonset))
               if obj is None]
    if missing:
        return missing
    problems = rbac_problems(objects, rbac.ceiling("flannel"))
    try:
        found = json.loads((config_map.get("data") or {}).get("net-conf.json", ""))
    except ValueError as error:
        return [*problems, Problem.in_object(object_name(config_map), "data.net-conf.json", f"is not JSON: {error}")]
    wanted = net_conf(spec)
    for key, why in (("Network", "pod_cidr"), ("SubnetLen", "node_pod_prefix"), ("Backend", "flannel_backend")):
        if found.get(key) != wanted[key]:
            problems.append(Problem.in_object(object_name(config_map), f"data.net-conf.json.{key}",
                                              f"is {found.get(key)!r}, not {why} {wanted[key]!r}"))
    containers = (((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    args = next((container.get("args") or [] for container in containers if container.get("name") == "kube-flannel"),
                [])
    if "--kube-subnet-mgr" not in args:
        problems.append(Problem.in_object(object_name(daemonset), "containers[kube-flannel].args",
                                          f"{args} lacks --kube-subnet-mgr: flanneld must take each node's subnet "
                                          "from its Node's podCIDR"))
    return problems
