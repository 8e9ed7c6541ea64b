"""Role data keys are validated with the spec: by type, per host, typos named."""

import pytest
from pyinfra.api import Inventory

from kubewire.inventory import spec_from_inventory
from kubewire.spec import SpecError


def inventory(all_data=None, controlplane_data=None, node01_data=None):
    controlplane = [("controlplane", {"node_ip": "192.168.56.10", **(controlplane_data or {})})]
    workers = [("node01", {"node_ip": "192.168.56.11", **(node01_data or {})})]
    return Inventory((["controlplane", "node01"], all_data or {}),
                     controlplane=(controlplane, {}), workers=(workers, {}))


def problems(inv):
    with pytest.raises(SpecError) as caught:
        spec_from_inventory(inv)
    return {problem.key: problem for problem in caught.value.problems}


def test_defaults_apply_when_a_role_key_is_unset():
    spec = spec_from_inventory(inventory())
    assert spec.node("node01").hosts.set_hostname is True
    assert spec.node("node01").hosts.extra_entries == {}


def test_host_data_overrides_group_data_for_node_roles():
    spec = spec_from_inventory(inventory(all_data={"hosts_set_hostname": False},
                                         node01_data={"hosts_set_hostname": True}))
    assert spec.node("controlplane").hosts.set_hostname is False
    assert spec.node("node01").hosts.set_hostname is True


def test_bad_role_value_names_the_host_and_key():
    found = problems(inventory(node01_data={"hosts_extra_entries": {"192.168.56.300": ["registry"]}}))
    problem = found["hosts.node01.hosts_extra_entries"]
    assert "'192.168.56.300', which is not an IPv4 address" in problem.message


def test_wrong_type_for_a_role_key():
    # Set in `all` data, so reported once for every host, and with what to write instead.
    found = problems(inventory(all_data={"hosts_set_hostname": "sometimes"}))
    assert set(found) == {"hosts_set_hostname"}
    assert "write True or False (unquoted), e.g. hosts_set_hostname = True" in found["hosts_set_hostname"].message


def test_wrong_type_for_a_role_key_in_one_hosts_data():
    found = problems(inventory(node01_data={"hosts_set_hostname": "sometimes"}))
    assert set(found) == {"hosts.node01.hosts_set_hostname"}


def test_a_mistyped_role_key_gets_a_suggestion():
    found = problems(inventory(all_data={"hosts_extra_entrys": {}}))
    problem = found["hosts_extra_entrys"]
    assert "did you mean hosts_extra_entries?" in problem.message


def test_a_proxy_mode_the_prereqs_were_told_not_to_prepare_is_refused():
    found = problems(inventory(all_data={"kube_proxy_mode": "nftables"},
                               node01_data={"prereqs_prepare_proxy_mode": False}))
    problem = found["hosts.node01.prereqs_prepare_proxy_mode"]
    assert "kube_proxy_mode 'nftables' needs" in problem.message
    assert "hosts.controlplane.prereqs_prepare_proxy_mode" not in found
    # With iptables nothing needs preparing.
    spec_from_inventory(inventory(node01_data={"prereqs_prepare_proxy_mode": False}))
