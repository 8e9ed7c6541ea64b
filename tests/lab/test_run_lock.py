"""Two runs at once: the second stops before changing anything, naming the run that holds the
nodes; once that run's controller dies (SIGKILL), the lock is free again."""

import subprocess
import sys
import time
from pathlib import Path

from kubewire.runlock import LOCK_FILE
from tests.harness import ROOT, run_pyinfra

HOLDER_DEPLOY = Path(__file__).with_name("hold_run_lock.py")
MARK = "# planted by the run-lock test: a refused run leaves this line"



def wait_for_holder(nodes, pid: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(f"(pid {pid})" in host.run(f"cat {LOCK_FILE}").stdout for host in nodes.values()):
            return
        time.sleep(0.5)
    raise AssertionError(f"the holding run (pid {pid}) did not take every node's lock in {timeout:.0f} s")


def test_a_second_run_is_refused_while_another_holds_the_nodes_and_runs_once_it_died(converged, nodes, tmp_path):
    holder = subprocess.Popen([sys.executable, "-m", "pyinfra", str(converged.inventory), str(HOLDER_DEPLOY), "-y"],
                              cwd=ROOT, stdout=(tmp_path / "holder.log").open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for_holder(nodes, holder.pid)
        for host in nodes.values():
            host.run(f"echo '{MARK}' >> /etc/hosts")

        refused = run_pyinfra(converged.inventory)
        output = refused.stdout + refused.stderr
        assert refused.returncode != 0, output[-2000:]
        assert "another kubewire run holds this node" in output, output[-2000:]
        assert f"(pid {holder.pid}) since " in output, output[-2000:]
        for name, host in nodes.items():
            assert MARK in host.file("/etc/hosts").content_string, f"the refused run changed {name}"
    finally:
        holder.kill()  # the controller dies mid-run: its SSH connections drop with it
        holder.wait(timeout=30)

    after = run_pyinfra(converged.inventory)
    assert after.returncode == 0, (after.stdout + after.stderr)[-2000:]
    for name, host in nodes.items():
        assert MARK not in host.file("/etc/hosts").content_string, f"{name} was not converged after the holder died"
