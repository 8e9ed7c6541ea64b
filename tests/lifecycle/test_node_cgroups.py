"""Each node runs in cgroups of its own, in every hierarchy, removed when the lab goes down."""

import os
from pathlib import Path

from kubewire import lab
from tests.lifecycle.processes import cgroup_paths, kubewire_cgroups, netns_processes, nspawn_pid, quiet


def test_each_node_has_its_own_cgroups_in_every_hierarchy(fresh_lab):
    nodes = lab.up(2, log=quiet)
    own = cgroup_paths(os.getpid())
    for node in nodes:
        group = lab.PREFIX + node.name
        processes = [nspawn_pid(node.name), *netns_processes(node)]  # systemd-nspawn, systemd, sshd...
        assert len(processes) > 3
        for pid in processes:
            paths = cgroup_paths(pid)
            assert set(paths) == set(own), f"{node.name}: pid {pid} is not in every hierarchy"
            for hierarchy, path in paths.items():
                # Below the lab process's own group, in the node's own group.
                assert path.startswith(own[hierarchy].rstrip("/") + f"/{group}"), (node.name, pid, hierarchy, path)
    assert any(path.endswith("/kw-controlplane") for path in kubewire_cgroups())
    assert any(path.endswith("/kw-node01") for path in kubewire_cgroups())
    # cpuset groups got CPUs and memory nodes to run on.
    for path in kubewire_cgroups():
        if Path(path, "cpuset.cpus").exists() and path.endswith(("kw-controlplane", "kw-node01")):
            assert Path(path, "cpuset.cpus").read_text().strip() and Path(path, "cpuset.mems").read_text().strip()

    lab.down(log=quiet)
    assert kubewire_cgroups() == []
