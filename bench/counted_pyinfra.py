"""Run the pyinfra CLI, counting each host's remote commands and file transfers, and timing
each operation; the counts go to the JSON file named by KUBEWIRE_BENCH_COUNTS.

    KUBEWIRE_BENCH_COUNTS=counts.json python bench/counted_pyinfra.py INVENTORY DEPLOY -y
"""

import atexit
import base64
import functools
import json
import os
import resource
import sys
import time
from collections import Counter

from pyinfra import host
from pyinfra.api.state import BaseStateCallback
from pyinfra.connectors.ssh import SSHConnector
from pyinfra.operations import apt

commands: Counter = Counter()
# Everything each host was sent, in order: ["cmd", text] (["pkg", text] for a package command,
# below), ["put", remote path, base64 content] or ["put-file", remote path, local path].
events: dict[str, list[list[str]]] = {}
transfers: Counter = Counter()
op_seconds: dict[str, float] = {}
package_seconds: dict[str, float] = {}
_started: dict[str, float] = {}
# Package time is told by the code that yields the command (pyinfra's apt.packages, which kubewire's
# packages_installed yields from, whether an operation of its own or a step of a role's one), not
# by an operation's name: the hosts whose command being executed now came from it.
_in_package_command: set[str] = set()
package_host_seconds: Counter = Counter()
package_ops: set[str] = set()  # operations apt.packages was called as: all their commands are package commands
_running: list[str] = []

_run_shell_command = SSHConnector.run_shell_command
_put_file = SSHConnector.put_file


def run_shell_command(self, command, *args, **kwargs):
    commands[self.host.name] += 1
    text = command if isinstance(command, str) else command.get_raw_value()
    package = self.host.name in _in_package_command or bool(_running and _running[-1] in package_ops)
    events.setdefault(self.host.name, []).append(["pkg" if package else "cmd", text])
    started = time.monotonic()
    try:
        return _run_shell_command(self, command, *args, **kwargs)
    finally:
        if package:
            package_host_seconds[self.host.name] += time.monotonic() - started


def put_file(self, filename_or_io, remote_filename, *args, **kwargs):
    transfers[self.host.name] += 1
    if hasattr(filename_or_io, "read"):  # small rendered files: keep the content
        content = filename_or_io.read()
        filename_or_io.seek(0)
        content = content.encode() if isinstance(content, str) else content
        events.setdefault(self.host.name, []).append(["put", str(remote_filename), base64.b64encode(content).decode()])
    else:  # a file on the controller (a tarball): keep its path, not a copy in memory
        events.setdefault(self.host.name, []).append(["put-file", str(remote_filename), str(filename_or_io)])
    return _put_file(self, filename_or_io, remote_filename, *args, **kwargs)


SSHConnector.run_shell_command = run_shell_command
SSHConnector.put_file = put_file

def counted_as_packages(operation) -> None:
    """Mark the commands `operation` yields as package commands while pyinfra executes them: yielded
    from (`_inner`, as kubewire's steps and operations call it) or called as an operation."""
    original_inner = operation._inner

    @functools.wraps(original_inner)
    def inner(*args, **kwargs):
        for command in original_inner(*args, **kwargs):
            _in_package_command.add(host.name)
            try:
                yield command  # pyinfra runs it now, in this host's greenlet
            finally:
                _in_package_command.discard(host.name)

    operation._inner = inner
    module = sys.modules[operation.__module__]
    original_operation = getattr(module, operation.__name__)

    @functools.wraps(original_operation)  # keeps `_inner` (the wrapped one, set above)
    def called(*args, **kwargs):
        meta = original_operation(*args, **kwargs)
        package_ops.add(meta._hash)
        return meta

    setattr(module, operation.__name__, called)


counted_as_packages(apt.packages)


class OperationTimer(BaseStateCallback):
    @staticmethod
    def operation_start(state, op_hash):
        _started[op_hash] = time.monotonic()
        _running.append(op_hash)
        package_host_seconds.clear()

    @staticmethod
    def operation_end(state, op_hash):
        name = ", ".join(sorted(state.get_op_meta(op_hash).names))
        op_seconds[name] = time.monotonic() - _started.pop(op_hash, time.monotonic())
        if op_hash in package_ops:
            package_seconds[name] = op_seconds[name]
        elif package_host_seconds:  # a step of a wider operation: the slowest host's package commands
            package_seconds[name] = max(package_host_seconds.values())
        if op_hash in _running:
            _running.remove(op_hash)


def write_counts():
    path = os.environ.get("KUBEWIRE_BENCH_COUNTS")
    if path:
        with open(path, "w") as out:
            json.dump({"commands": commands, "events": events, "transfers": transfers,
                       "op_seconds": op_seconds, "package_seconds": package_seconds,
                       "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}, out, indent=1)


atexit.register(write_counts)

# pyinfra's CLI builds its State itself: attach the timer when the state is created.
import pyinfra.api.state as state_module  # noqa: E402

_init = state_module.State.init


def init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.add_callback_handler(OperationTimer())


state_module.State.init = init

from pyinfra_cli.main import main  # noqa: E402

sys.argv[0] = "pyinfra"
main()
