"""`kubewire lab`: nodes are real, distinct machines; `up` replaces a lab left behind;
`down` leaves nothing. Runs after the other lab tests (it replaces the session's lab)."""

import json
import subprocess
from pathlib import Path

import pytest

from kubewire import lab
from kubewire.ssh import SshTarget, connect

SCALE_NODES = 20


def run_on(node: lab.LabNode, command: str) -> str:
    target = SshTarget(node.name, str(node.ip), 22, "root", str(lab.client_key()), str(lab.known_hosts_file()), "yes")
    client = connect(target)
    try:
        _, stdout, _ = client.exec_command(command)
        return stdout.read().decode()
    finally:
        client.close()


def lab_traces() -> dict:
    """Everything `up` makes that `down` must remove."""
    mounts = Path("/proc/self/mounts").read_text()
    links = json.loads(subprocess.run(["ip", "-j", "link"], capture_output=True, text=True).stdout)
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
    return {
        "namespaces": [name for name in lab.netns_list() if name.startswith(lab.PREFIX)],
        "links": [link["ifname"] for link in links if link["ifname"].startswith(lab.PREFIX)],
        "mounts": [line for line in mounts.splitlines() if str(lab.STATE_DIR) in line],
        "nft": [line for line in tables.splitlines() if "kubewire_lab" in line],
        "state": lab.state_file().exists(),
        "node dirs": (lab.STATE_DIR / "nodes").exists(),
    }


NOTHING = {"namespaces": [], "links": [], "mounts": [], "nft": [], "state": False, "node dirs": False}


@pytest.fixture
def fresh_lab(converged):
    """Take the session's lab down first; leave none behind."""
    lab.down(log=lambda *_: None)
    yield
    lab.down(log=lambda *_: None)


def test_up_replaces_a_lab_left_behind_without_its_state(fresh_lab):
    first = lab.up(2, log=lambda *_: None)
    pids = [entry["pid"] for entry in lab.read_state()["nodes"]]
    lab.state_file().unlink()  # as if another checkout had made it
    lab.up(2, log=lambda *_: None)
    assert all(not Path(f"/proc/{pid}").exists() or not lab._alive(pid) for pid in pids)
    assert [row["ssh"] for row in lab.status()] == [True, True]
    assert run_on(first[1], "hostname").strip() == "node01"


def test_twenty_distinct_nodes_then_nothing_left(fresh_lab):
    nodes = lab.up(SCALE_NODES, log=lambda *_: None)
    assert [node.name for node in nodes[:3]] == ["controlplane", "node01", "node02"]
    facts = {}
    for node in nodes:
        out = run_on(node, "hostname; cat /etc/machine-id; cat /sys/class/net/eth0/address; "
                           "ps -o comm= -p 1; ip -4 -o addr show dev eth0; ip route show default").split("\n")
        facts[node.name] = out
        assert out[0] == node.name
        assert out[3] == "systemd", f"{node.name}: PID 1 is {out[3]}"
        assert f"inet {node.ip}/24" in out[4]
        assert out[5] == "", f"{node.name} has a default route: {out[5]}"  # nothing leaves the bridge
    for column, what in ((1, "machine-id"), (2, "MAC")):
        values = [out[column] for out in facts.values()]
        assert len(set(values)) == SCALE_NODES, f"{what}s are not unique: {values}"
    # Packets cross between nodes on the bridge.
    assert " 0% packet loss" in run_on(nodes[0], f"ping -c 1 -W 2 {nodes[-1].ip}")

    lab.down(log=lambda *_: None)
    assert lab_traces() == NOTHING
    lab.down(log=lambda *_: None)  # safe twice
    assert lab_traces() == NOTHING
