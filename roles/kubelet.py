"""Role `kubelet`: where a node runs a kubelet, its cluster DNS settings match the spec.

Pods get `dns_service_ip` as their nameserver and `cluster_domain` as their search domain from
the kubelet's `clusterDNS` and `clusterDomain`: the same values CoreDNS's Service and
`kubeadm-config.yaml` are rendered from. Nodes without a kubelet configuration are left alone.
It has no settings of its own: it follows `dns_service_ip` and `cluster_domain`.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import systemd

from kubewire import operations
from kubewire.facts import first_line, lines, node_probed
from kubewire.inventory import cluster_spec

KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"


def kubelet_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes (the same for every host)."""
    return (("config present", f"test -e {KUBELET_CONFIG} && echo yes"), ("config", f"cat {KUBELET_CONFIG}"))


@deploy("Kubelet")
def kubelet() -> None:
    probed = node_probed("kubelet", kubelet_node_probes(host.name))
    present = first_line(probed, "config present") == "yes"
    current = lines(probed, "config") if present else None
    wanted = cluster_spec().kubelet_dns
    steps = [operations.step("Set the kubelet's clusterDNS and clusterDomain from the spec",
                             operations.yaml_settings, path=KUBELET_CONFIG, wanted=wanted, current_lines=current)]
    if current is not None and operations.with_settings("\n".join(current), wanted) is not None:
        steps.append(operations.step("Restart the kubelet", systemd.service, service="kubelet", running=True,
                                     restarted=True))
    operations.checks(name="The kubelet's clusterDNS and clusterDomain (restarted when they change)", steps=steps)
