"""Unit tests are hermetic: no hosts, no root, and nothing written outside pytest's temporary directory.

For the whole session, everything that would land in the user's home or in kubewire's cache goes
to a temporary directory instead: HOME (so ~/.cache, ~/.vagrant.d and pip's cache too), the XDG
cache, Vagrant's home and kubewire's own cache (`paths.CACHE_DIR`, and the variable the CLI reads
in subprocesses).
"""

import pytest

from kubewire import paths


@pytest.fixture(scope="session", autouse=True)
def home_and_caches_in_a_temporary_directory(tmp_path_factory):
    """Shared by the session's tests, so a download or a digest is made once."""
    base = tmp_path_factory.getbasetemp()
    home, cache = base / "home", base / "kubewire-cache"
    home.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(home))
        patch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
        patch.setenv("VAGRANT_HOME", str(home / ".vagrant.d"))
        patch.setenv(paths.CACHE_ENVIRONMENT_VARIABLE, str(cache))
        patch.setattr(paths, "CACHE_DIR", cache)
        yield cache

