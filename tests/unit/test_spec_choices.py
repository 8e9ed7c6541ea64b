"""Enumerations and malformed values: each refused with what would be valid."""

from __future__ import annotations

import pytest

from kubewire.spec import parse_cluster
from tests.unit.spec_input import assert_problem, lab_hosts, node, spec_errors


def test_unknown_cni_plugin():
    error = spec_errors({"cni_plugin": "calico"})
    assert_problem(error, "cni_plugin", "calico", "not a CNI plugin", "use one of: bridge, weave")


def test_unknown_kube_proxy_mode():
    error = spec_errors({"kube_proxy_mode": "ebpf"})
    assert_problem(error, "kube_proxy_mode", "ebpf", "not a kube-proxy mode", "use one of: iptables, ipvs, nftables")


def test_kube_proxy_mode_userspace_was_removed():
    error = spec_errors({"kube_proxy_mode": "userspace"})
    assert_problem(error, "kube_proxy_mode", "userspace",
                   "removed from kube-proxy in Kubernetes 1.26", "use one of: iptables, ipvs, nftables")


def test_nftables_needs_kubernetes_1_31():
    error = spec_errors({"kube_proxy_mode": "nftables", "kubernetes_version": "1.30"})
    assert_problem(error, "kube_proxy_mode", "nftables",
                   "needs Kubernetes 1.31 or newer (this cluster is 1.30)", "use iptables or raise kubernetes_version")


def test_nftables_with_kubernetes_1_31_is_fine():
    spec = parse_cluster({"kube_proxy_mode": "nftables", "kubernetes_version": "1.31"}, lab_hosts())
    assert spec.kube_proxy_mode == "nftables"


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("pod_cidr", "10.244.0.0/33", "is not a valid IPv4 CIDR (like 10.244.0.0/16)"),
        ("pod_cidr", "banana", "is not a valid IPv4 CIDR (like 10.244.0.0/16)"),
        ("service_cidr", "banana", "is not a valid IPv4 CIDR (like 10.96.0.0/12)"),
        ("node_cidr", "192.168.56/24/1", "is not a valid IPv4 CIDR (like 192.168.56.0/24)"),
        ("pod_cidr", 10, "must be a CIDR string such as 10.244.0.0/16"),
        ("dns_service_ip", "x", "is not a valid IPv4 address (like 192.168.56.10)"),
        ("dns_service_ip", "10.96.0.300", "is not a valid IPv4 address (like 192.168.56.10)"),
    ],
    ids=["pod-prefix-33", "pod-banana", "service-banana", "node-cidr-garbled", "pod-not-a-string",
         "dns-x", "dns-octet-300"],
)
def test_malformed_cluster_address(key, value, hint):
    error = spec_errors({key: value})
    assert_problem(error, key, value, hint)


def test_malformed_node_ip():
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.300")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "192.168.56.300", "is not a valid IPv4 address (like 192.168.56.10)")


def test_missing_node_ip():
    hosts = lab_hosts()[:2] + [node("node02", None)]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", None, "is missing", "set node_ip in the host's data")


def test_malformed_per_node_pod_cidr():
    error = spec_errors({}, lab_hosts(node01={"pod_cidr": "banana"}))
    assert_problem(error, "hosts.node01.pod_cidr", "banana", "is not a valid IPv4 CIDR (like 10.244.1.0/24)")


@pytest.mark.parametrize(
    ("key", "value", "network"),
    [
        ("pod_cidr", "10.244.1.0/16", "10.244.0.0/16"),
        ("service_cidr", "10.96.0.1/12", "10.96.0.0/12"),
        ("node_cidr", "192.168.56.10/24", "192.168.56.0/24"),
    ],
)
def test_cidr_with_host_bits_set(key, value, network):
    error = spec_errors({key: value})
    assert_problem(error, key, value, f"has host bits set; the network is {network}")


def test_per_node_pod_cidr_with_host_bits_set():
    error = spec_errors({}, lab_hosts(node01={"pod_cidr": "10.244.11.1/24"}))
    assert_problem(error, "hosts.node01.pod_cidr", "10.244.11.1/24", "the network is 10.244.11.0/24")


@pytest.mark.parametrize("domain", ["Cluster_Local", "cluster.local.", "-bad.local"])
def test_invalid_cluster_domain(domain):
    error = spec_errors({"cluster_domain": domain})
    assert_problem(error, "cluster_domain", domain,
                   "not a valid DNS domain", "lower-case labels", "no trailing dot", "e.g. cluster.local")


@pytest.mark.parametrize(
    ("version", "hint"),
    [
        ("1.28", "is not supported; kubewire supports 1.29-1.36"),
        ("1.37", "is not supported; kubewire supports 1.29-1.36"),
        ("2.0", "is not a Kubernetes version; use 'MAJOR.MINOR' within 1.29-1.36"),
        (1.3, "must be a quoted string such as '1.30'"),
    ],
    ids=["too-old-1.28", "too-new-1.37", "major-2", "float-1.3"],
)
def test_unsupported_kubernetes_version(version, hint):
    error = spec_errors({"kubernetes_version": version})
    assert_problem(error, "kubernetes_version", version, hint)


@pytest.mark.parametrize("version", ["1.29", "1.36", "v1.33", "1.33.2"])
def test_supported_kubernetes_versions(version):
    spec = parse_cluster({"kubernetes_version": version}, lab_hosts())
    assert spec.kubernetes_version == version.removeprefix("v")
