"""The Vagrantfile is valid and defines the machines inventories/lab.py connects to."""

import os
import re
import shutil
import subprocess
from pathlib import Path

from kubewire.inventory import load_inventory, spec_from_inventory

ROOT = Path(__file__).resolve().parents[2]
VAGRANTFILE = (ROOT / "Vagrantfile").read_text()
MACHINE = re.compile(
    r'\{ name: "(?P<name>[^"]+)",\s+ip: "(?P<ip>[^"]+)", cpus: (?P<cpus>\d+), memory: (?P<memory>\d+) \}'
)


def test_vagrantfile_validates(tmp_path):
    shutil.copy(ROOT / "Vagrantfile", tmp_path / "Vagrantfile")
    # Vagrant's own state (boxes, plugins, data) in the test's directory, not ~/.vagrant.d.
    vagrant_home = tmp_path / "vagrant.d"
    result = subprocess.run(["vagrant", "validate", "--ignore-provider"], cwd=tmp_path,
                            env={**os.environ, "VAGRANT_HOME": str(vagrant_home)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert vagrant_home.is_dir()
    # It made kubewire's own key for the vagrant user, private.
    assert (tmp_path / ".vagrant/kubewire_key").stat().st_mode & 0o077 == 0


def test_vagrant_machines_match_the_lab_inventory():
    machines = {m["name"]: m.groupdict() for m in MACHINE.finditer(VAGRANTFILE)}
    spec = spec_from_inventory(load_inventory(ROOT / "inventories/lab.py"))
    assert {node.name: str(node.node_ip) for node in spec.nodes} == {n: m["ip"] for n, m in machines.items()}
    assert (machines["controlplane"]["cpus"], machines["controlplane"]["memory"]) == ("2", "2048")
    assert {"virtualbox", "libvirt"} <= set(re.findall(r'provider "(\w+)"', VAGRANTFILE))
