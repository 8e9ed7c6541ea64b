"""Nodes must be distinct machines: clashes name both hosts and the value."""

from kubewire.identity import NodeIdentity, identity_clashes


def identity(host, hostname=None, mac=None, machine_id=None, product_uuid=""):
    return NodeIdentity(host, hostname or host, mac or f"02:00:00:00:00:{len(host):02x}{host[-1]}",
                        machine_id or f"id-{host}", product_uuid)


def test_distinct_nodes_pass():
    nodes = [identity("a1"), identity("b2", product_uuid="u2"), identity("c3", product_uuid="u3")]
    assert identity_clashes(nodes) == []


def test_product_uuid_clash_names_both_hosts():
    clashes = identity_clashes([identity("node01", product_uuid="4c4c4544-0042"), identity("node02"),
                                identity("node03", product_uuid="4c4c4544-0042")])
    assert clashes == ["node01 and node03 have the same product_uuid '4c4c4544-0042'"]


def test_absent_product_uuids_are_not_a_clash():
    assert identity_clashes([identity("node01"), identity("node02")]) == []


def test_machine_id_mac_and_hostname_clashes_are_all_reported():
    clashes = identity_clashes([identity("node01", hostname="debian", mac="02:aa", machine_id="m1"),
                                identity("node02", hostname="debian", mac="02:aa", machine_id="m1")])
    assert clashes == ["node01 and node02 have the same hostname 'debian'",
                       "node01 and node02 have the same MAC of the node interface '02:aa'",
                       "node01 and node02 have the same /etc/machine-id 'm1'"]
