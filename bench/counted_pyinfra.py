"""Run the pyinfra CLI, counting each host's remote commands and file transfers, and timing
each operation; the counts go to the JSON file named by KUBEWIRE_BENCH_COUNTS.

    KUBEWIRE_BENCH_COUNTS=counts.json python bench/counted_pyinfra.py INVENTORY DEPLOY -y
"""

import atexit
import json
import os
import resource
import sys
import time
from collections import Counter

from pyinfra.api.state import BaseStateCallback
from pyinfra.connectors.ssh import SSHConnector

commands: Counter = Counter()
command_text: dict[str, list[str]] = {}
transfers: Counter = Counter()
op_seconds: dict[str, float] = {}
_started: dict[str, float] = {}

_run_shell_command = SSHConnector.run_shell_command
_put_file = SSHConnector.put_file


def run_shell_command(self, command, *args, **kwargs):
    commands[self.host.name] += 1
    text = command if isinstance(command, str) else command.get_raw_value()
    command_text.setdefault(self.host.name, []).append(text)
    return _run_shell_command(self, command, *args, **kwargs)


def put_file(self, *args, **kwargs):
    transfers[self.host.name] += 1
    return _put_file(self, *args, **kwargs)


SSHConnector.run_shell_command = run_shell_command
SSHConnector.put_file = put_file


class OperationTimer(BaseStateCallback):
    @staticmethod
    def operation_start(state, op_hash):
        _started[op_hash] = time.monotonic()

    @staticmethod
    def operation_end(state, op_hash):
        name = state.get_op_meta(op_hash).names
        op_seconds[", ".join(sorted(name))] = time.monotonic() - _started.pop(op_hash, time.monotonic())


def write_counts():
    path = os.environ.get("KUBEWIRE_BENCH_COUNTS")
    if path:
        with open(path, "w") as out:
            json.dump({"commands": commands, "command_text": command_text, "transfers": transfers,
                       "op_seconds": op_seconds,
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
