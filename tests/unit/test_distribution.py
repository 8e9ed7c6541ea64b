"""Node distributions: Debian 12 and 13 pass; anything else is refused before any change, every
refused node named with what it runs, what is supported and what to do. The os-release texts
are the distributions' own (/etc/os-release of each release)."""

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.exceptions import PyinfraError

from kubewire.distribution import parse_os_release, unsupported_distribution
from kubewire.facts import SEPARATOR
from kubewire.identity import check_node_identities, identity_probes
from kubewire.roles.cni import cni
from kubewire.roles.containerd import containerd
from kubewire.roles.firewall import firewall
from kubewire.roles.hosts import hosts
from kubewire.roles.prereqs import prereqs
from tests.unit.plan import LAB_SETTINGS, fake_host

BOOKWORM = ['PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"', 'NAME="Debian GNU/Linux"', 'VERSION_ID="12"',
            'VERSION="12 (bookworm)"', "VERSION_CODENAME=bookworm", "ID=debian",
            'HOME_URL="https://www.debian.org/"']
TRIXIE = ['PRETTY_NAME="Debian GNU/Linux 13 (trixie)"', 'NAME="Debian GNU/Linux"', 'VERSION_ID="13"',
          'VERSION="13 (trixie)"', "VERSION_CODENAME=trixie", "DEBIAN_VERSION_FULL=13.1", "ID=debian"]
BULLSEYE = ['PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"', 'NAME="Debian GNU/Linux"', 'VERSION_ID="11"',
            "VERSION_CODENAME=bullseye", "ID=debian"]
# Debian testing names no VERSION_ID.
FORKY = ['PRETTY_NAME="Debian GNU/Linux forky/sid"', 'NAME="Debian GNU/Linux"', "VERSION_CODENAME=forky",
         "ID=debian"]
NOBLE = ['PRETTY_NAME="Ubuntu 24.04.1 LTS"', 'NAME="Ubuntu"', 'VERSION_ID="24.04"',
         'VERSION="24.04.1 LTS (Noble Numbat)"', "VERSION_CODENAME=noble", "ID=ubuntu", "ID_LIKE=debian"]


@pytest.mark.parametrize("os_release", [BOOKWORM, TRIXIE], ids=["debian-12", "debian-13"])
def test_debian_12_and_13_are_supported(os_release):
    assert unsupported_distribution("node01", os_release) is None


@pytest.mark.parametrize(("os_release", "found"), [
    (BULLSEYE, "runs Debian GNU/Linux 11 (bullseye) (ID=debian, VERSION_ID=11)"),
    (FORKY, "runs Debian GNU/Linux forky/sid (ID=debian, VERSION_ID=(none))"),
    (NOBLE, "runs Ubuntu 24.04.1 LTS (ID=ubuntu, VERSION_ID=24.04)"),
    ([], "has no /etc/os-release (nor /usr/lib/os-release), so its distribution is unknown"),
], ids=["debian-11", "debian-testing", "ubuntu-derivative", "no-os-release"])
def test_anything_else_is_refused_saying_what_was_found_what_is_supported_and_what_to_do(os_release, found):
    assert unsupported_distribution("node01", os_release) == (
        f"node01 {found}; kubewire supports Debian 12 (bookworm) and Debian 13 (trixie), the releases its tests "
        "run on: install one of them on node01, or take node01 out of the inventory")


def test_os_release_values_are_read_as_a_shell_reads_them():
    fields = parse_os_release(["# a comment", "ID='debian'", 'PRETTY_NAME="Debian \\"12\\" \\$x"', "",
                               "VERSION_ID=12", "BROKEN=\"unbalanced"])
    assert fields == {"ID": "debian", "PRETTY_NAME": 'Debian "12" $x', "VERSION_ID": "12",
                      "BROKEN": '"unbalanced'}


def identity_answer(os_release: list[str]) -> dict:
    """The pre-change probe's output for a node running that distribution (other probes: nothing)."""
    lines = []
    for name, _script in identity_probes("192.168.56.10"):
        lines.append(SEPARATOR + name)
        lines += os_release if name == "os-release" else []
    return {"cat /etc/os-release": lines}  # matches only the pre-change probe's command


def fake_state(nodes: list[tuple[str, str, list[str]]]) -> State:
    """@fake hosts (the first one a controlplane) answering the pre-change probe with their os-release."""
    hosts_ = [fake_host(name, ip, identity_answer(os_release)) for name, ip, os_release in nodes]
    inventory = Inventory(([name for name, _ in hosts_], LAB_SETTINGS), controlplane=(hosts_[:1], {}),
                          workers=(hosts_[1:], {}))
    state = State(inventory, Config())
    connect_all(state)
    return state


def main_job():
    """The main job's order up to the node roles (deploys/cluster.py without the run lock)."""
    check_node_identities()
    for role in (hosts, prereqs, firewall, containerd, cni):
        role()


def test_the_main_job_refuses_every_unsupported_node_before_any_operation():
    state = fake_state([("controlplane", "192.168.56.10", TRIXIE), ("node01", "192.168.56.11", NOBLE),
                        ("node02", "192.168.56.12", BULLSEYE), ("node03", "192.168.56.13", BOOKWORM)])
    with pytest.raises(PyinfraError) as refused:
        add_deploy(state, main_job)
    message = str(refused.value)
    assert message.startswith("stopped before any change (nothing was changed):\n"
                              "node distributions kubewire does not support:\n"), message
    assert "  - @fake/node01 runs Ubuntu 24.04.1 LTS (ID=ubuntu, VERSION_ID=24.04); kubewire supports" in message
    assert ("  - @fake/node02 runs Debian GNU/Linux 11 (bullseye) (ID=debian, VERSION_ID=11); kubewire supports"
            in message)
    assert "controlplane" not in message and "node03" not in message
    assert state.get_op_order() == [], "no operation was planned on any host"


def test_supported_nodes_pass_the_check():
    state = fake_state([("controlplane", "192.168.56.10", TRIXIE), ("node01", "192.168.56.11", BOOKWORM)])
    add_deploy(state, check_node_identities)  # raises on any refusal
