"""The pod network, proven with real CNI calls on each node (see cni_runtime.py): addresses
from the node's subnet, pod-to-pod on one node and across nodes without NAT, pod-to-node,
CHECK and DEL -- all with the firewall's policy drop in place."""

import json
from ipaddress import IPv4Address

import pytest

from kubewire.roles.cni import LEGACY_LOOPBACK_SHA256
from tests.hosts.checks import check_each
from tests.hosts.cni_runtime import Pod
from tests.hosts.netcheck import start_peer_echo

CONFLIST = "10-kubewire.conflist"


def node_settings(spec, name):
    return next(node for node in spec.nodes if node.name == name)


def installed_conflist(host, spec, name) -> dict:
    return json.loads(host.file(f"{node_settings(spec, name).cni.conf_dir}/{CONFLIST}").content_string)


def test_bridge_config_is_the_active_one_with_the_node_subnet(nodes, spec):
    def check(name, host):
        node = node_settings(spec, name)
        conf_dir = node.cni.conf_dir
        loaded = sorted(f for f in host.run(f"ls -1 {conf_dir}").stdout.split()
                        if f.endswith((".conf", ".conflist", ".json")))
        assert loaded[0] == CONFLIST, f"the runtime would load {loaded[0]}"
        conflist = installed_conflist(host, spec, name)
        bridge = conflist["plugins"][0]
        assert conflist["cniVersion"] == "1.0.0" and bridge["type"] == "bridge" and bridge["ipMasq"] is False
        assert bridge["ipam"]["ranges"][0][0]["subnet"] == str(spec.pod_cidr_for(node.host))
        assert [p["type"] for p in conflist["plugins"]] == ["bridge", "portmap"]
        # The runtime sets up lo itself (containerd's CRI: go-cni WithLoNetwork): no loopback config of ours.
        legacy = host.file(f"{conf_dir}/99-loopback.conf")
        assert not legacy.exists or legacy.sha256sum != LEGACY_LOOPBACK_SHA256
    check_each(nodes, check)


def test_pod_traffic_leaving_the_pod_network_is_masqueraded_at_boot_too(nodes, spec):
    def check(name, host):
        table = host.run("nft list table ip kubewire_cni").stdout
        assert f"ip saddr {spec.pod_cidr} ip daddr {spec.pod_cidr} return" in table, table
        assert f"ip saddr {spec.pod_cidr} ip daddr != 224.0.0.0/4 masquerade" in table, table
        assert host.service("kubewire-pod-masquerade.service").is_enabled
    check_each(nodes, check)


def test_plugins_are_installed(nodes, spec):
    def check(name, host):
        bin_dir = node_settings(spec, name).cni.bin_dir
        for plugin in ("bridge", "host-local", "loopback", "portmap"):
            assert host.file(f"{bin_dir}/{plugin}").is_executable, plugin
    check_each(nodes, check)


def test_every_node_routes_the_other_pod_subnets_via_their_node(nodes, spec):
    def check(name, host):
        me = node_settings(spec, name)
        routes = {" ".join(line.split()[:3]) for line in host.run("ip -4 route show proto 75").stdout.splitlines()}
        expected = {f"{spec.pod_cidr_for(n.host)} via {n.node_ip}" for n in spec.nodes if n.host != me.host}
        assert routes == expected
        assert host.service("kubewire-pod-routes.service").is_enabled
    check_each(nodes, check)


@pytest.fixture
def pods(nodes, spec):
    """Two pods on the first worker, one on the second (or on the controlplane)."""
    names = [node.name for node in spec.nodes]
    first, second = (names[1], names[2]) if len(names) > 2 else (names[0], names[-1])
    created = []
    try:
        for pod_name, node_name in (("kwpod-a1", first), ("kwpod-a2", first), ("kwpod-b1", second)):
            host = nodes[node_name]
            pod = Pod(host, pod_name, installed_conflist(host, spec, node_name),
                      node_settings(spec, node_name).cni.bin_dir)
            created.append(pod)
            pod.add()
        yield {"a1": created[0], "a2": created[1], "b1": created[2], "first": first, "second": second}
    finally:
        for pod in created:
            if pod.result:
                pod.delete()
            pod.remove_netns()


def test_pods_get_addresses_from_their_node_subnet(pods, spec):
    for key, node in (("a1", pods["first"]), ("a2", pods["first"]), ("b1", pods["second"])):
        subnet = spec.pod_cidr_for(node_settings(spec, node).host)
        assert IPv4Address(pods[key].ip) in subnet, f"{key}: {pods[key].ip} not in {subnet}"
    assert pods["a1"].ip != pods["a2"].ip


def test_pods_on_one_node_reach_each_other(pods):
    assert pods["a1"].run(f"ping -c 1 -W 2 {pods['a2'].ip}").rc == 0


def test_pod_reaches_pod_on_another_node_without_nat(pods):
    server, client = pods["b1"], pods["a1"]
    start_peer_echo(server)
    seen = client.run(f"socat -T 3 - TCP:{server.ip}:8000,connect-timeout=3 </dev/null").stdout.strip()
    assert seen == client.ip, f"the server saw {seen!r}, the client is {client.ip}"


def test_pod_reaches_its_own_node_and_another_node(pods, spec):
    for node_name in (pods["first"], pods["second"]):
        address = node_settings(spec, node_name).node_ip
        assert pods["a1"].run(f"ping -c 1 -W 2 {address}").rc == 0, f"pod a1 cannot reach {node_name}"


def test_check_passes_on_a_live_pod(pods):
    assert pods["a1"].check() == []


def test_del_removes_the_interface_and_frees_the_address(pods, spec):
    pod = pods["a2"]
    network = pod.conflist["name"]
    lease = f"/var/lib/cni/networks/{network}/{pod.ip}"
    assert pod.host.file(lease).exists
    pod.delete()
    assert pod.run("ip link show eth0").rc != 0
    assert not pod.host.file(lease).exists
    pod.result = {}
