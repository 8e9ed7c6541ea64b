"""`kubewire diagram --live` reads the nodes and marks a pod route removed by hand."""

import re
import subprocess
import sys
from html import unescape

from tests.harness import ROOT


def test_live_diagram_marks_a_removed_pod_route(converged, spec, nodes, tmp_path):
    node, target = spec.node("node01"), spec.node("controlplane")
    subnet = spec.pod_cidr_for(target.host)
    nodes["node01"].run(f"ip route del {subnet}")
    try:
        out = tmp_path / "live.svg"
        result = subprocess.run([sys.executable, "-m", "kubewire.cli", "diagram", str(converged.inventory),
                                 "--live", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        text = unescape(" ".join(re.findall(r">([^<>]+)</text>", out.read_text())))
        assert f"live: missing route {subnet} via {target.node_ip}" in text
        assert text.count("live: missing route") == 1, "only the removed route differs"
        assert text.count("live: as in the spec") == len(spec.nodes) - 1, node.name
    finally:
        nodes["node01"].run("sh /etc/kubewire/pod-routes.sh")
