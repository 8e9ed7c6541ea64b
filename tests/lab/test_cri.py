"""containerd proven through the CRI, the API the kubelet itself uses, on converged lab nodes.

A pod sandbox made with RunPodSandbox over containerd's socket (reached from the controller as
/proc/<node's PID 1>/root/run/containerd/containerd.sock) gets its address from kubewire's
conflist; a busybox httpd in it answers on the pod IP from another node without NAT and on the
node's address through its hostPort (portmap); its traffic to an address outside the pod network
leaves with the node's address; Stop/RemovePodSandbox frees the address. The whole proof runs once
per Debian release of the lab, with the pod on a node of that release and the client on a node
of another one.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from kubewire import lab
from tests.harness import first_node_of_each_suite, node_of_another_suite

HOST_PORT = 8080
# The listener "outside the pod network": a namespace of the test's own on the lab bridge, with no
# route out (replies go only to lab addresses on the bridge).
OUTSIDE_NS, OUTSIDE_VETH, OUTSIDE_IP, OUTSIDE_PORT = "kw-cri-outside", "kw-cri-out", "192.168.56.250", 9000
HTTP_PORT = 80
# busybox httpd with a CGI that answers with the address the pod sees its client at.
HTTPD = ("mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\n"
         "echo peer=$REMOTE_ADDR\\n' > /www/cgi-bin/peer && chmod 755 /www/cgi-bin/peer && "
         f"exec httpd -f -p {HTTP_PORT} -h /www")


def node_root(name: str) -> Path:
    """The node's root as the controller sees it: /proc/<its PID 1>/root (the child of its systemd-nspawn)."""
    entry = next(node for node in lab.read_state()["nodes"] if node["name"] == name)
    children = [stat.parent.name for stat in Path("/proc").glob("[0-9]*/stat")
                if _parent_pid(stat) == entry["pid"]]
    assert children, f"no process runs under {name}'s systemd-nspawn ({entry['pid']})"
    return Path(f"/proc/{children[0]}/root")


def _parent_pid(stat: Path) -> int | None:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # the process ended meanwhile


def peer_of(answer: str) -> str:
    """The client address the pod's httpd saw (it listens on IPv6 too: IPv4 peers come mapped)."""
    peer = answer.split("peer=", 1)[1].split()[0] if "peer=" in answer else ""
    return peer.removeprefix("[").removesuffix("]").removeprefix("::ffff:")


def http_get(node, address: str, port: int, path: str = "/cgi-bin/peer") -> str:
    """GET from a lab node with bash's /dev/tcp (busybox's wget is broken on bookworm)."""
    request = f"GET {path} HTTP/1.0\\r\\n\\r\\n"
    script = f"exec 3<>/dev/tcp/{address}/{port} && printf '{request}' >&3 && cat <&3"
    return node.run(f"timeout 10 bash -c {shlex.quote(script)}").stdout


# (pod node, client node): the pod on the first node of each suite, the client on a node of another.
PLACEMENTS = [pytest.param((pod, node_of_another_suite(pod)), id=f"pod-on-{suite}")
              for suite, pod in first_node_of_each_suite().items()]


@pytest.fixture(scope="module", params=PLACEMENTS)
def placement(request, converged):
    pod_node, client_node = request.param
    suites = {entry["name"]: entry["suite"] for entry in lab.read_state()["nodes"]}
    assert suites[pod_node] != suites[client_node], f"the lab's suites are not the ones planned: {suites}"
    return pod_node, client_node


@pytest.fixture(scope="module")
def images(spec, placement):
    pod_node, _client = placement
    if not spec.node(pod_node).containerd.enabled:
        pytest.skip("containerd_enabled is off for this inventory: no runtime to drive")
    found = lab.lab_images()
    assert spec.node(pod_node).containerd.sandbox_image == found.sandbox  # the lab's pause image
    return found


@pytest.fixture(scope="module")
def runtime(converged, spec, nodes, images, placement):
    from tests.cri.client import CriClient

    pod_node, _client = placement
    snapshotter = spec.node(pod_node).containerd.snapshotter
    nodes[pod_node].check_output(f"ctr -n k8s.io images import --snapshotter {snapshotter} {images.node_archive}")
    client = CriClient(str(node_root(pod_node) / "run/containerd/containerd.sock"))
    yield client
    for pod_id in client.pods():  # whatever a failed test left behind
        client.remove_pod(pod_id)
    client.close()


@pytest.fixture(scope="module")
def pod(runtime, images, spec, placement):
    parent = "kubewire-cri.slice" if spec.node(placement[0]).containerd.systemd_cgroup else "/kubewire-cri"
    sandbox = runtime.run_pod("cri-proof", parent, host_ports={HTTP_PORT: HOST_PORT})
    container = runtime.start_container(sandbox, "httpd", images.busybox, ["sh", "-c", HTTPD])
    yield sandbox, container, runtime.pod_ip(sandbox)
    if sandbox in runtime.pods():
        runtime.remove_pod(sandbox)


def test_the_runtime_answers_on_the_cri(runtime):
    version = runtime.version()
    assert version.runtime_name == "containerd" and version.runtime_api_version == "v1"


def test_the_pod_gets_its_address_from_the_nodes_pod_subnet(pod, spec, nodes, placement):
    pod_node, _client = placement
    _sandbox, _container, pod_ip = pod
    assert IPv4Address(pod_ip) in spec.pod_cidr_for(pod_node)
    leases = nodes[pod_node].check_output(f"ls /var/lib/cni/networks/{spec.node(pod_node).cni.network_name}")
    assert pod_ip in leases.split()


def test_the_pod_answers_another_node_on_its_ip_without_nat(pod, spec, nodes, placement):
    _pod_node, client_node = placement
    _sandbox, _container, pod_ip = pod
    answer = http_get(nodes[client_node], pod_ip, 80)
    assert peer_of(answer) == str(spec.node(client_node).node_ip), answer


def test_the_host_port_answers_on_the_nodes_address(pod, spec, nodes, placement):
    pod_node, client_node = placement
    answer = http_get(nodes[client_node], str(spec.node(pod_node).node_ip), HOST_PORT)
    assert peer_of(answer), answer


@pytest.fixture
def outside_listener():
    """A TCP listener on the lab bridge in a namespace with no route out; yields the peers it saw."""
    commands = [["ip", "netns", "add", OUTSIDE_NS],
                ["ip", "link", "add", OUTSIDE_VETH, "type", "veth", "peer", "name", "eth0", "netns", OUTSIDE_NS],
                ["ip", "link", "set", OUTSIDE_VETH, "master", "kw-br0", "up"],
                ["ip", "-n", OUTSIDE_NS, "addr", "add", f"{OUTSIDE_IP}/24", "dev", "eth0"],
                ["ip", "-n", OUTSIDE_NS, "link", "set", "eth0", "up"]]
    for command in commands:
        subprocess.run(command, check=True)
    server = subprocess.Popen(
        ["ip", "netns", "exec", OUTSIDE_NS, "python3", "-c",
         "import json, socket, sys\n"
         f"s = socket.create_server(('{OUTSIDE_IP}', {OUTSIDE_PORT}))\n"
         "s.settimeout(30)\n"
         "print(json.dumps('listening'), flush=True)\n"
         "connection, peer = s.accept()\n"
         "connection.sendall(b'outside\\n')\n"
         "print(json.dumps(peer[0]), flush=True)\n"], stdout=subprocess.PIPE, text=True)
    assert json.loads(server.stdout.readline()) == "listening"  # before any pod connects
    peers: list[str] = []
    reader = threading.Thread(target=lambda: peers.extend(json.loads(line) for line in server.stdout))
    reader.start()
    try:
        yield peers, reader
    finally:
        server.kill()
        server.wait()
        reader.join(timeout=5)
        subprocess.run(["ip", "link", "del", OUTSIDE_VETH], check=False)
        subprocess.run(["ip", "netns", "del", OUTSIDE_NS], check=False)


def test_traffic_leaving_the_pod_network_has_the_nodes_address(runtime, pod, spec, placement, outside_listener):
    _sandbox, container, _pod_ip = pod
    peers, reader = outside_listener
    status, output, _errors = runtime.exec_sync(
        container, ["nc", "-w", "5", OUTSIDE_IP, str(OUTSIDE_PORT)])
    reader.join(timeout=35)
    assert "outside" in output, (status, output)
    assert peers == [str(spec.node(placement[0]).node_ip)]


def test_removing_the_sandbox_frees_its_address(runtime, pod, spec, nodes, placement):
    pod_node, _client = placement
    sandbox, _container, pod_ip = pod
    runtime.remove_pod(sandbox)
    leases = nodes[pod_node].check_output(f"ls /var/lib/cni/networks/{spec.node(pod_node).cni.network_name}")
    assert pod_ip not in leases.split()
    assert sandbox not in runtime.pods()
