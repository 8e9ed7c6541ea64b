"""Which ports each kind of node must accept: one table, read by the firewall role and its tests.

Sources:
- Kubernetes "Ports and Protocols"
  (https://kubernetes.io/docs/reference/networking/ports-and-protocols/): control plane 6443
  (All), 2379-2380 (kube-apiserver, etcd), 10250 (Self, Control plane), 10259 and 10257 (Self
  only: kubeadm binds the scheduler and controller-manager to 127.0.0.1, which loopback already
  admits); worker nodes 10250, 10256 kube-proxy (Self, Load balancers), 30000-32767 NodePorts (All).
- Weave Net's FAQ "Which ports does Weave Net use"
  (https://github.com/weaveworks/weave/blob/master/site/faq.md#ports): TCP 6783, UDP 6783-6784,
  and "when using encrypted fast datapath, make sure that underlying network does not block ESP
  traffic (IP protocol 50)".
- flannel (flannel-io/flannel Documentation/troubleshooting.md, "Firewalls"): "When using `vxlan`
  backend, kernel uses UDP port 8472 for sending encapsulated packets. Make sure that your firewall
  rules allow this traffic for all hosts participating in the overlay network"; host-gw
  (Documentation/backends.md) routes pod packets via the nodes' addresses, unencapsulated.
- kube-proxy's ipvs mode: IPVS takes Service traffic in the INPUT hook, after the filter chain
  (https://kubernetes.io/docs/reference/networking/virtual-ips/#proxy-mode-ipvs), so the input
  chain must accept what is addressed to Services and NodePorts; the iptables and nftables modes
  DNAT in prerouting, before the input chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

NODE_PORT_FIRST, NODE_PORT_LAST = 30000, 32767  # kube-apiserver's --service-node-port-range default
KUBE_PROXY_HEALTH_PORT = 10256  # KubeProxyConfiguration healthzBindAddress's default port

# Who may connect: "any" address, the cluster's nodes (node network), the controlplane nodes
# only, or the listed networks (a tuple of CIDRs).
Source = Literal["any", "nodes", "controlplane"] | tuple[str, ...]
Protocol = Literal["tcp", "udp", "esp"]


@dataclass(frozen=True)
class PortRule:
    first: int
    last: int
    protocol: Protocol
    source: Source
    purpose: str

    @property
    def ports(self) -> str:
        """nft syntax: 6443 or 2379-2380."""
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    @property
    def has_ports(self) -> bool:
        return self.protocol in ("tcp", "udp")

    @property
    def nft_match(self) -> str:
        """The rule's match in nft syntax, source first: `ip saddr @node_network tcp dport 2379-2380`."""
        if self.source == "nodes":
            source = "ip saddr @node_network "
        elif self.source == "controlplane":
            source = "ip saddr @controlplane_nodes "
        elif isinstance(self.source, tuple):
            source = "ip saddr { " + ", ".join(self.source) + " } "
        else:
            source = ""
        what = f"{self.protocol} dport {self.ports}" if self.has_ports else f"meta l4proto {self.protocol}"
        return source + what

    def __str__(self) -> str:
        return f"{self.ports}/{self.protocol}" if self.has_ports else self.protocol


CONTROLPLANE_PORTS = (
    PortRule(6443, 6443, "tcp", "any", "Kubernetes API server"),
    # Used by kube-apiserver and etcd, which run on the controlplane nodes.
    PortRule(2379, 2380, "tcp", "controlplane", "etcd server client API"),
    PortRule(10250, 10250, "tcp", "controlplane", "kubelet API"),  # Self, Control plane
)
WORKER_PORTS = (
    PortRule(10250, 10250, "tcp", "controlplane", "kubelet API"),  # Self, Control plane
    PortRule(KUBE_PROXY_HEALTH_PORT, KUBE_PROXY_HEALTH_PORT, "tcp", "nodes", "kube-proxy health check"),
    PortRule(NODE_PORT_FIRST, NODE_PORT_LAST, "tcp", "any", "NodePort Services"),
)
CNI_PORTS = {
    "bridge": (),
    "flannel": (),  # the backend's: FLANNEL_PORTS
    "weave": (
        PortRule(6783, 6783, "tcp", "nodes", "Weave Net control"),
        PortRule(6783, 6784, "udp", "nodes", "Weave Net data (sleeve and fast datapath)"),
    ),
}
# The flannel backend's ports, by flannel_backend.
FLANNEL_PORTS = {
    "vxlan": (PortRule(8472, 8472, "udp", "nodes", "flannel VXLAN"),),
    "host-gw": (),
}
WEAVE_ENCRYPTED = PortRule(0, 0, "esp", "nodes", "Weave Net encrypted fast datapath (IPsec ESP)")
# In ipvs mode IPVS answers NodePorts on every node, TCP and UDP, after the input chain.
IPVS_NODE_PORTS = (
    PortRule(NODE_PORT_FIRST, NODE_PORT_LAST, "tcp", "any", "NodePort Services (ipvs)"),
    PortRule(NODE_PORT_FIRST, NODE_PORT_LAST, "udp", "any", "NodePort Services (ipvs)"),
)


def required_ports(groups: frozenset[str], cni_plugin: str, *, kube_proxy_mode: str = "iptables",
                   weave_encrypted: bool = False, kube_proxy_health_from: Source = "nodes",
                   flannel_backend: str = "vxlan") -> tuple[PortRule, ...]:
    """The rules a node in these groups must have, without duplicates, in table order."""
    rules: list[PortRule] = []
    for group, table in (("controlplane", CONTROLPLANE_PORTS), ("workers", WORKER_PORTS)):
        if group in groups:
            rules += [rule for rule in table if (rule.first, rule.last, rule.protocol) not in
                      {(r.first, r.last, r.protocol) for r in rules}]
    rules = [PortRule(r.first, r.last, r.protocol, kube_proxy_health_from, r.purpose)
             if r.first == KUBE_PROXY_HEALTH_PORT else r for r in rules]
    if kube_proxy_mode == "ipvs":
        rules = [r for r in rules if not (r.first, r.last) == (NODE_PORT_FIRST, NODE_PORT_LAST)]
        rules += IPVS_NODE_PORTS
    rules += CNI_PORTS[cni_plugin]
    if cni_plugin == "flannel":
        rules += FLANNEL_PORTS[flannel_backend]
    if cni_plugin == "weave" and weave_encrypted:
        rules.append(WEAVE_ENCRYPTED)
    return tuple(rules)


def node_rules(spec, node) -> tuple[PortRule, ...]:
    """Every rule of this node: its groups', its CNI's, its mode's and `firewall_extra_ports`."""
    return required_ports(node.groups, spec.cni_plugin, kube_proxy_mode=spec.kube_proxy_mode,
                          weave_encrypted=spec.weave.password_file is not None,
                          kube_proxy_health_from=node.firewall.kube_proxy_health_from,
                          flannel_backend=spec.flannel.backend) + tuple(node.firewall.extra_ports)
