"""Helpers for the unit tests' specs: inventory input, a small valid spec, and assertions on the problems reported."""

from __future__ import annotations

import pytest
from pyinfra.api.inventory import Inventory

from kubewire.errors import shortened
from kubewire.inventory import spec_from_inventory
from kubewire.spec import ClusterSpec, HostInput, Problem, SpecError, parse_cluster


def node(host: str, node_ip: str | None, group: str = "workers", **host_data) -> HostInput:
    """One inventory host; extra keyword arguments go into its host data (node_name, pod_cidr)."""
    data = dict(host_data)
    if node_ip is not None:
        data["node_ip"] = node_ip
    role_data = {key: value for key, value in data.items() if key not in ("node_ip", "node_name", "pod_cidr")}
    return HostInput(host=host, groups=frozenset([group]), host_data=data, role_data=role_data)


def two_node_spec(**settings) -> ClusterSpec:
    """A valid spec of a controlplane (192.168.56.10) and one worker (node01, .11), with these cluster keys."""
    hosts = [HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "192.168.56.10"}),
             HostInput("node01", frozenset({"workers"}), {"node_ip": "192.168.56.11"})]
    return parse_cluster({"node_cidr": "192.168.56.0/24", **settings}, hosts)


def lab_hosts(**host_data: dict) -> list[HostInput]:
    """The three-node lab: controlplane 192.168.56.10, node01 .11, node02 .12.

    `lab_hosts(node01={"pod_cidr": ...})` adds data to one host.
    """
    layout = [("controlplane", "192.168.56.10", "controlplane"),
              ("node01", "192.168.56.11", "workers"),
              ("node02", "192.168.56.12", "workers")]
    return [node(name, ip, group, **host_data.get(name, {})) for name, ip, group in layout]


def spec_errors(settings: dict, hosts: list[HostInput] | None = None) -> SpecError:
    """The SpecError that parse_cluster raises for this input (fails the test if none)."""
    with pytest.raises(SpecError) as caught:
        parse_cluster(settings, lab_hosts() if hosts is None else hosts)
    return caught.value


def assert_problem(error: SpecError, key: str, value, *hints: str) -> Problem:
    """There is a problem for `key` with the bad `value`, and its message contains every hint.

    The printed report must show the key and the value too, as the user sees them.
    """
    matching = [problem for problem in error.problems if problem.key == key]
    assert matching, f"no problem reported for {key!r}:\n{error.report()}"
    with_value = [problem for problem in matching if problem.value == value]
    assert with_value, f"{key!r} reported with {[p.value for p in matching]}, not {value!r}:\n{error.report()}"
    problem = with_value[0]
    for hint in hints:
        assert hint in problem.message, f"{hint!r} not in the message for {key}: {problem.message!r}"
    assert f"{key} = {shortened(value)}: " in error.report()
    return problem


def inventory(all_hosts, groups: dict[str, tuple[list, dict]], all_data: dict | None = None) -> Inventory:
    """A real pyinfra Inventory: `all_hosts` is the names list, `groups` maps name -> (hosts, data)."""
    return Inventory((all_hosts, all_data or {}), **groups)


def lab_inventory(controlplane_data: dict | None = None, workers_data: dict | None = None,
                  controlplane_host: dict | None = None, all_data: dict | None = None,
                  workers: int = 1) -> Inventory:
    """controlplane (.10) and `workers` workers (node01 .11, ...), with group and host data."""
    names = [f"node{index:02d}" for index in range(1, workers + 1)]
    return inventory(
        ["controlplane", *names],
        {"controlplane": ([("controlplane", {"node_ip": "192.168.56.10", **(controlplane_host or {})})],
                          controlplane_data or {}),
         "workers": ([(name, {"node_ip": f"192.168.56.{10 + index}"}) for index, name in enumerate(names, 1)],
                     workers_data or {})},
        all_data=all_data,
    )


def inventory_errors(inv: Inventory) -> SpecError:
    with pytest.raises(SpecError) as caught:
        spec_from_inventory(inv)
    return caught.value
