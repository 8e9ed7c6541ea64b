"""The Vagrant lab, run for real (make test-vm): three VMs under libvirt, then the README's
commands for it, run exactly as a user types them, all inside the lab's own network namespace.

The session brings the lab up once (box built once and cached), runs the main job and
`kubewire verify`, and tears everything down at the end, checking nothing is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from kubewire.inventory import load_inventory, spec_from_inventory
from tests.vm import vmlab
from tests.vm.readme_commands import (
    INVENTORY,
    README_DEPLOY,
    README_DEPLOY_WITHOUT_BOOTSTRAP,
    ROOT,
    TIMINGS,
    in_lab,
    vm_hosts,
)


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
