"""Keys set in group data: one value per cluster key, and each problem reported once."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from kubewire.inventory import spec_from_inventory
from tests.unit.spec_input import assert_problem, inventory, inventory_errors, lab_inventory


def test_cluster_key_in_one_hosts_data():
    error = inventory_errors(lab_inventory(controlplane_host={"service_cidr": "10.97.0.0/16"}))
    assert_problem(error, "hosts.controlplane.service_cidr", "10.97.0.0/16",
                   "is a cluster-wide key", "set it in group_data/all.py")
    assert len(error.problems) == 1


def test_cluster_key_differing_between_groups_is_reported_once():
    error = inventory_errors(lab_inventory(controlplane_data={"cni_plugin": "bridge"},
                                           workers_data={"cni_plugin": "weave"}, workers=3))
    assert_problem(error, "cni_plugin", "weave",
                   "differs between hosts (controlplane has 'bridge', node01 has 'weave')",
                   "set it in group_data/all.py")
    assert len(error.problems) == 1, error.report()


def test_cluster_key_set_in_one_group_only():
    # controlplane would otherwise get the default while workers' value was used for all.
    error = inventory_errors(lab_inventory(workers_data={"pod_cidr": "10.200.0.0/16"}))
    assert_problem(error, "pod_cidr", "10.200.0.0/16",
                   "is set for node01 but not for controlplane", "set it in group_data/all.py")
    assert len(error.problems) == 1


def test_a_bad_node_key_in_all_data_is_reported_once():
    error = inventory_errors(lab_inventory(all_data={"hosts_set_hostname": "sometimes"}, workers=3))
    assert_problem(error, "hosts_set_hostname", "sometimes", "write True or False")
    assert len(error.problems) == 1, error.report()


def test_a_bad_node_key_in_one_groups_data_names_its_hosts():
    error = inventory_errors(lab_inventory(workers_data={"firewall_input_policy": "reject"}, workers=2))
    assert_problem(error, "firewall_input_policy", "reject", "(hosts node01, node02)")
    assert len(error.problems) == 1, error.report()


def test_a_bad_node_key_in_one_hosts_data_names_the_host():
    error = inventory_errors(lab_inventory(controlplane_host={"firewall_input_policy": "reject"}, workers=2))
    assert_problem(error, "hosts.controlplane.firewall_input_policy", "reject")


def test_cluster_keys_from_all_data_and_per_host_pod_cidr():
    inv = inventory(
        ["controlplane", "node01"],
        {"controlplane": ([("controlplane", {"node_ip": "192.168.56.10"})], {}),
         "workers": ([("node01", {"node_ip": "192.168.56.11", "pod_cidr": "10.200.99.0/24"})], {})},
        all_data={"pod_cidr": "10.200.0.0/16", "cni_plugin": "weave"},
    )
    spec = spec_from_inventory(inv)
    assert spec.pod_cidr == IPv4Network("10.200.0.0/16")
    assert spec.cni_plugin == "weave"
    assert spec.pod_subnets() == {"controlplane": IPv4Network("10.200.10.0/24"),
                                  "node01": IPv4Network("10.200.99.0/24")}


def test_node_ip_defaults_to_an_ip_ssh_hostname():
    inv = inventory(["cp"], {"controlplane": ([("cp", {"ssh_hostname": "192.168.56.10"})], {})})
    assert spec_from_inventory(inv).node("cp").node_ip == IPv4Address("192.168.56.10")
