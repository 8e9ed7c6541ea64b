"""The Vagrant lab end to end on real VMs: what the one-machine lab cannot show.

The VMs have their own kernels (modules really loaded with modprobe, IPVS), DMI
(product_uuid), real reboots, and are reached as the `vagrant` user with sudo. The tests run
in order on one lab: converge and verify, then ipvs, a reboot, nftables and back.
"""

from __future__ import annotations

import json
import re
import time
from html import unescape

from kubewire.identity import NodeIdentity, identity_clashes
from kubewire.roles import cni, containerd, firewall, kubeadm, prereqs
from kubewire.roles.prereqs import MODULES_FILE
from kubewire.transfer import TRANSFER_DIR
from kubewire.versions import KUBERNETES_APT_URL
from tests.hosts.netcheck import listeners, tcp_reachable
from tests.vm import vmlab
from tests.vm.readme_commands import INVENTORY, README_VERIFY, TIMINGS, deploy_totals, in_lab, vm_hosts

IPVS_MODULES = ("ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack")
# A file each node role writes (the cluster roles have no cluster to act on here).
ROLE_FILES = {"prereqs": (prereqs.MODULES_FILE, prereqs.SYSCTL_FILE), "firewall": (firewall.RULES_FILE,),
              "containerd": (containerd.DROPIN,), "cni": (f"/etc/cni/net.d/{cni.CONFLIST}", cni.ROUTES_SCRIPT)}


def persisted_modules(host) -> set[str]:
    return {line.strip() for line in host.file(MODULES_FILE).content_string.splitlines()
            if line.strip() and not line.startswith("#")}


def loaded_modules(host) -> set[str]:
    """Modules the kernel loaded (lsmod lists loadable modules only, not built-in ones)."""
    return {line.split()[0] for line in host.run("lsmod").stdout.splitlines()[1:]}


def address(spec, name: str) -> str:
    return str(spec.node(name).node_ip)


def test_readme_command_with_the_bootstrap_on_stops_before_any_change(refused, spec):
    output = refused.result.stdout + refused.result.stderr
    assert refused.result.returncode != 0, output[-3000:]
    unreachable = f"{KUBERNETES_APT_URL.format(minor=spec.minor)} is not reachable from this node"
    assert unreachable in output, output[-3000:]
    assert "nothing was changed" in output and "Configure a package source" in output
    assert output.count(unreachable) == 1  # one message, not one per node
    assert refused.traces == {name: [] for name in vmlab.MACHINES}


def test_readme_commands_converge_verify_and_rerun_changes_nothing(converged):
    verify = in_lab(README_VERIFY)
    assert verify.returncode == 0, verify.stdout[-5000:] + verify.stderr[-2000:]
    assert " passed" in verify.stdout and " failed" not in verify.stdout
    started = time.monotonic()
    assert deploy_totals()["success"] == 0
    TIMINGS["re-run"] = time.monotonic() - started


def test_diagram_of_the_vagrant_inventory_matches_the_vms(converged, spec, tmp_path):
    out = tmp_path / "lab.svg"
    result = in_lab([".venv/bin/kubewire", "diagram", INVENTORY, "--live", "--out", str(out)], timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    text = unescape(" ".join(re.findall(r">([^<>]+)</text>", out.read_text())))
    assert text.count("live: as in the spec") == len(spec.nodes), text


def test_every_role_ran_as_vagrant_through_sudo(converged, nodes, plain_nodes, spec):
    for name, host in plain_nodes.items():
        assert host.user().name == "vagrant" and host.user().uid != 0, name
        # Root-only state the roles made: the vagrant user cannot read it by itself ...
        assert host.run("nft list table inet kubewire").rc != 0, name
        # ... and every command of the deploy went through sudo as root.
        log = nodes[name].run("journalctl --no-pager -o cat _COMM=sudo").stdout
        assert "vagrant : " in log and "USER=root" in log, name
    for name, host in nodes.items():
        assert host.user().name == "root", name
        assert "kubewire" in host.run("nft list tables").stdout, name
        # Each role wrote its files as root, files the vagrant user cannot write.
        for role, paths in ROLE_FILES.items():
            for path in paths:
                assert host.file(path).user == "root", (name, role, path)
                assert plain_nodes[name].run(f"test -w {path}").rc != 0, (name, role, path)
        assert host.run("getent hosts node02").stdout.split()[0] == address(spec, "node02"), name  # role hosts


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


def test_secrets_pass_through_sudo_only_by_way_of_a_private_directory(converged, nodes, plain_nodes, tmp_path):
    """The join's JoinConfiguration goes up and a root-only file comes down as root, through sudo,
    by way of kubewire's directory of the SSH user's (mode 700), never a readable copy in /tmp."""
    token, root_only = "abcdef.0123456789abcdef", "/etc/kubewire/transfer-check.conf"
    result = in_lab([".venv/bin/pyinfra", INVENTORY, "tests/vm/transfer_deploy.py", "-y"],
                    extra_env={"KUBEWIRE_TRANSFER_OUT": str(tmp_path), "KUBEWIRE_STAND_IN_TOKEN": token,
                               "KUBEWIRE_ROOT_ONLY_FILE": root_only})
    try:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert token not in result.stdout + result.stderr
        for name, node in nodes.items():
            fetched = tmp_path / f"{name}.conf"
            assert fetched.read_text() == f"secret of {name}\n" and fetched.stat().st_mode & 0o777 == 0o600, name
            join = node.file(kubeadm.JOIN_CONFIG)
            assert (join.user, join.mode) == ("root", 0o600) and token in join.content_string
            assert plain_nodes[name].run(f"cat {kubeadm.JOIN_CONFIG}").rc != 0, name
            transfer = node.file(TRANSFER_DIR)
            assert (transfer.user, transfer.mode) == ("vagrant", 0o700), name
            assert node.run(f"ls -A {TRANSFER_DIR}").stdout == "", name  # every copy removed
            # No copy of either secret anywhere in /tmp, where pyinfra's own would have been.
            found = node.run(f"grep -rlF -e {token} -e 'secret of' /tmp /var/tmp")
            assert found.stdout == "", (name, found.stdout)
    finally:
        for node in nodes.values():
            node.run(f"rm -f {kubeadm.JOIN_CONFIG} {root_only}")


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

    node = vm_hosts()["node01"]
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
