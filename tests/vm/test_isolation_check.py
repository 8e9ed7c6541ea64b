"""The guard that runs before any VM starts: a namespace with a link or a route that could
lead off this machine is refused. Checked on a namespace of its own (no VM needed)."""

import subprocess

import pytest

from tests.vm import vmlab

SCRATCH = "kubewire-vmcheck"
HOST_SIDE = "kwvmcheck0"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def scratch_namespace(monkeypatch):
    monkeypatch.setattr(vmlab, "NETNS", SCRATCH)
    ip("netns", "add", SCRATCH)
    ip("-n", SCRATCH, "link", "set", "lo", "up")
    yield
    subprocess.run(["ip", "netns", "delete", SCRATCH], capture_output=True)
    subprocess.run(["ip", "link", "delete", HOST_SIDE], capture_output=True)


def test_bridges_alone_pass_and_a_way_out_is_refused(scratch_namespace):
    ip("-n", SCRATCH, "link", "add", "virbr9", "type", "bridge")
    ip("-n", SCRATCH, "addr", "add", "192.168.56.1/24", "dev", "virbr9")
    ip("-n", SCRATCH, "link", "set", "virbr9", "up")
    vmlab.assert_isolated()

    ip("-n", SCRATCH, "route", "add", "default", "via", "192.168.56.254")
    assert vmlab.namespace_escape_routes() == ["route default via 192.168.56.254 dev virbr9"]
    ip("-n", SCRATCH, "route", "del", "default")

    ip("link", "add", HOST_SIDE, "type", "veth", "peer", "name", "eth0", "netns", SCRATCH)
    with pytest.raises(vmlab.VmLabError, match="link eth0 \\(veth\\)"):
        vmlab.assert_isolated()
