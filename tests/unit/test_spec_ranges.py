"""The pod, service and node ranges: no overlaps, node addresses outside, node subnets that fit."""

from __future__ import annotations

import pytest

from tests.unit.spec_input import assert_problem, lab_hosts, node, spec_errors


def test_pod_and_service_cidrs_overlapping():
    error = spec_errors({"pod_cidr": "10.100.0.0/16", "service_cidr": "10.96.0.0/12"})
    assert_problem(error, "service_cidr", "10.96.0.0/12",
                   "overlaps pod_cidr 10.100.0.0/16", "separate ranges", "10.244.0.0/16")


def test_pod_cidr_overlapping_node_network():
    error = spec_errors({"node_cidr": "192.168.0.0/16", "pod_cidr": "192.168.128.0/17"})
    assert_problem(error, "pod_cidr", "192.168.128.0/17",
                   "overlaps the node network 192.168.0.0/16", "choose a range the nodes do not use")
    assert len(error.problems) == 1


def test_service_cidr_overlapping_node_network():
    error = spec_errors({"node_cidr": "192.168.0.0/16", "service_cidr": "192.168.128.0/17"})
    assert_problem(error, "service_cidr", "192.168.128.0/17",
                   "overlaps the node network 192.168.0.0/16", "choose a range the nodes do not use")
    assert len(error.problems) == 1


def test_node_ip_inside_pod_range():
    hosts = lab_hosts()[:2] + [node("node02", "10.244.5.5")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "10.244.5.5",
                   "lies inside pod_cidr 10.244.0.0/16", "must be outside the pod and service ranges")


def test_node_ip_inside_service_range():
    hosts = lab_hosts()[:2] + [node("node02", "10.96.0.50")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "10.96.0.50",
                   "lies inside service_cidr 10.96.0.0/12", "must be outside the pod and service ranges")


def test_node_ip_outside_node_cidr():
    error = spec_errors({"node_cidr": "192.168.56.0/24"}, [node("controlplane", "192.168.57.10", "controlplane")])
    assert_problem(error, "hosts.controlplane.node_ip", "192.168.57.10", "outside node_cidr 192.168.56.0/24")


def test_per_node_pod_cidr_outside_pod_cidr():
    error = spec_errors({}, lab_hosts(node01={"pod_cidr": "10.245.1.0/24"}))
    assert_problem(error, "hosts.node01.pod_cidr", "10.245.1.0/24",
                   "outside the cluster's pod_cidr 10.244.0.0/16", "pick a subnet inside it")


def test_per_node_pod_cidrs_overlapping():
    hosts = lab_hosts(node01={"pod_cidr": "10.244.1.0/24"}, node02={"pod_cidr": "10.244.0.0/23"})
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.pod_cidr", "10.244.0.0/23",
                   "overlaps the pod subnet 10.244.1.0/24 of host node01", "give each node its own subnet")


def test_pod_cidr_too_small_for_the_nodes():
    error = spec_errors({"pod_cidr": "10.244.0.0/23", "node_pod_prefix": 24})
    assert_problem(error, "pod_cidr", "10.244.0.0/23",
                   "holds only 2 node subnets of /24 but there are 3 nodes", "widen pod_cidr or raise node_pod_prefix")


def test_pod_cidr_too_small_once_a_wide_per_node_subnet_is_reserved():
    # 4 subnets of /24 for 4 nodes, but controlplane's own /23 takes two of them: one node
    # would get none (this used to pass validation and crash in pod_subnets()).
    hosts = lab_hosts(controlplane={"pod_cidr": "10.244.0.0/23"}) + [node("node03", "192.168.56.13")]
    error = spec_errors({"pod_cidr": "10.244.0.0/22"}, hosts)
    assert_problem(error, "pod_cidr", "10.244.0.0/22",
                   "holds only 4 node subnets of /24 but there are 4 nodes and per-host pod_cidr values take 2",
                   "widen pod_cidr or raise node_pod_prefix")


@pytest.mark.parametrize("prefix", [7, 31, "24", True], ids=["7", "31", "string-24", "bool"])
def test_node_pod_prefix_out_of_range(prefix):
    error = spec_errors({"node_pod_prefix": prefix})
    assert_problem(error, "node_pod_prefix", prefix, "must be a prefix length between 8 and 30")


def test_node_pod_prefix_wider_than_pod_cidr():
    error = spec_errors({"pod_cidr": "10.244.0.0/16", "node_pod_prefix": 12})
    assert_problem(error, "node_pod_prefix", 12, "is wider than pod_cidr 10.244.0.0/16", "at least 16, e.g. 24")
