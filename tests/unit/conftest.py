"""Unit tests are hermetic: no hosts, no root, and nothing written outside pytest's temporary directory.

While the unit tests run, everything that would land in the user's home or in kubewire's cache goes
to a temporary directory instead: HOME (so ~/.cache, ~/.vagrant.d and pip's cache too), the XDG
cache, Vagrant's home and kubewire's own cache (`paths.CACHE_DIR`, and the variable the CLI reads
in subprocesses).
"""

import pytest

from kubewire import paths
from kubewire.roles import kubeadm as kubeadm_role
from tests.unit.cni_plan import make_tarball
from tests.unit.kubeadm_plan import CA_HASH, TOKEN


@pytest.fixture(scope="package", autouse=True)
def home_and_caches_in_a_temporary_directory(tmp_path_factory):
    """Shared by the unit tests, so a download or a digest is made once. Package scope: undone
    before the lab tests of the same session, whose pyinfra runs must see the real cache."""
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



@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    """A CNI plugins tarball and its sha256 (tests/unit/cni_plan.py)."""
    return make_tarball(tmp_path_factory.mktemp("cni"))


@pytest.fixture
def run_secrets():
    """The join secrets of a run, as the kubeadm role holds them in memory."""
    kubeadm_role._run_secrets.update(token=TOKEN, ca_cert_hash=CA_HASH)
    yield kubeadm_role._run_secrets
    kubeadm_role._run_secrets.clear()
