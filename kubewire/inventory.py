"""From a pyinfra inventory to the validated cluster spec.

The spec is read from inventory data: cluster keys from group data (`group_data/all.py`
and friends), node keys (`node_ip`, `node_name`, `pod_cidr`) from each host's own data.
What pyinfra would merge or hide silently (a host listed twice, a cluster key that differs
between groups) is refused here; the data itself is validated by kubewire/parse.py.
"""

from __future__ import annotations

import os
import sys
import weakref
from pathlib import Path
from typing import Any

import pyinfra
from pyinfra.api import State
from pyinfra.api.inventory import Inventory
from pyinfra.context import ctx_state

from .errors import NO_VALUE, Problem, SpecError, exit_with, shortened
from .parse import HostInput, misspelt_key_problem, parse_cluster
from .spec import CLUSTER_KEYS, CLUSTER_ROLES, HOST_KEYS, NODE_ROLES, ClusterSpec, role_of_key


def spec_from_inventory(inventory: Inventory) -> ClusterSpec:
    """Parse and validate the cluster spec that an inventory declares."""
    problems: list[Problem] = list(_listing_problems.get(inventory, ()))
    if pyinfra.is_cli:  # the deploy runs under pyinfra's CLI: its options too
        problems += pyinfra_option_problems(sys.argv[1:])
    hosts: list[HostInput] = []
    shared_by_host: dict[str, dict[str, Any]] = {}

    for host in inventory:
        own = inventory.get_host_data(host.name)
        shared = {**inventory.get_data(), **inventory.get_groups_data(host.groups), **inventory.get_override_data()}
        shared_by_host[host.name] = shared
        for key in sorted({**shared, **own}):
            if key in own and key not in HOST_KEYS and _is_cluster_wide(key):
                problems.append(Problem(f"hosts.{host.name}.{key}", own[key],
                    "is a cluster-wide key; set it in group_data/all.py, not in one host's data"))
        hosts.append(HostInput(
            host=host.name,
            groups=frozenset(host.groups),
            host_data=own,
            ssh_hostname=host.data.get("ssh_hostname") or host.name,
            role_data={key: value for key, value in {**shared, **own}.items() if role_of_key(key, NODE_ROLES)},
        ))
    settings, settings_problems = _one_value_per_key(shared_by_host)
    problems += settings_problems
    try:
        spec = parse_cluster(settings, hosts)
    except SpecError as error:
        raise SpecError(problems + error.problems) from None
    if problems:
        raise SpecError(problems)
    return spec


_LISTED_TWICE = ("is listed twice in {where}; pyinfra merges the two entries silently (one's data is lost): "
                 "list each host once")


def _is_cluster_wide(key: str) -> bool:
    return key in CLUSTER_KEYS or role_of_key(key, CLUSTER_ROLES) is not None


def _one_value_per_key(shared_by_host: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[Problem]]:
    """The cluster keys from group data, each of which must have one value for every host."""
    settings: dict[str, Any] = {}
    problems: list[Problem] = []
    keys = sorted({key for shared in shared_by_host.values() for key in shared})
    for key in keys:
        holders = {name: shared[key] for name, shared in shared_by_host.items() if key in shared}
        first_host, value = next(iter(holders.items()))
        if not _is_cluster_wide(key):
            typo = misspelt_key_problem(key, value)
            if typo and typo not in problems:
                problems.append(typo)
            continue
        settings[key] = value
        differing = {name: other for name, other in holders.items() if other != value}
        missing = [name for name in shared_by_host if name not in holders]
        if differing:
            name, other = next(iter(differing.items()))
            problems.append(Problem(key, other,
                f"differs between hosts ({first_host} has {shortened(value, 40)}, {name} has {shortened(other, 40)}); "
                "a cluster key must have one value, set it in group_data/all.py"))
        elif missing:
            # A host without the key would silently get the value set for the others.
            problems.append(Problem(key, value,
                f"is set for {first_host} but not for {', '.join(missing)} (only in some groups' data); "
                "a cluster key must have one value, set it in group_data/all.py"))
    return settings, problems


def listing_problems(groups: dict[str, Any]) -> list[Problem]:
    """Hosts an inventory file lists twice: in one group, or in two groups with differing data."""
    seen: dict[str, list[tuple[str, dict]]] = {}
    for group, members in groups.items():
        names = members[0] if isinstance(members, tuple) else members
        for entry in names:
            name, data = entry if isinstance(entry, tuple) else (entry, {})
            seen.setdefault(name, []).append((group, data))
    problems = []
    for name, entries in seen.items():
        groups_listed = [group for group, _ in entries]
        twice = sorted({group for group in groups_listed if groups_listed.count(group) > 1})
        if twice:
            problems.append(Problem(f"hosts.{name}", twice[0], _LISTED_TWICE.format(where=f"group {twice[0]}")))
            continue
        merged: dict[str, Any] = {}
        for _group, data in entries:
            clash = sorted(key for key in data if key in merged and merged[key] != data[key])
            if clash:
                problems.append(Problem(f"hosts.{name}.{clash[0]}", data[clash[0]],
                    f"differs between its entries in {', '.join(groups_listed)}; pyinfra merges them silently "
                    f"and keeps one; give the host's data once (in one group's entry)"))
                break
            merged.update(data)
    return problems


def pyinfra_option_problems(argv: list[str]) -> list[Problem]:
    """pyinfra CLI options kubewire's deploys cannot run under (`argv`: the pyinfra command's)."""
    if "--no-wait" not in argv:
        return []
    # pyinfra 3.10, api/operations.py: with --no-wait each host runs all its operations in its own
    # greenlet (`_run_no_wait_ops`), and a failed operation only ends that greenlet; no host is
    # marked failed, so the CLI exits 0 (checked: a `false` operation under --no-wait exits 0).
    return [Problem("pyinfra --no-wait", NO_VALUE,
                    "kubewire's roles need pyinfra's default order, each operation on every host before the next "
                    "(a node joins the cluster only once the first controlplane node made this run's token), and "
                    "with --no-wait pyinfra 3.10 exits 0 when an operation fails; run without --no-wait")]


def load_inventory(inventory_file: str | Path) -> Inventory:
    """Load an inventory file (and its group_data) by pyinfra's own rules, without connecting."""
    # pyinfra 3.10's own reader of an inventory file's groups (kubewire pins pyinfra <3.11).
    from pyinfra_cli.inventory import _get_groups_from_filename, make_inventory_from_files

    global _loading
    # Absolute: pyinfra caches a file's compiled code by the name it is given.
    path = str(Path(inventory_file).resolve())
    _loading = True
    try:
        with ctx_state.use(State()):
            inventory = make_inventory_from_files(path, cwd=os.getcwd())
            _listing_problems[inventory] = listing_problems(_get_groups_from_filename(path))
            return inventory
    finally:
        _loading = False


_loading = False
# What the inventory file lists twice, by the Inventory loaded from it.
_listing_problems: weakref.WeakKeyDictionary[Inventory, list[Problem]] = weakref.WeakKeyDictionary()


def spec_or_exit(load) -> ClusterSpec:
    """Run `load()`; on a spec error print every problem and exit with status 2."""
    try:
        return load()
    except SpecError as error:
        exit_with(error)


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
