"""Every problem at once, and `kubewire check`'s report and exit status."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import kubewire.lab
from kubewire.cli import main
from kubewire.errors import SPEC_ERROR_EXIT
from kubewire.spec import Problem, SpecError
from tests.unit.spec_input import lab_hosts, node, spec_errors

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_field_errors_are_all_reported_together():
    settings = {
        "cni_plugin": "calico",
        "kube_proxy_mode": "userspace",
        "cluster_domain": "cluster.local.",
        "kubernetes_version": "1.28",
        "service_cidr": "banana",
    }
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.300")]
    error = spec_errors(settings, hosts)
    assert sorted(problem.key for problem in error.problems) == sorted([*settings, "hosts.node02.node_ip"])
    assert len(error.problems) == 6
    assert error.report().startswith("the cluster spec has 6 errors; nothing was changed:")


def test_cross_checks_are_all_reported_together():
    settings = {
        "pod_cidr": "10.100.0.0/16",  # inside the default service range
        "dns_service_ip": "10.96.0.1",  # the API server's address
        "kube_proxy_mode": "nftables",
        "kubernetes_version": "1.30",
    }
    hosts = lab_hosts(node01={"pod_cidr": "10.101.0.0/24"})  # outside pod_cidr
    error = spec_errors(settings, hosts)
    keys = [problem.key for problem in error.problems]
    assert sorted(keys) == sorted(["service_cidr", "dns_service_ip", "kube_proxy_mode", "hosts.node01.pod_cidr"])
    assert error.report().startswith("the cluster spec has 4 errors")


def test_report_lists_key_value_and_message():
    error = SpecError([Problem("cni_plugin", "calico", "is not a CNI plugin")])
    assert error.report() == ("the cluster spec has 1 error; nothing was changed:\n"
                              "  - cni_plugin = 'calico': is not a CNI plugin")
    assert str(error) == error.report()


BAD_INVENTORY = """\
controlplane = [("cp", {"node_ip": "192.168.56.10"})]
workers = [
    ("w1", {"node_ip": "192.168.56.300"}),
    ("w2", {"node_ip": "192.168.56.12", "pod_cidr": "10.244.99.1/24"}),
]
"""


BAD_GROUP_DATA = """\
kubernetes_version = "1.28"
cni_plugin = "calico"
kube_proxy_mode = "userspace"
cluster_domain = "cluster.local."
"""


def test_check_lists_every_error_and_exits_2(tmp_path, monkeypatch):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(BAD_GROUP_DATA)
    (tmp_path / "inventory.py").write_text(BAD_INVENTORY)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["check", "inventory.py"])

    assert result.exit_code == SPEC_ERROR_EXIT == 2, result.output
    expected = [
        "kubernetes_version = '1.28': is not supported; kubewire supports 1.29-1.36",
        "cni_plugin = 'calico': is not a CNI plugin kubewire configures; use one of: bridge, weave",
        "kube_proxy_mode = 'userspace': was removed from kube-proxy in Kubernetes 1.26",
        "cluster_domain = 'cluster.local.': is not a valid DNS domain",
        "hosts.w1.node_ip = '192.168.56.300': is not a valid IPv4 address (like 192.168.56.10)",
        "hosts.w2.pod_cidr = '10.244.99.1/24': has host bits set; the network is 10.244.99.0/24",
    ]
    for line in expected:
        assert line in result.stderr, f"{line!r} missing from:\n{result.stderr}"
    assert "the cluster spec has 6 errors; nothing was changed:" in result.stderr
    assert "node network" not in result.output  # no summary for a bad spec


def test_check_passes_the_local_lab_inventory(tmp_path, monkeypatch):
    monkeypatch.setattr(kubewire.lab.base, "STATE_DIR", tmp_path / "no-lab")  # no lab up: the default 3 nodes
    # The lab's plugins tarball is built by `kubewire lab up`; the spec checks it on the controller.
    tarball = tmp_path / "cni-plugins.tgz"
    tarball.write_bytes(b"plugins")
    monkeypatch.setattr(kubewire.lab, "cni_tarball", lambda: tarball)
    monkeypatch.setattr(kubewire.lab, "cni_tarball_sha256", lambda: hashlib.sha256(b"plugins").hexdigest())
    monkeypatch.chdir(PROJECT_ROOT)

    result = CliRunner().invoke(main, ["check", "inventories/local.py"])

    assert result.exit_code == 0, result.output
    assert "node network   192.168.56.0/24" in result.output
    assert "cluster DNS    10.96.0.10 (cluster.local)" in result.output
    for name, ip, subnet in [("controlplane", "192.168.56.10", "10.244.10.0/24"),
                             ("node01", "192.168.56.11", "10.244.11.0/24"),
                             ("node02", "192.168.56.12", "10.244.12.0/24")]:
        row = next((line for line in result.output.splitlines() if line.strip().startswith(name)), "")
        assert ip in row and f"pods {subnet}" in row, result.output


def test_one_problem_type_for_the_spec_and_for_rendered_objects():
    from kubewire.errors import ManifestError, exit_with

    problem = Problem.in_object("Service kube-system/kube-dns", "spec.clusterIP", "is outside service_cidr")
    assert str(problem) == "Service kube-system/kube-dns: spec.clusterIP: is outside service_cidr"
    error = ManifestError([problem, problem])
    assert error.report().startswith("the rendered manifests have 2 problems; nothing was applied:")
    with pytest.raises(SystemExit) as exited:
        exit_with(error)
    assert exited.value.code == 1
    assert SpecError([]).exit_code == SPEC_ERROR_EXIT == 2
