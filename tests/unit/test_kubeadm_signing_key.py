"""pkgs.k8s.io's signing key: installed only when pinned and unexpired, fetched again once it expires.

The shell is run here with real OpenPGP keys made by gpg (one with an expiry in the past) and
fetched by curl from file:// URLs: the role's own commands, with the pinned fingerprint and the
keyring path pointed at the test's keys.
"""

import hashlib
import os
import re
import shutil
import subprocess

import pytest

from kubewire.roles import kubeadm as role
from tests.unit.kubeadm_plan import CP, PACKAGES, W1, fresh, member, run, strings

PINNED = role.KUBERNETES_APT_KEY_FINGERPRINT
EXPIRED_ON = 1798502400  # 2026-12-29, when the pinned key's present expiry falls


def key_commands(commands: list[str]) -> list[str]:
    return [command for command in commands if "Release.key" in command]


def test_an_expired_key_is_fetched_again_before_packages_are_installed(tmp_path):
    states = {"controlplane": fresh(), "node01": {**fresh(), "keyring": f"{PINNED} expired {EXPIRED_ON}"}}
    plans = run([CP, W1], states, kubeadm_admin_kubeconfig=str(tmp_path / "admin.conf"))
    assert key_commands(strings(plans["node01"])) == [
        role.signing_key_install_command("https://pkgs.k8s.io/core:/stable:/v1.33/deb/Release.key")]


def test_an_expired_key_with_the_packages_installed_is_reported_and_left(tmp_path, caplog):
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_bytes(b"admin")
    states = {"controlplane": member(**{"admin.conf": hashlib.sha256(b"admin").hexdigest(), "node cidrs": [
        "controlplane 10.244.10.0/24", "node01 10.244.11.0/24"], "node-ip": "192.168.56.10"}),
        "node01": member(keyring=f"{PINNED} expired {EXPIRED_ON}", **{"node-ip": "192.168.56.11"})}
    states["controlplane"][role.INIT_CONFIG] = ""  # its init config is not what this test is about
    plans = run([CP, W1], states, kubeadm_admin_kubeconfig=str(kubeconfig))
    assert plans["node01"] == []
    assert f"signing key in {role.KEYRING} expired on 2026-12-29" in caplog.text


def test_a_current_pinned_key_is_left_alone(tmp_path):
    plans = run([CP, W1], {"controlplane": fresh(), "node01": {**fresh(), "packages": PACKAGES, "keyring": PINNED}},
                kubeadm_admin_kubeconfig=str(tmp_path / "admin.conf"))
    assert key_commands(strings(plans["node01"])) == []


# -- the commands themselves, with real keys --

needs_gpg = pytest.mark.skipif(not (shutil.which("gpg") and shutil.which("curl")),
                               reason="gpg and curl make and fetch the test's keys")


def gpg(home, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["gpg", "--batch", "--quiet", "--homedir", str(home), *args],
                          check=True, capture_output=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """{name: (fingerprint, armored key file as upstream publishes it, binary key)}: one key valid until
    2099, one that expired in 2021."""
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    made = {}
    try:
        for name, expires, faked in (("valid", "2099-01-01", []), ("expired", "2021-01-01",
                                                                   ["--faked-system-time", "20200101T000000"])):
            gpg(home, *faked, "--passphrase", "", "--quick-gen-key", f"{name} <{name}@kubewire.invalid>",
                "ed25519", "sign", expires)
            listing = gpg(home, "--with-colons", "--list-keys", f"{name}@kubewire.invalid").stdout.decode()
            fingerprint = next(line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:"))
            path = home / f"{name}.asc"
            path.write_bytes(gpg(home, "--armor", "--export", fingerprint).stdout)
            made[name] = (fingerprint, path, gpg(home, "--export", fingerprint).stdout)
        yield made
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True)


def sh(command: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                          env={**os.environ, "GNUPGHOME": str(tmp_path)})


@needs_gpg
def test_the_probe_names_the_fingerprint_and_whether_it_expired(keys, tmp_path):
    valid, expired = keys["valid"], keys["expired"]
    assert sh(role.signing_key_state(str(valid[1])), tmp_path).stdout == f"{valid[0]}\n"
    line = sh(role.signing_key_state(str(expired[1])), tmp_path).stdout
    assert re.fullmatch(rf"{expired[0]} expired (\d+)\n", line) and int(line.split()[2]) < 1609545600  # by 2021-01-02


@needs_gpg
@pytest.mark.parametrize("name, pinned, installed, message", [
    ("valid", "valid", True, ""),
    ("expired", "expired", False, "has expired, so apt would refuse pkgs.k8s.io; nothing was installed"),
    ("valid", "expired", False, "is not the pinned"),
])
def test_a_fetched_key_is_installed_only_when_pinned_and_unexpired(keys, tmp_path, monkeypatch, name, pinned,
                                                                    installed, message):
    keyring = tmp_path / "keyrings" / "kubernetes.gpg"
    monkeypatch.setattr(role, "KUBERNETES_APT_KEY_FINGERPRINT", keys[pinned][0])
    monkeypatch.setattr(role, "KEYRING", str(keyring))
    done = sh(role.signing_key_install_command(f"file://{keys[name][1]}"), tmp_path)
    assert (done.returncode == 0, keyring.exists()) == (installed, installed), done.stderr
    assert message in done.stderr
    if installed:
        assert keyring.read_bytes() == keys[name][2]  # as apt reads it: binary (gpg --dearmor)
        assert sh(role.signing_key_state(str(keyring)), tmp_path).stdout == f"{keys[name][0]}\n"
