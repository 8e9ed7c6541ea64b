"""The firewall, proven with packets: each node accepts its role's ports from another node,
and nothing else; UDP too; SSH keeps working under policy drop."""

import pytest

from kubewire.ports import CONTROLPLANE_PORTS, WORKER_PORTS, node_rules
from tests.hosts.checks import check_each
from tests.hosts.netcheck import listeners, tcp_reachable, udp_delivered

NOT_ALLOWED = (8080, 29999, 10257, 10259)  # not on any list; 10257/10259 bind localhost only


def probe_ports():
    """Both ends of every TCP range any node role opens, plus ports no list has."""
    ports = {port for rule in CONTROLPLANE_PORTS + WORKER_PORTS for port in (rule.first, rule.last)}
    return sorted(ports | set(NOT_ALLOWED))


def allowed_tcp(node, spec) -> set[int]:
    # A rule for other sources (etcd: controlplane nodes only) is checked from such a node.
    rules = [rule for rule in node_rules(spec, node) if rule.source in ("any", "nodes")
             or (rule.source == "controlplane" and other_node(spec, node).is_controlplane)]
    return {port for rule in rules if rule.protocol == "tcp"
            for port in probe_ports() if rule.first <= port <= rule.last}


def other_node(spec, node):
    return next(other for other in spec.nodes if other.host != node.host)


def test_policy_drop_table_is_loaded_and_enabled_at_boot(nodes, spec):
    def check(name, host):
        chain = host.run("nft list chain inet kubewire input").stdout
        policy = next(node for node in spec.nodes if node.name == name).firewall.input_policy
        assert f"policy {policy};" in chain
        assert host.service("kubewire-firewall.service").is_enabled
    check_each(nodes, check)


def test_each_node_accepts_exactly_its_role_ports_from_another_node(nodes, spec):
    failures = {}
    for node in spec.nodes:
        target, client = nodes[node.name], nodes[other_node(spec, node).name]
        with listeners(target, tcp_ports=probe_ports()):
            reachable = tcp_reachable(client, str(node.node_ip), probe_ports())
            # The listeners are up: the node reaches them itself (loopback is always allowed).
            local = tcp_reachable(target, str(node.node_ip), NOT_ALLOWED)
        expected = {port: port in allowed_tcp(node, spec) for port in probe_ports()}
        if reachable != expected or not all(local.values()):
            wrong = {port: f"reachable={reachable[port]}" for port in expected if reachable[port] != expected[port]}
            failures[node.name] = {"wrong": wrong, "listeners up": local}
    assert not failures, failures


def test_udp_extra_port_is_allowed_and_others_dropped(nodes, spec):
    udp_rules_of = {node.name: [rule for rule in node_rules(spec, node) if rule.protocol == "udp"]
                    for node in spec.nodes}
    with_udp = [node for node in spec.nodes if udp_rules_of[node.name]]
    if not with_udp:
        pytest.skip("no node's firewall accepts a UDP port in this inventory")
    for node in with_udp:
        udp_rules = udp_rules_of[node.name]
        target, client = nodes[node.name], nodes[other_node(spec, node).name]
        allowed, blocked = udp_rules[0].first, 9098
        with listeners(target, udp_ports=(allowed, blocked)):
            assert udp_delivered(client, target, str(node.node_ip), allowed), f"{node.name}: UDP {allowed} dropped"
            assert not udp_delivered(client, target, str(node.node_ip), blocked), f"{node.name}: UDP {blocked} open"


def test_ssh_works_under_policy_drop(converged, nodes, spec):
    """A new SSH connection is accepted while the input chain drops what no rule allows."""
    from kubewire.inventory import load_inventory
    from kubewire.ssh import connect, ssh_targets

    dropping = [node for node in spec.nodes if node.firewall.enabled and node.firewall.input_policy == "drop"]
    if not dropping:
        pytest.skip("no node has firewall_input_policy 'drop'")
    targets = ssh_targets(load_inventory(converged.inventory))
    for node in dropping:
        assert "policy drop;" in nodes[node.name].run("nft list chain inet kubewire input").stdout, node.name
        client = connect(targets[node.host])  # opened now, under the loaded policy
        try:
            _, stdout, _ = client.exec_command("nft list chain inet kubewire input")
            assert "policy drop;" in stdout.read().decode(), node.name
        finally:
            client.close()
