"""`kubewire diagram`: the picture holds every node, pod subnet, route and service address of
the spec (read back from the SVG Graphviz wrote), for the lab, the Vagrant lab and 20 nodes."""

import re
import shutil
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner

from kubewire import lab
from kubewire.cli import main
from kubewire.diagram import parse_live, pod_routes
from kubewire.inventory import load_inventory, spec_from_inventory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (make setup)")


def inventory_of(tmp_path: Path, count: int, extra: str = "") -> Path:
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text((ROOT / "inventories/group_data/all.py").read_text() + extra)
    hosts = [(f"node{i:02d}" if i else "controlplane", f"192.168.56.{10 + i}") for i in range(count)]
    (tmp_path / "inventory.py").write_text(
        f"controlplane = [({hosts[0][0]!r}, {{'node_ip': {hosts[0][1]!r}}})]\n"
        f"workers = {[(name, {'node_ip': ip}) for name, ip in hosts[1:]]!r}\n")
    return tmp_path / "inventory.py"


def svg_text(inventory: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(main, ["diagram", str(inventory), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return unescape(" ".join(re.findall(r">([^<>]+)</text>", out.read_text())))


@pytest.mark.parametrize("inventory", ["inventories/local.py", "inventories/lab.py"])
def test_every_node_subnet_route_and_service_address_is_drawn(inventory, tmp_path):
    if inventory == "inventories/local.py" and lab.cni_tarball_sha256() is None:
        pytest.skip("inventories/local.py names the lab's CNI tarball, built by `kubewire lab up` (not yet here)")
    spec = spec_from_inventory(load_inventory(str(ROOT / inventory)))
    text = svg_text(ROOT / inventory, tmp_path / "cluster.svg")
    for node in spec.nodes:
        assert node.name in text and f"node_ip {node.node_ip}" in text
        assert f"pods {spec.pod_cidr_for(node.host)} on bridge {node.cni.bridge}" in text
        for subnet, via in pod_routes(spec, node).items():
            assert f"{subnet} via {via}" in text
    for fact in (f"service range {spec.service_cidr}", f"kubernetes API {spec.api_service_ip}",
                 f"cluster DNS {spec.cluster_dns_ip}", f"kube-proxy mode {spec.kube_proxy_mode}", "6443/tcp"):
        assert fact in text


def test_twenty_nodes_are_all_drawn_and_a_png_is_written(tmp_path):
    inventory = inventory_of(tmp_path, 20)
    text = svg_text(inventory, tmp_path / "cluster.svg")
    assert all(f"node{i:02d}" in text for i in range(1, 20))
    CliRunner().invoke(main, ["diagram", str(inventory), "--out", str(tmp_path / "cluster.png")])
    assert (tmp_path / "cluster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_weave_draws_the_overlay_instead_of_routes(tmp_path):
    inventory = inventory_of(tmp_path, 3, extra='\ncni_plugin = "weave"\n')
    text = svg_text(inventory, tmp_path / "cluster.svg")
    assert "weave overlay" in text and "6783/tcp" in text
    assert " via 192.168.56." not in text


def test_an_unknown_picture_format_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["diagram", str(ROOT / "inventories/local.py"), "--out", str(tmp_path / "x.jpg")])
    assert result.exit_code == 2 and ".svg or .png" in result.output


def test_the_live_probe_output_is_parsed():
    live = parse_live("@@addresses\n127.0.0.1/8\n192.168.56.11/24\n@@routes\n"
                      "10.244.10.0/24 via 192.168.56.10 dev eth0 proto kubewire\n@@bridges\ncni0\n")
    assert live.addresses == {"127.0.0.1", "192.168.56.11"}
    assert live.routes == {"10.244.10.0/24": "192.168.56.10"}
    assert live.bridges == {"cni0"}
