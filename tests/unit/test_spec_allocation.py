"""What a good spec gives: defaults, derived values, and each node's pod subnet."""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network

from kubewire.spec import ClusterSpec, parse_cluster
from tests.unit.spec_input import lab_hosts, node


def test_defaults():
    spec = parse_cluster({}, lab_hosts())
    assert spec.cluster_dns_ip == IPv4Address("10.96.0.10")
    assert spec.api_service_ip == IPv4Address("10.96.0.1")
    assert spec.node_network == IPv4Network("192.168.56.0/24")
    assert spec.pod_cidr == IPv4Network("10.244.0.0/16")
    assert spec.service_cidr == IPv4Network("10.96.0.0/12")
    assert (spec.kubernetes_version, spec.cni_plugin, spec.kube_proxy_mode) == ("1.33", "bridge", "iptables")
    assert [n.name for n in spec.controlplane] == ["controlplane"]
    assert [n.name for n in spec.workers] == ["node01", "node02"]


def test_explicit_dns_service_ip_and_node_cidr():
    spec = parse_cluster({"dns_service_ip": "10.96.0.53", "node_cidr": "192.168.0.0/16"}, lab_hosts())
    assert spec.cluster_dns_ip == IPv4Address("10.96.0.53")
    assert spec.node_network == IPv4Network("192.168.0.0/16")


def test_pod_subnet_follows_the_node_address():
    subnets = parse_cluster({}, lab_hosts()).pod_subnets()
    assert subnets == {"controlplane": IPv4Network("10.244.10.0/24"),
                       "node01": IPv4Network("10.244.11.0/24"),
                       "node02": IPv4Network("10.244.12.0/24")}


def test_adding_a_node_keeps_existing_pod_subnets():
    before = parse_cluster({}, lab_hosts()).pod_subnets()
    after = parse_cluster({}, lab_hosts() + [node("node03", "192.168.56.13")]).pod_subnets()
    assert {host: after[host] for host in before} == before
    assert after["node03"] == IPv4Network("10.244.13.0/24")


def test_explicit_per_node_pod_cidr_is_honoured_and_avoided():
    # node02 takes the subnet node01 would get by its address; node01 must go elsewhere.
    spec = parse_cluster({}, lab_hosts(node02={"pod_cidr": "10.244.11.0/24"}))
    subnets = spec.pod_subnets()
    assert subnets["node02"] == IPv4Network("10.244.11.0/24")
    assert subnets["controlplane"] == IPv4Network("10.244.10.0/24")
    assert subnets["node01"] != subnets["node02"]
    assert not subnets["node01"].overlaps(subnets["node02"])
    assert subnets["node01"].subnet_of(spec.pod_cidr)


def test_twenty_nodes_in_a_slash_19_never_share_a_subnet():
    # Nodes on different /24s: every address has offset 10 modulo the 32 subnets, so each
    # allocation collides and has to probe for a free subnet.
    hosts = [node(f"node{i:02d}", f"10.0.{i}.10", "controlplane" if i == 0 else "workers") for i in range(20)]
    spec = parse_cluster({"pod_cidr": "10.244.0.0/19", "node_pod_prefix": 24}, hosts)
    subnets = spec.pod_subnets()
    assert len(subnets) == 20
    assert len(set(subnets.values())) == 20
    nets = list(subnets.values())
    for index, net in enumerate(nets):
        assert net.prefixlen == 24 and net.subnet_of(spec.pod_cidr)
        assert not any(net.overlaps(other) for other in nets[index + 1:])
    # Deterministic: the order hosts are listed in does not matter.
    shuffled = hosts[:]
    random.Random(4).shuffle(shuffled)
    assert parse_cluster({"pod_cidr": "10.244.0.0/19", "node_pod_prefix": 24}, shuffled).pod_subnets() == subnets


def test_a_full_pod_range_is_accepted():
    hosts = [node(f"node{i:02d}", f"192.168.56.{10 + i}", "controlplane" if i == 0 else "workers")
             for i in range(4)]
    subnets = parse_cluster({"pod_cidr": "10.244.0.0/22"}, hosts).pod_subnets()
    assert sorted(subnets.values()) == [IPv4Network(f"10.244.{i}.0/24") for i in range(4)]


def test_parse_cluster_returns_a_cluster_spec():
    assert isinstance(parse_cluster({}, lab_hosts()), ClusterSpec)


def test_values_derived_for_the_components():
    for version in ("1.30", "1.31"):
        spec = parse_cluster({"kubernetes_version": version, "dns_service_ip": "10.96.0.53"}, lab_hosts())
        assert spec.kubelet_dns == {"clusterDNS": ["10.96.0.53"], "clusterDomain": "cluster.local"}
        assert spec.api_server_endpoint == "192.168.56.10:6443"
        assert spec.kubeadm_api_version == ("v1beta3" if version == "1.30" else "v1beta4")
