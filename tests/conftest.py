"""Shared fixtures.

Host tests (tests/hosts) run against `--inventory FILE` when given (that is what
`kubewire verify` does); otherwise the session builds the one-machine lab, converges it with
`pyinfra inventories/local.py deploys/cluster.py`, and takes it down at the end. Every test
outside tests/unit carries the `lab` marker: `pytest -m "not lab"` runs only what needs no lab.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubewire import lab
from kubewire.inventory import load_inventory, spec_from_inventory
from kubewire.spec import ClusterSpec
from kubewire.ssh import ssh_targets, testinfra_host
from tests.harness import LAB_NODES, LAB_SUITES, LOCAL_INVENTORY, ROOT, run_deploy

UNIT_TESTS = ROOT / "tests" / "unit"
def pytest_addoption(parser):
    parser.addoption("--inventory", default=None, help="check these hosts instead of building the lab")


def pytest_collection_modifyitems(items):
    """Host, lab and lifecycle tests need the lab (or `--inventory`): mark them `lab`."""
    for item in items:
        if not item.path.is_relative_to(UNIT_TESTS):
            item.add_marker(pytest.mark.lab)


@dataclass
class Converged:
    inventory: Path
    first_run: dict | None  # the deploy's results when this session converged the lab


@pytest.fixture(scope="session")
def converged(request) -> Converged:
    given = request.config.getoption("--inventory")
    if given:
        return Converged(Path(given), None)
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (network namespaces, mounts, systemd-nspawn)")
    lab.up(LAB_NODES, LAB_SUITES, recreate=True, log=lambda *_: None)
    request.addfinalizer(lambda: lab.down(log=lambda *_: None))
    return Converged(LOCAL_INVENTORY, run_deploy(LOCAL_INVENTORY))


@pytest.fixture(scope="session")
def spec(converged) -> ClusterSpec:
    return spec_from_inventory(load_inventory(converged.inventory))


@pytest.fixture(scope="session")
def nodes(converged, spec):
    """testinfra hosts by node name, over SSH with host keys checked."""
    targets = ssh_targets(load_inventory(converged.inventory))
    if converged.inventory == LOCAL_INVENTORY or os.environ.get("KUBEWIRE_LAB_ONLY"):
        for target in targets.values():
            lab.assert_lab_address(target.hostname)
    return {spec.node(name).name: testinfra_host(target) for name, target in targets.items()}
