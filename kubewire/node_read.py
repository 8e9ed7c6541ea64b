"""The sections of a node's whole-state read: the checks' probes and every role's, read in ONE remote
command per host by deploys/cluster.py (`kubewire.facts.read_together`); each role then takes its own."""

from __future__ import annotations

from collections.abc import Callable

from .facts import ProbeList


def node_sections() -> dict[str, Callable[[str], ProbeList]]:
    from .identity import identity_node_probes
    from .roles.addons import addons_node_probes
    from .roles.cni import cni_node_probes
    from .roles.containerd import containerd_node_probes
    from .roles.firewall import firewall_node_probes
    from .roles.hosts import hosts_node_probes
    from .roles.kubeadm import kubeadm_node_probes
    from .roles.kubelet import kubelet_node_probes
    from .roles.prereqs import prereqs_node_probes

    return {"checks": identity_node_probes, "hosts": hosts_node_probes, "prereqs": prereqs_node_probes,
            "firewall": firewall_node_probes, "containerd": containerd_node_probes, "cni": cni_node_probes,
            "kubeadm": kubeadm_node_probes, "kubelet": kubelet_node_probes, "addons": addons_node_probes}
