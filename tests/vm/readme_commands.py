"""The README's commands for the Vagrant lab, run as a user types them inside the lab's network
namespace; and the session's timings (the fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess

from kubewire import lab
from tests.vm import vmlab

ROOT = vmlab.ROOT
INVENTORY = "inventories/lab.py"
README_DEPLOY = [".venv/bin/pyinfra", INVENTORY, "deploys/cluster.py", "-y"]
README_VERIFY = [".venv/bin/kubewire", "verify", INVENTORY]
TIMINGS: dict = {}


def command_env() -> dict:
    """The environment the README's commands get: no route to GitHub, so the CNI plugins come
    as the lab's release-style tarball (inventories/group_data/lab.py)."""
    return {**os.environ, "KUBEWIRE_CNI_TARBALL": str(lab.cni_tarball()),
            "KUBEWIRE_CNI_TARBALL_SHA256": lab.cni_tarball_sha256(),
            "KUBEWIRE_CNI_VERSION": lab.cni_tarball_version(), "KUBEWIRE_LAB_ONLY": "1"}


def in_lab(command: list[str], timeout: float = 1200, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command inside the lab's namespace, from the repository root."""
    return subprocess.run(vmlab.in_netns(*command), cwd=ROOT, env={**command_env(), **(extra_env or {})},
                          capture_output=True, text=True, timeout=timeout)


def deploy_totals(*extra: str) -> dict:
    """The main job with --json (and extra arguments such as --data); its totals."""
    result = in_lab([".venv/bin/pyinfra", INVENTORY, "deploys/cluster.py", "-y", "--json", *extra])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(result.stdout)["results"]["totals"]
