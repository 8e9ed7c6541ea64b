"""The one-command probe fact: its shell text, its parser (from data cases), and unknown names."""

import json
import subprocess
from pathlib import Path

import pytest

from kubewire.facts import Probes, UnknownProbe, first_line, lines
from kubewire.roles.hosts import hosts
from tests.unit.plan import fake_host, plan, probes_answer

CASES = sorted((Path(__file__).parent / "facts" / "probes").glob("*.json"))


@pytest.mark.parametrize("case", CASES, ids=[case.stem for case in CASES])
def test_probe_output_is_parsed_by_name(case):
    data = json.loads(case.read_text())
    parsed = Probes().process(data["output"])
    assert parsed == data["parsed"]
    for name in data.get("unknown", []):
        with pytest.raises(UnknownProbe, match=f"no probe named '{name}'"):
            lines(parsed, name)
        with pytest.raises(UnknownProbe):
            first_line(parsed, name)


def test_the_command_runs_every_probe_in_one_shell_and_parses_back():
    probes = (("it's quoted", "echo 'a  b'; echo \"$HOME\" >/dev/null"), ("fails", "false; exit_code=$?"),
              ("silent", "ls /nonexistent-kubewire-path"), ("last", "printf 'x\\ny\\n'"))
    output = subprocess.run(["sh", "-c", Probes().command(probes)], capture_output=True, text=True, check=True)
    assert Probes().process(output.stdout.splitlines()) == {
        "it's quoted": ["a  b"], "fails": [], "silent": [], "last": ["x", "y"]}


def test_a_role_reading_a_probe_that_was_not_answered_stops_instead_of_changing_things():
    answer = probes_answer({"hostname": "controlplane"})  # no "hosts-file" in the output
    with pytest.raises(UnknownProbe, match="'hosts-file'"):
        plan([fake_host("controlplane", "192.168.56.10", answer)], [], hosts)
