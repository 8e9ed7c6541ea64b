"""`kubewire check` refuses what the components themselves would refuse, naming key, value and fix."""

from __future__ import annotations

import pytest

from kubewire.spec import parse_cluster
from tests.unit.spec_input import assert_problem, lab_hosts, spec_errors

# -- kube-proxy (pkg/proxy/apis/config/validation: syncPeriod > 0, minSyncPeriod <= syncPeriod) --


def test_kube_proxy_sync_period_of_zero():
    error = spec_errors({"kube_proxy_sync_period": "0s"})
    assert_problem(error, "kube_proxy_sync_period", "0s", "must be greater than 0", "e.g. 30s")


def test_kube_proxy_min_sync_period_longer_than_sync_period():
    error = spec_errors({"kube_proxy_sync_period": "10s", "kube_proxy_min_sync_period": "1m"})
    assert_problem(error, "kube_proxy_min_sync_period", "1m",
                   "longer than kube_proxy_sync_period 10s", "use at most 10s")


def test_kube_proxy_periods_in_other_units_compare_by_length():
    spec = parse_cluster({"kube_proxy_sync_period": "1m30s", "kube_proxy_min_sync_period": "90s"}, lab_hosts())
    assert spec.kube_proxy.min_sync_period == "90s"


# -- ranges kubeadm and kube-apiserver refuse ------------------------------------------------------


def test_service_range_wider_than_the_api_server_accepts():
    error = spec_errors({"service_cidr": "10.0.0.0/11", "pod_cidr": "10.244.0.0/16"})
    assert_problem(error, "service_cidr", "10.0.0.0/11", "too large", "wider than a /12", "e.g. 10.0.0.0/12")


def test_the_widest_service_range_is_accepted():
    assert parse_cluster({"service_cidr": "10.96.0.0/12"}, lab_hosts()).service_cidr.prefixlen == 12


def test_pod_range_smaller_than_one_node_subnet():
    error = spec_errors({"pod_cidr": "10.244.0.0/25", "node_pod_prefix": 24})
    assert_problem(error, "node_pod_prefix", 24, "wider than pod_cidr 10.244.0.0/25", "kubeadm")


def test_node_mask_more_than_16_bits_longer_than_the_pod_range():
    error = spec_errors({"pod_cidr": "10.0.0.0/8", "service_cidr": "172.16.0.0/12", "node_pod_prefix": 25})
    assert_problem(error, "node_pod_prefix", 25, "more than 16 bits longer than pod_cidr 10.0.0.0/8",
                   "use at most 24")


# -- CoreDNS ------------------------------------------------------------------------------------


@pytest.mark.parametrize("server", ["127.0.0.53", "127.0.0.1:53", "[::1]:53", "0.0.0.0"])
def test_coredns_upstream_that_is_the_pod_itself(server):
    error = spec_errors({"coredns_upstreams": ["1.1.1.1", server]})
    assert_problem(error, "coredns_upstreams", ["1.1.1.1", server], f"has ['{server}']", "CoreDNS's own pod")


def test_coredns_stub_domain_server_on_loopback():
    error = spec_errors({"coredns_stub_domains": {"corp.example": ["127.0.0.1"]}})
    assert_problem(error, "coredns_stub_domains.corp.example", ["127.0.0.1"], "CoreDNS's own pod")


def test_coredns_forward_takes_at_most_15_upstreams():
    servers = [f"10.0.0.{index}" for index in range(1, 17)]
    error = spec_errors({"coredns_upstreams": servers})
    assert_problem(error, "coredns_upstreams", servers, "lists 16 servers", "at most 15")
    assert parse_cluster({"coredns_upstreams": servers[:15]}, lab_hosts()).coredns.upstreams == servers[:15]


# -- the CNI spec's network names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["-net", "my net", "net/1", "", "net\n"])
def test_cni_network_name_outside_the_cni_spec(name):
    hosts = lab_hosts(node01={"cni_network_name": name})
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node01.cni_network_name", name, "is not a CNI network name", "e.g. kubewire")


def test_cni_network_name_with_dots_and_underscores_is_fine():
    spec = parse_cluster({}, lab_hosts(node01={"cni_network_name": "k8s_pod.net-1"}))
    assert spec.node("node01").cni.network_name == "k8s_pod.net-1"
