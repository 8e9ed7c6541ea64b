"""The `kubewire` command against the session's lab, as a user runs it."""

import subprocess
import sys

from tests.harness import LOCAL_INVENTORY, ROOT

KUBEWIRE = [sys.executable, "-m", "kubewire.cli"]


def kubewire(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*KUBEWIRE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_lab_status_lists_every_node_up(converged, spec):
    out = kubewire("lab", "status").stdout
    for node in spec.nodes:
        assert any(line.split()[:2] == [node.name, str(node.node_ip)] and line.endswith("up")
                   for line in out.splitlines()), out


def test_lab_ssh_runs_a_command_on_the_node(converged):
    result = kubewire("lab", "ssh", "node01", "hostname")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "node01"


def test_lab_ssh_refuses_an_unknown_node(converged):
    result = kubewire("lab", "ssh", "node99", "hostname")
    assert result.returncode != 0 and "no lab node named 'node99'" in result.stderr


def test_verify_passes_on_the_converged_lab(converged):
    result = kubewire("verify", str(LOCAL_INVENTORY), "-q")
    assert result.returncode == 0, result.stdout[-2000:]
    assert " passed" in result.stdout


def test_lab_up_refuses_an_unknown_suite_before_touching_the_lab(converged):
    before = kubewire("lab", "status").stdout
    result = kubewire("lab", "up", "--suite", "bookworm,buster")
    assert result.returncode != 0
    assert "--suite 'bookworm,buster'" in result.stderr and "bookworm, trixie" in result.stderr, result.stderr
    assert kubewire("lab", "status").stdout == before
