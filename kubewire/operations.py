"""Operations created from what a role probed: only for what differs."""

from __future__ import annotations

from io import StringIO

from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from .facts import first_line, sha256


def put_if_changed(probed: dict, probe: str, path: str, text: str, name: str, mode: str = "644"
                   ) -> OperationMeta | None:
    """Upload `text` to `path` (root's, `mode`) unless the probed sha256 (`file_digest_probe`) matches."""
    if first_line(probed, probe) == sha256(text):
        return None
    return files.put(name=name, src=StringIO(text), dest=path, user="root", group="root", mode=mode,
                     create_remote_dir=True)
