"""Which ports each kind of node must accept: one table, read by the firewall role and its tests.

Source: Kubernetes "Ports and Protocols"
(https://kubernetes.io/docs/reference/networking/ports-and-protocols/) and Weave Net's
"Network requirements" (TCP 6783 control, UDP 6783-6784 data).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NODE_PORT_FIRST, NODE_PORT_LAST = 30000, 32767  # kube-apiserver's --service-node-port-range default

# Who may connect: "any" address, or only the cluster's nodes (node network) -- pods are
# always allowed to reach their nodes.
Source = Literal["any", "nodes"]


@dataclass(frozen=True)
class PortRule:
    first: int
    last: int
    protocol: Literal["tcp", "udp"]
    source: Source
    purpose: str

    @property
    def ports(self) -> str:
        """nft syntax: 6443 or 2379-2380."""
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def __str__(self) -> str:
        return f"{self.ports}/{self.protocol}"


CONTROLPLANE_PORTS = (
    PortRule(6443, 6443, "tcp", "any", "Kubernetes API server"),
    PortRule(2379, 2380, "tcp", "nodes", "etcd server client API"),
    PortRule(10250, 10250, "tcp", "nodes", "kubelet API"),
    PortRule(10257, 10257, "tcp", "nodes", "kube-controller-manager"),
    PortRule(10259, 10259, "tcp", "nodes", "kube-scheduler"),
)
WORKER_PORTS = (
    PortRule(10250, 10250, "tcp", "nodes", "kubelet API"),
    PortRule(10256, 10256, "tcp", "nodes", "kube-proxy health check"),
    PortRule(NODE_PORT_FIRST, NODE_PORT_LAST, "tcp", "any", "NodePort Services"),
)
CNI_PORTS = {
    "bridge": (),
    "weave": (
        PortRule(6783, 6783, "tcp", "nodes", "Weave Net control"),
        PortRule(6783, 6784, "udp", "nodes", "Weave Net data (sleeve and fast datapath)"),
    ),
}


def required_ports(groups: frozenset[str], cni_plugin: str) -> tuple[PortRule, ...]:
    """The ports a node in these groups must accept, without duplicates, in table order."""
    rules: list[PortRule] = []
    for group, table in (("controlplane", CONTROLPLANE_PORTS), ("workers", WORKER_PORTS)):
        if group in groups:
            rules += [rule for rule in table if (rule.first, rule.last, rule.protocol) not in
                      {(r.first, r.last, r.protocol) for r in rules}]
    return tuple(rules) + CNI_PORTS[cni_plugin]
