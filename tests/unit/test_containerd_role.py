"""The containerd role against the @fake connector; its config parsed as containerd would (TOML)."""

import hashlib
import io
import subprocess
import tarfile
import tomllib

import pytest

from kubewire import paths
from kubewire.facts import sha256
from kubewire.roles import containerd as role
from tests.unit.plan import fake_host, plan_commands, probes_answer, written

CP = ("controlplane", "192.168.56.10")
CRI_V1 = 'plugins."io.containerd.grpc.v1.cri"'
# Debian 12's /etc/containerd/config.toml ends inside a table, as `containerd config default` does.
DEBIAN_CONFIG = """version = 2

[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.6"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
"""


def node_state(dropin: str | None = None, **changes) -> dict:
    """A node with Debian's containerd 1.6 installed and configured by kubewire."""
    state = {"machine": "x86_64",
             "packages": ["containerd install ok installed", "runc install ok installed"],
             "root config": ["version = 2", f'imports = ["{role.DROPIN_DIR}/*.toml"]'],
             role.DROPIN: sha256(dropin) if dropin else "", "managed mirrors": [], "state": ["active", "enabled"]}
    state.update(changes)
    return state


def expected_dropin(version=(1, 6), root_version=2, **data) -> str:
    """The drop-in the role renders for this node (as a plan captures it)."""
    captured = {}

    def capture():
        from pyinfra import host

        from kubewire.inventory import cluster_spec
        spec = cluster_spec()
        captured["text"] = role.dropin_text(spec.node(host.name), spec.minor, role.config_layout(version, root_version))

    plan_commands([fake_host(*CP, **data)], [], capture)
    return captured["text"]


def commands_for(state: dict, **data) -> list:
    return plan_commands([fake_host(*CP, probes_answer(state), **data)], [], role.containerd)["controlplane"]


def uploads(commands: list) -> dict[str, str]:
    """Each file written, by its own upload or from a bundle, and its text."""
    return {upload.dest: upload.content for upload in written(commands)[1] if isinstance(upload.content, str)}


def test_a_converged_node_gets_no_operations():
    assert commands_for(node_state(expected_dropin())) == []


def test_a_fresh_node_installs_the_package_imports_the_dropin_and_starts_containerd():
    fresh = node_state(packages=[], **{"root config": ["absent"], "state": ["inactive", "disabled"]})
    commands = [str(command) for command in commands_for(fresh)]
    assert any("apt-get" in command and "containerd runc" in command for command in commands)
    assert any(role.ROOT_CONFIG in command and "awk" in command for command in commands)
    assert any(command.endswith(f"{role.DROPIN})") for command in commands)
    assert commands[-1:] == ["systemctl enable containerd && systemctl restart containerd"]


def test_a_changed_setting_rewrites_the_dropin_and_restarts_containerd():
    commands = commands_for(node_state(expected_dropin()), containerd_systemd_cgroup=False)
    written = uploads(commands)[role.DROPIN]
    assert tomllib.loads(written)["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"][
        "options"]["SystemdCgroup"] is False
    assert str(commands[-1]) == "systemctl restart containerd"


def test_disabled_leaves_the_runtime_alone():
    assert commands_for(node_state(), containerd_enabled=False) == []


def cri_config(text: str, path: str) -> dict:
    config = tomllib.loads(text)
    for key in path.split("/"):
        config = config[key]
    return config


@pytest.mark.parametrize(("version", "root_version", "config_version", "plugin", "cni_key"), [
    ((1, 6), 2, 2, "io.containerd.grpc.v1.cri", "bin_dir"),
    ((1, 7), 2, 2, "io.containerd.grpc.v1.cri", "bin_dir"),
    ((2, 0), None, 3, "io.containerd.cri.v1.runtime", "bin_dir"),
    ((2, 1), None, 3, "io.containerd.cri.v1.runtime", "bin_dirs"),
    ((2, 2), 3, 3, "io.containerd.cri.v1.runtime", "bin_dirs"),
    # containerd 2.x refuses a drop-in of a higher version than the root config's
    ((2, 1), 2, 2, "io.containerd.grpc.v1.cri", "bin_dir"),
])
def test_the_layout_follows_containerd_and_its_root_config(version, root_version, config_version, plugin, cni_key,
                                                          release):
    # What the role uploads, for a release of this version on a node whose config.toml has this version.
    root = ["absent"] if root_version is None else [f"version = {root_version}", role.IMPORTS_LINE]
    state = node_state(binaries=[], **{"root config": root, role.UNIT_FILE: ""})
    commands = commands_for(state, **{**release, "containerd_version": "{}.{}.0".format(*version)},
                            cni_bin_dir="/usr/lib/cni")
    config = tomllib.loads(uploads(commands)[role.DROPIN])
    assert config["version"] == config_version
    cni = config["plugins"][plugin]["cni"]
    assert cni[cni_key] == (["/usr/lib/cni"] if cni_key == "bin_dirs" else "/usr/lib/cni")
    assert cni["conf_dir"] == "/etc/cni/net.d"
    if config_version == 3:
        images = config["plugins"]["io.containerd.cri.v1.images"]
        assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"
        assert images["registry"]["config_path"] == role.CERTS_DIR
    else:
        assert config["plugins"][plugin]["sandbox_image"] == "registry.k8s.io/pause:3.10"


def test_lab_options_reach_the_runtime_settings():
    config = tomllib.loads(expected_dropin(containerd_snapshotter="native", containerd_no_new_keyring=True,
                                           containerd_restrict_oom_score_adj=True,
                                           containerd_sandbox_image="kubewire.lab/busybox:sandbox"))
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True and cri["sandbox_image"] == "kubewire.lab/busybox:sandbox"
    assert cri["containerd"]["snapshotter"] == "native"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["NoNewKeyring"] is True


def run_root_config_command(tmp_path, text: str | None) -> subprocess.CompletedProcess:
    path = tmp_path / "config.toml"
    if text is not None:
        path.write_text(text)
    command = role.root_config_command().replace(role.ROOT_CONFIG, str(path))
    command = command.replace(f"mkdir -p {role.ROOT_CONFIG.rsplit('/', 1)[0]}", f"mkdir -p {tmp_path}")
    return subprocess.run(["sh", "-c", f"KUBEWIRE_CONFIG_VERSION=2; {command}"], capture_output=True, text=True)


def test_imports_go_before_the_first_table_of_a_config_ending_in_a_table(tmp_path):
    assert run_root_config_command(tmp_path, DEBIAN_CONFIG).returncode == 0
    config = tomllib.loads((tmp_path / "config.toml").read_text())
    assert config["imports"] == [f"{role.DROPIN_DIR}/*.toml"]  # a top-level key, not one of the last table's
    assert "imports" not in config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]
    assert config["version"] == 2
    assert config["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"] == "registry.k8s.io/pause:3.6"
    once = (tmp_path / "config.toml").read_text()
    assert run_root_config_command(tmp_path, None).returncode == 0
    assert (tmp_path / "config.toml").read_text() == once  # a second run changes nothing


def test_a_missing_root_config_is_created_with_the_import(tmp_path):
    assert run_root_config_command(tmp_path, None).returncode == 0
    assert tomllib.loads((tmp_path / "config.toml").read_text()) == {"version": 2,
                                                                     "imports": [f"{role.DROPIN_DIR}/*.toml"]}


def test_a_root_config_with_its_own_imports_is_refused_not_changed(tmp_path):
    text = 'imports = ["/etc/other/*.toml"]\n' + DEBIAN_CONFIG
    result = run_root_config_command(tmp_path, text)
    assert result.returncode == 1 and "has its own imports" in result.stderr
    assert (tmp_path / "config.toml").read_text() == text
    state = node_state(**{"root config": ["version = 2", 'imports = ["/etc/other/*.toml"]']})
    with pytest.raises(role.ContainerdError, match="has its own `imports`"):
        commands_for(state)


def test_registry_mirrors_are_hosts_files_and_removed_ones_go():
    mirrors = {"docker.io": ["https://registry.lab:5000"], "_default": ["http://192.168.56.1:5000"]}
    state = node_state(expected_dropin(), **{"managed mirrors": [f"{role.CERTS_DIR}/quay.io/hosts.toml"],
                                             **{f"{role.CERTS_DIR}/{registry}/hosts.toml": "" for registry in mirrors}})
    commands = commands_for(state, containerd_registry_mirrors=mirrors)
    written = uploads(commands)
    docker = tomllib.loads(written[f"{role.CERTS_DIR}/docker.io/hosts.toml"])
    assert docker == {"server": "https://registry-1.docker.io",
                      "host": {"https://registry.lab:5000": {"capabilities": ["pull", "resolve"]}}}
    assert "server" not in tomllib.loads(written[f"{role.CERTS_DIR}/_default/hosts.toml"])
    assert (f"rm -f {role.CERTS_DIR}/quay.io/hosts.toml && rmdir --ignore-fail-on-non-empty {role.CERTS_DIR}/quay.io"
            in [str(command) for command in commands])
    assert str(commands[-1]) == "systemctl restart containerd"


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """A containerd-style tarball (bin/...) and a runc binary, with their sha256."""
    folder = tmp_path_factory.mktemp("containerd")
    tarball = folder / "containerd.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name in ("bin/containerd", "bin/ctr", "bin/containerd-shim-runc-v2"):
            data = f"#!/bin/sh\n# {name}\n".encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
    runc = folder / "runc"
    runc.write_bytes(b"#!/bin/sh\n# runc\n")
    return {"containerd_source": "tarball", "containerd_version": "2.1.4",
            "containerd_tarball": str(tarball),
            "containerd_tarball_sha256": hashlib.sha256(tarball.read_bytes()).hexdigest(),
            "containerd_runc": str(runc), "containerd_runc_sha256": hashlib.sha256(runc.read_bytes()).hexdigest()}


def installed(release) -> list[str]:
    digests = role.tarball_binaries(role.Path(release["containerd_tarball"]))
    runc = f"{release['containerd_runc_sha256']}  sbin/runc"
    return [f"{digest}  {name}" for name, digest in digests.items()] + [runc]


def test_release_binaries_are_verified_on_the_node_before_they_are_installed(release):
    state = node_state(binaries=[], **{"root config": ["absent"], "state": [],
                                                                  role.UNIT_FILE: ""})
    commands = [str(command) for command in commands_for(state, **release)]
    verify = next(command for command in commands if "sha256sum -c" in command
                  and release["containerd_tarball_sha256"] in command)
    assert commands.index(verify) < commands.index(next(c for c in commands if c.startswith("tar -xzf")))
    runc_check = next(c for c in commands if release["containerd_runc_sha256"] in c)
    assert commands.index(runc_check) < commands.index(next(c for c in commands if c.startswith("install -D -m 755")))
    assert "KUBEWIRE_CONFIG_VERSION=3" in next(c for c in commands if "awk" in c)  # kubewire writes a v3 root
    assert commands[-1:] == ["systemctl daemon-reload && systemctl enable containerd && systemctl restart containerd"]


def test_release_binaries_converged_and_a_tampered_one_restored(release):
    dropin = expected_dropin((2, 1), None, **release)
    unit = role.render("containerd", "containerd.service.j2")
    state = node_state(dropin, binaries=installed(release), **{"root config": ["version = 3", role.IMPORTS_LINE],
                                                                role.UNIT_FILE: sha256(unit)})
    assert commands_for(state, **release) == []
    state["binaries"] = [line if not line.endswith(" bin/ctr") else "0" * 64 + "  bin/ctr"
                         for line in state["binaries"]]
    commands = [str(command) for command in commands_for(state, **release)]
    assert any(command.startswith("tar -xzf") for command in commands)
    assert not any("install -D" in command for command in commands)  # runc was fine


def test_a_release_file_with_the_wrong_checksum_stops_the_run(release):
    with pytest.raises(role.ContainerdError, match="refusing to install"):
        commands_for(node_state(), **{**release, "containerd_runc_sha256": "0" * 64})


def test_a_node_without_package_lists_gets_the_layout_every_containerd_reads():
    """A fresh node may have no apt lists while the run plans: config version 2 either way."""
    fresh = node_state(packages=[], **{"root config": ["absent"], "state": []})
    written = uploads(commands_for(fresh))[role.DROPIN]
    assert tomllib.loads(written)["version"] == 2
    root = next(str(c) for c in commands_for(fresh) if "awk" in str(c))
    assert root.startswith("KUBEWIRE_CONFIG_VERSION=2;")


@pytest.fixture(scope="module")
def debian_containerd(tmp_path_factory):
    """Debian's containerd package, unpacked (not installed): its binary and its config.toml."""
    cache = paths.CACHE_DIR / "debian-containerd"
    binary = cache / "usr/bin/containerd"
    if not binary.is_file():
        folder = tmp_path_factory.mktemp("deb")
        download = subprocess.run(["apt-get", "download", "-q", "containerd"], cwd=folder, capture_output=True,
                                  text=True)
        if download.returncode != 0:
            pytest.skip(f"Debian's containerd package could not be downloaded: {download.stderr.strip()[-200:]}")
        subprocess.run(["dpkg-deb", "-x", str(next(folder.glob("containerd_*.deb"))), str(cache)], check=True)
    return binary, (cache / "etc/containerd/config.toml").read_text()


def test_containerd_itself_reads_kubewire_settings_from_debians_config(debian_containerd, tmp_path):
    """`containerd config dump` prints the configuration containerd would run with."""
    binary, debian_config = debian_containerd
    assert debian_config.rstrip().splitlines()[-2].lstrip().startswith("[")  # it ends inside a table
    assert run_root_config_command(tmp_path, debian_config).returncode == 0
    dropins = tmp_path / "conf.d"
    dropins.mkdir()
    (dropins / "kubewire.toml").write_text(expected_dropin(containerd_snapshotter="native",
                                                          containerd_no_new_keyring=True))
    root = tmp_path / "config.toml"
    root.write_text(root.read_text().replace(role.DROPIN_DIR, str(dropins)))
    dump = subprocess.run([str(binary), "--config", str(root), "config", "dump"], capture_output=True, text=True)
    assert dump.returncode == 0, dump.stderr
    cri = tomllib.loads(dump.stdout)["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"  # Debian's says pause:3.6
    assert cri["cni"]["bin_dir"] == "/opt/cni/bin"  # Debian's says /usr/lib/cni
    assert cri["containerd"]["snapshotter"] == "native"
    assert cri["containerd"]["runtimes"]["runc"]["options"] == {"NoNewKeyring": True, "SystemdCgroup": True}
    assert cri["registry"]["config_path"] == role.CERTS_DIR


def test_the_tarballs_digests_are_kept_in_kubewires_cache(release):
    """In the cache as it is when the role runs (the unit tests' is a temporary directory)."""
    tarball = role.Path(release["containerd_tarball"])
    role.tarball_binaries(tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert (paths.CACHE_DIR / "containerd-digests" / f"{digest}.json").is_file()
