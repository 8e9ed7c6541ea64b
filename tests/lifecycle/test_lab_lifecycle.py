"""`kubewire lab`: nodes are real, distinct machines; `up` replaces a lab left behind;
`down` leaves nothing. Runs after the other lab tests (it replaces the session's lab)."""

from pathlib import Path

from kubewire import lab
from tests.lifecycle.processes import NOTHING, lab_traces, live, output_of, quiet

SCALE_NODES = 20


def test_up_replaces_a_lab_left_behind_without_its_state(fresh_lab):
    first = lab.up(2, log=quiet)
    pids = [entry["pid"] for entry in lab.read_state()["nodes"]]
    lab.state_file().unlink()  # as if another checkout had made it
    lab.up(2, log=quiet)
    assert not any(live(pid) for pid in pids)
    assert [row["state"] for row in lab.status()] == ["up", "up"]
    assert output_of(first[1], "hostname").strip() == "node01"


def test_twenty_distinct_nodes_then_nothing_left(fresh_lab):
    nodes = lab.up(SCALE_NODES, log=quiet)
    assert [node.name for node in nodes[:3]] == ["controlplane", "node01", "node02"]
    facts = {}
    for node in nodes:
        out = output_of(node, "hostname; cat /etc/machine-id; cat /sys/class/net/eth0/address; "
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
    assert " 0% packet loss" in output_of(nodes[0], f"ping -c 1 -W 2 {nodes[-1].ip}")

    lab.down(log=quiet)
    assert lab_traces() == NOTHING
    lab.down(log=quiet)  # safe twice
    assert lab_traces() == NOTHING
    assert not Path("/run/netns/kw-controlplane").exists()
