"""Switching `cni_plugin` from bridge to weave and back: each side's node files, routes and
ports follow, and re-runs change nothing."""

import json
import subprocess
import sys

from tests.conftest import MAIN_DEPLOY, ROOT
from tests.hosts.netcheck import listeners, tcp_reachable, udp_delivered

BRIDGE_FILES = ("/etc/cni/net.d/10-kubewire.conflist", "/etc/kubewire/pod-routes.sh")
WEAVE_TCP, WEAVE_UDP = 6783, (6783, 6784)


def deploy(inventory, cni_plugin=None, extra_args=()) -> dict:
    """Run the main job (optionally with cni_plugin or other --data overridden); its totals."""
    extra = (["--data", f"cni_plugin={cni_plugin}"] if cni_plugin else []) + list(extra_args)
    result = subprocess.run([sys.executable, "-m", "pyinfra", str(inventory), str(MAIN_DEPLOY), "-y", "--json", *extra],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return json.loads(result.stdout)["results"]["totals"]


def weave_ports_open(nodes, spec, target_name, client_name) -> dict:
    target, client = nodes[target_name], nodes[client_name]
    address = str(next(node.node_ip for node in spec.nodes if node.name == target_name))
    with listeners(target, tcp_ports=(WEAVE_TCP,), udp_ports=WEAVE_UDP):
        opened = {f"{WEAVE_TCP}/tcp": tcp_reachable(client, address, (WEAVE_TCP,))[WEAVE_TCP]}
        opened.update({f"{port}/udp": udp_delivered(client, target, address, port) for port in WEAVE_UDP})
    return opened


def test_switch_to_weave_and_back(converged, nodes, spec):
    inventory = converged.inventory
    assert deploy(inventory, "weave")["error"] == 0
    for name, host in nodes.items():
        assert not any(host.file(path).exists for path in BRIDGE_FILES), f"{name} keeps bridge files"
        assert host.run("ip route show proto 75").stdout.strip() == "", f"{name} keeps pod routes"
        assert host.run("systemctl is-enabled kubewire-pod-routes.service").stdout.strip() in ("", "disabled")
    assert weave_ports_open(nodes, spec, "node01", "node02") == {"6783/tcp": True, "6783/udp": True, "6784/udp": True}
    assert weave_ports_open(nodes, spec, "controlplane", "node01") == {
        "6783/tcp": True, "6783/udp": True, "6784/udp": True}
    assert deploy(inventory, "weave")["success"] == 0

    assert deploy(inventory)["error"] == 0
    for name, host in nodes.items():
        assert all(host.file(path).exists for path in BRIDGE_FILES), f"{name} lacks bridge files"
        assert host.run("ip route show proto 75").stdout.count("via") == len(spec.nodes) - 1
    assert weave_ports_open(nodes, spec, "node01", "node02") == {
        "6783/tcp": False, "6783/udp": False, "6784/udp": False}
    assert deploy(inventory)["success"] == 0
