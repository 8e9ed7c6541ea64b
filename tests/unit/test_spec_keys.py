"""Unknown keys are refused wherever they are: top-level typos, role keys, keys inside dict values."""

from __future__ import annotations

from kubewire.inventory import spec_from_inventory
from tests.unit.spec_input import assert_problem, inventory_errors, lab_hosts, lab_inventory, spec_errors


def test_a_mistyped_cluster_key_gets_a_suggestion():
    error = spec_errors({"pod_cdir": "10.200.0.0/16"})
    assert_problem(error, "pod_cdir", "10.200.0.0/16", "is not a key kubewire reads", "did you mean pod_cidr?")


def test_a_mistyped_cluster_key_in_group_data_is_reported_once():
    error = inventory_errors(lab_inventory(all_data={"kubernetes_verison": "1.31"}, workers=2))
    assert_problem(error, "kubernetes_verison", "1.31", "did you mean kubernetes_version?")
    assert len(error.problems) == 1


def test_a_mistyped_host_key_gets_a_suggestion():
    error = inventory_errors(lab_inventory(controlplane_host={"node_nmae": "cp"}))
    assert_problem(error, "hosts.controlplane.node_nmae", "cp", "did you mean node_name?")


def test_keys_far_from_ours_are_left_to_pyinfra_and_the_user():
    spec = spec_from_inventory(lab_inventory(all_data={"ssh_user": "root", "_sudo": True, "site_motd": "hi"}))
    assert spec.cluster_name == "kubewire"


def test_an_unknown_key_inside_a_firewall_port_entry():
    entry = {"port": 8443, "protocol": "tcp", "sorce": "nodes"}
    error = spec_errors({}, lab_hosts(node01={"firewall_extra_ports": [entry]}))
    problem = next(p for p in error.problems if p.key.startswith("hosts.node01.firewall_extra_ports"))
    assert "unknown key(s) ['sorce']" in problem.message and "port, protocol, source, purpose" in problem.message
