"""kubewire's operations from data, as pyinfra tests its own (pyinfra-dev/pyinfra tests/test_operations.py).

One case per file, tests/unit/operations/<operation>/<case>.json:
  args      the operation's arguments: what the role wants and what its probe read
  facts     answers to pyinfra facts the operation reads itself (optional)
  commands  what it yields: shell text, or ["upload", content, destination]
  noop      the description it gives when there is nothing to do (then commands is []); for
            `checks`, the list of its steps' descriptions
  after     the arguments that change once the commands ran: a second run must be a noop
A value {"sha256": TEXT} stands for what `file_digest_probe` prints for a file holding TEXT;
{"step": OPERATION, "description": ..., "arguments": {...}} for one of `checks`' steps.
"""

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from kubewire import operations
from kubewire.facts import Probes, lines, sha256
from kubewire.nft_probes import TableListing
from tests.unit.plan import command_data, run_operation

CASES = sorted((Path(__file__).parent / "operations").glob("*/*.json"))


def resolved(value):
    if isinstance(value, dict) and set(value) == {"sha256"}:
        return sha256(value["sha256"])
    if isinstance(value, dict) and set(value) == {"step", "description", "arguments"}:
        return operations.Step(value["description"], getattr(operations, value["step"]), arguments(value["arguments"]))
    if isinstance(value, list):
        return [resolved(item) for item in value]
    return value


def arguments(values: dict) -> dict:
    return {key: resolved(value) for key, value in values.items()}


@pytest.mark.parametrize("case", CASES, ids=[f"{case.parent.name}/{case.stem}" for case in CASES])
def test_operation(case):
    data = json.loads(case.read_text())
    operation = getattr(operations, case.parent.name)
    args, facts = arguments(data["args"]), data.get("facts", {})
    commands, noops = run_operation(operation, args, facts)
    assert [command_data(command) for command in commands] == data["commands"]
    if data["commands"]:
        assert "after" in data, "a case that changes something says what the state is after (idempotency)"
        again, noops = run_operation(operation, {**args, **arguments(data["after"])}, facts)
        assert [command_data(command) for command in again] == [], "not idempotent: a second run changes things"
        assert len(noops) == len(args.get("steps", [None])), noops  # one per step of `checks`
    else:
        assert noops == (data["noop"] if isinstance(data["noop"], list) else [data["noop"]])


def test_every_operation_has_cases():
    tested = {case.parent.name for case in CASES}
    defined = {name for name, value in vars(operations).items() if hasattr(value, "_inner")
               and getattr(value, "__module__", "") == operations.__name__}
    assert defined and defined <= tested, defined - tested


def test_a_table_listing_read_on_the_controller_is_what_the_node_hashes_and_greps():
    """The listing's digest is compared with the one recorded by `nft list table … | sha256sum`
    right after loading (nft_table_loaded): taken from the probed lines, it must be the same."""
    printed = 'table inet kubewire {\n\tcomment "kubewire-rules 0a1b2c"\n\tchain input {\n\t\tiif lo accept \n\t}\n}\n'
    command = Probes().command((("listing", f"printf %s {shlex.quote(printed)}"),))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    probed = Probes().process(output.splitlines())
    listing = TableListing(tuple(lines(probed, "listing")))
    on_node = subprocess.run(["sha256sum"], input=printed, capture_output=True, text=True, check=True).stdout.split()[0]
    assert (listing.present, listing.marker("kubewire-rules"), listing.digest) == (True, "0a1b2c", on_node)
    absent = TableListing(())  # nft printed nothing: no such table
    assert (absent.present, absent.marker("kubewire-rules")) == (False, "")
