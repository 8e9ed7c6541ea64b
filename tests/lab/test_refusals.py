"""Runs that must stop before changing anything: clashing machines, a proxy mode the kernel
cannot do, node distributions kubewire does not support."""

import shlex

from tests.harness import run_pyinfra

MARK = "# tampered by the test: a run that changes nothing leaves this line"



def test_two_nodes_with_one_machine_id_stop_the_run_naming_both(converged, nodes):
    original = nodes["node02"].file("/etc/machine-id").content_string
    shared = nodes["node01"].file("/etc/machine-id").content_string.strip()
    nodes["node02"].run(f"cp /etc/machine-id /root/machine-id.orig && echo {shared} > /etc/machine-id")
    for host in nodes.values():
        host.run(f"echo '{MARK}' >> /etc/hosts")
    try:
        result = run_pyinfra(converged.inventory)
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert f"node01 and node02 have the same /etc/machine-id {shared!r}" in output, output[-1500:]
        for name, host in nodes.items():
            assert MARK in host.file("/etc/hosts").content_string, f"{name} was changed"
    finally:
        nodes["node02"].run("cp /root/machine-id.orig /etc/machine-id && rm /root/machine-id.orig")
        for host in nodes.values():
            host.run(f"sed -i '/^{MARK}$/d' /etc/hosts")
    assert nodes["node02"].file("/etc/machine-id").content_string == original


def test_ipvs_mode_without_ip_vs_in_the_kernel_stops_before_any_change(converged, nodes):
    nodes["node01"].run(f"echo '{MARK}' >> /etc/hosts")
    try:
        result = run_pyinfra(converged.inventory, "--data", "kube_proxy_mode=ipvs")
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "kube_proxy_mode 'ipvs' needs the kernel module(s) ip_vs" in output
        assert MARK in nodes["node01"].file("/etc/hosts").content_string
        assert not nodes["node01"].package("ipvsadm").is_installed
    finally:
        nodes["node01"].run(f"sed -i '/^{MARK}$/d' /etc/hosts")


# What an unsupported node says about itself (each distribution's own /etc/os-release fields).
FOREIGN_RELEASES = {
    "node01": 'PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\nID=ubuntu\nID_LIKE=debian\n',
    "node02": 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nNAME="Debian GNU/Linux"\nVERSION_ID="11"\n'
              'VERSION_CODENAME=bullseye\nID=debian\n',
}


def test_unsupported_distributions_stop_the_run_naming_every_such_node(converged, nodes):
    for name, text in FOREIGN_RELEASES.items():
        # Debian's /etc/os-release is a symlink to ../usr/lib/os-release: kept aside, put back after.
        nodes[name].run_test(f"mv /etc/os-release /root/os-release.kwtest && printf %s {shlex.quote(text)} "
                             "> /etc/os-release")
    for host in nodes.values():
        host.run(f"echo '{MARK}' >> /etc/hosts")
    try:
        result = run_pyinfra(converged.inventory)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "node distributions kubewire does not support:" in output, output[-2000:]
        supported = ("kubewire supports Debian 12 (bookworm) and Debian 13 (trixie), the releases its tests run on: "
                     "install one of them on {0}, or take {0} out of the inventory")
        assert ("node01 runs Ubuntu 24.04.1 LTS (ID=ubuntu, VERSION_ID=24.04); " + supported.format("node01")
                in output), output[-2000:]
        assert ("node02 runs Debian GNU/Linux 11 (bullseye) (ID=debian, VERSION_ID=11); " + supported.format("node02")
                in output), output[-2000:]
        assert "controlplane runs" not in output
        for name, host in nodes.items():
            assert MARK in host.file("/etc/hosts").content_string, f"{name} was changed"
    finally:
        for name in FOREIGN_RELEASES:
            nodes[name].run("mv -f /root/os-release.kwtest /etc/os-release")
        for host in nodes.values():
            host.run(f"sed -i '/^{MARK}$/d' /etc/hosts")
    for name in FOREIGN_RELEASES:
        assert nodes[name].file("/etc/os-release").linked_to == "/usr/lib/os-release", name
