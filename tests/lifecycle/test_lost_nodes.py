"""The lab keeps track of its nodes whatever happens to their systemd-nspawn: status says what
really runs, stop leaves nothing running, start never boots a second systemd on one root, and
up restarts only what is missing."""

import subprocess
import sys

from kubewire import lab
from tests.harness import ROOT
from tests.lifecycle.processes import kill_nspawn, netns_processes, nspawn_pid, output_of, quiet, systemd_inits


def lab_status() -> dict[str, str]:
    """`kubewire lab status` as a user reads it: node name -> its state column."""
    result = subprocess.run([sys.executable, "-m", "kubewire.cli", "lab", "status"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines()[1:]}


def test_killed_nspawn_status_start_and_stop_tell_and_leave_the_truth(fresh_lab):
    nodes = {node.name: node for node in lab.up(2, log=quiet)}
    node = nodes["node01"]
    [first_systemd] = systemd_inits(node)
    kill_nspawn("node01")
    # systemd and sshd outlive their systemd-nspawn: the node still answers SSH...
    assert systemd_inits(node) == [first_systemd]
    assert output_of(node, "hostname").strip() == "node01"
    # ...and status must not call that stopped.
    assert lab_status() == {"controlplane": "up", "node01": "orphaned"}

    lab.start_node("node01", log=quiet)
    inits = systemd_inits(node)
    assert len(inits) == 1 and first_systemd not in inits, f"systemd instances in node01: {inits}"
    assert output_of(node, "systemctl is-system-running --wait").strip() in ("running", "degraded")
    assert lab_status() == {"controlplane": "up", "node01": "up"}

    lab.stop_node("node01")
    assert netns_processes(node) == []
    assert lab.live_processes(node) == []
    assert lab_status() == {"controlplane": "up", "node01": "stopped"}
    lab.start_node("node01", log=quiet)
    assert len(systemd_inits(node)) == 1
    assert lab_status() == {"controlplane": "up", "node01": "up"}


def test_up_restarts_only_the_missing_nodes_and_keeps_the_others(fresh_lab):
    nodes = {node.name: node for node in lab.up(3, log=quiet)}
    for node in nodes.values():
        output_of(node, f"echo {node.name} > /root/kept")
    kept_pids = {name: nspawn_pid(name) for name in ("controlplane", "node02")}
    kill_nspawn("node01")

    lab.up(3, log=quiet)
    assert {name: nspawn_pid(name) for name in kept_pids} == kept_pids, "running nodes were restarted"
    assert lab_status() == {"controlplane": "up", "node01": "up", "node02": "up"}
    assert len(systemd_inits(nodes["node01"])) == 1
    for node in nodes.values():  # every node's disk was kept, the restarted one's too
        assert output_of(node, "cat /root/kept").strip() == node.name

    # A smaller lab stops and removes the nodes beyond it, and keeps the rest.
    lab.up(2, log=quiet)
    assert nspawn_pid("controlplane") == kept_pids["controlplane"]
    assert netns_processes(nodes["node02"]) == [] and not nodes["node02"].dir.exists()
    assert lab_status() == {"controlplane": "up", "node01": "up"}
