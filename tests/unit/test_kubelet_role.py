"""The kubelet role against the @fake connector: DNS settings made to match the spec, only where a kubelet is."""

import yaml

from kubewire.operations import with_settings
from kubewire.roles.kubelet import KUBELET_CONFIG, kubelet
from kubewire.spec import HostInput, parse_cluster
from tests.unit.plan import fake_host, plan, probes_answer

KUBELET_YAML = """apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
clusterDNS:
- {dns}
clusterDomain: {domain}
"""


def kubelet_config(dns: str = "10.96.0.10", domain: str = "cluster.local") -> dict:
    """Fact answers on a node whose kubelet runs with this configuration."""
    return {**probes_answer({"config present": "yes",
                             "config": KUBELET_YAML.format(dns=dns, domain=domain).splitlines()}),
            "systemctl show --all": ["Id=kubelet.service", "SubState=running"]}


def nodes(node01_responses: dict | None):
    no_kubelet = probes_answer({"config present": [], "config": []})
    controlplane = [fake_host("controlplane", "192.168.56.10", no_kubelet)]  # no kubelet config
    workers = [fake_host("node01", "192.168.56.11", node01_responses or no_kubelet)]
    return controlplane, workers


def test_does_nothing_without_a_kubelet():
    planned = plan(*nodes(None), kubelet)
    assert planned["controlplane"] == []
    assert planned.noops["controlplane"] == [f"{KUBELET_CONFIG} is absent; nothing to configure"]


def test_matching_settings_change_nothing():
    planned = plan(*nodes(kubelet_config()), kubelet)
    assert planned["node01"] == []
    assert planned.noops["node01"] == [f"{KUBELET_CONFIG} already has clusterDNS: ['10.96.0.10'], "
                                       "clusterDomain: cluster.local"]


def test_differing_settings_are_rewritten_and_the_kubelet_restarted():
    planned = plan(*nodes(kubelet_config(dns="10.96.0.53")), kubelet, {"cluster_domain": "k8s.lab"})
    config = yaml.safe_load(planned.uploaded("node01", KUBELET_CONFIG))
    assert config["clusterDNS"] == ["10.96.0.10"] and config["clusterDomain"] == "k8s.lab"
    assert config["cgroupDriver"] == "systemd"  # the node's other settings are kept
    assert planned["node01"][-1] == "systemctl restart kubelet.service"


def test_the_rewritten_file_keeps_the_other_settings():
    spec = parse_cluster({"dns_service_ip": "10.96.0.20"}, [
        HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "192.168.56.10"})])
    current = KUBELET_YAML.format(dns="10.96.0.53", domain="cluster.local")
    config = yaml.safe_load(with_settings(current, spec.kubelet_dns))
    assert config["clusterDNS"] == ["10.96.0.20"]
    assert config["clusterDomain"] == "cluster.local"
    assert config["cgroupDriver"] == "systemd"
    assert with_settings(yaml.safe_dump(config), spec.kubelet_dns) is None
