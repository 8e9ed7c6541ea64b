"""From a pyinfra inventory to the validated cluster spec.

The spec is read from inventory data: cluster keys from group data (`group_data/all.py`
and friends), node keys (`node_ip`, `node_name`, `pod_cidr`) from each host's own data.
"""

from __future__ import annotations

import os
import sys
import weakref
from pathlib import Path
from typing import Any

from pyinfra.api import State
from pyinfra.api.inventory import Inventory
from pyinfra.context import ctx_state

from .spec import (
    CLUSTER_KEYS,
    CLUSTER_ROLES,
    HOST_KEYS,
    NODE_ROLES,
    ClusterSpec,
    HostInput,
    Problem,
    SpecError,
    parse_cluster,
    role_of_key,
)

SPEC_ERROR_EXIT = 2


def spec_from_inventory(inventory: Inventory) -> ClusterSpec:
    """Parse and validate the cluster spec that an inventory declares."""
    problems: list[Problem] = []
    settings: dict[str, Any] = {}
    seen_in: dict[str, str] = {}
    hosts: list[HostInput] = []
    shared_keys: dict[str, set[str]] = {}

    for host in inventory:
        own = inventory.get_host_data(host.name)
        shared = {**inventory.get_data(), **inventory.get_groups_data(host.groups), **inventory.get_override_data()}
        shared_keys[host.name] = set(shared)
        cluster_wide = set(CLUSTER_KEYS) | {key for key in {**shared, **own} if role_of_key(key, CLUSTER_ROLES)}
        for key in sorted(cluster_wide):
            if key in own and key not in HOST_KEYS:
                problems.append(Problem(f"hosts.{host.name}.{key}", own[key],
                    "is a cluster-wide key; set it in group_data/all.py, not in one host's data"))
            if key not in shared:
                continue
            if key in settings and settings[key] != shared[key]:
                problems.append(Problem(key, shared[key],
                    f"differs between hosts ({seen_in[key]} has {settings[key]!r}, {host.name} has "
                    f"{shared[key]!r}); a cluster key must have one value, set it in group_data/all.py"))
            settings.setdefault(key, shared[key])
            seen_in.setdefault(key, host.name)
        hosts.append(HostInput(
            host=host.name,
            groups=frozenset(host.groups),
            host_data=own,
            ssh_hostname=host.data.get("ssh_hostname") or host.name,
            role_data={key: value for key, value in {**shared, **own}.items() if role_of_key(key, NODE_ROLES)},
        ))
    for key, value in settings.items():
        # A host without the key would silently get the value set for the others.
        missing = [name for name, keys in shared_keys.items() if key not in keys]
        if missing:
            problems.append(Problem(key, value,
                f"is set for {seen_in[key]} but not for {', '.join(missing)} (only in some groups' data); "
                "a cluster key must have one value, set it in group_data/all.py"))

    try:
        spec = parse_cluster(settings, hosts)
    except SpecError as error:
        raise SpecError(problems + error.problems) from None
    if problems:
        raise SpecError(problems)
    return spec


def load_inventory(inventory_file: str | Path) -> Inventory:
    """Load an inventory file (and its group_data) by pyinfra's own rules, without connecting."""
    from pyinfra_cli.inventory import make_inventory_from_files

    global _loading
    _loading = True
    try:
        with ctx_state.use(State()):
            return make_inventory_from_files(str(inventory_file), cwd=os.getcwd())
    finally:
        _loading = False


_loading = False


def spec_or_exit(load) -> ClusterSpec:
    """Run `load()`; on a spec error print every problem and exit with status 2."""
    try:
        return load()
    except SpecError as error:
        print(f"kubewire: {error.report()}", file=sys.stderr)
        raise SystemExit(SPEC_ERROR_EXIT) from None


def validate_before_connect(inventory_file: str) -> None:
    """Called at the end of an inventory file: pyinfra loads inventories before it connects,
    so a bad spec stops the run before any host is contacted."""
    if _loading:  # this inventory is being loaded by load_inventory itself
        return
    spec_or_exit(lambda: spec_from_inventory(load_inventory(inventory_file)))


# By inventory object (weakly: an id() could be reused by the next inventory of a process).
_specs: weakref.WeakKeyDictionary[Inventory, ClusterSpec] = weakref.WeakKeyDictionary()


def cluster_spec() -> ClusterSpec:
    """The validated spec of the inventory pyinfra is running against (parsed once)."""
    from pyinfra import state

    inventory = state.inventory
    if inventory not in _specs:
        _specs[inventory] = spec_or_exit(lambda: spec_from_inventory(inventory))
    return _specs[inventory]
