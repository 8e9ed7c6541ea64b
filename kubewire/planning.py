"""pyinfra's planning of each operation and deploy call, made cheaper with the same results.

In CLI mode pyinfra plans every call on the controller, host after host, on one core (pyinfra
3.10: api/operation.py and api/arguments.py). Two of its steps were most of a converged re-run's
planning (20 lab hosts: 0.26 s, and 0.12 s without them):

- `get_operation_order_from_stack` orders a call by the line numbers of its call stack, read with
  `inspect.stack()`, which for every frame looks up the frame's module and reads its source line. It
  uses each frame's file name and line number only: here they are read from the frame itself, as
  `inspect.getframeinfo` gives them for a frame of a .py file (its `co_filename`, and the start line
  of the current instruction, which is `f_lineno`).
- `all_global_arguments` evaluates the type hints of `AllArguments` on every call; they are constant.

Applied only to the pyinfra release they were checked against (tests/unit/test_planning.py: the
same order as pyinfra's own, frame for frame).
"""

from __future__ import annotations

import functools
import sys
from importlib.metadata import version

import pyinfra
from pyinfra.api import arguments
from pyinfra.api.util import PYINFRA_INSTALL_DIR

CHECKED_RELEASE = "3.10."


def operation_order_from_stack(state) -> list[int]:
    """pyinfra's `get_operation_order_from_stack(state)`, for the caller of this function."""
    frames = []
    frame = sys._getframe(1)  # pyinfra's own caller: this function is not a frame of the order
    while frame is not None:
        frames.append(frame)
        frame = frame.f_back
    frames.reverse()
    first = 0
    if state.current_deploy_filename:
        # From the deploy file's first frame; without one, pyinfra's is from its own (last) frame,
        # which it skips as one of its own: none.
        first = next((index for index, frame in enumerate(frames)
                      if frame.f_code.co_filename == state.current_deploy_filename), len(frames))
    line_numbers = [state.current_op_file_number] if pyinfra.is_cli else []
    line_numbers += [frame.f_lineno for frame in frames[first:]
                     if not frame.f_code.co_filename.startswith(PYINFRA_INSTALL_DIR)]
    return line_numbers


def cheaper_planning() -> None:
    """Use the two equivalents above in this process (nothing on another pyinfra release)."""
    if not version("pyinfra").startswith(CHECKED_RELEASE):
        return
    operation_module = sys.modules["pyinfra.api.operation"]  # `pyinfra.api.operation` is the decorator
    operation_module.get_operation_order_from_stack = operation_order_from_stack
    if not hasattr(arguments.all_global_arguments, "cache_info"):
        arguments.all_global_arguments = functools.cache(arguments.all_global_arguments)
