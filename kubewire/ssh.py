"""SSH to inventory hosts for checks (testinfra), with the same settings pyinfra uses.

Host keys are checked against the inventory's `ssh_known_hosts_file` (testinfra's own
paramiko backend would only warn), and TCP_NODELAY is set: without it every command
waits about 40 ms on delayed ACKs.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import paramiko
from pyinfra.api.inventory import Inventory


@dataclass(frozen=True)
class SshTarget:
    host: str
    hostname: str
    port: int
    user: str
    key: str | None
    known_hosts: str | None
    strict: str
    sudo: bool = False  # the inventory's `_sudo`: checks run as root, as the deploy does

    @property
    def url(self) -> str:
        return f"paramiko://{self.user}@{self.hostname}:{self.port}"


def ssh_targets(inventory: Inventory) -> dict[str, SshTarget]:
    targets = {}
    for host in inventory:
        data = host.data
        targets[host.name] = SshTarget(
            host=host.name,
            hostname=data.get("ssh_hostname") or host.name,
            port=int(data.get("ssh_port") or 22),
            user=data.get("ssh_user") or "root",
            key=data.get("ssh_key"),
            known_hosts=data.get("ssh_known_hosts_file"),
            strict=str(data.get("ssh_strict_host_key_checking") or "yes"),
            sudo=bool(data.get("_sudo")),
        )
    return targets


def connect(target: SshTarget, timeout: float = 10.0) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    known_hosts = Path(target.known_hosts).expanduser() if target.known_hosts else None
    if known_hosts and known_hosts.exists():
        client.load_host_keys(str(known_hosts))
    else:
        client.load_system_host_keys()
    # A changed key is always refused; only accept-new/no admit an unknown one.
    if target.strict in ("accept-new", "no", "off"):
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    else:
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    sock = socket.create_connection((target.hostname, target.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.connect(
        target.hostname, port=target.port, username=target.user, key_filename=target.key,
        sock=sock, timeout=timeout, allow_agent=False, look_for_keys=target.key is None,
    )
    return client


def testinfra_host(target: SshTarget):
    """A testinfra Host whose paramiko connection is ours (host keys checked)."""
    import testinfra

    checked = testinfra.get_host(target.url, sudo=target.sudo)
    checked.backend.__dict__["client"] = connect(target)  # testinfra caches its client here
    return checked
