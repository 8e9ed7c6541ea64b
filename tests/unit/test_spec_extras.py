"""User extras may add to a node, not undo what Kubernetes needs; controller-side sources are checked first."""

from __future__ import annotations

import hashlib

import pytest

from kubewire.spec import parse_cluster
from tests.unit.spec_input import assert_problem, inventory_errors, lab_hosts, lab_inventory, spec_errors


@pytest.mark.parametrize(("key", "value"), [
    ("net.ipv4.ip_forward", "0"),
    ("net.ipv4.conf.all.forwarding", "0"),
    ("net.bridge.bridge-nf-call-iptables", "0"),
])
def test_an_extra_sysctl_that_turns_off_what_kubernetes_needs(key, value):
    error = spec_errors({}, lab_hosts(node01={"prereqs_extra_sysctls": {key: value}}))
    assert_problem(error, "hosts.node01.prereqs_extra_sysctls", {key: value},
                   f"sets {key} to '{value}', but Kubernetes needs 1", "remove it")


def test_extra_sysctls_that_agree_or_add_are_fine():
    sysctls = {"net.ipv4.ip_forward": "1", "net.ipv4.ip_local_port_range": "32768 60999"}
    spec = parse_cluster({}, lab_hosts(node01={"prereqs_extra_sysctls": sysctls}))
    assert spec.node("node01").prereqs.extra_sysctls == sysctls


def test_the_prereqs_role_sets_what_the_spec_protects():
    from kubewire.roles.prereqs import BASE_SYSCTLS
    from kubewire.settings import KUBERNETES_SYSCTLS

    assert BASE_SYSCTLS == KUBERNETES_SYSCTLS


def test_an_extra_hosts_entry_that_moves_a_cluster_node():
    entries = {"10.0.0.9": ["registry.lab", "node02"]}
    error = spec_errors({}, lab_hosts(node01={"hosts_extra_entries": entries}))
    assert_problem(error, "hosts.node01.hosts_extra_entries", {"10.0.0.9": "node02"},
                   "maps the cluster node node02 to 10.0.0.9, but it is at 192.168.56.12")


def test_an_extra_hosts_entry_naming_a_node_at_its_own_address_is_fine():
    spec = parse_cluster({}, lab_hosts(node01={"hosts_extra_entries": {"192.168.56.12": ["node02"]}}))
    assert spec.node("node01").hosts.extra_entries == {"192.168.56.12": ["node02"]}


# -- a plugins tarball on the controller, checked before any host is contacted -------------------


@pytest.fixture
def tarball(tmp_path):
    path = tmp_path / "cni-plugins.tgz"
    path.write_bytes(b"not really a tarball, but hashed all the same")
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def tarball_data(path, digest):
    return {"cni_plugins_source": "tarball", "cni_plugins_tarball": path, "cni_plugins_tarball_sha256": digest}


def test_a_tarball_with_its_checksum_is_accepted(tarball):
    spec = parse_cluster({}, lab_hosts(node01=tarball_data(*tarball)))
    assert spec.node("node01").cni.plugins_tarball == tarball[0]


def test_a_tarball_whose_checksum_differs(tarball):
    error = spec_errors({}, lab_hosts(node01=tarball_data(tarball[0], "0" * 64)))
    assert_problem(error, "hosts.node01.cni_plugins_tarball_sha256", "0" * 64,
                   f"does not match cni_plugins_tarball {tarball[0]}, whose sha256 is {tarball[1]}")


def test_a_tarball_that_is_not_on_the_controller(tmp_path, tarball):
    missing = str(tmp_path / "gone.tgz")
    error = spec_errors({}, lab_hosts(node01=tarball_data(missing, tarball[1])))
    assert_problem(error, "hosts.node01.cni_plugins_tarball", missing, "is not a readable file on the controller")


def test_tarball_source_without_a_checksum(tarball):
    error = spec_errors({}, lab_hosts(node01=tarball_data(tarball[0], None)))
    assert_problem(error, "hosts.node01.cni_plugins_tarball_sha256", None,
                   "is needed with cni_plugins_source 'tarball'")


def test_a_bad_tarball_set_in_group_data_is_reported_once(tarball):
    error = inventory_errors(lab_inventory(all_data=tarball_data(tarball[0], "0" * 64), workers=2))
    assert_problem(error, "cni_plugins_tarball_sha256", "0" * 64, "does not match")
    assert len(error.problems) == 1, error.report()
