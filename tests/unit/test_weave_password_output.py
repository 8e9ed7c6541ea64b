"""The Weave password never shows in pyinfra's output, whatever the flags, nor in a file kubewire writes.

The real pyinfra CLI runs the addons role against @fake hosts whose answers say: a cluster is
there, and the node still holds an earlier weave.yaml with an old password in it (as kubewire
wrote it before the Secret moved out of the diffed manifest). Every combination of pyinfra's
output flags is tried.
"""

from __future__ import annotations

import base64
import itertools
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubewire.roles.addons import MANIFESTS_DIR
from tests.unit.plan import probes_answer

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse-battery-staple"
OLD_PASSWORD = "old-password-from-an-earlier-run"
SECRETS = [PASSWORD, OLD_PASSWORD, *(base64.b64encode(text.encode()).decode() for text in (PASSWORD, OLD_PASSWORD))]
STAT = "user=root group=root mode=-rw------- atime=0 mtime=0 ctime=0 size=1 '{}'"
WEAVE_YAML = f"{MANIFESTS_DIR}/weave.yaml"
# What an earlier kubewire left on the node: weave.yaml with the Secret inside.
EARLIER_WEAVE_YAML = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: weave-passwd",
                      "  namespace: kube-system", "data:",
                      f"  weave-passwd: {base64.b64encode(OLD_PASSWORD.encode()).decode()}"]

VERBOSITY = ([], ["-v"], ["-vv"], ["-vvv"])
SWITCHES = ("--debug", "--diff", "--dry", "--json")
# Every verbosity with every subset of the switches, and the two flags that print the plan's internals.
FLAG_SETS = [verbosity + list(switches) for verbosity in VERBOSITY
             for count in range(len(SWITCHES) + 1) for switches in itertools.combinations(SWITCHES, count)]
FLAG_SETS += [["--debug-facts"], ["--debug-operations"], ["--debug-operations", "--diff", "-vvv"]]


def inventory(tmp_path: Path, password_file: Path) -> Path:
    responses = {
        **probes_answer({"kubectl": "/usr/bin/kubectl", "kubeconfig": "present"}),  # the role's probe
        f"&& cat {WEAVE_YAML}": EARLIER_WEAVE_YAML,  # pyinfra's FileContents fact, read for --diff
        "grep -l": [WEAVE_YAML],  # kubewire's look for manifests holding a Secret
        f"test -e {WEAVE_YAML}": STAT.format(WEAVE_YAML),
        f"sha1sum {WEAVE_YAML}": f"{'0' * 40}  {WEAVE_YAML}",
    }
    fake = {"fake_delay": 0, "fake_delay_jitter": 0}
    (tmp_path / "inventory.py").write_text(
        f"controlplane = [('@fake/controlplane', {{'node_name': 'controlplane', 'node_ip': '192.168.56.10', "
        f"'fake_responses': {responses!r}, **{fake!r}}})]\n"
        f"workers = [('@fake/node01', {{'node_name': 'node01', 'node_ip': '192.168.56.11', **{fake!r}}})]\n")
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data/all.py").write_text(
        f"node_cidr = '192.168.56.0/24'\ncni_plugin = 'weave'\nweave_password_file = {str(password_file)!r}\n")
    (tmp_path / "deploy.py").write_text("from kubewire.roles.addons import addons\n\naddons()\n")
    return tmp_path


def run_pyinfra(directory: Path, flags: list[str]) -> tuple[list[str], subprocess.CompletedProcess]:
    env = {**os.environ, "KUBEWIRE_CACHE_DIR": str(directory / "cache"), "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "pyinfra", str(directory / "inventory.py"),
                             str(directory / "deploy.py"), "-y", *flags],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    return flags, result


def leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_no_flag_combination_prints_the_password(tmp_path):
    password_file = tmp_path / "weave-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    directory = inventory(tmp_path, password_file)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        runs = list(pool.map(lambda flags: run_pyinfra(directory, flags), FLAG_SETS))
    failed = [(flags, result.returncode, result.stderr[-2000:]) for flags, result in runs if result.returncode != 0]
    assert not failed
    leaked = {" ".join(flags) or "(none)": leaks(result.stdout + result.stderr) for flags, result in runs}
    assert {flags: found for flags, found in leaked.items() if found} == {}
    # The runs did reach the Weave manifest and the Secret: the check above is not vacuous.
    diff_run = next(result for flags, result in runs if flags == ["--diff"])
    assert re.search(r"Will (modify|create) .*weave\.yaml", diff_run.stderr)
    assert "weave-passwd" in diff_run.stderr
    printing_commands = next(result for flags, result in runs if flags == ["-vvv"])
    assert "apply --server-side --field-manager=kubewire --filename=-" in printing_commands.stderr
    # Nothing the runs wrote on the controller (its cache included) holds the password: only the
    # file the user put it in does (and the inventory, which plays the node holding the old one).
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path not in
               (password_file, directory / "inventory.py", directory / "group_data/all.py", directory / "deploy.py")]
    assert written  # the schema cache at least
    assert [path for path in written if leaks(path.read_text(errors="replace"))] == []
