"""The cni role against the @fake connector, and the plugins tarball handling on the controller."""

import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from kubewire.cni_plugins import PluginsTarballError, download, plugin_digests
from kubewire.facts import sha256
from kubewire.roles import cni as cni_role
from tests.unit.plan import fake_host, plan, probes_answer

PLUGINS = ("bridge", "host-local", "loopback", "portmap")
CP, W1 = ("controlplane", "192.168.56.10"), ("node01", "192.168.56.11")


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    path = tmp_path_factory.mktemp("cni") / "plugins.tgz"
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


def converged(tarball, files_for_host=None, **changes) -> dict:
    installed = [f"{sha}  {name}" for name, sha in plugin_digests(tarball[0]).items()]
    state = {"machine": "x86_64", "plugins": installed, "package links": [], "conf files": [
        "10-kubewire.conflist", "99-loopback.conf"]}
    for path, text in (files_for_host or {}).items():
        state[path] = sha256(text)
    state.update({"routes": [], "routes unit": "enabled"})
    state.update(changes)
    return state


def plan_cni(tarball, state_for, settings=None, **data):
    """Plan for a two-node cluster; `state_for(files)` gives the probe answers from the role's own files."""
    files = {}

    def capture():
        from pyinfra import host
        files[host.name] = cni_role.cni_files(host.name)

    nodes = [fake_host(*CP, **tarball_data(tarball, **data)), fake_host(*W1, **tarball_data(tarball, **data))]
    plan(nodes[:1], nodes[1:], capture, settings)
    answered = [fake_host(*CP, probes_answer(state_for(files["@fake/controlplane"])), **tarball_data(tarball, **data)),
                fake_host(*W1, probes_answer(state_for(files["@fake/node01"])), **tarball_data(tarball, **data))]
    return plan(answered[:1], answered[1:], cni_role.cni, settings)["controlplane"]


def live_routes():
    return ["10.244.11.0/24 via 192.168.56.11 dev eth0 proto kubewire"]


def test_a_converged_node_gets_no_operations(tarball):
    assert plan_cni(tarball, lambda files: converged(tarball, files, routes=live_routes())) == []


def test_a_tampered_plugin_is_verified_and_unpacked_again(tarball):
    def state(files):
        answer = converged(tarball, files, routes=live_routes())
        answer["plugins"] = [line if not line.endswith(" bridge") else "0" * 64 + "  bridge"
                             for line in answer["plugins"]]
        return answer
    commands = plan_cni(tarball, state)
    verify = next(c for c in commands if "sha256sum -c" in c)
    assert tarball[1] in verify
    unpack = commands.index(next(c for c in commands if c.startswith("mkdir -p /opt/cni/bin && tar -xzf")))
    assert commands.index(verify) < unpack  # checked on the node before anything is unpacked


def test_a_tarball_with_the_wrong_checksum_stops_the_run(tarball):
    with pytest.raises(cni_role.CniError, match="refusing to install"):
        plan_cni(tarball, lambda files: converged(tarball, files), cni_plugins_tarball_sha256="0" * 64)


def test_missing_routes_are_added_by_the_script(tarball):
    commands = plan_cni(tarball, lambda files: converged(tarball, files))
    assert commands == ["/bin/sh /etc/kubewire/pod-routes.sh"]


def test_routes_script_routes_each_other_node_and_removes_stale_ones(tarball):
    files = {}

    def capture():
        from pyinfra import host
        files[host.name] = cni_role.cni_files(host.name)

    plan([fake_host(*CP, **tarball_data(tarball))], [fake_host(*W1, **tarball_data(tarball))], capture)
    script = files["@fake/controlplane"][cni_role.ROUTES_SCRIPT]
    assert "ip route replace 10.244.11.0/24 via 192.168.56.11 proto 75" in script
    assert "10.244.10.0/24" not in script.split("done", 1)[1]  # not its own subnet
    assert 'ip route del "$subnet" proto 75' in script


def test_a_config_that_would_win_is_moved_aside(tarball):
    def state(files):
        return converged(tarball, files, routes=live_routes(),
                         **{"conf files": ["00-other.conflist", "10-kubewire.conflist", "99-loopback.conf", "README"]})
    commands = plan_cni(tarball, state)
    assert "mv /etc/cni/net.d/00-other.conflist /etc/cni/net.d/kubewire-disabled/00-other.conflist" in commands
    assert not any("README" in c for c in commands)


def test_weave_removes_bridge_config_and_routes(tarball):
    commands = plan_cni(tarball, lambda files: converged(tarball, files, routes=live_routes()),
                        settings={"cni_plugin": "weave"})
    assert "ip route flush proto 75" in commands
    assert not any("pod-routes.sh" in c and c.startswith("/bin/sh") for c in commands)


def test_download_keeps_only_a_file_with_the_pinned_checksum(tarball, tmp_path):
    path, digest = tarball
    handler = lambda *args: http.server.SimpleHTTPRequestHandler(*args, directory=str(path.parent))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/{path.name}"
    try:
        with pytest.raises(PluginsTarballError, match="refusing to install"):
            download(url, "f" * 64, cache=tmp_path)
        assert list(tmp_path.iterdir()) == []  # nothing kept from the bad download
        assert download(url, digest, cache=tmp_path).read_bytes() == path.read_bytes()
    finally:
        server.shutdown()


def test_package_source_installs_the_package_and_links_its_plugins(tarball):
    def state(files):
        return converged(tarball, files, routes=live_routes(), **{"package links": ["bridge ", "portmap "]})
    commands = plan_cni(tarball, state, cni_plugins_source="package")
    assert any("apt-get" in c and "containernetworking-plugins" in c for c in commands)
    assert any(c.startswith("mkdir -p /opt/cni/bin && for f in /usr/lib/cni/*; do ln -sfn") for c in commands)

    def linked(files):
        return converged(tarball, files, routes=live_routes(), **{"package links": ["bridge /usr/lib/cni/bridge"]})
    assert plan_cni(tarball, linked, cni_plugins_source="package") == []
