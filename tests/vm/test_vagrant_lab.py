"""The Vagrant lab end to end on real VMs: what the one-machine lab cannot show.

The VMs have their own kernels (modules really loaded with modprobe, IPVS), DMI
(product_uuid), real reboots, and are reached as the `vagrant` user with sudo. The tests run
in order on one lab: converge and verify, then ipvs, a reboot, nftables and back.
"""

from __future__ import annotations

import json
import time

from kubewire.identity import NodeIdentity, identity_clashes
from kubewire.roles.prereqs import MODULES_FILE
from tests.hosts.netcheck import listeners, tcp_reachable
from tests.vm import vmlab
from tests.vm.readme_commands import INVENTORY, README_VERIFY, ROOT, TIMINGS, deploy_totals, in_lab

IPVS_MODULES = ("ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack")


def persisted_modules(host) -> set[str]:
    return {line.strip() for line in host.file(MODULES_FILE).content_string.splitlines()
            if line.strip() and not line.startswith("#")}


def loaded_modules(host) -> set[str]:
    """Modules the kernel loaded (lsmod lists loadable modules only, not built-in ones)."""
    return {line.split()[0] for line in host.run("lsmod").stdout.splitlines()[1:]}


def address(spec, name: str) -> str:
    return str(spec.node(name).node_ip)


def test_readme_commands_converge_verify_and_rerun_changes_nothing(converged):
    verify = in_lab(README_VERIFY)
    assert verify.returncode == 0, verify.stdout[-5000:] + verify.stderr[-2000:]
    assert " passed" in verify.stdout and " failed" not in verify.stdout
    started = time.monotonic()
    assert deploy_totals()["success"] == 0
    TIMINGS["re-run"] = time.monotonic() - started


def test_every_role_ran_as_vagrant_through_sudo(converged, nodes, plain_nodes):
    for name, host in plain_nodes.items():
        assert host.user().name == "vagrant" and host.user().uid != 0, name
        # Root-only state the roles made: the vagrant user cannot read it by itself ...
        assert host.run("nft list table inet kubewire").rc != 0, name
        # ... and every command of the deploy went through sudo as root.
        log = nodes[name].run("journalctl --no-pager -o cat _COMM=sudo").stdout
        assert "vagrant : " in log and "USER=root" in log, name
    for name, host in nodes.items():
        assert host.user().name == "root", name
        assert host.file("/etc/kubewire/firewall.nft").user == "root", name
        assert "kubewire" in host.run("nft list tables").stdout, name


def test_product_uuid_is_read_through_sudo_and_compared(converged, nodes, tmp_path):
    result = in_lab([".venv/bin/pyinfra", INVENTORY, "tests/vm/identity_deploy.py", "-y"],
                    extra_env={"KUBEWIRE_IDENTITY_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    identities = [NodeIdentity(**json.loads((tmp_path / f"{name}.json").read_text())) for name in sorted(nodes)]
    for identity in identities:
        # Only root may read it: an identity read without sudo would come back empty.
        assert identity.product_uuid == nodes[identity.host].file("/sys/class/dmi/id/product_uuid") \
            .content_string.strip().lower() != "", identity.host
    assert identity_clashes(identities) == []
    cloned = NodeIdentity(**{**identities[2].__dict__, "product_uuid": identities[1].product_uuid})
    assert identity_clashes([*identities[:2], cloned]) == [
        f"{identities[1].host} and {cloned.host} have the same product_uuid {cloned.product_uuid!r}"]


def test_ipvs_mode_end_to_end(converged, nodes, spec):
    ipvs = ("--data", "kube_proxy_mode=ipvs")
    assert deploy_totals(*ipvs)["error"] == 0
    for name, host in nodes.items():
        assert set(IPVS_MODULES) <= loaded_modules(host), name
        assert set(IPVS_MODULES) <= persisted_modules(host), name
        assert host.package("ipvsadm").is_installed and host.run("ipvsadm -Ln").rc == 0, name
    assert deploy_totals(*ipvs)["success"] == 0

    # A virtual service made by hand on node01's NodePort, to a local real server on a port
    # the firewall (policy drop) does not open: node02 reaches it only through IPVS.
    node01, node02 = nodes["node01"], nodes["node02"]
    service, backend = f"{address(spec, 'node01')}:30080", f"{address(spec, 'node01')}:8080"
    node01.check_output(f"ipvsadm -A -t {service} -s rr && ipvsadm -a -t {service} -r {backend} -m")
    try:
        with listeners(node01, tcp_ports=(8080,)):
            reached = tcp_reachable(node02, address(spec, "node01"), (30080, 8080), timeout=3.0)
        stats = node01.check_output(f"ipvsadm -Ln --stats -t {service}")
    finally:
        node01.run(f"ipvsadm -D -t {service}")
    assert reached == {30080: True, 8080: False}
    connections = int(stats.splitlines()[-2].split()[2])  # the service line: TCP ADDRESS:PORT Conns ...
    assert connections >= 1, stats


def test_a_real_reboot_brings_everything_back_without_a_deploy(converged, nodes, spec):
    # The lab is in ipvs mode here (previous test): its modules must come back too.
    node = nodes["node01"]
    boot_id = node.file("/proc/sys/kernel/random/boot_id").content_string.strip()
    started = time.monotonic()
    vmlab.vagrant("reload", "node01", timeout=vmlab.UP_TIMEOUT)
    TIMINGS["vagrant reload"] = time.monotonic() - started

    from kubewire.inventory import load_inventory
    from kubewire.ssh import ssh_targets, testinfra_host
    node = testinfra_host(ssh_targets(load_inventory(ROOT / INVENTORY))["node01"])
    assert node.file("/proc/sys/kernel/random/boot_id").content_string.strip() != boot_id
    for key in ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
        assert node.sysctl(key) == 1, key
    assert {"br_netfilter", "overlay", *IPVS_MODULES} <= loaded_modules(node)
    ruleset = node.check_output("nft list table inet kubewire")
    assert "policy drop" in ruleset
    routes = node.check_output("ip route show proto 75")
    unit = node.run("systemctl status --no-pager kubewire-pod-routes.service; journalctl --no-pager -b"
                    " -u kubewire-pod-routes.service -u systemd-networkd.service | tail -n 40").stdout
    for other in ("controlplane", "node02"):
        assert f"via {address(spec, other)}" in routes, unit
    assert deploy_totals("--data", "kube_proxy_mode=ipvs")["success"] == 0


def test_nftables_mode_kernel_check_passes_and_back(converged, nodes):
    nftables = ("--data", "kube_proxy_mode=nftables")
    assert deploy_totals(*nftables)["error"] == 0
    for name, host in nodes.items():
        assert "nf_tables" in persisted_modules(host) and "nf_tables" in loaded_modules(host), name
    assert deploy_totals(*nftables)["success"] == 0
    assert deploy_totals()["error"] == 0
    for name, host in nodes.items():
        assert "nf_tables" not in persisted_modules(host) and not set(IPVS_MODULES) & persisted_modules(host), name
    assert deploy_totals()["success"] == 0
