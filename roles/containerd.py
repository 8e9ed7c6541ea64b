"""Role `containerd`: the container runtime the kubelet drives through the CRI, and runc under it.

containerd and runc come from the distribution's packages, or from upstream's release (the static
containerd tarball and the runc binary, sha256 pinned in kubewire/versions.py, or files on the
controller). Its CRI plugin is configured from the spec in a drop-in of kubewire's own,
`/etc/containerd/conf.d/kubewire.toml`, imported from `config.toml`: systemd cgroups, the sandbox
image, the CNI directories of the `cni` role, registry mirrors. containerd restarts only when one of
its files changed. With `containerd_enabled` off the runtime is left alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shlex
import tarfile
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import apt, files, server

from kubewire import paths
from kubewire.cni_plugins import ARCHITECTURES, PluginsTarballError, download, sha256_of
from kubewire.facts import (
    file_digest_probe,
    first_line,
    node_probed,
    package_probe,
)
from kubewire.inventory import cluster_spec
from kubewire.operations import checks, step, text_file, writes
from kubewire.settings import ContainerdSettings
from kubewire.spec import NodeSpec
from kubewire.templates import render
from kubewire.unit_probes import unit_active_probe, unit_enabled_probe
from kubewire.versions import CONTAINERD_SHA256, CONTAINERD_URL, RUNC_SHA256, RUNC_URL, pause_image

ROOT_CONFIG = "/etc/containerd/config.toml"
DROPIN_DIR = "/etc/containerd/conf.d"
DROPIN = f"{DROPIN_DIR}/kubewire.toml"
IMPORTS_LINE = f'imports = ["{DROPIN_DIR}/*.toml"]'
# containerd's registry hosts directory (docs/hosts.md): <registry>/hosts.toml.
CERTS_DIR = "/etc/containerd/certs.d"
MANAGED_MARK = "# Managed by kubewire"
# Upstream's binaries go where upstream's containerd.service expects them.
PREFIX = "/usr/local"
RUNC_PATH = f"{PREFIX}/sbin/runc"
UNIT_FILE = "/etc/systemd/system/containerd.service"
UPLOAD_DIR = "/var/cache/kubewire"
# Docker Hub's registry host (containerd's hosts.md: docker.io's server).
DEFAULT_SERVERS = {"docker.io": "https://registry-1.docker.io"}


class ContainerdError(PyinfraError):
    pass


def parse_version(text: str) -> tuple[int, int] | None:
    """(major, minor) from `containerd --version` or a package version: 'v2.1.4', '1.6.20~ds1-1'."""
    match = re.search(r"(?:^|[\sv])(\d+)\.(\d+)\.\d+", text)
    return (int(match[1]), int(match[2])) if match else None


def config_layout(version: tuple[int, int], root_version: int | None) -> dict[str, bool]:
    """Which CRI config layout a containerd reads (containerd's docs/cri/config.md).

    Config version 3 (plugins io.containerd.cri.v1.*) is containerd 2.x's; 2.x still reads version
    2 and refuses a drop-in whose version is above the root config's. `cni.bin_dirs` replaced
    `bin_dir` in 2.1 (containerd/containerd#11311). `root_version` None: kubewire writes the root.
    """
    v3 = version >= (2, 0) and (root_version is None or root_version >= 3)
    return {"v3": v3, "bin_dirs": v3 and version >= (2, 1)}


def root_config_command() -> str:
    """Make config.toml import kubewire's drop-in: create it, or put the `imports` key before its
    first table. A top-level key after a table header would belong to that table and be ignored."""
    path, line = shlex.quote(ROOT_CONFIG), shlex.quote(IMPORTS_LINE)
    created = shlex.quote(f"{MANAGED_MARK}: containerd's root config, importing {DROPIN_DIR}.")
    return (f"if [ ! -e {path} ]; then mkdir -p {shlex.quote(str(Path(ROOT_CONFIG).parent))} && "
            f"printf '%s\\n' {created} \"version = $KUBEWIRE_CONFIG_VERSION\" {line} > {path}; "
            f"elif grep -qE '^[[:space:]]*imports[[:space:]]*=' {path}; then "
            f"grep -qF {shlex.quote(DROPIN_DIR)} {path} || {{ echo {path}' has its own imports; add "
            f"\"{DROPIN_DIR}/*.toml\" to them' >&2; exit 1; }}; "
            f"else awk -v line={line} '!done && /^[[:space:]]*\\[/ {{ print line; print \"\"; done = 1 }} {{ print }} "
            f"END {{ if (!done) print line }}' {path} > {path}.kubewire && cat {path}.kubewire > {path} && "
            f"rm -f {path}.kubewire; fi")


def mirror_files(settings: ContainerdSettings) -> dict[str, str]:
    return {f"{CERTS_DIR}/{registry}/hosts.toml": render(
        "containerd", "hosts.toml.j2", registry=registry, mirrors=mirrors,
        server=None if registry == "_default" else DEFAULT_SERVERS.get(registry, f"https://{registry}"))
        for registry, mirrors in settings.registry_mirrors.items()}


def dropin_text(node: NodeSpec, minor: int, layout: dict[str, bool]) -> str:
    settings = node.containerd
    return render("containerd", "kubewire.toml.j2", settings=settings, cni=node.cni, certs_dir=CERTS_DIR,
                  root_config=ROOT_CONFIG, sandbox_image=settings.sandbox_image or pause_image(minor), **layout)


def containerd_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes for one host (none with `containerd_enabled` off)."""
    settings = cluster_spec().node(host_name).containerd
    if not settings.enabled:
        return ()
    mirrors = mirror_files(settings)
    upstream = settings.source != "package"
    return (
        ("machine", "uname -m"),
        ("packages", package_probe(("Package", "Status"), ("containerd", "runc"))),
        ("root config", f"test -e {ROOT_CONFIG} && grep -E '^[[:space:]]*(version|imports)[[:space:]]*=' "
                        f"{ROOT_CONFIG} || echo absent"),
        (DROPIN, file_digest_probe(DROPIN)),
        *((path, file_digest_probe(path)) for path in mirrors),
        ("managed mirrors", f"set -- {CERTS_DIR}/*/hosts.toml; [ -e \"$1\" ] && grep -lF '{MANAGED_MARK}' \"$@\""),
        *(((UNIT_FILE, file_digest_probe(UNIT_FILE)),
           ("binaries", f"cd {PREFIX} && sha256sum bin/containerd* bin/ctr sbin/runc")) if upstream else ()),
        ("state", f"{unit_active_probe('containerd.service')}; {unit_enabled_probe('containerd.service')}"),
    )


@deploy("containerd")
def containerd() -> None:
    spec = cluster_spec()
    node = spec.node(host.name)
    settings = node.containerd
    if not settings.enabled:
        host.noop("containerd_enabled is off: the container runtime is managed elsewhere")
        return
    mirrors = mirror_files(settings)
    upstream = settings.source != "package"
    probed = node_probed("containerd", containerd_node_probes(host.name))

    installed = _install(settings, probed) if upstream else _install_packages(probed)
    # Its files, then a restart when anything changed: steps of one operation (`checks`), which runs
    # them as one command and one upload (a bundle when several files differ).
    unit = [step(f"Write {UNIT_FILE} (upstream's unit)", text_file, path=UNIT_FILE,
                 text=render("containerd", "containerd.service.j2"),
                 current_digest=first_line(probed, UNIT_FILE))] if upstream else []
    root = probed.get("root config") or ["absent"]
    root_version = None if root == ["absent"] else _root_version(root)
    layout = config_layout(_version_to_configure(settings), root_version)
    configured = []
    if not any(DROPIN_DIR in line for line in root if line.lstrip().startswith("imports")):
        if any(line.lstrip().startswith("imports") for line in root):
            raise ContainerdError(f"{host.name}: {ROOT_CONFIG} has its own `imports`; add \"{DROPIN_DIR}/*.toml\" "
                                  "to them")
        config_version = 3 if layout["v3"] else 2
        configured.append(step(f"Import {DROPIN_DIR} in {ROOT_CONFIG} (before its first table)", server.shell,
                               commands=[f"KUBEWIRE_CONFIG_VERSION={config_version}; {root_config_command()}"]))
    configured.append(step(f"Write containerd's CRI settings {DROPIN}", text_file, path=DROPIN,
                           text=dropin_text(node, spec.minor, layout), current_digest=first_line(probed, DROPIN)))
    configured += [step(f"Write registry mirrors {path}", text_file, path=path, text=text,
                        current_digest=first_line(probed, path)) for path, text in mirrors.items()]
    for path in sorted(set(probed.get("managed mirrors", [])) - set(mirrors)):
        configured.append(step(f"Remove mirrors no longer in the spec ({path})", server.shell, commands=[
            f"rm -f {shlex.quote(path)} && rmdir --ignore-fail-on-non-empty {shlex.quote(str(Path(path).parent))}"]))
    unit_changed = any(map(writes, unit))
    # An install operation is there only when something is missing or stale (not `will_change`: that
    # would have pyinfra read apt's facts while planning).
    changed = (bool(installed) or unit_changed
               or any(writes(each) or each.operation is server.shell for each in configured))
    state = probed.get("state") or []
    # From the probe, not systemd's facts: one command per role on a re-run.
    commands = [*(["systemctl daemon-reload"] if unit_changed else []),
                *(["systemctl enable containerd"] if state[1:2] != ["enabled"] else []),
                *(["systemctl restart containerd"] if changed else
                  ["systemctl start containerd"] if state[:1] != ["active"] else [])]
    restart = [step("Restart containerd (its files changed)" if changed else "Start containerd", server.shell,
                    commands=[" && ".join(commands)])] if commands else []
    checks(name=f"containerd configured ({DROPIN}), restarted when it changed", steps=unit + configured + restart)


def _root_version(lines: list[str]) -> int:
    """config.toml's `version`; without one it is version 1 (containerd's config.go)."""
    versions = [line.split("=", 1)[1].strip() for line in lines if line.lstrip().startswith("version")]
    return int(versions[0]) if versions and versions[0].isdigit() else 1


def _version_to_configure(settings: ContainerdSettings) -> tuple[int, int]:
    """The containerd whose layout the config takes, known before anything is installed.

    A distribution's package gets config version 2, which containerd 1.x reads and 2.x migrates
    (docs/cri/config.md): which version apt installs is not known while planning (a fresh node may
    not even have its package lists yet), and a layout chosen later would change on the next run.
    Debian 12 packages containerd 1.6.20 and Debian 13 1.7.24 (https://packages.debian.org/containerd):
    both read version 2, and both ship the same /etc/containerd/config.toml (version 2, no imports)."""
    if settings.source == "package":
        return (1, 0)
    return parse_version(f"v{settings.version}") or (1, 0)


def _install_packages(probed: dict) -> list:
    installed = {line.split()[0] for line in probed.get("packages", []) if line.endswith("install ok installed")}
    if {"containerd", "runc"} <= installed:
        return []
    return [apt.packages(name="Install containerd and runc (the distribution's)", packages=["containerd", "runc"],
                         update=True, cache_time=3600)]


def release_files(settings: ContainerdSettings, machine: str) -> tuple[Path, str, Path, str]:
    """The containerd tarball and runc binary on the controller, checked against their sha256."""
    if settings.source == "tarball":
        paths = [(Path(settings.tarball).expanduser(), settings.tarball_sha256),
                 (Path(settings.runc).expanduser(), settings.runc_sha256)]
    else:
        arch = ARCHITECTURES.get(machine)
        pinned = CONTAINERD_SHA256[settings.version], RUNC_SHA256[settings.runc_version]
        if arch not in pinned[0] or arch not in pinned[1]:
            raise ContainerdError(f"{host.name}: no pinned containerd/runc for architecture {machine!r}; use "
                                  "containerd_source 'tarball' or 'package'")
        paths = [(download(CONTAINERD_URL.format(version=settings.version, arch=arch), pinned[0][arch]),
                  pinned[0][arch]),
                 (download(RUNC_URL.format(version=settings.runc_version, arch=arch), pinned[1][arch]),
                  pinned[1][arch])]
    for path, digest in paths:
        if not path.is_file():
            raise ContainerdError(f"{host.name}: {path} does not exist on the controller")
        if sha256_of(path) != digest:
            raise ContainerdError(f"{host.name}: {path} has sha256 {sha256_of(path)}, not the expected {digest}; "
                                  "refusing to install it")
    (tarball, tarball_sha), (runc, runc_sha) = paths
    return tarball, tarball_sha, runc, runc_sha


@functools.cache
def tarball_binaries(tarball: Path) -> dict[str, str]:
    """sha256 of every file under bin/ in containerd's release tarball: what PREFIX/bin must hold."""
    cached = paths.CACHE_DIR / "containerd-digests" / f"{sha256_of(tarball)}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    with tarfile.open(tarball) as archive:
        digests = {member.name.removeprefix("./"): hashlib.sha256(archive.extractfile(member).read()).hexdigest()
                   for member in archive.getmembers()
                   if member.isfile() and member.name.removeprefix("./").startswith("bin/")}
    if "bin/containerd" not in digests:
        raise ContainerdError(f"{tarball} has no bin/containerd: not a containerd release tarball")
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(digests))
    return digests


def _install(settings: ContainerdSettings, probed: dict) -> list:
    try:
        tarball, tarball_sha, runc, runc_sha = release_files(settings, first_line(probed, "machine"))
    except PluginsTarballError as error:
        raise ContainerdError(f"{host.name}: {error}") from None
    installed = dict(reversed(line.split(None, 1)) for line in probed.get("binaries", []) if "  " in line)
    changed = []
    stale = sorted(name for name, digest in tarball_binaries(tarball).items() if installed.get(name) != digest)
    if stale:
        remote = f"{UPLOAD_DIR}/containerd-{tarball_sha[:12]}.tar.gz"
        files.put(name=f"Upload containerd {settings.version} (stale: {', '.join(stale[:3])})", src=str(tarball),
                  dest=remote, mode="600", create_remote_dir=True)
        changed.append(server.shell(name=f"Verify and unpack containerd into {PREFIX}/bin", commands=[
            f"echo {shlex.quote(f'{tarball_sha}  {remote}')} | sha256sum -c --quiet -",
            f"tar -xzf {remote} -C {PREFIX} --no-same-owner bin/ && rm -f {remote}"]))
    if installed.get("sbin/runc") != runc_sha:
        remote = f"{UPLOAD_DIR}/runc-{runc_sha[:12]}"
        files.put(name=f"Upload runc {settings.runc_version}", src=str(runc), dest=remote, mode="600",
                  create_remote_dir=True)
        changed.append(server.shell(name=f"Verify and install runc as {RUNC_PATH}", commands=[
            f"echo {shlex.quote(f'{runc_sha}  {remote}')} | sha256sum -c --quiet -",
            f"install -D -m 755 {remote} {RUNC_PATH} && rm -f {remote}"]))
    return changed
