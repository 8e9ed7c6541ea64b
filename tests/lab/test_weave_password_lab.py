"""The Weave password on real upload paths: over SSH to a lab node, with every output flag.

The lab has no Kubernetes, so the controlplane node gets a stand-in `kubectl` that answers the
addons role's reads and keeps a digest of what `apply --filename=-` receives on stdin (the
Secret). The node also holds a weave.yaml as an earlier kubewire wrote it, with an old password
in it. Then the real pyinfra CLI runs the addons role with each output flag: no output shows
either password, the Secret reaches the node's kubectl only on stdin, and no file on the node
under /etc/kubewire holds the new one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import subprocess
import sys

import pytest

from tests.harness import LOCAL_INVENTORY, ROOT

PASSWORD = "lab-correct-horse-battery-staple"
OLD_PASSWORD = "lab-old-password-from-an-earlier-run"
SECRETS = [PASSWORD, OLD_PASSWORD, *(base64.b64encode(text.encode()).decode() for text in (PASSWORD, OLD_PASSWORD))]
# With these pyinfra plans (or prints) its operations and runs none.
RUNS_NOTHING = {"--dry", "--debug-operations"}
FLAG_SETS = [[], ["-vvv"], ["--debug"], ["--diff"], ["--dry", "--diff", "-vvv"], ["--json", "--diff"],
             ["--debug", "--diff", "-vvv"], ["--debug-operations"]]
# A stand-in for kubectl: reads on stdin are hashed to a file, everything else answers empty.
KUBECTL = """#!/bin/sh
case " $* " in
  *" --filename=- "*) sha256sum > /root/kubectl-stdin.sha256; echo "secret/weave-passwd serverside-applied" ;;
  *" apply "*) echo applied ;;
esac
exit 0
"""
EARLIER_WEAVE_YAML = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: weave-passwd\n  namespace: kube-system\n"
                      f"data:\n  weave-passwd: {base64.b64encode(OLD_PASSWORD.encode()).decode()}\n")


@pytest.fixture
def node(converged, nodes, spec):
    if converged.inventory != LOCAL_INVENTORY:
        pytest.skip("needs the one-machine lab: it puts a stand-in kubectl on the controlplane node")
    host = nodes[spec.controlplane[0].name]
    host.run("mkdir -p /etc/kubewire/addons /etc/kubernetes && touch /etc/kubernetes/admin.conf")
    host.run(f"printf %s {shlex.quote(KUBECTL)} > /usr/local/bin/kubectl && chmod 755 /usr/local/bin/kubectl")
    yield host
    host.run("rm -f /usr/local/bin/kubectl /etc/kubernetes/admin.conf /root/kubectl-stdin.sha256 "
             "/etc/kubewire/addons/*.yaml")


def test_no_output_flag_shows_the_password_over_real_uploads(node, tmp_path):
    password_file = tmp_path / "weave-password"
    password_file.write_text(PASSWORD + "\n")
    password_file.chmod(0o600)
    (tmp_path / "deploy.py").write_text("from kubewire.roles.addons import addons\n\naddons()\n")
    # The controller's own cache stays (the lab's CNI tarball is there); the unit test of every
    # output flag checks that no file written on the controller holds the password.
    env = {**os.environ, "NO_COLOR": "1"}
    received = set()
    for flags in FLAG_SETS:
        node.run(f"printf %s {shlex.quote(EARLIER_WEAVE_YAML)} > /etc/kubewire/addons/weave.yaml && "
                 "rm -f /root/kubectl-stdin.sha256")
        result = subprocess.run([sys.executable, "-m", "pyinfra", str(LOCAL_INVENTORY), str(tmp_path / "deploy.py"),
                                 "-y", "--data", "cni_plugin=weave", "--data",
                                 f"weave_password_file={password_file}", *flags],
                                cwd=ROOT, env=env, capture_output=True, text=True)
        assert result.returncode == 0, (flags, result.stderr[-2000:])
        output = result.stdout + result.stderr
        assert [secret for secret in SECRETS if secret in output] == [], flags
        runs = not RUNS_NOTHING & set(flags)
        # A run sent the Secret to kubectl's stdin (and a plan sent nothing); no file under /etc/kubewire
        # holds it, and the earlier weave.yaml's Secret is gone when the run replaced the file.
        stdin_digest = node.run("cat /root/kubectl-stdin.sha256 2>/dev/null || true").stdout.split()[:1]
        assert bool(stdin_digest) == runs, flags
        received.update(stdin_digest)
        leaked = node.run("grep -rl -e %s -e %s /etc/kubewire || true", PASSWORD,
                          base64.b64encode(PASSWORD.encode()).decode()).stdout.strip()
        assert leaked == "", (flags, leaked)
        assert ("kind: Secret" in node.file("/etc/kubewire/addons/weave.yaml").content_string) == (not runs), flags
    # Every run piped the same, non-empty Secret manifest.
    assert len(received) == 1 and hashlib.sha256(b"").hexdigest() not in received
