"""What the lab, host and lifecycle tests share: the checkout's inventory and deploy, and a real run
of the pyinfra CLI (fixtures are in tests/conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from kubewire.paths import REPOSITORY_ROOT

ROOT = REPOSITORY_ROOT
LOCAL_INVENTORY = ROOT / "inventories" / "local.py"
MAIN_DEPLOY = ROOT / "deploys" / "cluster.py"


def run_deploy(inventory: Path, deploy: Path = MAIN_DEPLOY, extra_args: Sequence[str] = ()) -> dict:
    """Run the real pyinfra CLI (with `extra_args`, e.g. `--data KEY=VALUE`) and return its JSON results
    (raises when it fails)."""
    result = subprocess.run(
        [sys.executable, "-m", "pyinfra", str(inventory), str(deploy), "-y", "--json", *extra_args],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"pyinfra failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    results = json.loads(result.stdout)
    results["log"] = result.stderr  # pyinfra's messages (warnings, notices) go to stderr with --json
    return results


def deploy_totals(inventory: Path, cni_plugin: str | None = None, extra_args: Sequence[str] = ()) -> dict:
    """Run the main deploy (optionally with cni_plugin or other --data overridden); its totals."""
    extra = (["--data", f"cni_plugin={cni_plugin}"] if cni_plugin else []) + list(extra_args)
    return run_deploy(inventory, extra_args=extra)["results"]["totals"]
