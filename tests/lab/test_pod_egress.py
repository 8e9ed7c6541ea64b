"""Pod egress: a pod reaches an address outside the pod network, and that listener sees the
node's address (masquerade), while pod-to-pod traffic across nodes keeps the pods' addresses --
with the firewall on or off, in each kube-proxy mode that runs here, and after a reboot.

The listener sits in a network namespace this test creates on the lab bridge, with an address
on the node network and no route out: a reply to a pod address would have nowhere to go.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time

import pytest

from kubewire import lab, ssh
from kubewire.inventory import load_inventory
from tests.harness import NODE_PER_SUITE, deploy_totals, node_of_another_suite
from tests.hosts.cni_runtime import Pod
from tests.hosts.netcheck import LISTEN_SECONDS, start_peer_echo

NODE, OTHER = "node01", "node02"  # for the tests that need one pair only
LISTENER_NETNS = "kwtest-egress"
LISTENER_LINK = "kwtest-eg0"  # its host end, a port of the lab bridge
LISTENER_IP = str(lab.LAB_NETWORK.network_address + 250)  # above every lab node's address
LISTENER_PORT = 8080
# Answers each connection with the address it came from, then closes it.
ECHO_PEER = (
    "import socket\n"
    f"server = socket.create_server(('0.0.0.0', {LISTENER_PORT}))\n"
    "while True:\n"
    "    conn, peer = server.accept()\n"
    "    conn.sendall(peer[0].encode() + b'\\n')\n"
    "    conn.close()\n"
)


@pytest.fixture(scope="module")
def listener(converged):
    """An echo-the-peer listener in a namespace of its own on kw-br0, with no default route."""
    if not lab.link_exists(lab.BRIDGE):
        pytest.skip("needs the one-machine lab's bridge (kubewire lab up)")
    _remove_listener_netns()
    lab.ip("netns", "add", LISTENER_NETNS)
    process = None
    try:
        lab.ip("link", "add", LISTENER_LINK, "type", "veth", "peer", "name", "eth0", "netns", LISTENER_NETNS)
        lab.ip("link", "set", LISTENER_LINK, "master", lab.BRIDGE, "up")
        lab.ip("-n", LISTENER_NETNS, "addr", "add", f"{LISTENER_IP}/{lab.LAB_NETWORK.prefixlen}", "dev", "eth0")
        lab.ip("-n", LISTENER_NETNS, "link", "set", "eth0", "up")
        lab.ip("-n", LISTENER_NETNS, "link", "set", "lo", "up")
        routes = lab.ip("-n", LISTENER_NETNS, "-4", "route", "show").stdout
        assert "default" not in routes and routes.strip(), routes  # only the bridge's own network
        process = subprocess.Popen(["ip", "netns", "exec", LISTENER_NETNS, "timeout", str(LISTEN_SECONDS * 10),
                                    sys.executable, "-c", ECHO_PEER],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        assert process.poll() is None, "the listener did not start"
        yield LISTENER_IP
    finally:
        if process is not None:
            process.terminate()  # timeout passes SIGTERM on to the listener
            process.wait(timeout=5)
        _remove_listener_netns()


def _remove_listener_netns() -> None:
    lab.ip("netns", "delete", LISTENER_NETNS, check=False)
    if lab.link_exists(LISTENER_LINK):
        lab.ip("link", "delete", LISTENER_LINK, check=False)


def node_host(converged, name):
    """A fresh SSH connection (a rebooted node's old one is gone)."""
    return ssh.testinfra_host(ssh.ssh_targets(load_inventory(converged.inventory))[name])


@contextlib.contextmanager
def pods_on(converged, spec, *placements):
    """Pods made with real CNI ADDs, one per (node, pod name); deleted afterwards."""
    made = []
    try:
        for node_name, pod_name in placements:
            host, cni = node_host(converged, node_name), spec.node(node_name).cni
            conflist = json.loads(host.file(f"{cni.conf_dir}/10-kubewire.conflist").content_string)
            made.append(Pod(host, pod_name, conflist, cni.bin_dir))
            made[-1].add()
        yield made
    finally:
        for pod in made:
            if pod.result:
                pod.delete()
            pod.remove_netns()


def seen_from(pod: Pod, address: str, port: int = LISTENER_PORT) -> str:
    """The source address the server at address:port saw this pod's connection come from."""
    return pod.run(f"socat -T 3 - TCP:{address}:{port},connect-timeout=3 </dev/null").stdout.strip()


def assert_egress_masqueraded_and_pod_traffic_not(pods, spec, listener, node_name=NODE):
    here, there = pods
    node_ip = str(spec.node(node_name).node_ip)
    assert seen_from(here, listener) == node_ip, "the listener outside the pod network must see the node"
    # Across nodes a pod keeps its own address.
    start_peer_echo(there)
    assert seen_from(here, there.ip, 8000) == here.ip


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_pod_egress_is_masqueraded_and_pod_to_pod_is_not(converged, spec, listener, node_name):
    with pods_on(converged, spec, (node_name, "kwegress-a"), (node_of_another_suite(node_name), "kwegress-b")) as pods:
        assert_egress_masqueraded_and_pod_traffic_not(pods, spec, listener, node_name)


@pytest.mark.parametrize("data", [["kube_proxy_mode=nftables"], ["firewall_enabled=False"]],
                         ids=["nftables-mode", "firewall-off"])
def test_pod_egress_in_another_mode(converged, spec, listener, data):
    extra = [arg for item in data for arg in ("--data", item)]
    try:
        assert deploy_totals(converged.inventory, extra_args=extra)["error"] == 0
        assert deploy_totals(converged.inventory, extra_args=extra)["success"] == 0
        with pods_on(converged, spec, (NODE, "kwegress-c"), (OTHER, "kwegress-d")) as pods:
            assert_egress_masqueraded_and_pod_traffic_not(pods, spec, listener)
    finally:
        assert deploy_totals(converged.inventory)["error"] == 0


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_pod_egress_survives_a_reboot(converged, spec, listener, node_name):
    lab.reboot_node(node_name)
    with pods_on(converged, spec, (node_name, "kwegress-e"), (node_of_another_suite(node_name), "kwegress-f")) as pods:
        assert_egress_masqueraded_and_pod_traffic_not(pods, spec, listener, node_name)
    assert deploy_totals(converged.inventory)["success"] == 0, "the rebooted node needed the deploy to recover"


def test_without_cni_mtu_pods_get_the_kernels_veth_mtu_not_the_nodes(converged, spec):
    """What the README says of cni_mtu's default: the bridge plugin sets no MTU, so a pod's
    interface gets the kernel's 1500 even when the node's own interface has less."""
    if spec.node(OTHER).cni.mtu is not None:
        pytest.skip("cni_mtu is set in this inventory")
    host = node_host(converged, OTHER)
    assert host.run("ip link set dev eth0 mtu 1400").rc == 0
    try:
        with pods_on(converged, spec, (OTHER, "kwegress-mtu")) as (pod,):
            assert pod.run("cat /sys/class/net/eth0/mtu").stdout.strip() == "1500"
    finally:
        host.run("ip link set dev eth0 mtu 1500")
