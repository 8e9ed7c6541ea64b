"""The one-command probe fact: its shell text, its parser (from data cases), and unknown names."""

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.context import ctx_host, ctx_state
from pyinfra.context import host as proxy_host

from kubewire import unit_probes
from kubewire.facts import (
    SEPARATOR,
    Probes,
    UnknownProbe,
    file_digest_probe,
    first_line,
    lines,
    node_probed,
    output_once,
    read_together,
    record_digests_command,
    recorded_digests_probe,
    split_sections,
    whole_node_command,
)
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


def test_the_output_leaves_the_node_at_once_after_the_last_probe_with_its_blank_lines():
    # sshd sends each write as a packet of its own: the read writes all it found once, at the end.
    probes = (("first", "echo early"), ("slow", "sleep 0.3; echo late"), ("blank end", "printf 'z\\n\\n\\n'"))
    started = time.monotonic()
    with subprocess.Popen(["sh", "-c", Probes().command(probes)], stdout=subprocess.PIPE, text=True) as shell:
        first_byte = shell.stdout.read(1)
        waited = time.monotonic() - started
        output = first_byte + shell.stdout.read()
    assert waited >= 0.3
    assert Probes().process(output.splitlines()) == {"first": ["early"], "slow": ["late"], "blank end": ["z", "", ""]}


def test_a_role_reading_a_probe_that_was_not_answered_stops_instead_of_changing_things():
    answer = probes_answer({"hostname": "controlplane"})  # no "hosts-file" in the output
    with pytest.raises(UnknownProbe, match="'hosts-file'"):
        plan([fake_host("controlplane", "192.168.56.10", answer)], [], hosts)


def test_a_whole_node_read_runs_every_section_in_one_command_and_parses_back_by_section():
    sections = {"hosts": (("hostname", "echo node01"), ("hosts-file", "echo abc")),
                "cni": (("hostname", "echo other"), ("conf files", "printf 'a b\\n10-x\\n'")), "off": ()}
    command = Probes().command(whole_node_command(sections))
    output = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout
    assert split_sections(Probes().process(output.splitlines()), sections) == {
        "hosts": (sections["hosts"], {"hostname": ["node01"], "hosts-file": ["abc"]}),
        "cni": (sections["cni"], {"hostname": ["other"], "conf files": ["a b", "10-x"]}),
        "off": ((), {})}


def run_probes(probes) -> dict[str, list[str]]:
    output = subprocess.run(["sh", "-c", Probes().command(probes)], capture_output=True, text=True, check=True)
    return Probes().process(output.stdout.splitlines())


def test_a_whole_node_read_hashes_every_file_at_once_and_runs_a_shared_script_once(tmp_path):
    odd = [tmp_path / "plain.conf", tmp_path / "with space.conf", tmp_path / "back\\slash", tmp_path / "new\nline"]
    for index, path in enumerate(odd):
        path.write_text(f"content {index}\n")
    absent, directory = tmp_path / "absent", tmp_path / "a dir"
    sections = {"hosts": (("hostname", "echo node01"), ("plain", file_digest_probe(str(odd[0]))),
                          ("absent", file_digest_probe(str(absent)))),
                "cni": (("hostname", "echo node01"),
                        *((f"file {index}", file_digest_probe(str(path))) for index, path in enumerate(odd)),
                        ("dir", file_digest_probe(str(directory))))}
    directory.mkdir()
    command = whole_node_command(sections)
    assert sum("sha256sum" in script for _, script in command) == 1, command
    assert sum(script == "echo node01" for _, script in command) == 1, command
    alone = {section: (probes, run_probes(probes)) for section, probes in sections.items()}
    assert alone["cni"][1]["file 3"] == [hashlib.sha256(b"content 3\n").hexdigest()]
    assert split_sections(run_probes(command), sections) == alone


def test_probes_sharing_an_output_run_its_command_once_and_each_reads_all_of_it(tmp_path):
    runs = tmp_path / "runs"
    command = f"echo run >> {runs}; printf 'table inet x {{\\n\\t# kubewire-rules 0af3\\n}}\\n'"
    listing = "table inet x {\n\t# kubewire-rules 0af3\n}\n"
    probes = (("present", output_once("x_listing", command, "| grep -q . && echo present")),
              ("marker", output_once("x_listing", command, "| grep -o 'kubewire-rules [0-9a-f]*'")),
              ("digest", output_once("x_listing", command, "| sha256sum | cut -d' ' -f1")))
    assert run_probes(probes) == {"present": ["present"], "marker": ["kubewire-rules 0af3"],
                                  "digest": [hashlib.sha256(listing.encode()).hexdigest()]}
    assert runs.read_text() == "run\n", "the command ran once for three probes"
    assert run_probes(probes[2:]) == {"digest": [hashlib.sha256(listing.encode()).hexdigest()]}, "alone too"


def test_a_section_the_shell_never_reached_is_left_to_its_role():
    sections = {"hosts": (("hostname", "hostname"),), "cni": (("machine", "uname -m"),)}
    cut_short = Probes().process([SEPARATOR + "hosts::hostname", "node01"])
    assert split_sections(cut_short, sections) == {"hosts": (sections["hosts"], {"hostname": ["node01"]})}


def whole_node_answer(sections: dict) -> dict:
    return probes_answer({f"{section}::{name}": output for section, answers in sections.items()
                          for name, output in answers.items()})


def test_roles_read_their_sections_from_one_command_per_host_and_fall_back_alone():
    def hosts_probes(host_name):
        return (("hostname", "hostname"), ("hosts-file", "sha256sum /etc/hosts"))

    def other_probes(host_name):
        return (("machine", "uname -m"),)

    answer = whole_node_answer({"hosts": {"hostname": "node01", "hosts-file": "abc"}, "other": {"machine": "x86_64"}})
    inventory = Inventory(([fake_host("node01", "192.168.56.11", answer)], {}))
    state = State(inventory, Config(), check_for_changes=False)
    connect_all(state)
    node = inventory.get_host("@fake/node01")
    with ctx_state.use(state), ctx_host.use(node):
        read_together({"hosts": hosts_probes, "other": other_probes})
        assert node_probed("hosts", hosts_probes("node01")) == {"hostname": ["node01"], "hosts-file": ["abc"]}
        assert node_probed("other", other_probes("node01")) == {"machine": ["x86_64"]}
        # A deploy file may pass pyinfra's own `host` (a context proxy) explicitly.
        assert node_probed("other", other_probes("node01"), proxy_host) == {"machine": ["x86_64"]}
        assert len(node.connector.executed_commands) == 1
        # Probes that differ from the declared ones (or an undeclared section) are read by themselves.
        node_probed("hosts", (("hostname", "hostname"),))
        node_probed("undeclared", (("machine", "uname -m"),))
        assert len(node.connector.executed_commands) == 3


def test_recorded_digests_are_trusted_only_while_inode_size_and_ctime_are_the_recorded_ones(tmp_path):
    directory, record = tmp_path / "my bin", str(tmp_path / "state" / "digests")
    directory.mkdir()
    for name in ("bridge", "host local"):
        (directory / name).write_text(name * 100)

    def probe():
        run = subprocess.run(["sh", "-c", recorded_digests_probe(str(directory), record)], capture_output=True,
                             text=True, check=True)
        return dict(reversed(line.split("  ", 1)) for line in run.stdout.splitlines())

    real = {name: hashlib.sha256((name * 100).encode()).hexdigest() for name in ("bridge", "host local")}
    assert probe() == real  # no record: everything hashed
    subprocess.run(["sh", "-c", record_digests_command(str(directory), ["bridge", "host local"], record)], check=True)
    # Proof the record is used: a recorded digest is printed as recorded, without hashing.
    lines_ = Path(record).read_text().splitlines()
    Path(record).write_text("\n".join(line.rsplit("\t", 1)[0] + "\t" + "e" * 64 for line in lines_) + "\n")
    assert probe() == {"bridge": "e" * 64, "host local": "e" * 64}
    # Written over with the same size, its old mtime put back: the ctime moved, so it is hashed again.
    before = os.stat(directory / "bridge")
    time.sleep(0.01)
    (directory / "bridge").write_text("X" * len("bridge" * 100))
    os.utime(directory / "bridge", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert probe() == {"bridge": hashlib.sha256(b"X" * 600).hexdigest(), "host local": "e" * 64}


# What systemd 252/257 print (`--plain --no-legend`): a failed unit may carry a mark before its name.
LIST_UNITS = """containerd.service loaded active running containerd container runtime
\u25cf kubewire-firewall.service loaded failed failed kubewire's firewall
ssh.socket loaded inactive dead OpenBSD Secure Shell server socket
sshd.socket loaded active listening OpenBSD Secure Shell server socket
dev-vdb.swap loaded active active /dev/vdb
swapfile.swap masked inactive dead swapfile.swap
"""


@pytest.fixture
def fake_systemd(tmp_path, monkeypatch):
    """A `systemctl` first on PATH that answers list-units and logs each call, and unit links as
    `systemctl enable` and `mask` make them in a config dir of the test's own."""
    calls, config, runtime = tmp_path / "calls", tmp_path / "etc", tmp_path / "run"
    (tmp_path / "list-units").write_text(LIST_UNITS)
    (tmp_path / "systemctl").write_text(f'#!/bin/sh\necho "$1" >> {calls}\ncat "{tmp_path}/$1"\n')
    (tmp_path / "systemctl").chmod(0o755)
    (config / "multi-user.target.wants").mkdir(parents=True)
    (config / "multi-user.target.wants" / "containerd.service").symlink_to("/lib/systemd/system/containerd.service")
    (config / "sockets.target.wants").mkdir()
    (config / "sockets.target.wants" / "ssh.socket").symlink_to("/lib/systemd/system/ssh.socket")
    (config / "kubewire-firewall.service").write_text("[Unit]\n")  # a unit file, not enabled
    (config / "kubewire-pod-routes.service").symlink_to("/dev/null")  # masked, its old wants link still there
    (config / "multi-user.target.wants" / "kubewire-pod-routes.service").symlink_to("/dev/null")
    runtime.mkdir()
    (runtime / "firewalld.service").symlink_to("/dev/null")  # masked until the next boot
    monkeypatch.setattr(unit_probes, "SYSTEM_CONFIG_DIR", str(config))
    monkeypatch.setattr(unit_probes, "RUNTIME_CONFIG_DIR", str(runtime))
    return {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}, calls


def unit_probes_of_a_read() -> tuple:
    return (("containerd active", unit_probes.unit_active_probe("containerd.service")),
            ("firewall active", unit_probes.unit_active_probe("kubewire-firewall.service")),
            ("firewalld active", unit_probes.unit_active_probe("firewalld.service")),  # not loaded: inactive
            ("containerd enabled", unit_probes.unit_enabled_probe("containerd.service")),
            ("firewall enabled", unit_probes.unit_enabled_probe("kubewire-firewall.service")),
            ("routes enabled", unit_probes.unit_enabled_probe("kubewire-pod-routes.service")),
            ("masquerade enabled", unit_probes.unit_enabled_probe("kubewire-pod-masquerade.service")),  # no file
            ("firewalld enabled", unit_probes.unit_enabled_probe("firewalld.service")),
            ("ssh socket enabled", unit_probes.unit_enabled_probe("ssh.socket")),
            ("swap units", unit_probes.swap_units_probe()),
            ("ssh socket", unit_probes.when_unit_active("ssh.socket", "echo listening")),
            ("sshd socket", unit_probes.when_unit_active("sshd.socket", "echo listening; ")),
            ("containerd again", unit_probes.when_unit_active("containerd.service", "echo running")))


def test_every_unit_question_of_a_read_costs_one_systemctl_call(fake_systemd):
    env, calls = fake_systemd
    output = subprocess.run(["sh", "-c", Probes().command(unit_probes_of_a_read())], env=env, capture_output=True,
                            text=True, check=True)
    assert Probes().process(output.stdout.splitlines()) == {
        "containerd active": ["active"], "firewall active": ["failed"], "firewalld active": ["inactive"],
        "containerd enabled": ["enabled"], "firewall enabled": ["disabled"], "routes enabled": ["masked"],
        "masquerade enabled": ["disabled"], "firewalld enabled": ["masked"], "ssh socket enabled": ["enabled"],
        "swap units": ["dev-vdb.swap"], "ssh socket": [], "sshd socket": ["listening"],
        "containerd again": ["running"]}
    assert calls.read_text().split() == ["list-units"]


def test_a_whole_node_read_answers_unit_probes_as_they_answer_alone(fake_systemd):
    env, calls = fake_systemd
    sections = {"one": unit_probes_of_a_read()[:5], "two": unit_probes_of_a_read()[5:]}

    def run(probes):
        output = subprocess.run(["sh", "-c", Probes().command(probes)], env=env, capture_output=True, text=True,
                                check=True)
        return Probes().process(output.stdout.splitlines())

    alone = {section: (probes, run(probes)) for section, probes in sections.items()}
    calls.unlink()
    assert split_sections(run(whole_node_command(sections)), sections) == alone
    assert calls.read_text().split() == ["list-units"]


def test_a_unit_no_read_asks_systemd_about_is_refused():
    with pytest.raises(ValueError, match="docker.service is not in ASKED_UNITS"):
        unit_probes.unit_active_probe("docker.service")
