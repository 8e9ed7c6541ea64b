"""Another firewall on a node: a foreign nftables table whose input chain drops by default (it
lets SSH in). It really drops kubewire's ports; the run stops before any change, naming the node
and those ports; with firewall_coexist it runs, warns, and a re-run changes nothing. On a node of
each Debian release: the rules are read from each release's `nft -j` (nftables 1.0 and 1.1).
Docker's FORWARD policy DROP on node02 really cuts a pod on node01 off a pod on node02; the run
stops before any change, naming the chain and the pod network."""

import json

import pytest

from kubewire.ports import node_rules
from tests.harness import NODE_PER_SUITE, node_of_another_suite, run_pyinfra
from tests.hosts.cni_runtime import Pod
from tests.hosts.netcheck import listeners, tcp_reachable

NODE = "node02"  # the forward-chain test's server node (its client pod is on node01)
MARK = "# tampered by the test: a run that changes nothing leaves this line"
FOREIGN = """table inet kwtest_foreign {
    chain input {
        type filter hook input priority filter + 5; policy drop;
        ct state established,related accept
        iif "lo" accept
        tcp dport 22 accept
    }
}
"""



@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_a_foreign_drop_policy_stops_the_run_unless_coexist(converged, nodes, spec, node_name):
    node = spec.node(node_name)
    blocked = [str(rule) for rule in node_rules(spec, node) if rule.has_ports]
    # A port kubewire's table accepts from the client (10250 is for controlplane nodes only).
    client = spec.node(node_of_another_suite(node_name))
    accepted = next(rule.first for rule in node_rules(spec, node)
                    if rule.protocol == "tcp" and (rule.source != "controlplane" or client.is_controlplane))
    nodes[node_name].run_test(f"cat > /root/kwtest-foreign.nft <<'EOF'\n{FOREIGN}EOF\nnft -f /root/kwtest-foreign.nft")
    for host in nodes.values():
        host.run(f"echo '{MARK}' >> /etc/hosts")
    try:
        # The foreign chain really drops a port kubewire's table accepts.
        with listeners(nodes[node_name], tcp_ports=(accepted,)):
            assert tcp_reachable(nodes[client.name], str(node.node_ip), (accepted,)) == {accepted: False}

        refused = run_pyinfra(converged.inventory, "--json")
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0
        expected = (f"{node_name} has another firewall: nftables table inet kwtest_foreign, chain input (policy drop) "
                    f"drops {', '.join(blocked)}")
        assert expected in output, output[-2000:]
        assert f"set firewall_coexist = True for {node_name}" in output
        for name, host in nodes.items():
            assert MARK in host.file("/etc/hosts").content_string, f"{name} was changed"

        for host in nodes.values():
            host.run(f"sed -i '/^{MARK}$/d' /etc/hosts")
        coexist = ["--data", "firewall_coexist=True"]
        first = run_pyinfra(converged.inventory, "--json", *coexist)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        assert f"{node_name} has another firewall" in first.stderr and "firewall_coexist is set" in first.stderr
        second = json.loads(run_pyinfra(converged.inventory, "--json", *coexist).stdout)["results"]
        assert second["totals"]["success"] == 0, [op["name"] for op in second["operations"] if op["success"]]
        # Reading the legacy iptables rules never created a legacy table.
        for name, host in nodes.items():
            assert "filter" not in host.run("cat /proc/net/ip_tables_names").stdout.split(), name
    finally:
        nodes[node_name].run("nft delete table inet kwtest_foreign; rm -f /root/kwtest-foreign.nft")
        for host in nodes.values():
            host.run(f"sed -i '/^{MARK}$/d' /etc/hosts")


def test_a_forward_chain_that_drops_pod_traffic_stops_the_run(converged, nodes, spec):
    pods = []
    had_filter_table = nodes[NODE].run("nft list table ip filter").rc == 0
    try:
        for name, node_name in (("kwfwd-client", "node01"), ("kwfwd-server", NODE)):
            node = spec.node(node_name)
            conflist = json.loads(nodes[node_name].file(f"{node.cni.conf_dir}/10-kubewire.conflist").content_string)
            pods.append(Pod(nodes[node_name], name, conflist, node.cni.bin_dir))
            pods[-1].add()
        client, server = pods
        with listeners(server, tcp_ports=(8000,)):
            assert tcp_reachable(client, server.ip, (8000,)) == {8000: True}  # before: pods reach each other
            nodes[NODE].run_test("iptables -P FORWARD DROP")  # what Docker does (iptables-nft on Debian)
            assert tcp_reachable(client, server.ip, (8000,)) == {8000: False}
        for host in nodes.values():
            host.run(f"echo '{MARK}' >> /etc/hosts")

        refused = run_pyinfra(converged.inventory, "--json")
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0
        assert (f"{NODE} has another firewall: nftables table ip filter, chain FORWARD (policy drop) drops forwarded "
                f"pod traffic. Pods would not reach each other: accept forwarding from and to the pod network "
                f"{spec.pod_cidr}") in output, output[-2000:]
        for name, host in nodes.items():
            assert MARK in host.file("/etc/hosts").content_string, f"{name} was changed"
    finally:
        nodes[NODE].run("iptables -P FORWARD ACCEPT" if had_filter_table else "nft delete table ip filter")
        for pod in pods:
            if pod.result:
                pod.delete()
            pod.remove_netns()
        for host in nodes.values():
            host.run(f"sed -i '/^{MARK}$/d' /etc/hosts")
