"""kubewire.planning's equivalents give what pyinfra's own planning steps give."""

import functools
from types import SimpleNamespace
from typing import get_type_hints

import pyinfra
import pytest
from pyinfra.api import arguments, util

from kubewire import planning

# A deploy file as pyinfra runs it (exec'd from its path, pyinfra_cli/util.py exec_file): a call of
# a deploy function, a nested call spread over lines, and the planning step reached through a frame
# inside pyinfra's own directory (as pyinfra's operation decorator is).
DEPLOY = """
def role(step):
    return nested(
        step,
    )


def nested(step):
    return step()


both = role(ask)
"""


def orders(state) -> tuple[list[int], list[int]]:
    """Both functions asked from the same frame, as pyinfra's solve_operation_consistency asks."""
    return util.get_operation_order_from_stack(state), planning.operation_order_from_stack(state)


ORDERS_LINE = orders.__code__.co_firstlineno + 2


@pytest.mark.parametrize("deploy_file_in_stack", [True, False])
@pytest.mark.parametrize("is_cli", [True, False])
def test_the_operation_order_is_pyinfras_own(tmp_path, monkeypatch, deploy_file_in_stack, is_cli):
    deploy = tmp_path / "deploy.py"
    deploy.write_text(DEPLOY)
    # pyinfra skips the frames of files in its own directory: the asking frame is one of them.
    pyinfra_frame = compile("def ask_from_pyinfra(state):\n    return orders(state)\n",
                            f"{util.PYINFRA_INSTALL_DIR}/api/asking.py", "exec")
    pyinfra_namespace = {"orders": orders}
    exec(pyinfra_frame, pyinfra_namespace)
    state = SimpleNamespace(current_deploy_filename=str(deploy) if deploy_file_in_stack else str(tmp_path / "other"),
                            current_op_file_number=7)
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    namespace = {"ask": functools.partial(pyinfra_namespace["ask_from_pyinfra"], state)}
    exec(compile(deploy.read_text(), str(deploy), "exec"), namespace)
    theirs, ours = namespace["both"]
    assert ours == theirs
    prefix = [7] if is_cli else []  # the deploy file's number among those pyinfra runs
    # The deploy file's call lines (a call spread over lines counts from its first), then this test's
    # `orders` frame: the frame inside pyinfra's directory is skipped.
    assert ours[:4 + len(prefix)] == prefix + ([12, 3, 9, ORDERS_LINE] if deploy_file_in_stack else [])


def test_the_global_arguments_are_pyinfras_own_and_evaluated_once(monkeypatch):
    monkeypatch.setattr(arguments, "all_global_arguments", arguments.all_global_arguments)
    monkeypatch.setattr(planning.sys.modules["pyinfra.api.operation"], "get_operation_order_from_stack",
                        util.get_operation_order_from_stack)
    planning.cheaper_planning()
    assert arguments.all_global_arguments() == list(get_type_hints(arguments.AllArguments).items())
    assert arguments.all_global_arguments() is arguments.all_global_arguments()
