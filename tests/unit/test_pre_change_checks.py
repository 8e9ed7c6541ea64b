"""Checks across all nodes before any change, from facts: kernel for nftables mode, another
firewall on a node. The rule sets in foreign_firewalls/ are real `nft -j list table` and
`iptables-legacy-save` outputs, captured from rules loaded in a scratch network namespace (the
Docker ones: the filter table Docker writes, loaded with iptables-nft-restore and with
iptables-legacy-restore)."""

from pathlib import Path

import pytest

from kubewire.foreign_firewall import blocked_ports, forward_drops, parse_iptables_save, parse_nft_tables
from kubewire.identity import NodeFacts, NodeIdentity, pre_change_report
from kubewire.spec import HostInput, parse_cluster

FIXTURES = Path(__file__).parent / "foreign_firewalls"
PORTS = [("tcp", 22, 22, "22/tcp"), ("tcp", 6443, 6443, "6443/tcp"), ("tcp", 2379, 2380, "2379-2380/tcp"),
         ("tcp", 10250, 10250, "10250/tcp"), ("tcp", 30000, 32767, "30000-32767/tcp"),
         ("udp", 6784, 6784, "6784/udp"), ("udp", 30000, 32767, "30000-32767/udp")]


def fixture_lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


def test_nft_policy_drop_chain_drops_what_it_does_not_accept_following_jumps():
    tables = parse_nft_tables(fixture_lines("nft-policy-drop.json"))
    assert blocked_ports(tables, PORTS) == {
        # 22, 6443 and the NodePorts are accepted; 2379-2380 from a source (counted as open);
        # 10250 rejected; UDP 6784 dropped in the jumped-to chain; UDP NodePorts meet the policy.
        "nftables table inet foreign, chain input (policy drop)": ["10250/tcp", "6784/udp", "30000-32767/udp"]}


def test_firewalld_like_final_reject_drops_what_its_zone_does_not_allow():
    tables = parse_nft_tables(fixture_lines("nft-firewalld-like.json"))
    assert blocked_ports(tables, PORTS) == {"nftables table inet firewalld, chain filter_INPUT (policy accept)": [
        "2379-2380/tcp", "10250/tcp", "30000-32767/tcp", "6784/udp", "30000-32767/udp"]}


def test_legacy_iptables_input_policy_drop_with_a_user_chain():
    tables = parse_iptables_save(fixture_lines("iptables-legacy-ufw-like.txt"))
    assert blocked_ports(tables, PORTS) == {"iptables (legacy) table filter, chain INPUT (policy drop)": [
        "2379-2380/tcp", "30000-32767/tcp", "6784/udp"]}


def test_no_foreign_rules_block_nothing():
    assert blocked_ports(parse_nft_tables([]) + parse_iptables_save([]), PORTS) == {}
    assert forward_drops(parse_nft_tables([]) + parse_iptables_save([])) == []


@pytest.mark.parametrize(("fixture", "parse", "chain"), [
    ("nft-docker-forward.json", parse_nft_tables, "nftables table ip filter, chain FORWARD (policy drop)"),
    ("iptables-legacy-docker.txt", parse_iptables_save, "iptables (legacy) table filter, chain FORWARD (policy drop)"),
])
def test_dockers_forward_policy_drop_drops_pod_traffic_and_no_port(fixture, parse, chain):
    """Docker's rules (loaded with iptables-nft and with iptables-legacy): its accepts are all for
    docker0, so a pod's forwarded packet meets the policy; its input chain drops nothing."""
    tables = parse(fixture_lines(fixture))
    assert forward_drops(tables) == [chain]
    assert blocked_ports(tables, PORTS) == {}


def test_an_accepting_forward_chain_drops_no_pod_traffic():
    assert forward_drops(parse_iptables_save(fixture_lines("iptables-legacy-ufw-like.txt"))) == []
    assert forward_drops(parse_nft_tables(fixture_lines("nft-policy-drop.json"))) == []


def spec(**settings):
    hosts = [HostInput(host=name, groups=frozenset({group}), host_data={"node_ip": ip}, ssh_hostname=ip,
                       role_data=settings.pop(f"{name}_data", {}))
             for name, group, ip in (("controlplane", "controlplane", "192.168.56.10"),
                                     ("node01", "workers", "192.168.56.11"))]
    return parse_cluster({"node_cidr": "192.168.56.0/24", **settings}, hosts)


def debian_node(host: str, kernel: str, **facts) -> NodeFacts:
    """A node's facts on a supported distribution (Debian 13), as the pre-change probe reads them."""
    return NodeFacts(host, kernel, os_release=("ID=debian", 'VERSION_ID="13"'), **facts)


def identities():
    return [NodeIdentity(name, name, f"02:00:00:00:00:0{i}", f"m{i}", "") for i, name in
            enumerate(("controlplane", "node01"))]


def test_nftables_mode_on_old_kernels_names_every_node_and_its_kernel():
    facts = [debian_node("controlplane", "5.10.0-30-amd64"), debian_node("node01", "5.4.0-150-generic")]
    error, _ = pre_change_report(spec(kube_proxy_mode="nftables"), identities(), facts)
    assert "nothing was changed" in error
    assert "controlplane runs Linux 5.10.0-30-amd64; kube_proxy_mode 'nftables' needs 5.13 or later" in error
    assert "node01 runs Linux 5.4.0-150-generic" in error


@pytest.mark.parametrize("kernel", ["5.13.0", "6.1.0-18-amd64", "6.18.44-fc-v657"])
def test_nftables_mode_on_new_enough_kernels_passes(kernel):
    facts = [debian_node("controlplane", kernel), debian_node("node01", kernel)]
    assert pre_change_report(spec(kube_proxy_mode="nftables"), identities(), facts) == ("", [])


def test_old_kernels_are_fine_for_the_iptables_mode():
    facts = [debian_node("controlplane", "4.19.0"), debian_node("node01", "4.19.0")]
    assert pre_change_report(spec(), identities(), facts) == ("", [])


def test_another_firewall_stops_the_run_naming_node_chain_and_ports():
    facts = [debian_node("controlplane", "6.1.0", nft_tables=tuple(fixture_lines("nft-policy-drop.json"))),
             debian_node("node01", "6.1.0", firewall_services=("ufw",),
                       iptables_legacy=tuple(fixture_lines("iptables-legacy-ufw-like.txt")))]
    error, warnings = pre_change_report(spec(), identities(), facts)
    assert warnings == []
    assert ("controlplane has another firewall: nftables table inet foreign, chain input (policy drop) drops "
            "10250/tcp") in error
    assert ("node01 has another firewall: ufw is active; iptables (legacy) table filter, chain INPUT (policy drop) "
            "drops 10256/tcp, 30000-32767/tcp") in error
    assert "set firewall_coexist = True for node01" in error


def test_a_forward_chain_dropping_pod_traffic_stops_the_run_naming_the_pod_network():
    facts = [debian_node("controlplane", "6.1.0", nft_tables=tuple(fixture_lines("nft-docker-forward.json"))),
             debian_node("node01", "6.1.0")]
    error, warnings = pre_change_report(spec(pod_cidr="10.32.0.0/16"), identities(), facts)
    assert warnings == [] and "node01" not in error
    assert ("controlplane has another firewall: nftables table ip filter, chain FORWARD (policy drop) drops "
            "forwarded pod traffic. Pods would not reach each other: accept forwarding from and to the pod "
            "network 10.32.0.0/16 in it (with Docker, in its DOCKER-USER chain)") in error
    assert "set firewall_coexist = True for controlplane" in error


def test_firewall_coexist_turns_the_stop_into_a_warning_for_that_node_only():
    facts = [debian_node("controlplane", "6.1.0", firewall_services=("firewalld",)),
             debian_node("node01", "6.1.0", firewall_services=("firewalld",))]
    error, warnings = pre_change_report(spec(node01_data={"firewall_coexist": True}), identities(), facts)
    assert "controlplane has another firewall: firewalld is active" in error and "node01" not in error
    assert warnings == ["node01 has another firewall: firewalld is active (firewall_coexist is set: kubewire runs "
                        "beside it)"]


def test_every_problem_of_every_node_is_reported_at_once():
    clones = [NodeIdentity("controlplane", "controlplane", "02:aa", "same", ""),
              NodeIdentity("node01", "node01", "02:bb", "same", "")]
    facts = [debian_node("controlplane", "5.10.0"), debian_node("node01", "6.1.0", firewall_services=("ufw",))]
    error, _ = pre_change_report(spec(kube_proxy_mode="nftables"), clones, facts)
    assert "controlplane and node01 have the same /etc/machine-id 'same'" in error
    assert "controlplane runs Linux 5.10.0" in error
    assert "node01 has another firewall: ufw is active" in error
