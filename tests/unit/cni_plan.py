"""The cni role's plans on the @fake connector: a plugins tarball, probe answers of a converged
node, plans for a two-node cluster, and the role's probe scripts run locally against fakes."""

import hashlib
import io
import re
import subprocess
import tarfile

from kubewire.cni_plugins import plugin_digests
from kubewire.facts import sha256
from kubewire.nft_probes import TableListing
from kubewire.roles import cni as cni_role
from kubewire.settings import CniSettings
from tests.unit.plan import fake_host, plan, probes_answer

PLUGINS = ("bridge", "host-local", "loopback", "portmap", "dhcp", "vlan")  # the last two: no config uses them
CP, W1 = ("controlplane", "192.168.56.10"), ("node01", "192.168.56.11")


def make_tarball(directory):
    """A plugins tarball of tiny scripts named like PLUGINS, and its sha256 (the `tarball` fixture)."""
    path = directory / "plugins.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for name in PLUGINS:
            data = f"#!/bin/sh\n# {name}\n".encode()
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def tarball_data(tarball, **extra):
    path, digest = tarball
    return {"cni_plugins_source": "tarball", "cni_plugins_tarball": str(path),
            "cni_plugins_tarball_sha256": digest, "cni_plugins_version": "9.9.9", **extra}


def masquerade_listing(digest: str, *more: str) -> list[str]:
    """`nft list table ip kubewire_cni` as the node prints it: its comment carries the rules' digest."""
    return ["table ip kubewire_cni {", f'\tcomment "kubewire-masquerade {digest}"', *more, "}"]


def converged(tarball, files_for_host=None, **changes) -> dict:
    """Probe answers of a node where everything the role writes is in place and loaded."""
    installed = [f"{sha}  {name}" for name, sha in plugin_digests(tarball[0]).items()]
    state = {"machine": "x86_64", "plugins": installed, "package links": [], "conf files": ["10-kubewire.conflist"]}
    for path, text in (files_for_host or {}).items():
        state[path] = sha256(text)
    rules = (files_for_host or {}).get(cni_role.MASQUERADE_RULES, "")
    live = re.search(r'comment "kubewire-masquerade ([0-9a-f]+)"', rules)
    listing = masquerade_listing(live.group(1)) if live else []
    state.update({"routes": [], "routes unit": "enabled", "masquerade unit": "enabled",
                  "masquerade listing": listing, "masquerade loaded": TableListing(tuple(listing)).digest,
                  cni_role.LEGACY_LOOPBACK: "", "weave links": [], "weave iptables": [], "weave files": [],
                  "flannel files": [], "flannel plugin": "", "flannel conflist": "", "flannel subnet": "", "links": [],
                  "flannel iptables": []})
    state.update(changes)
    return state


def plan_cni(tarball, state_for, settings=None, **data):
    """The controlplane's planned commands in a two-node cluster (see `plan_both`)."""
    return plan_both(tarball, state_for, settings, **data)["controlplane"]


def plan_both(tarball, state_for, settings=None, **data):
    """Plan for a two-node cluster; `state_for(files)` gives the probe answers from the role's own files."""
    files = {}

    def capture():
        from pyinfra import host
        files[host.name] = cni_role.cni_files(host.name)

    nodes = [fake_host(*CP, **tarball_data(tarball, **data)), fake_host(*W1, **tarball_data(tarball, **data))]
    plan(nodes[:1], nodes[1:], capture, settings)
    answered = [fake_host(*CP, probes_answer(state_for(files["@fake/controlplane"])), **tarball_data(tarball, **data)),
                fake_host(*W1, probes_answer(state_for(files["@fake/node01"])), **tarball_data(tarball, **data))]
    return plan(answered[:1], answered[1:], cni_role.cni, settings)


def live_routes():
    return ["10.244.11.0/24 via 192.168.56.11 dev eth0 proto kubewire"]


def probe_output(tmp_path, probe: str, **fake_commands: str) -> list[str]:
    """Run one of the role's probe scripts locally, the commands it calls replaced by fakes on PATH."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for name, output in fake_commands.items():
        (tmp_path / f"{name}.out").write_text(output)
        (fakes / name).write_text(f"#!/bin/sh\ncat {tmp_path / name}.out\n")
        (fakes / name).chmod(0o755)
    script = dict(cni_role.cni_probes(CniSettings(), {}))[probe]
    env = {"PATH": f"{fakes}:/usr/bin:/bin"}
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env).stdout.splitlines()
