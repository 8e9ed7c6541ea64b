"""The controller's cache (kubewire.paths.CACHE_DIR): downloads, and results that are slow to
compute and never change for the same input (digests of a tarball's plugins, schema checks of
an identical object)."""

from __future__ import annotations

import hashlib
import json


def key_of(*parts: object) -> str:
    """A file name for these inputs: the sha256 of their JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
