"""A node that reboots (fresh kernel network state, its disk kept) comes back with its
sysctls, module list, firewall and pod routes, without running the deploy again: a node of
each Debian release, as each release's systemd brings it up."""

import pytest

from kubewire import lab
from kubewire.ports import node_rules
from kubewire.roles.prereqs import BASE_SYSCTLS, MODULES_FILE
from tests.harness import NODE_PER_SUITE, node_of_another_suite, run_deploy
from tests.hosts.netcheck import listeners, tcp_reachable


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_reboot_restores_sysctls_modules_and_firewall(converged, nodes, spec, node_name):
    before = nodes[node_name].run("nft list table inet kubewire").stdout
    nodes[node_name].run("sysctl -w net.ipv4.ip_default_ttl=33")  # live only, not persisted
    lab.reboot_node(node_name)
    node = lab_host(converged, node_name)
    # The node's kernel network state really started afresh...
    assert str(node.sysctl("net.ipv4.ip_default_ttl")) == "64"
    # ...and what kubewire persisted came back.
    for key, value in BASE_SYSCTLS.items():
        assert str(node.sysctl(key)) == value, f"{key} after reboot"
    assert "br_netfilter" in node.file(MODULES_FILE).content_string
    assert node.run("nft list table inet kubewire").stdout == before
    assert node.service("kubewire-firewall.service").is_running
    routes = {" ".join(line.split()[:3]) for line in node.run("ip -4 route show proto 75").stdout.splitlines()}
    me = spec.node(node_name)
    assert routes == {f"{spec.pod_cidr_for(n.host)} via {n.node_ip}" for n in spec.nodes if n.host != me.host}
    # And it still filters: a port off the list is dropped, one it opens to any address accepted.
    opened = next(rule.first for rule in node_rules(spec, me) if rule.protocol == "tcp" and rule.source == "any")
    with listeners(node, tcp_ports=(8080, opened)):
        reachable = tcp_reachable(nodes[node_of_another_suite(node_name)], str(me.node_ip), (8080, opened))
    assert reachable == {8080: False, opened: True}
    results = run_deploy(converged.inventory)["results"]
    assert results["totals"]["success"] == 0, "the rebooted node needed the deploy to recover"


def lab_host(converged, node_name):
    """A fresh SSH connection: the old one died with the node."""
    from kubewire.inventory import load_inventory
    from kubewire.ssh import ssh_targets, testinfra_host

    return testinfra_host(ssh_targets(load_inventory(converged.inventory))[node_name])
