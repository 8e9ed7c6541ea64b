"""Names kubewire uses in more than one place: the repository, the controller's cache, the node groups."""

from __future__ import annotations

import os
from pathlib import Path

# A checkout's root (inventories/, deploys/, tests/); from a wheel it is only site-packages.
REPOSITORY_ROOT = Path(__file__).resolve().parents[1]

# The inventory groups kubewire's nodes are in; every node is in exactly one.
NODE_GROUPS = ("controlplane", "workers")

CACHE_ENVIRONMENT_VARIABLE = "KUBEWIRE_CACHE_DIR"


def default_cache_dir() -> Path:
    """/var/cache/kubewire for root (the lab's node images live there too), else ~/.cache/kubewire."""
    return Path("/var/cache/kubewire") if os.geteuid() == 0 else Path.home() / ".cache" / "kubewire"


# The controller's one cache: downloads, node images, results slow to compute and fixed for the
# same input. Read it as `paths.CACHE_DIR` when used (not copied at import), so tests can move it.
CACHE_DIR = Path(os.environ.get(CACHE_ENVIRONMENT_VARIABLE) or default_cache_dir())
