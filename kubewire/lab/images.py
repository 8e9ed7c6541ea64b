"""Container images for lab nodes, built on the controller: no registry is reachable from a node.

busybox from Debian's busybox-static package, packed as a docker-archive (the `docker save`
layout: manifest.json naming each image's config and layer tars, which `ctr images import`
reads), holding two images on one layer:
- `kubewire.lab/busybox:lab` runs `sh` (a workload for tests);
- `kubewire.lab/pause:lab` sleeps until it is stopped: the pod sandbox ("pause") image.
The archive is mounted read-only into every node at NODE_IMAGES_MOUNT.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .base import DEFAULT_SUITE, run
from .rootfs import cached_rootfs, package_debs, upstream_version

NODE_IMAGES_MOUNT = "/srv/kubewire-images"
ARCHIVE_NAME = "busybox.tar"
BUSYBOX_REFERENCE = "kubewire.lab/busybox:lab"
SANDBOX_REFERENCE = "kubewire.lab/pause:lab"
# PID 1 in a container gets no default signal handlers: trap TERM so that stopping the sandbox
# is immediate instead of waiting for the runtime's kill timeout.
SANDBOX_COMMAND = ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"]


@dataclass(frozen=True)
class LabImages:
    archive: Path  # on the controller
    node_archive: str  # the same file inside every node (read-only)
    busybox: str  # image reference of the workload image
    sandbox: str  # image reference of the sandbox (pause) image
    busybox_version: str


def images_dir(suite: str = DEFAULT_SUITE) -> Path:
    rootfs, _ = cached_rootfs(suite)
    return rootfs.with_name(rootfs.name.replace("rootfs-", "images-", 1))


def lab_images(suite: str = DEFAULT_SUITE) -> LabImages:
    deb = package_debs(suite, "busybox-static")
    return LabImages(
        archive=images_dir(suite) / ARCHIVE_NAME, node_archive=f"{NODE_IMAGES_MOUNT}/{ARCHIVE_NAME}",
        busybox=BUSYBOX_REFERENCE, sandbox=SANDBOX_REFERENCE,
        busybox_version=upstream_version(deb[0]) if deb else "unknown",
    )


def ensure_images(suite: str = DEFAULT_SUITE) -> LabImages:
    images = lab_images(suite)
    if images.archive.exists():
        return images
    with tempfile.TemporaryDirectory() as unpacked:
        run("dpkg-deb", "-x", str(package_debs(suite, "busybox-static")[0]), unpacked)
        # /bin/busybox in bookworm's package, /usr/bin/busybox in trixie's (merged /usr).
        busybox = next(path for path in (Path(unpacked) / "usr/bin/busybox", Path(unpacked) / "bin/busybox")
                       if path.exists())
        applets = run(str(busybox), "--list").stdout.split()
        layer = _layer(busybox.read_bytes(), applets)
    layer_digest = hashlib.sha256(layer).hexdigest()
    entries, blobs = [], {f"{layer_digest}/layer.tar": layer}
    for reference, command in ((BUSYBOX_REFERENCE, ["sh"]), (SANDBOX_REFERENCE, SANDBOX_COMMAND)):
        config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": command, "Labels": {"busybox.version": images.busybox_version}},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_digest}"]},
        }, sort_keys=True).encode()
        config_name = hashlib.sha256(config).hexdigest() + ".json"
        blobs[config_name] = config
        entries.append({"Config": config_name, "RepoTags": [reference], "Layers": [f"{layer_digest}/layer.tar"]})
    blobs["manifest.json"] = json.dumps(entries).encode()
    images.archive.parent.mkdir(parents=True, exist_ok=True)
    building = images.archive.with_suffix(".building")
    with tarfile.open(building, "w") as archive:
        for name, data in blobs.items():
            _add(archive, name, data)
    os.chmod(building, 0o644)
    building.rename(images.archive)
    return images


def _layer(busybox: bytes, applets: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        _add(layer, "bin", None)
        _add(layer, "bin/busybox", busybox, mode=0o755)
        for applet in sorted(set(applets) - {"busybox"}):
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            layer.addfile(link)
        for directory in ("tmp", "proc", "sys", "dev", "etc", "root", "var"):
            _add(layer, directory, None, mode=0o1777 if directory == "tmp" else 0o755)
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, data: bytes | None, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    if data is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755 if mode == 0o644 else mode
        archive.addfile(info)
    else:
        info.size, info.mode = len(data), mode
        archive.addfile(info, io.BytesIO(data))
