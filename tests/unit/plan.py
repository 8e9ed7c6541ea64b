"""Plan a deploy against pyinfra's @fake connector: the commands it would run, per host.

Facts are answered by each host's `fake_responses`; nothing runs anywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.context import ctx_host, ctx_state

LAB_SETTINGS = {"node_cidr": "192.168.56.0/24"}


def fake_host(name: str, ip: str, responses: dict | None = None, **data: Any) -> tuple[str, dict]:
    return (f"@fake/{name}", {"node_name": name, "node_ip": ip, "fake_delay": 0, "fake_delay_jitter": 0,
                              "fake_responses": responses or {}, **data})


def plan(controlplane: list, workers: list, deploy: Callable, settings: dict | None = None) -> dict[str, list[str]]:
    return {node: [str(command) for command in commands]
            for node, commands in plan_commands(controlplane, workers, deploy, settings).items()}


def plan_commands(controlplane: list, workers: list, deploy: Callable, settings: dict | None = None
                  ) -> dict[str, list[Any]]:
    """Like `plan`, with pyinfra's command objects (an upload's `src` holds what it would write)."""
    names = [name for name, _ in controlplane + workers]
    inventory = Inventory((names, {**LAB_SETTINGS, **(settings or {})}),
                          controlplane=(controlplane, {}), workers=(workers, {}))
    state = State(inventory, Config())
    connect_all(state)
    add_deploy(state, deploy)
    commands: dict[str, list[Any]] = {}
    for host in inventory:
        node = host.data.node_name
        commands[node] = []
        for op_hash in state.get_op_order():
            try:
                op_data = state.get_op_data_for_host(host, op_hash)
            except KeyError:
                continue  # the operation does not run on this host
            with ctx_state.use(state), ctx_host.use(host):
                commands[node] += list(op_data.command_generator())
    return commands


def probes_answer(outputs: dict[str, list[str] | str]) -> dict:
    """A fake response to a `Probes` fact: matched by its first probe's name, answering each probe."""
    from kubewire.facts import SEPARATOR

    lines: list[str] = []
    for name, output in outputs.items():
        lines.append(SEPARATOR + name)
        lines += [output] if isinstance(output, str) else output
    return {SEPARATOR + next(iter(outputs)): lines}
