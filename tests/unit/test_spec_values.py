"""Values are checked whole, type errors say what to write, and long values are shortened."""

from __future__ import annotations

import pytest

from kubewire.spec import Problem, SpecError
from tests.unit.spec_input import assert_problem, inventory_errors, lab_hosts, lab_inventory, node, spec_errors

# Every pattern must match the whole value: "x\n" passes `re.match(r"...$")`.
TRAILING_NEWLINE = [
    ("cluster_name", "lab\n"),
    ("cluster_domain", "cluster.local\n"),
    ("kube_proxy_sync_period", "30s\n"),
    ("weave_image_repo", "docker.io/weaveworks\n"),
    ("weave_image_tag", "2.8.1\n"),
    ("coredns_upstreams", ["1.1.1.1\n"]),
    ("coredns_stub_domains", {"corp.example\n": ["10.0.0.53"]}),
    ("ingress_namespace", "web\n"),
    ("ingress_class", "nginx\n"),
]


@pytest.mark.parametrize(("key", "value"), TRAILING_NEWLINE, ids=[key for key, _ in TRAILING_NEWLINE])
def test_a_trailing_newline_is_not_a_valid_cluster_value(key, value):
    error = spec_errors({key: value})
    assert [problem.key for problem in error.problems] == [key], error.report()


@pytest.mark.parametrize(("key", "value"), [
    ("node_name", "node01\n"),
    ("hosts_extra_entries", {"192.168.56.2": ["registry.lab\n"]}),
    ("prereqs_extra_sysctls", {"net.ipv4.conf.all.rp_filter": "1\n"}),
    ("prereqs_extra_packages", ["curl\n"]),
    ("cni_bridge", "cni0\n"),
])
def test_a_trailing_newline_is_not_a_valid_host_value(key, value):
    error = spec_errors({}, lab_hosts(node01={key: value}))
    assert [problem.key for problem in error.problems] == [f"hosts.node01.{key}"], error.report()


def test_an_ingress_rule_with_a_trailing_newline():
    ingress = {"name": "shop", "rules": ["shop.example.com/=shop:80\n"]}
    error = spec_errors({"ingress_enabled": True, "ingress_resources": [ingress]})
    assert any(problem.key.startswith("ingress_resources.shop") for problem in error.problems), error.report()


@pytest.mark.parametrize(("key", "value", "hint"), [
    ("kube_proxy_masquerade_all", "maybe", "write True or False (unquoted), e.g. kube_proxy_masquerade_all = False"),
    ("coredns_replicas", "two", "write a whole number, unquoted, e.g. coredns_replicas = 2"),
    ("coredns_upstreams", "1.1.1.1", "write a list: [...], e.g. coredns_upstreams = ['/etc/resolv.conf']"),
    ("coredns_stub_domains", ["corp.example"], "write a dict: {...}"),
])
def test_a_wrong_type_says_what_to_write_instead(key, value, hint):
    error = spec_errors({key: value})
    assert_problem(error, key, value, hint)


def test_a_wrong_type_for_a_node_key_says_what_to_write_instead():
    error = spec_errors({}, lab_hosts(node01={"firewall_enabled": "sometimes"}))
    assert_problem(error, "hosts.node01.firewall_enabled", "sometimes",
                   "write True or False (unquoted), e.g. firewall_enabled = True")


def test_long_values_are_shortened_in_the_report():
    value = ["10.0.0.1"] * 40
    report = SpecError([Problem("coredns_upstreams", value, "is wrong")]).report()
    line = report.splitlines()[1]
    assert len(line) < 120 and line.endswith("…: is wrong"), line


def test_a_long_value_differing_between_groups_is_shortened():
    long_value = {f"zone{index}.example": ["10.0.0.53"] for index in range(20)}
    error = inventory_errors(lab_inventory(controlplane_data={"coredns_stub_domains": long_value},
                                           workers_data={"coredns_stub_domains": {}}))
    assert all(len(line) < 300 for line in error.report().splitlines()), error.report()


def test_node_helper_puts_role_keys_in_role_data():
    assert node("n", "192.168.56.20", prereqs_disable_swap=False).role_data == {"prereqs_disable_swap": False}
