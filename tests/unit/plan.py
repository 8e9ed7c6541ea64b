"""Plan a deploy against pyinfra's @fake connector: the commands it would run, per host.

Facts are answered by each host's `fake_responses`; nothing runs anywhere. Like pyinfra's own
operation tests (pyinfra-dev/pyinfra tests/test_operations.py, `parse_commands`), an upload is
recorded as what is really written: its content and its destination, so a test asserts on the
uploaded text, not on the test's own render call. Files that travel in one bundle are recorded as
written where the bundle is split: each its slice of the uploaded bundle, as `head -c` cuts it there
(that the node's shell writes the same is tests/unit/test_upload_bundle.py's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyinfra.api import Config, FileUploadCommand, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.connectors.util import CommandOutput
from pyinfra.context import ctx_host, ctx_state

from kubewire.operations import UPLOAD_BUNDLE, FilesFromBundle, InTurn

LAB_SETTINGS = {"node_cidr": "192.168.56.0/24"}


@dataclass(frozen=True)
class Upload:
    """One file upload: the bytes written (text when they decode as UTF-8) and where."""

    content: str | bytes
    dest: str


def _uploaded_bytes(command: FileUploadCommand) -> bytes:
    src = command.src
    if hasattr(src, "read"):  # StringIO/BytesIO, as files.put and files.template hand over
        src.seek(0)
        data = src.read()
    else:  # a path on the controller
        data = Path(src).read_bytes()
    return data.encode() if isinstance(data, str) else data


def _as_text(data: bytes) -> str | bytes:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def upload_of(command: FileUploadCommand) -> Upload:
    return Upload(_as_text(_uploaded_bytes(command)), command.dest)


def in_turn_apart(commands: list[Any]) -> list[Any]:
    """Commands that run in turn in one session (`InTurn`) listed one by one (its data cases show that)."""
    return [part for command in commands for part in (command.commands if isinstance(command, InTurn) else [command])]


def written(commands: list[Any]) -> tuple[list[str], list[Upload]]:
    """Each command's text (`upload DEST` for a file written, by its own upload or from a bundle) and
    the files written, in order."""
    texts: list[str] = []
    uploads: list[Upload] = []
    bundle = b""
    for command in in_turn_apart(commands):
        if isinstance(command, FilesFromBundle):
            offset = 0
            for path, content in command.files:
                uploads.append(Upload(_as_text(bundle[offset:offset + len(content)]), path))
                texts.append(f"upload {path}")
                offset += len(content)
            continue
        if isinstance(command, FileUploadCommand):
            if command.dest == UPLOAD_BUNDLE:
                bundle = _uploaded_bytes(command)
            uploads.append(upload_of(command))
        texts.append(command_text(command))
    return texts, uploads


def command_text(command: Any) -> str:
    """How a command shows in a plan: the shell text, or `upload DEST` for an upload."""
    if isinstance(command, FileUploadCommand):
        return f"upload {command.dest}"
    return str(command)


class Plan(dict):
    """{node name: [command text]}, plus per node what was uploaded and what was found already right.

    `uploads[node]` lists `Upload(content, dest)` in order; `noops[node]` the operations'
    `host.noop(...)` descriptions (what a converged run reports per check).
    """

    def __init__(self) -> None:
        super().__init__()
        self.uploads: dict[str, list[Upload]] = {}
        self.noops: dict[str, list[str]] = {}
        # pyinfra's command objects as generated (a FunctionCommand runs only while executing).
        self.commands: dict[str, list[Any]] = {}

    def uploaded(self, node: str, dest: str) -> str | bytes:
        """The content uploaded to `dest` on `node` (the last upload there); fails when there was none."""
        matches = [upload.content for upload in self.uploads.get(node, []) if upload.dest == dest]
        assert matches, f"nothing uploaded to {dest} on {node}; uploads: {[u.dest for u in self.uploads.get(node, [])]}"
        return matches[-1]


class NoopRecorder(logging.Handler):
    """Collects pyinfra's `noop: ...` log lines (host.noop) while a plan's commands are generated."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.descriptions: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "noop: " in message:
            self.descriptions.append(message.split("noop: ", 1)[1])


def record_noops(run: Callable[[], Iterable[Any]]) -> tuple[list[Any], list[str]]:
    """Run `run` (a command generator) to its end; its commands and the noop descriptions it logged."""
    logger = logging.getLogger("pyinfra")
    recorder, level = NoopRecorder(), logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    try:
        commands = list(run())
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)
    return commands, recorder.descriptions


def fake_host(name: str, ip: str, responses: dict | None = None, **data: Any) -> tuple[str, dict]:
    return (f"@fake/{name}", {"node_name": name, "node_ip": ip, "fake_delay": 0, "fake_delay_jitter": 0,
                              "fake_responses": responses or {}, **data})


def plan(controlplane: list, workers: list, deploy: Callable, settings: dict | None = None) -> Plan:
    """The deploy's plan, operation by operation as pyinfra executes it (so `_if=` is honoured).

    Each operation is marked complete with the commands it made, so a later `_if=op.did_change`
    sees whether it changed anything; nothing is run."""
    names = [name for name, _ in controlplane + workers]
    inventory = Inventory((names, {**LAB_SETTINGS, **(settings or {})}),
                          controlplane=(controlplane, {}), workers=(workers, {}))
    state = State(inventory, Config(), check_for_changes=False)
    connect_all(state)
    add_deploy(state, deploy)
    result = Plan()
    for host in inventory:
        node = host.data.node_name
        result[node], result.uploads[node], result.noops[node], result.commands[node] = [], [], [], []
    state.is_executing = True  # pyinfra evaluates `_if` only while executing
    for op_hash in state.get_op_order():
        for host in inventory:
            node = host.data.node_name
            try:
                op_data = state.get_op_data_for_host(host, op_hash)
            except KeyError:
                continue  # the operation does not run on this host
            with ctx_state.use(state), ctx_host.use(host):
                commands, noops = record_noops(op_data.command_generator)
            op_data.operation_meta.set_complete(True, commands, CommandOutput([]))
            commands = in_turn_apart(commands)
            texts, uploads = written(commands)
            result[node] += texts
            result.commands[node] += commands
            result.uploads[node] += uploads
            result.noops[node] += noops
    return result


def plan_commands(controlplane: list, workers: list, deploy: Callable, settings: dict | None = None
                  ) -> dict[str, list[Any]]:
    """Like `plan`, with pyinfra's command objects (an upload's `src` holds what it would write)."""
    return plan(controlplane, workers, deploy, settings).commands


def probes_answer(outputs: dict[str, list[str] | str]) -> dict:
    """A fake response to a `Probes` fact: matched by its first probe's name, answering each probe."""
    from kubewire.facts import SEPARATOR

    lines: list[str] = []
    for name, output in outputs.items():
        lines.append(SEPARATOR + name)
        lines += [output] if isinstance(output, str) else output
    return {SEPARATOR + next(iter(outputs)): lines}


def run_operation(operation: Any, arguments: dict, responses: dict | None = None) -> tuple[list[Any], list[str]]:
    """Call one operation's body on a @fake host (facts from `responses`): its commands and noops.

    As pyinfra's own operation tests do (pyinfra-dev/pyinfra tests/test_operations.py): the body
    (`_inner`) runs directly, outside any deploy, so one case is one call."""
    inventory = Inventory(([fake_host("node", "192.168.56.10", responses)], {}))
    state = State(inventory, Config(), check_for_changes=False)
    connect_all(state)
    host = inventory.get_host("@fake/node")
    with ctx_state.use(state), ctx_host.use(host):
        return record_noops(lambda: operation._inner(**arguments))


def command_data(command: Any) -> str | list:
    """A command as a data case writes it: the shell text, or ["upload", content, destination]."""
    if isinstance(command, FileUploadCommand):
        upload = upload_of(command)
        return ["upload", upload.content, upload.dest]
    return str(command)
