"""`pyinfra INVENTORY deploys/cluster.py` stops on a bad spec (or a bad tarball on the controller)
before it connects to any host."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BAD_INVENTORY = '''
from kubewire.inventory import validate_before_connect
controlplane = [("controlplane", {"ssh_hostname": "192.168.56.10", "node_ip": "192.168.56.10"})]
workers = [("node01", {"ssh_hostname": "192.168.56.11", "node_ip": "10.96.0.20"})]
validate_before_connect(__file__)
'''


def test_pyinfra_exits_2_with_every_error_and_connects_to_nothing(tmp_path):
    (tmp_path / "inventory.py").write_text(BAD_INVENTORY)
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data/all.py").write_text('kube_proxy_mode = "userspace"\ndns_service_ip = "10.96.0.1"\n')
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(tmp_path / "inventory.py"), str(ROOT / "deploys/cluster.py"), "-y"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the cluster spec has 3 errors; nothing was changed" in result.stderr
    assert "kube_proxy_mode = 'userspace': was removed from kube-proxy in Kubernetes 1.26" in result.stderr
    assert "hosts.node01.node_ip = '10.96.0.20': lies inside service_cidr" in result.stderr
    assert "dns_service_ip = '10.96.0.1'" in result.stderr
    assert "Connecting to hosts" not in result.stdout + result.stderr


def test_pyinfra_no_wait_is_refused_with_the_spec_errors_before_it_connects(tmp_path):
    (tmp_path / "inventory.py").write_text(BAD_INVENTORY)
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(tmp_path / "inventory.py"), str(ROOT / "deploys/cluster.py"), "-y",
         "--no-wait"], cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "the cluster spec has 2 errors; nothing was changed" in result.stderr
    assert "pyinfra --no-wait: kubewire's roles need pyinfra's default order" in result.stderr
    assert "hosts.node01.node_ip = '10.96.0.20': lies inside service_cidr" in result.stderr
    assert "Connecting to hosts" not in result.stdout + result.stderr


GOOD_INVENTORY = '''
from kubewire.inventory import validate_before_connect
controlplane = [("controlplane", {"ssh_hostname": "192.168.56.10", "node_ip": "192.168.56.10"})]
validate_before_connect(__file__)
'''


def test_a_plugins_tarball_that_does_not_match_stops_pyinfra_before_it_connects(tmp_path):
    tarball = tmp_path / "cni-plugins.tgz"
    tarball.write_bytes(b"plugins")
    (tmp_path / "inventory.py").write_text(GOOD_INVENTORY)
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data/all.py").write_text(f'cni_plugins_source = "tarball"\ncni_plugins_tarball = "{tarball}"\n'
                                                f'cni_plugins_tarball_sha256 = "{"0" * 64}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(tmp_path / "inventory.py"), str(ROOT / "deploys/cluster.py"), "-y"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cni_plugins_tarball_sha256 = '{'0' * 64}': does not match cni_plugins_tarball {tarball}" in result.stderr
    assert "Connecting to hosts" not in result.stdout + result.stderr

