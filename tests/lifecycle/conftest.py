"""The lab lifecycle tests' fixture: each test makes its own lab and leaves none behind."""

from __future__ import annotations

import os

import pytest

from kubewire import lab
from tests.lifecycle.processes import quiet


@pytest.fixture
def fresh_lab():
    """Take any lab down first (the session's included); leave none behind."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (network namespaces, mounts, systemd-nspawn)")
    lab.down(log=quiet)
    yield
    lab.down(log=quiet)
