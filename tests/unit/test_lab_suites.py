"""`kubewire lab up --suite`: which Debian suite each lab node runs (no lab needed)."""

import pytest

from kubewire import lab


def test_a_suite_list_is_assigned_to_the_nodes_in_turn():
    nodes = lab.lab_nodes(3, lab.parse_suites("bookworm,trixie"))
    assert [(node.name, node.suite) for node in nodes] == [
        ("controlplane", "bookworm"), ("node01", "trixie"), ("node02", "bookworm")]
    assert {node.suite for node in lab.lab_nodes(2)} == {lab.DEFAULT_SUITE}


@pytest.mark.parametrize("text", ["buster", "", "trixie,,sid"])
def test_an_unknown_suite_is_refused_with_the_choices(text):
    with pytest.raises(lab.LabError, match="bookworm, trixie"):
        lab.parse_suites(text)


def test_each_suite_is_cached_apart():
    bookworm, trixie = lab.cached_rootfs("bookworm"), lab.cached_rootfs("trixie")
    assert not set(bookworm) & set(trixie)
    assert lab.lab_images("bookworm").archive != lab.lab_images("trixie").archive
