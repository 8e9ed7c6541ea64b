"""What a container runtime needs in lab nodes, on nodes of both suites in one lab: containerd
from the lab's local repository, the lab's busybox image imported, and a container run."""

from kubewire import lab
from tests.lifecycle.processes import output_of, quiet

SMOKE = (
    "set -e; apt-get update -q >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -q containerd >/dev/null;"
    " ctr -n k8s.io images import {archive} >/dev/null;"
    " ctr -n k8s.io images ls -q;"
    " ctr -n k8s.io run --rm {busybox} smoke sh -c 'test -x /bin/busybox && echo hello from busybox'"
)


def test_a_mixed_lab_runs_containers_with_containerd(fresh_lab):
    nodes = lab.up(2, suites=("bookworm", "trixie"), log=quiet)
    assert [node.suite for node in nodes] == ["bookworm", "trixie"]
    images = lab.lab_images()
    for node in nodes:
        os_release = output_of(node, "cat /etc/os-release")
        assert f"VERSION_CODENAME={node.suite}" in os_release, os_release
        # The runtime's state is on a real filesystem, not on the node's overlayfs root.
        assert output_of(node, "findmnt -no FSTYPE /var/lib/containerd").strip() not in ("overlay", "")
        out = output_of(node, SMOKE.format(archive=images.node_archive, busybox=images.busybox)).splitlines()
        assert images.busybox in out and images.sandbox in out, out
        assert out[-1] == "hello from busybox", out
        assert "ro," not in output_of(node, "findmnt -rno OPTIONS /sys/fs/cgroup/memory")
