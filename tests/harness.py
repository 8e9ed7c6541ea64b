"""What the lab, host and lifecycle tests share: the checkout's inventory and deploy, the session
lab's nodes per Debian release, and a real run of the pyinfra CLI (fixtures are in
tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from kubewire import lab
from kubewire.paths import REPOSITORY_ROOT

ROOT = REPOSITORY_ROOT
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


def run_pyinfra(inventory: Path, *args: str, deploy: Path = MAIN_DEPLOY) -> subprocess.CompletedProcess:
    """The real pyinfra CLI on `deploy` (with `args`, e.g. `--json`, `--data KEY=VALUE`), whatever its exit."""
    return subprocess.run([sys.executable, "-m", "pyinfra", str(inventory), str(deploy), "-y", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def run_deploy(inventory: Path, deploy: Path = MAIN_DEPLOY, extra_args: Sequence[str] = ()) -> dict:
    """Run the real pyinfra CLI (with `extra_args`, e.g. `--data KEY=VALUE`) and return its JSON results
    (raises when it fails)."""
    result = run_pyinfra(inventory, "--json", *extra_args, deploy=deploy)
    if result.returncode != 0:
        raise AssertionError(f"pyinfra failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    results = json.loads(result.stdout)
    results["log"] = result.stderr  # pyinfra's messages (warnings, notices) go to stderr with --json
    return results


def deploy_totals(inventory: Path, cni_plugin: str | None = None, extra_args: Sequence[str] = ()) -> dict:
    """Run the main deploy (optionally with cni_plugin or other --data overridden); its totals."""
    extra = (["--data", f"cni_plugin={cni_plugin}"] if cni_plugin else []) + list(extra_args)
    return run_deploy(inventory, extra_args=extra)["results"]["totals"]
