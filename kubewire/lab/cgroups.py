"""One cgroup per node in every hierarchy of the controller.

systemd-nspawn started from the controller's root cgroup would put every node in one shared
tree (its `payload`/`supervisor` groups at the hierarchy root, every node's `ssh.service` in
one group), and a container runtime in a node would then create its groups among all nodes'.
So each node is started in `<hierarchy>/<the lab process's own path>/kw-<node>` in every
hierarchy (cgroup v1 controllers, the named systemd hierarchy, the unified v2 one), and these
are removed, deepest first, once nothing runs in them any more.
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

from .base import PREFIX, LabError, LabNode

# Where this node's groups are, written when they are made and read to remove them, even by a
# later process whose own cgroup differs (the `memory` path is per process on some machines).
RECORD = "cgroups"


def hierarchies() -> list[Path]:
    """This process's cgroup directory in every mounted hierarchy (v1 and v2)."""
    own = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        hierarchy_id, controllers, path = line.split(":", 2)
        own["" if hierarchy_id == "0" else controllers] = path
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, super_part = line.partition(" - ")
        fstype, _, super_options = super_part.split(" ")[:3]
        mount_root, mount_point = fields.split()[3:5]
        if fstype == "cgroup2":
            key = ""
        elif fstype == "cgroup":
            key = ",".join(option for option in super_options.split(",") if option not in ("rw", "ro")
                           and not option.startswith(("xattr", "nsdelegate", "release_agent", "clone_children")))
        else:
            continue
        if key not in own or not own[key].startswith(mount_root):
            continue
        found.append(Path(mount_point) / own[key][len(mount_root):].lstrip("/"))
    return found


def node_cgroups(node: LabNode) -> list[Path]:
    """The node's groups as recorded when it was started (none when it never was)."""
    record = node.dir / RECORD
    return [Path(line) for line in record.read_text().splitlines()] if record.exists() else []


def make_node_cgroups(node: LabNode) -> list[Path]:
    groups = node_cgroups(node) or [parent / (PREFIX + node.name) for parent in hierarchies()]
    for group in groups:
        group.mkdir(exist_ok=True)
        if (group / "cpuset.cpus").exists():
            # A new cpuset group starts with no CPUs and no memory nodes: no task may join it.
            for key in ("cpuset.cpus", "cpuset.mems"):
                if not (group / key).read_text().strip():
                    (group / key).write_text((group.parent / key).read_text())
    node.dir.mkdir(parents=True, exist_ok=True)
    (node.dir / RECORD).write_text("".join(f"{group}\n" for group in groups))
    return groups


def cgroup_pids(groups: list[Path]) -> set[int]:
    """Every process in these groups and their descendants."""
    pids = set()
    for group in groups:
        for directory, _, files in os.walk(group):
            if "cgroup.procs" in files:
                try:
                    pids.update(int(pid) for pid in Path(directory, "cgroup.procs").read_text().split())
                except FileNotFoundError:  # removed meanwhile
                    pass
    return pids


def remove_node_cgroups(node: LabNode, timeout: float = 5.0) -> None:
    """Remove the node's groups, deepest first. A group holds on while a process that just
    died is still being torn down by the kernel: retry briefly."""
    deadline = time.monotonic() + timeout
    for group in node_cgroups(node):
        if not group.exists():
            continue
        for directory, _, _ in sorted(os.walk(group), key=lambda walked: -len(Path(walked[0]).parts)):
            while True:
                try:
                    os.rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    if error.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise LabError(f"cannot remove {node.name}'s cgroup {directory}: {error}") from None
                    time.sleep(0.05)
    (node.dir / RECORD).unlink(missing_ok=True)
