"""The kubeadm role on lab nodes without Kubernetes packages: one clear message, nothing changed."""

import subprocess
import sys

from tests.harness import ROOT, run_deploy

# What the role would have written or installed had it started.
TRACES = ("/etc/apt/sources.list.d/kubernetes.list", "/etc/apt/keyrings/kubernetes-apt-keyring.gpg",
          "/etc/kubewire/kubeadm-config.yaml", "/etc/kubernetes")


def test_bootstrap_without_packages_stops_before_any_change(converged, nodes):
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(converged.inventory), "deploys/cluster.py", "-y",
         "--data", "kubeadm_enabled=True"], cwd=ROOT, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "kubelet, kubeadm, kubectl 1.33.5 are not in this node's apt sources" in output, output[-3000:]
    assert "kubeadm_packages_source 'pkgs.k8s.io'" in output and "nothing was changed" in output
    assert output.count("are not in this node's apt sources") == 1  # one message, not one per node
    for node in nodes.values():
        assert [path for path in TRACES if node.file(path).exists] == []
        assert not node.package("kubeadm").is_installed
    # Nothing half-done: the next ordinary run has nothing to change.
    assert run_deploy(converged.inventory)["results"]["totals"]["success"] == 0
