"""Role `kubelet`: where a node runs a kubelet, its cluster DNS settings match the spec.

Pods get `dns_service_ip` as their nameserver and `cluster_domain` as their search domain from
the kubelet's `clusterDNS` and `clusterDomain`: the same values CoreDNS's Service and
`kubeadm-config.yaml` are rendered from. Nodes without a kubelet configuration are left alone.
It has no settings of its own: it follows `dns_service_ip` and `cluster_domain`.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents
from pyinfra.operations import systemd

from kubewire import operations
from kubewire.inventory import cluster_spec

KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"


@deploy("Kubelet")
def kubelet() -> None:
    upload = operations.yaml_settings(name="Set the kubelet's clusterDNS and clusterDomain from the spec",
                                      path=KUBELET_CONFIG, wanted=cluster_spec().kubelet_dns,
                                      current_lines=host.get_fact(FileContents, path=KUBELET_CONFIG))
    systemd.service(name="Restart the kubelet", service="kubelet", running=True, restarted=True,
                    _if=upload.did_change)
