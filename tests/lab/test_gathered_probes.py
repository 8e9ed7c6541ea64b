"""A whole-node read answers every probe as the probe answers alone, on a converged node of each
Debian release: the probes a read gathers into one command (file digests, packages, loaded units,
iptables lines, sshd's ports, nftables tables) are picked on the controller from real systemctl,
dpkg-query, ss, sshd, iptables and nft output."""

import json
import os

import pytest

from tests.harness import NODE_PER_SUITE, ROOT, run_pyinfra

READ_TWICE = ROOT / "tests" / "lab" / "read_twice.py"
GATHERERS = ["FileDigests", "IptablesLines", "LoadedUnits", "NftTables", "PackageStates", "SshdPorts"]


@pytest.fixture(scope="module")
def reads(converged, tmp_path_factory):
    directory = tmp_path_factory.mktemp("reads")
    os.environ["KUBEWIRE_READS_DIR"] = str(directory)
    try:
        run = run_pyinfra(converged.inventory, deploy=READ_TWICE)
    finally:
        del os.environ["KUBEWIRE_READS_DIR"]
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return {path.stem: json.loads(path.read_text()) for path in directory.glob("*.json")}


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_a_whole_node_read_answers_every_probe_as_it_answers_alone(reads, spec, node_name):
    read = reads[spec.node(node_name).host]
    assert read["gathered"] == GATHERERS
    assert read["together"] == read["alone"]
    # What the gathered probes found on a converged node: not empty answers compared with empty ones.
    assert read["alone"]["prereqs"]["packages"] and read["alone"]["prereqs"]["swap units"] == []
    assert read["alone"]["firewall"]["sshd ports"] == ["22"]
    assert read["alone"]["containerd"]["state"][:1] == ["active"]
    assert read["alone"]["firewall"]["table listing"][:1] == ["table inet kubewire {"]
    assert read["alone"]["cni"]["masquerade listing"][-1:] == ["}"]
