"""The Vagrant lab, run for real (make test-vm): three VMs under libvirt, then the README's
commands for it, run exactly as a user types them, all inside the lab's own network namespace.

The session brings the lab up once (box built once and cached), runs the main job and
`kubewire verify`, and tears everything down at the end, checking nothing is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from kubewire import lab
from kubewire.inventory import load_inventory, spec_from_inventory
from kubewire.lab import rootfs
from kubewire.ssh import ssh_targets, testinfra_host
from tests.vm import box, vmlab

ROOT = vmlab.ROOT
INVENTORY = "inventories/lab.py"
README_DEPLOY = [".venv/bin/pyinfra", INVENTORY, "deploys/cluster.py", "-y"]
# The README's override for VMs that cannot reach pkgs.k8s.io (as here): the network without the bootstrap.
BOOTSTRAP_OFF = ("--data", "kubeadm_enabled=False")
README_DEPLOY_WITHOUT_BOOTSTRAP = [*README_DEPLOY, *BOOTSTRAP_OFF]
README_VERIFY = [".venv/bin/kubewire", "verify", INVENTORY]
TIMINGS: dict = {}


def command_env() -> dict:
    """The environment the README's commands get: no route to GitHub, so the CNI plugins come
    as the box suite's release-style tarball (inventories/group_data/lab.py)."""
    return {**os.environ, "KUBEWIRE_CNI_TARBALL": str(rootfs.cni_tarball(box.SUITE)),
            "KUBEWIRE_CNI_TARBALL_SHA256": rootfs.cni_tarball_sha256(box.SUITE),
            "KUBEWIRE_CNI_VERSION": rootfs.cni_tarball_version(box.SUITE), "KUBEWIRE_LAB_ONLY": "1"}


def in_lab(command: list[str], timeout: float = 1200, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command inside the lab's namespace, from the repository root."""
    return subprocess.run(vmlab.in_netns(*command), cwd=ROOT, env={**command_env(), **(extra_env or {})},
                          capture_output=True, text=True, timeout=timeout)


def deploy_totals(*extra: str) -> dict:
    """The main job without the bootstrap, with --json (and extra arguments such as --data); its totals."""
    result = in_lab([*README_DEPLOY_WITHOUT_BOOTSTRAP, "--json", *extra])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)["results"]["totals"]


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line("VM lab timings (s): " + ", ".join(
            f"{key} {value:.0f}" if isinstance(value, float) else f"{key} {value}" for key, value in TIMINGS.items()))


@pytest.fixture(scope="session")
def vm_lab(request):
    if os.geteuid() != 0:
        pytest.fail("the VM lab needs root (network namespace, libvirtd)")

    def teardown():
        vmlab.leave_namespace()
        result = vmlab.down(log=lambda *_: None)
        TIMINGS["teardown"] = result["seconds"]
        leftovers = {key: value for key, value in result["left"].items() if value}
        assert not leftovers, f"the VM lab left {leftovers}"
    request.addfinalizer(teardown)
    TIMINGS.update(vmlab.up(log=lambda message: print(message, file=sys.stderr)))
    vmlab.join_namespace()  # this process's SSH (testinfra) stays inside the namespace too
    return TIMINGS


def vm_hosts(sudo: bool = True) -> dict:
    """testinfra hosts by node name, as the inventory's SSH user (vagrant), with or without sudo."""
    targets = ssh_targets(load_inventory(ROOT / INVENTORY))
    for target in targets.values():
        lab.assert_lab_address(target.hostname)
    return {name: testinfra_host(target if sudo else target.__class__(**{**target.__dict__, "sudo": False}))
            for name, target in targets.items()}


@dataclass
class Refusal:
    result: subprocess.CompletedProcess
    traces: dict[str, list[str]]  # by node: what kubewire would have made, found after the refused run


# What a run of the main job makes on a fresh VM (any role): none may exist after a refused run.
KUBEWIRE_TRACES = ("/etc/kubewire", "/etc/modules-load.d/kubewire.conf", "/etc/sysctl.d/90-kubewire.conf",
                   "/etc/containerd", "/etc/cni/net.d", "/opt/cni/bin", "/etc/apt/sources.list.d/kubernetes.list",
                   "/etc/apt/keyrings/kubernetes-apt-keyring.gpg", "/etc/kubernetes")


@pytest.fixture(scope="session")
def refused(vm_lab):
    """The README's main command as written, on the fresh VMs: the bootstrap is on and the VMs
    cannot reach pkgs.k8s.io, so it must stop before any change. What it left on the VMs."""
    result = in_lab(README_DEPLOY)
    traces = {name: [path for path in KUBEWIRE_TRACES if host.file(path).exists]
              + [package for package in ("containerd", "ipset") if host.package(package).is_installed]
              for name, host in vm_hosts().items()}
    return Refusal(result, traces)


@pytest.fixture(scope="session")
def converged(refused):
    """The README's main command with the bootstrap off, run once; its output."""
    started = time.monotonic()
    result = in_lab(README_DEPLOY_WITHOUT_BOOTSTRAP)
    TIMINGS["first converge"] = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def spec(vm_lab):
    return spec_from_inventory(load_inventory(ROOT / INVENTORY))


@pytest.fixture(scope="session")
def nodes(converged, spec):
    """testinfra hosts by node name, as the inventory's SSH user (vagrant) with sudo."""
    return vm_hosts()


@pytest.fixture(scope="session")
def plain_nodes(converged):
    """The same hosts without sudo: what the vagrant user itself can do."""
    return vm_hosts(sudo=False)
