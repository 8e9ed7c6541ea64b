"""A tampered plugin binary or config, a competing config or a removed node's route is put
right by the next run, on a node of each Debian release; the run after that changes nothing."""

import pytest

from kubewire import lab
from kubewire.cni_plugins import plugin_digests
from tests.harness import NODE_PER_SUITE, run_deploy

COMPETING = "05-competing.conflist"


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_next_run_restores_binaries_and_config_and_moves_a_competing_config_aside(converged, nodes, node_name):
    host = nodes[node_name]
    conflist = "/etc/cni/net.d/10-kubewire.conflist"
    good_config = host.file(conflist).content_string
    host.run("echo tampered >> /opt/cni/bin/bridge")
    host.run(f"echo '{{}}' > {conflist}")
    host.run(f"echo '{{\"cniVersion\": \"1.0.0\", \"name\": \"other\", \"plugins\": []}}' > /etc/cni/net.d/{COMPETING}")
    # A route left by a node that has left the cluster.
    host.run("ip route add 10.244.99.0/24 via 192.168.56.12 proto 75")

    run = run_deploy(converged.inventory)
    assert f"[{node_name}] Upload, verify and unpack CNI plugins" in run["log"], run["log"]
    moved = [line for line in run["log"].splitlines() if "] Move aside CNI configs" in line]
    assert moved and all(f"[{node_name}]" in line for line in moved), moved
    assert f"active CNI config: /etc/cni/net.d/10-kubewire.conflist (kubewire's) (moved aside to " \
           f"/etc/cni/net.d/kubewire-disabled: {COMPETING})" in run["log"], "the run reports what it moved"

    expected = plugin_digests(lab.cni_tarball())["bridge"]
    assert host.run("sha256sum /opt/cni/bin/bridge").stdout.split()[0] == expected
    assert host.file(conflist).content_string == good_config
    assert not host.file(f"/etc/cni/net.d/{COMPETING}").exists
    assert host.file(f"/etc/cni/net.d/kubewire-disabled/{COMPETING}").exists
    assert "10.244.99.0/24" not in host.run("ip route show proto 75").stdout

    again = run_deploy(converged.inventory)["results"]
    assert again["totals"]["success"] == 0, [op["name"] for op in again["operations"] if op["success"]]


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_a_plugin_written_over_in_place_with_its_old_mtime_put_back_is_restored(converged, nodes, node_name):
    """Same size, same inode, same mtime: only the ctime (which no system call sets) tells, so the
    recorded digest is not trusted and the plugin is hashed, found tampered and restored."""
    host = nodes[node_name]
    plugin = "/opt/cni/bin/host-local"
    before = host.run(f"stat -c '%i %s %Y' {plugin}").stdout.split()
    host.run(f"touch -r {plugin} /run/kubewire-mtime-ref && "
             f"printf 'tampered' | dd of={plugin} bs=1 seek=100 conv=notrunc status=none && "
             f"touch -r /run/kubewire-mtime-ref {plugin} && rm -f /run/kubewire-mtime-ref")
    assert host.run(f"stat -c '%i %s %Y' {plugin}").stdout.split() == before, "inode, size and mtime as before"

    run = run_deploy(converged.inventory)
    assert f"[{node_name}] Upload, verify and unpack CNI plugins" in run["log"], run["log"]
    expected = plugin_digests(lab.cni_tarball())["host-local"]
    assert host.run(f"sha256sum {plugin}").stdout.split()[0] == expected

    again = run_deploy(converged.inventory)["results"]
    assert again["totals"]["success"] == 0, [op["name"] for op in again["operations"] if op["success"]]
