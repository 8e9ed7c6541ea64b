"""The README's commands for the Vagrant lab, run as a user types them inside the lab's network
namespace; and the session's timings (the fixtures are in conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess

from kubewire import lab
from kubewire.inventory import load_inventory
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


def vm_hosts(sudo: bool = True) -> dict:
    """testinfra hosts by node name, as the inventory's SSH user (vagrant), with or without sudo."""
    targets = ssh_targets(load_inventory(ROOT / INVENTORY))
    for target in targets.values():
        lab.assert_lab_address(target.hostname)
    return {name: testinfra_host(target if sudo else target.__class__(**{**target.__dict__, "sudo": False}))
            for name, target in targets.items()}
