"""Helpers for host tests: check every node, and choose the nodes a setting applies to."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kubewire.spec import ClusterSpec, NodeSpec


def check_each(nodes: dict, check: Callable) -> None:
    """Run `check(name, host)` on every node; report every node that fails, not just the first."""
    assert nodes, "no nodes to check"
    failures = {}
    for name, host in nodes.items():
        try:
            check(name, host)
        except AssertionError as error:
            failures[name] = str(error)
    assert not failures, failures


def node_named(spec: ClusterSpec, name: str) -> NodeSpec:
    return next(node for node in spec.nodes if node.name == name)


def nodes_where(nodes: dict, spec: ClusterSpec, applies: Callable[[NodeSpec], bool], reason: str) -> dict:
    """The nodes whose settings make a check apply; the test is skipped with `reason` when none do."""
    chosen = {name: host for name, host in nodes.items() if applies(node_named(spec, name))}
    if not chosen:
        pytest.skip(reason)
    return chosen
