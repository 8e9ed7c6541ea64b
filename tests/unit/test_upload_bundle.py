"""Files that travel in one upload (`checks`, `FilesFromBundle`), split into place by the node's shell:
here `sh` and coreutils' `head`, as on a node, in a temporary directory."""

import os
import stat
import subprocess

from kubewire.operations import FilesFromBundle, files_made_ready

CONTENTS = {
    "etc/kubewire/firewall.nft": ("600", "table inet kubewire {\n\tcomment \"ünïcode\"\n}\n".encode()),
    "etc/kubewire/empty.conf": ("644", b""),
    "etc/my units/kubewire.service": ("644", b"[Unit]\nDescription=no newline at the end"),
    "etc/kubewire/pod-routes.sh": ("755", b"#!/bin/sh\nip route replace 10.244.1.0/24 via 192.168.56.11\n"),
}


def sh(command) -> None:
    subprocess.run(["sh", "-c", str(command)], check=True)


def test_each_file_gets_its_own_bytes_and_keeps_its_mode(tmp_path):
    files = {str(tmp_path / name): value for name, value in CONTENTS.items()}
    bundle = tmp_path / "var lib" / "upload.bundle"
    existing = tmp_path / "etc/kubewire/firewall.nft"  # longer than what replaces it, and private
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"x" * 4096)
    existing.chmod(0o600)

    sh(files_made_ready([(path, mode) for path, (mode, _) in files.items()] + [(str(bundle), "600")]))
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    with open(bundle, "r+b") as upload:  # as sftp-server writes into the existing file: O_TRUNC
        upload.truncate()
        upload.write(b"".join(content for _, content in files.values()))
    sh(FilesFromBundle([(path, content) for path, (_, content) in files.items()], bundle=str(bundle)))

    for path, (mode, content) in files.items():
        with open(path, "rb") as written:
            assert written.read() == content, path
        assert oct(stat.S_IMODE(os.stat(path).st_mode)) == oct(int(mode, 8)), path
    assert not bundle.exists()


def test_a_bundle_cut_short_writes_nothing(tmp_path):
    """An upload cut short (or changed) on its way: no file is written, and the run stops there."""
    bundle = tmp_path / "upload.bundle"
    bundle.write_bytes(b"abc")
    target = tmp_path / "a.conf"
    target.write_bytes(b"old")
    split = FilesFromBundle([(str(target), b"abcdef")], bundle=str(bundle))
    assert subprocess.run(["sh", "-c", str(split)], capture_output=True).returncode != 0
    assert target.read_bytes() == b"old"
