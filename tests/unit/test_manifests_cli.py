"""`kubewire render INVENTORY --out DIR`: one validated file per add-on, or an exit status that says why not."""

import shutil

import yaml
from click.testing import CliRunner

from kubewire import templates
from kubewire.cli import main

INVENTORY = '''
controlplane = [("controlplane", {"node_ip": "192.168.56.10"})]
workers = [("node01", {"node_ip": "192.168.56.11"})]
'''


def inventory(tmp_path, group_data: str = "") -> str:
    (tmp_path / "inventory.py").write_text(INVENTORY)
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data/all.py").write_text(group_data)
    return str(tmp_path / "inventory.py")


def render(tmp_path, group_data: str = ""):
    return CliRunner().invoke(main, ["render", inventory(tmp_path, group_data), "--out", str(tmp_path / "out")])


def test_writes_one_file_per_add_on_and_the_kubeadm_config(tmp_path):
    result = render(tmp_path)
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "coredns.yaml", "kube-proxy.yaml", "kubeadm-config.yaml"]
    objects = list(yaml.safe_load_all((tmp_path / "out/coredns.yaml").read_text()))
    [service] = [obj for obj in objects if obj["kind"] == "Service"]
    assert service["spec"]["clusterIP"] == "10.96.0.10"


def test_a_disabled_add_on_is_not_written(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out/coredns.yaml").write_text("# from an earlier render\n")
    result = render(tmp_path, "coredns_enabled = False\n")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out/coredns.yaml").exists()
    assert "coredns: disabled" in result.output


def test_spec_errors_exit_2_with_the_report(tmp_path):
    result = render(tmp_path, 'coredns_pods = "maybe"\n')
    assert result.exit_code == 2
    assert "coredns_pods = 'maybe': is not a pods mode of CoreDNS" in result.output
    assert not (tmp_path / "out").exists()


def test_warnings_are_shown(tmp_path):
    result = render(tmp_path, 'kube_proxy_mode = "ipvs"\n')
    assert result.exit_code == 0
    assert "warning: kube_proxy_mode = 'ipvs': upstream deprecated" in result.output


def test_check_shows_warnings_too(tmp_path):
    result = CliRunner().invoke(main, ["check", inventory(tmp_path, 'kube_proxy_mode = "ipvs"\n')])
    assert result.exit_code == 0
    assert "warning: kube_proxy_mode = 'ipvs'" in result.output


def test_a_manifest_failing_validation_exits_1_naming_object_and_field(tmp_path, monkeypatch):
    # A copy of the templates whose DNS Service takes the API server's address.
    broken = tmp_path / "templates"
    shutil.copytree(templates.TEMPLATES_DIR, broken)
    service = broken / "coredns/coredns.yaml.j2"
    service.write_text(service.read_text().replace("clusterIP: {{ spec.cluster_dns_ip }}", "clusterIP: 10.96.0.1"))
    monkeypatch.setattr(templates, "TEMPLATES_DIR", broken)
    result = render(tmp_path)
    assert result.exit_code == 1
    assert "Service kube-system/kube-dns: spec.clusterIP: 10.96.0.1 is the first address" in result.output
    assert not (tmp_path / "out").exists()
