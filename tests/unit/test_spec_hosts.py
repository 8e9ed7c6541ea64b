"""Hosts: names, addresses and groups, as pyinfra and Kubernetes need them."""

from __future__ import annotations

from click.testing import CliRunner

from kubewire.cli import main
from tests.unit.spec_input import (
    assert_problem,
    inventory,
    inventory_errors,
    lab_hosts,
    node,
    spec_errors,
)


def test_duplicate_node_names():
    hosts = lab_hosts(node01={"node_name": "worker"}, node02={"node_name": "worker"})
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_name", "worker",
                   "is also used by host node01", "every node needs its own node_name")


def test_duplicate_node_ips():
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.11")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "192.168.56.11",
                   "is also used by host node01", "every node needs its own node_ip")


def test_host_in_neither_group():
    inv = inventory(
        ["controlplane", "node01", ("lost", {"node_ip": "192.168.56.20"})],
        {"controlplane": ([("controlplane", {"node_ip": "192.168.56.10"})], {}),
         "workers": ([("node01", {"node_ip": "192.168.56.11"})], {})},
    )
    error = inventory_errors(inv)
    assert_problem(error, "hosts.lost.groups", [],
                   "in neither controlplane nor workers", "add it to one of them")
    assert len(error.problems) == 1


def test_no_controlplane():
    hosts = [node("node01", "192.168.56.11"), node("node02", "192.168.56.12")]
    error = spec_errors({}, hosts)
    assert_problem(error, "groups.controlplane", [],
                   "no host is in group controlplane", "put one of ['node01', 'node02'] there")


def test_no_hosts_at_all():
    error = spec_errors({}, [])
    assert_problem(error, "nodes", [], "the inventory has no hosts", "add hosts to the groups controlplane and workers")


def test_node_ip_that_is_the_node_network_address():
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.0")]
    error = spec_errors({"node_cidr": "192.168.56.0/24"}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "192.168.56.0", "is the network address of the node network")


def test_node_ip_that_is_the_broadcast_address_of_a_derived_network():
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.255")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "192.168.56.255",
                   "is the broadcast address of the node network 192.168.56.0/24", "set node_cidr if it is wider")


def test_an_address_ending_in_0_inside_a_wider_node_network_is_fine():
    from kubewire.spec import parse_cluster

    hosts = lab_hosts()[:2] + [node("node02", "192.168.57.0")]
    spec = parse_cluster({"node_cidr": "192.168.56.0/23"}, hosts)
    assert str(spec.node("node02").node_ip) == "192.168.57.0"


INVENTORY_TWICE_IN_A_GROUP = """\
controlplane = [("cp", {"node_ip": "192.168.56.10"})]
workers = [("w1", {"node_ip": "192.168.56.11"}), ("w1", {"node_ip": "192.168.56.12"})]
"""

INVENTORY_TWICE_WITH_OTHER_DATA = """\
controlplane = [("cp", {"node_ip": "192.168.56.10"})]
workers = [("cp", {"node_ip": "192.168.56.11"})]
"""

INVENTORY_IN_BOTH_GROUPS = """\
controlplane = [("cp", {"node_ip": "192.168.56.10"})]
workers = ["cp", ("w1", {"node_ip": "192.168.56.11"})]
"""


def check(tmp_path, monkeypatch, text: str):
    (tmp_path / "inventory.py").write_text(text)
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(main, ["check", "inventory.py"])


def test_a_host_listed_twice_in_one_group(tmp_path, monkeypatch):
    result = check(tmp_path, monkeypatch, INVENTORY_TWICE_IN_A_GROUP)
    assert result.exit_code == 2, result.output
    assert "hosts.w1 = 'workers': is listed twice in group workers; pyinfra merges" in result.stderr


def test_a_host_listed_in_two_groups_with_differing_data(tmp_path, monkeypatch):
    result = check(tmp_path, monkeypatch, INVENTORY_TWICE_WITH_OTHER_DATA)
    assert result.exit_code == 2, result.output
    assert "hosts.cp.node_ip = '192.168.56.11': differs between its entries in controlplane, workers" in result.stderr


def test_a_host_in_both_groups_with_its_data_once_is_fine(tmp_path, monkeypatch):
    result = check(tmp_path, monkeypatch, INVENTORY_IN_BOTH_GROUPS)
    assert result.exit_code == 0, result.output
    assert "controlplane,workers" in result.output
