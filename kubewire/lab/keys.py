"""The lab's SSH keys: one client key, one host key per node, both kept across `down`/`up`."""

from __future__ import annotations

import os
from pathlib import Path

from . import base
from .base import LabNode, run


def client_key() -> Path:
    return base.KEYS_DIR / "id_ed25519"


def known_hosts_file() -> Path:
    return base.KEYS_DIR / "known_hosts"


def ssh_config_file() -> Path:
    return base.KEYS_DIR / "ssh_config"


def host_key(node: LabNode) -> Path:
    return base.KEYS_DIR / "hostkeys" / node.name / "ssh_host_ed25519_key"


def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))
    os.chmod(path, 0o600)


def ensure_keys(nodes: list[LabNode]) -> None:
    base.KEYS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(base.KEYS_DIR, 0o700)
    _keygen(client_key(), "kubewire-lab")
    lines, config = [], []
    for node in nodes:
        _keygen(host_key(node), f"root@{node.name}")
        public = host_key(node).with_suffix(".pub").read_text().split()[:2]
        lines.append(f"{node.ip} {' '.join(public)}")
        config.append(
            f"Host {node.name} {node.ip}\n  HostName {node.ip}\n  User root\n"
            f"  IdentityFile {client_key()}\n  UserKnownHostsFile {known_hosts_file()}\n"
            "  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n"
        )
    _write_private(known_hosts_file(), "\n".join(lines) + "\n")
    _write_private(ssh_config_file(), "\n".join(config))


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o600)
