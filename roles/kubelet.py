"""Role `kubelet`: where a node runs a kubelet, its cluster DNS settings match the spec.

Pods get `dns_service_ip` as their nameserver and `cluster_domain` as their search domain from
the kubelet's `clusterDNS` and `clusterDomain`: the same values CoreDNS's Service and
`kubeadm-config.yaml` are rendered from. Nodes without a kubelet configuration are left alone.
"""

from io import StringIO

import yaml
from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.facts.files import FileContents
from pyinfra.operations import files, systemd

from kubewire.inventory import cluster_spec
from kubewire.manifests import kubelet_dns_settings
from kubewire.spec import ClusterSpec

DEFAULTS: dict = {}  # no settings of its own: it follows dns_service_ip and cluster_domain
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"


def config_with_cluster_dns(current: str, spec: ClusterSpec) -> str | None:
    """The kubelet configuration with the spec's clusterDNS and clusterDomain, or None when it has them."""
    config = yaml.safe_load(current) or {}
    wanted = kubelet_dns_settings(spec)
    if all(config.get(key) == value for key, value in wanted.items()):
        return None
    return yaml.safe_dump({**config, **wanted}, sort_keys=False)


@deploy("Kubelet", data_defaults=DEFAULTS)
def kubelet() -> None:
    lines = host.get_fact(FileContents, path=KUBELET_CONFIG)
    if lines is None:
        logger.info(f"{host.print_prefix}no kubelet here ({KUBELET_CONFIG} is missing); nothing to configure")
        return
    updated = config_with_cluster_dns("\n".join(lines), cluster_spec())
    if updated is None:
        host.noop(f"the kubelet's clusterDNS and clusterDomain already match the spec ({KUBELET_CONFIG})")
        return
    upload = files.put(
        name="Set the kubelet's clusterDNS and clusterDomain from the spec",
        src=StringIO(updated),
        dest=KUBELET_CONFIG,
        user="root",
        group="root",
        mode="644",
    )
    systemd.service(name="Restart the kubelet", service="kubelet", running=True, restarted=True,
                    _if=upload.did_change)
