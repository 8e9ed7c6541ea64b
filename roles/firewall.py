"""Role `firewall`: each node accepts what its role needs, and nothing else.

The allow-list comes from one table (kubewire/ports.py): the Kubernetes ports of the node's
groups, the CNI's ports, and `firewall_extra_ports`. Always allowed: the SSH port pyinfra is
using (no lockout), loopback, established/related, ICMP, and anything from the pod range.
The rules live in nftables table `inet kubewire`, loaded atomically from a rendered file and
again at boot by a unit of kubewire's own.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd

from kubewire.facts import Probes, file_digest_probe, first_line, sha256
from kubewire.inventory import cluster_spec
from kubewire.operations import put_if_changed
from kubewire.ports import required_ports
from kubewire.templates import render

NFT = "/usr/sbin/nft"
RULES_FILE = "/etc/kubewire/firewall.nft"
# The sha256 of `nft list table inet kubewire` right after kubewire loaded it: a live table that
# lists differently was changed by hand (or flushed) and is loaded again.
LOADED_FILE = "/etc/kubewire/firewall.loaded"
LIST_TABLE = f"{NFT} list table inet kubewire"
UNIT = "kubewire-firewall.service"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"



def firewall_files(node_name: str) -> tuple[str, str, str]:
    """The rules file, its digest (the live table carries it as a comment) and the unit file."""
    spec = cluster_spec()
    node = spec.node(node_name)
    context = {
        "node_name": node.name,
        "groups": sorted(node.groups & {"controlplane", "workers"}),
        "node_network": str(spec.node_network),
        "pod_network": str(spec.pod_cidr),
        "input_policy": node.firewall.input_policy,
        "ssh_port": int(host.data.get("ssh_port") or 22),
        "rules": required_ports(node.groups, spec.cni_plugin) + tuple(node.firewall.extra_ports),
    }
    rules_digest = sha256(repr(sorted(context.items())))[:16]
    rules = render("firewall", "firewall.nft.j2", rules_digest=rules_digest, **context)
    unit = render("firewall", "kubewire-firewall.service.j2", nft=NFT, rules_file=RULES_FILE)
    return rules, rules_digest, unit


@deploy("Firewall")
def firewall() -> None:
    settings = cluster_spec().node(host.name).firewall
    probed = host.get_fact(Probes, probes=(
        ("rules-file", file_digest_probe(RULES_FILE)),
        ("unit-file", file_digest_probe(UNIT_FILE)),
        ("live", f"{LIST_TABLE} | grep -o 'kubewire-rules [0-9a-f]*'"),
        ("live listing", f"{LIST_TABLE} | sha256sum | cut -d' ' -f1"),
        ("loaded listing", f"cat {LOADED_FILE}"),
        ("enabled", f"systemctl is-enabled {UNIT}"),
    ))
    live_digest = first_line(probed, "live").removeprefix("kubewire-rules ")
    tampered = first_line(probed, "live listing") != first_line(probed, "loaded listing")
    enabled = first_line(probed, "enabled") == "enabled"

    if not settings.enabled:
        _remove(live_digest, enabled, probed)
        return

    rules, rules_digest, unit = firewall_files(host.name)
    put_if_changed(probed, "rules-file", RULES_FILE, rules, name=f"Write the allow-list {RULES_FILE}", mode="600")
    unit_changed = put_if_changed(probed, "unit-file", UNIT_FILE, unit, name=f"Install {UNIT}") is not None
    if unit_changed or not enabled:
        systemd.service(name=f"Enable {UNIT} (the allow-list comes back at boot)", service=UNIT,
                        enabled=True, running=None, daemon_reload=unit_changed)
    if live_digest != rules_digest or tampered:
        server.shell(name="Load the allow-list atomically (nft -f)", commands=[
            f"{NFT} -f {RULES_FILE}", f"{LIST_TABLE} | sha256sum | cut -d' ' -f1 > {LOADED_FILE}"])


def _remove(live_digest: str, enabled: bool, probed: dict) -> None:
    if live_digest:
        server.shell(name="Remove kubewire's nftables table", commands=[f"{NFT} delete table inet kubewire"])
    if enabled:
        systemd.service(name=f"Disable {UNIT}", service=UNIT, enabled=False, running=None)
    for name, path in (("rules-file", RULES_FILE), ("unit-file", UNIT_FILE), ("loaded listing", LOADED_FILE)):
        if first_line(probed, name):
            files.file(name=f"Remove {path}", path=path, present=False)
