"""Pods reach only their own node: a pod on node01 (made with real CNI ADD calls) is dropped at
controlplane's etcd and kubelet ports, while a pod on controlplane reaches them, and both reach
the API server port that is open to everyone (so the drop is the firewall's, not routing)."""

import json

import pytest

from tests.hosts.cni_runtime import Pod
from tests.hosts.netcheck import listeners, tcp_reachable

TARGET = "controlplane"
GUARDED = (2379, 10250)  # etcd (controlplane nodes only), kubelet (node network)
OPEN = 6443  # the API server: from anywhere


@pytest.fixture
def pods(nodes, spec):
    created = []
    try:
        for pod_name, node_name in (("kwfw-local", TARGET), ("kwfw-remote", "node01")):
            node = spec.node(node_name)
            host = nodes[node_name]
            conflist = json.loads(host.file(f"{node.cni.conf_dir}/10-kubewire.conflist").content_string)
            pod = Pod(host, pod_name, conflist, node.cni.bin_dir)
            created.append(pod)
            pod.add()
        yield {pod.name: pod for pod in created}
    finally:
        for pod in created:
            if pod.result:
                pod.delete()
            pod.remove_netns()


def test_a_pod_reaches_only_its_own_node_guarded_ports(nodes, spec, pods):
    address = str(spec.node(TARGET).node_ip)
    with listeners(nodes[TARGET], tcp_ports=(*GUARDED, OPEN)):
        local = tcp_reachable(pods["kwfw-local"], address, (*GUARDED, OPEN))
        remote = tcp_reachable(pods["kwfw-remote"], address, (*GUARDED, OPEN))
    assert local == {2379: True, 10250: True, OPEN: True}, f"a pod on {TARGET} itself: {local}"
    assert remote == {2379: False, 10250: False, OPEN: True}, f"a pod on node01: {remote}"
