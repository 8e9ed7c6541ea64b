"""Unit tests are hermetic: no hosts, no root, and no cache outside pytest's temporary directory."""

import pytest

from kubewire import paths


@pytest.fixture(autouse=True)
def cache_in_a_temporary_directory(tmp_path_factory, monkeypatch):
    """kubewire's cache for this session only (shared by its tests, so a digest is computed once)."""
    cache = tmp_path_factory.getbasetemp() / "kubewire-cache"
    monkeypatch.setattr(paths, "CACHE_DIR", cache)
    return cache
