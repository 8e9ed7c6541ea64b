"""Container images built locally (no registry is reachable from the lab): busybox from Debian's
busybox-static package, packed as a docker archive (`docker save` layout) that
`ctr images import` reads.

Two images share one layer: `APP_IMAGE` serves HTTP with busybox httpd, and its CGI
`/cgi-bin/peer` answers with the address the pod sees the client at; `SANDBOX_IMAGE` only
sleeps and stands in for the pause image.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

APP_IMAGE = "kubewire.lab/busybox:httpd"
SANDBOX_IMAGE = "kubewire.lab/busybox:sandbox"
HTTP_PORT = 80
PEER_CGI = "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"peer=$REMOTE_ADDR\"\n"


def busybox_binary(cache: Path) -> Path:
    """Debian's static busybox, from the controller's own apt sources (downloaded once)."""
    binary = cache / "busybox-static" / "bin" / "busybox"
    if binary.is_file():
        return binary
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(["apt-get", "download", "-q", "busybox-static"], cwd=cache, check=True, capture_output=True)
    deb = sorted(cache.glob("busybox-static_*.deb"))[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(cache / "busybox-static")], check=True)
    return binary


def _add(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    archive.addfile(info, io.BytesIO(data))


def _layer(busybox: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as layer:
        for directory in ("bin", "www", "www/cgi-bin", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755 if directory != "tmp" else 0o1777
            layer.addfile(info)
        _add(layer, "bin/busybox", busybox.read_bytes(), 0o755)
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        layer.addfile(link)
        _add(layer, "www/index.html", b"kubewire\n")
        _add(layer, "www/cgi-bin/peer", PEER_CGI.encode(), 0o755)
    return buffer.getvalue()


def build_archive(busybox: Path, target: Path, architecture: str = "amd64") -> Path:
    """Both images in one docker archive at `target`."""
    layer = _layer(busybox)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    entrypoints = {APP_IMAGE: ["/bin/busybox", "httpd", "-f", "-p", str(HTTP_PORT), "-h", "/www"],
                   SANDBOX_IMAGE: ["/bin/busybox", "sleep", "2147483647"]}
    manifest = []
    with tarfile.open(target, "w") as archive:
        _add(archive, "layer/layer.tar", layer)
        for tag, entrypoint in entrypoints.items():
            config = json.dumps({"architecture": architecture, "os": "linux",
                                 "config": {"Entrypoint": entrypoint, "WorkingDir": "/"},
                                 "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
            name = hashlib.sha256(config).hexdigest() + ".json"
            _add(archive, name, config)
            manifest.append({"Config": name, "RepoTags": [tag], "Layers": ["layer/layer.tar"]})
        _add(archive, "manifest.json", json.dumps(manifest).encode())
    return target
