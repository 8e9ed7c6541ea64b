"""The CNI plugins tarball on the controller: found or downloaded, and always checksummed.

Nothing is unpacked anywhere until the tarball's sha256 matches the pinned or given one: here
on the controller, and again on the node before `tar -x`.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from . import paths
from .settings import CniSettings
from .versions import CNI_PLUGINS_SHA256, CNI_PLUGINS_URL

# `uname -m` -> the architecture names of the release tarballs.
ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


class PluginsTarballError(Exception):
    pass


def sha256_of(path: Path) -> str:
    """The file's sha256, hashed once per run: the spec's checks, the verification before use and the
    plugin digests' cache key all ask for a tarball of tens of MB. Kept by inode, size, mtime and ctime:
    a file written over or replaced since is hashed again."""
    stat = os.stat(path)
    return _sha256_of(Path(path), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


@functools.lru_cache(maxsize=32)
def _sha256_of(path: Path, *_identity: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plugins_tarball(settings: CniSettings, machine: str) -> tuple[Path, str]:
    """The verified tarball for a node of this `uname -m`, and its sha256."""
    if settings.plugins_source == "tarball":
        if not (settings.plugins_tarball and settings.plugins_tarball_sha256):
            raise PluginsTarballError("cni_plugins_source 'tarball' needs cni_plugins_tarball (its path on the "
                                      "controller) and cni_plugins_tarball_sha256 (for the lab: `kubewire lab up`)")
        path, expected = Path(settings.plugins_tarball).expanduser(), settings.plugins_tarball_sha256
        if not path.is_file():
            raise PluginsTarballError(f"cni_plugins_tarball {str(path)!r} does not exist on the controller")
        return _verified(path, expected), expected
    arch = ARCHITECTURES.get(machine)
    pinned = CNI_PLUGINS_SHA256[settings.plugins_version]
    if arch not in pinned:
        raise PluginsTarballError(f"no pinned CNI plugins {settings.plugins_version} for architecture {machine!r} "
                                  f"(pinned: {sorted(pinned)}); use cni_plugins_source 'tarball'")
    url = CNI_PLUGINS_URL.format(version=settings.plugins_version, arch=arch)
    return download(url, pinned[arch]), pinned[arch]


@functools.cache
def _verified(path: Path, expected: str) -> Path:
    actual = sha256_of(path)
    if actual != expected:
        raise PluginsTarballError(f"{path} has sha256 {actual}, not the expected {expected}; refusing to install it")
    return path


def download(url: str, expected: str, cache: Path | None = None) -> Path:
    """Download once into the cache (default: kubewire.paths.CACHE_DIR); a file whose sha256 differs is never
    kept or used."""
    cache = cache or paths.CACHE_DIR
    target = cache / url.rsplit("/", 1)[1]
    if target.is_file() and sha256_of(target) == expected:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, delete=False) as partial:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    partial.write(block)
            partial.close()
            _verified(Path(partial.name), expected)
        except BaseException:
            os.unlink(partial.name)
            raise
    os.replace(partial.name, target)
    return target


@functools.cache
def plugin_digests(tarball: Path) -> dict[str, str]:
    """sha256 of every plugin in the tarball, by name: what a node's bin dir must hold.

    Unpacking and hashing every plugin takes a while; the result is kept in the download
    cache under the tarball's own sha256, so it is computed once per tarball."""
    cached = paths.CACHE_DIR / "plugin-digests" / f"{sha256_of(tarball)}.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    digests = _hash_members(tarball)
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_text(json.dumps(digests))
    return digests


def _member_digests(tarball: Path) -> dict[str, str]:
    digests = {}
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("./")
            if member.isfile() and "/" not in name:
                digests[name] = hashlib.sha256(archive.extractfile(member).read()).hexdigest()
    return digests


def _hash_members(tarball: Path) -> dict[str, str]:
    digests = _member_digests(tarball)
    if not {"bridge", "host-local", "loopback", "portmap"} <= set(digests):
        raise PluginsTarballError(f"{tarball} lacks the bridge, host-local, loopback or portmap plugin")
    return digests


@functools.cache
def plugins_subset(tarball: Path, tarball_sha256: str, names: tuple[str, ...]) -> tuple[Path, str]:
    """A tarball of only these plugins, taken from the (verified) release tarball, and its sha256:
    what a node lacks, so nothing else is sent. Built once per tarball and set of names (no
    timestamp or name in its gzip header) and kept in the cache; a kept one is used only when its
    plugins are the release's, byte for byte."""
    key = hashlib.sha256("\n".join([tarball_sha256, *sorted(names)]).encode()).hexdigest()[:24]
    target = paths.CACHE_DIR / "cni-plugin-subsets" / f"{key}.tgz"
    expected = {name: digest for name, digest in plugin_digests(tarball).items() if name in names}
    # A kept subset is trusted only while it holds exactly the release's plugins (the cache is a file).
    if not (target.is_file() and _member_digests(target) == expected):
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
            try:
                _write_subset(tarball, set(names), partial)
                partial.close()
            except BaseException:
                os.unlink(partial.name)
                raise
        os.replace(partial.name, target)
    return target, sha256_of(target)


def _write_subset(tarball: Path, names: set[str], out) -> None:
    with tarfile.open(tarball) as source, gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as packed, \
            tarfile.open(fileobj=packed, mode="w") as subset:
        for member in source.getmembers():
            if member.isfile() and member.name.removeprefix("./") in names:
                subset.addfile(member, source.extractfile(member))
