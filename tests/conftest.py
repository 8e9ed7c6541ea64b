"""Shared fixtures.

Host tests (tests/hosts) run against `--inventory FILE` when given (that is what
`kubewire verify` does); otherwise the session builds the one-machine lab, converges it with
`pyinfra inventories/local.py deploys/cluster.py`, and takes it down at the end. Every test
outside tests/unit carries the `lab` marker: `pytest -m "not lab"` runs only what needs no lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubewire import lab
from kubewire.inventory import load_inventory, spec_from_inventory
from kubewire.paths import REPOSITORY_ROOT
from kubewire.spec import ClusterSpec
from kubewire.ssh import ssh_targets, testinfra_host

ROOT = REPOSITORY_ROOT
UNIT_TESTS = ROOT / "tests" / "unit"
LOCAL_INVENTORY = ROOT / "inventories" / "local.py"
MAIN_DEPLOY = ROOT / "deploys" / "cluster.py"
LAB_NODES = 3
# The session's lab runs every supported Debian release, alternating across nodes (the default
# suite first: controlplane trixie, node01 bookworm, node02 trixie): one boot covers them all,
# and the host tests check every node.
LAB_SUITES = (lab.DEFAULT_SUITE, *(suite for suite in lab.SUITES if suite != lab.DEFAULT_SUITE))


def first_node_of_each_suite() -> dict[str, str]:
    """{suite: node name} in the session's lab."""
    first: dict[str, str] = {}
    for node in lab.lab_nodes(LAB_NODES, LAB_SUITES):
        first.setdefault(node.suite, node.name)
    return first


def node_of_another_suite(name: str) -> str:
    """The first node of the session's lab whose suite is not `name`'s (a peer across releases)."""
    suites = {node.name: node.suite for node in lab.lab_nodes(LAB_NODES, LAB_SUITES)}
    others = [other for other, suite in suites.items() if suite != suites[name]]
    assert others, f"the session's lab runs {suites[name]} only; it must run every suite of lab.SUITES"
    return others[0]


# For tests that pick one node: run once per suite, on the first node of each.
NODE_PER_SUITE = [pytest.param(name, id=f"{name}-{suite}") for suite, name in first_node_of_each_suite().items()]


def pytest_addoption(parser):
    parser.addoption("--inventory", default=None, help="check these hosts instead of building the lab")


def pytest_collection_modifyitems(items):
    """Host, lab and lifecycle tests need the lab (or `--inventory`): mark them `lab`."""
    for item in items:
        if not item.path.is_relative_to(UNIT_TESTS):
            item.add_marker(pytest.mark.lab)


def run_deploy(inventory: Path, deploy: Path = MAIN_DEPLOY) -> dict:
    """Run the real pyinfra CLI and return its JSON results (raises when it fails)."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), str(deploy), "-y", "--json"],
        cwd=ROOT, capture_output=True, text=True,
    )
    if result.returncode != 0:
        raise AssertionError(f"pyinfra failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    results = json.loads(result.stdout)
    results["log"] = result.stderr  # pyinfra's messages (warnings, notices) go to stderr with --json
    return results


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
