"""The Vagrant lab, run for real (make test-vm): three VMs under libvirt, then the README's
commands for it, run exactly as a user types them, all inside the lab's own network namespace.

The session brings the lab up once (box built once and cached), runs the main job and
`kubewire verify`, and tears everything down at the end, checking nothing is left behind.
"""

from __future__ import annotations

import os
import sys
import time

import pytest

from kubewire import lab
from kubewire.inventory import load_inventory, spec_from_inventory
from kubewire.ssh import ssh_targets, testinfra_host
from tests.vm import vmlab
from tests.vm.readme_commands import INVENTORY, README_DEPLOY, ROOT, TIMINGS, in_lab


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


@pytest.fixture(scope="session")
def converged(vm_lab):
    """The README's main command, run once; its output."""
    started = time.monotonic()
    result = in_lab(README_DEPLOY)
    TIMINGS["first converge"] = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="session")
def spec(vm_lab):
    return spec_from_inventory(load_inventory(ROOT / INVENTORY))


@pytest.fixture(scope="session")
def nodes(converged, spec):
    """testinfra hosts by node name, as the inventory's SSH user (vagrant) with sudo."""
    targets = ssh_targets(load_inventory(ROOT / INVENTORY))
    for target in targets.values():
        lab.assert_lab_address(target.hostname)
    return {name: testinfra_host(target) for name, target in targets.items()}


@pytest.fixture(scope="session")
def plain_nodes(converged):
    """The same hosts without sudo: what the vagrant user itself can do."""
    targets = ssh_targets(load_inventory(ROOT / INVENTORY))
    return {name: testinfra_host(target.__class__(**{**target.__dict__, "sudo": False}))
            for name, target in targets.items()}
