"""Files that pass through sudo: where pyinfra's copies of them go, and the connector arguments a
direct call to the connector needs.

Through sudo, pyinfra's SSH connector moves a file in two steps, because SFTP runs as the SSH user:
an upload goes to a temporary file, then `cp` as root; a download is copied by root to a temporary
file and made readable (`chmod +r`), then fetched (pyinfra/connectors/ssh.py, `put_file`,
`get_file`). By default that file is `/tmp/pyinfra-<sha1 of the path>`: a name anyone can know, in a
directory everyone shares, and readable by all (SFTP creates the upload with the umask's 644; the
download's copy is `chmod +r`). kubewire's own transfers (its text files and their bundles, the CNI
plugins' tarball, a JoinConfiguration, a fetched kubeconfig) pass through a directory of the SSH
user's instead, mode 700, inside kubewire's /var/lib/kubewire, which only root can write; what goes
through pyinfra's `files.put` still takes pyinfra's path.
"""

from __future__ import annotations

import hashlib

from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS

TRANSFER_DIR = "/var/lib/kubewire/transfer"
# Run as root through sudo (which sets SUDO_USER to the SSH user); as root over SSH it does nothing,
# as pyinfra then transfers directly.
MAKE_TRANSFER_DIR = f'if [ -n "${{SUDO_USER:-}}" ]; then install -d -m 700 -o "$SUDO_USER" -- {TRANSFER_DIR}; fi'


def transfer_path(path: str) -> str:
    """The file a transfer of `path` passes through (used by pyinfra only through sudo)."""
    return f"{TRANSFER_DIR}/{hashlib.sha256(path.encode()).hexdigest()[:24]}"


def connector_arguments(host) -> dict:
    """The running operation's connector arguments (`_sudo` and the like, from the inventory too), as
    pyinfra hands them to each command it runs: a function that calls the connector itself (a
    `FunctionCommand`, `python.call`) must pass them on, or it runs as the SSH user."""
    arguments = getattr(host, "current_op_global_arguments", None) or {}
    return {key: arguments[key] for key in CONNECTOR_ARGUMENT_KEYS if key in arguments}
