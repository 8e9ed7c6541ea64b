"""Warnings: allowed, but probably not meant; shown by `kubewire check`, `render` and the deploy."""

from __future__ import annotations

from click.testing import CliRunner

from kubewire.cli import main
from kubewire.spec import parse_cluster
from tests.unit.spec_input import lab_hosts


def warnings_about(key: str, **settings) -> list[str]:
    return [warning.message for warning in parse_cluster(settings, lab_hosts()).warnings() if warning.key == key]


def test_kube_proxy_disabled_without_a_replacement():
    [message] = warnings_about("kube_proxy_enabled", kube_proxy_enabled=False)
    assert "no Service" in message and "does not replace it" in message


def test_network_policy_is_not_enforced_with_the_bridge_cni():
    [message] = warnings_about("cni_plugin", cni_plugin="bridge")
    assert "NetworkPolicy is not enforced" in message


def test_weave_enforces_network_policy():
    assert not any("NetworkPolicy" in message for message in warnings_about("cni_plugin", cni_plugin="weave"))


def test_masquerade_all_with_weave_breaks_its_network_policy():
    [message] = warnings_about("kube_proxy_masquerade_all", cni_plugin="weave", kube_proxy_masquerade_all=True)
    assert "breaks Weave Net's network policy" in message
    assert warnings_about("kube_proxy_masquerade_all", kube_proxy_masquerade_all=True) == []


def ingress_with(annotations: dict) -> dict:
    return {"name": "shop", "rules": ["shop.example.com/=shop:80"], "annotations": annotations}


def test_annotations_of_the_other_ingress_controller():
    resources = [ingress_with({"nginx.ingress.kubernetes.io/rewrite-target": "/"})]
    [message] = warnings_about("ingress_resources.shop.annotations", ingress_enabled=True,
                               ingress_controller="nginx-inc", ingress_resources=resources)
    assert "ingress-nginx's annotations" in message and "nginx.org/*" in message


def test_annotations_of_the_chosen_controller_are_fine():
    resources = [ingress_with({"nginx.org/rewrites": "serviceName=shop rewrite=/"})]
    assert warnings_about("ingress_resources.shop.annotations", ingress_enabled=True,
                          ingress_resources=resources) == []


def test_check_prints_warnings(tmp_path, monkeypatch):
    (tmp_path / "inventory.py").write_text('controlplane = [("cp", {"node_ip": "192.168.56.10"})]\n')
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data/all.py").write_text("kube_proxy_enabled = False\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "inventory.py"])
    assert result.exit_code == 0, result.output
    assert "kubewire: warning: kube_proxy_enabled = False: no Service" in result.stderr
    assert "kubewire: warning: cni_plugin = 'bridge': NetworkPolicy is not enforced" in result.stderr
