"""A kubewire unit disabled by hand is enabled again by the next run, on a node of each Debian
release: its links are read from disk each run (systemd's cached UnitFileState would still say
"enabled" for a link removed without a daemon-reload), and read as `systemctl is-enabled` reads them."""

import pytest

from tests.harness import NODE_PER_SUITE, run_deploy

UNITS = ("containerd.service", "kubewire-firewall.service", "kubewire-pod-routes.service",
         "kubewire-pod-masquerade.service")


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_units_whose_links_were_removed_by_hand_are_enabled_again(converged, nodes, node_name):
    host = nodes[node_name]
    for unit in UNITS:
        assert host.run(f"systemctl is-enabled {unit}").stdout.strip() == "enabled", unit
    host.run("rm -f " + " ".join(f"/etc/systemd/system/*.target.wants/{unit}" for unit in UNITS))
    assert [host.run(f"systemctl is-enabled {unit}").stdout.strip() for unit in UNITS] == ["disabled"] * len(UNITS)

    run = run_deploy(converged.inventory)
    assert [host.run(f"systemctl is-enabled {unit}").stdout.strip() for unit in UNITS] == ["enabled"] * len(UNITS)
    assert f"[{node_name}] Enable kubewire-pod-routes.service" in run["log"], run["log"]

    again = run_deploy(converged.inventory)["results"]
    assert again["totals"]["success"] == 0, [op["name"] for op in again["operations"] if op["success"]]
