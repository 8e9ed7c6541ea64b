"""Role `firewall`: each node accepts what its role needs, and nothing else.

The allow-list comes from one table (kubewire/ports.py): the Kubernetes ports of the node's
groups, the CNI's ports, the kube-proxy mode's, and `firewall_extra_ports`. Always allowed: the
SSH port of the very connection pyinfra is using and every port sshd listens on (no lockout),
loopback, established/related, ICMP, and the node's own pods (from its CNI bridge).
The rules live in nftables table `inet kubewire`, loaded atomically from a rendered file and
again at boot by a unit of kubewire's own.
"""

from __future__ import annotations

import socket

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, systemd

from kubewire.facts import (
    GatheredProbe,
    Gatherer,
    file_digest_probe,
    first_line,
    node_probed,
    read_line,
    sha256,
)
from kubewire.flannel import BRIDGE as FLANNEL_BRIDGE
from kubewire.inventory import cluster_spec
from kubewire.nft_probes import NFT, TableListing, nft_table_probe
from kubewire.operations import (
    checks,
    nft_table_loaded,
    nft_table_removed,
    step,
    text_file,
    units_enabled,
)
from kubewire.ports import node_rules
from kubewire.templates import render
from kubewire.unit_probes import READ_LOADED_UNITS, unit_enabled_probe, when_unit_active

TABLE = "inet kubewire"
RULES_FILE = "/etc/kubewire/firewall.nft"
# The sha256 of `nft list table inet kubewire` right after kubewire loaded it: a live table that
# lists differently was changed by hand (or flushed) and is loaded again.
LOADED_FILE = "/etc/kubewire/firewall.loaded"
UNIT = "kubewire-firewall.service"
UNIT_FILE = f"/etc/systemd/system/{UNIT}"
WEAVE_BRIDGE = "weave"  # the bridge Weave Net puts a node's pods on
SSH_SOCKETS = ("ssh.socket", "sshd.socket")  # units that may listen for sshd (socket activation)

# Every TCP port sshd listens on: its own sockets (`ss`), its effective config (`sshd -T`, which
# also names ports of a restart still to come) and a socket-activating unit's (ssh.socket).
SSHD = "$(command -v sshd || echo /usr/sbin/sshd)"
SSHD_PORTS_PROBE = (
    f"{READ_LOADED_UNITS}; "  # here, not in the group's subshell: the read's other probes share it
    "{ ss -Hltnp | awk '/\"sshd\"/ {n = split($4, a, \":\"); print a[n]}'; "
    f"{SSHD} -T | awk '$1 == \"port\" {{print $2}}'; "
    + "; ".join(when_unit_active(unit, f"systemctl show -P Listen {unit} "
                                       "| awk '{n = split($1, a, \":\"); print a[n]}'")
                for unit in SSH_SOCKETS)
    + "; } | sort -un"
)


class SshdPorts(Gatherer):
    """In a whole-node read, SSHD_PORTS_PROBE's ports picked on the controller from what `ss`, `sshd -T`
    and an active socket unit's `systemctl show -P Listen` print: two node processes fewer."""

    name = "sshd ports"
    MARK = "@@kubewire-sshd "

    def command(self, items: list) -> str:
        sockets = "; ".join(when_unit_active(unit, f"{{ echo '{self.MARK}socket'; systemctl show -P Listen {unit}; }}")
                            for unit in SSH_SOCKETS)
        # sshd -T's "port N" lines only: its other hundred lines would cost the controller more to read.
        return f"{READ_LOADED_UNITS}; ss -Hltnp; echo '{self.MARK}config'; {SSHD} -T | grep '^port '; {sockets}"

    def answer(self, lines: list[str], item) -> list[str]:
        ports, part = [], "ss"
        for line in lines:
            if line.startswith(self.MARK):
                part = line.removeprefix(self.MARK)
                continue
            fields = line.split()
            if part == "ss" and '"sshd"' in line and len(fields) > 3:  # local address:port is the fourth
                ports.append(fields[3].rsplit(":", 1)[-1])
            elif part == "config" and fields[:1] == ["port"] and len(fields) > 1:
                ports.append(fields[1])
            elif part == "socket" and fields:
                ports.append(fields[0].rsplit(":", 1)[-1])
        return [str(port) for port in sorted({int(port) for port in ports if port.isdigit()})]  # sort -un


SSHD_PORTS = GatheredProbe(SSHD_PORTS_PROBE, SshdPorts(), "sshd ports")


def connection_port() -> int | None:
    """The node's port of pyinfra's own SSH connection to this host, whatever decided it
    (`ssh_port`, an SSH config file's `Port`, or 22): the real socket's peer port, or for a
    proxied connection the port pyinfra's SSH client resolved. None for other connectors."""
    client = getattr(host.connector, "client", None)
    transport = client.get_transport() if client is not None else None
    if transport is None:
        return None
    if isinstance(transport.sock, socket.socket):
        return int(transport.sock.getpeername()[1])
    resolved = getattr(client, "_ssh_config", {}).get("port")  # ProxyJump/ProxyCommand
    return int(resolved) if resolved else None


def ssh_ports_to_keep(probed: dict) -> dict[int, str]:
    """{port: why} for every SSH port the allow-list keeps open."""
    keep: dict[int, str] = {}
    port = connection_port()
    if port is None:  # not an SSH connection (e.g. @local or the planning connector)
        port = int(host.data.get("ssh_port") or 22)
    keep[port] = "this connection"
    for line in probed.get("sshd ports", []):
        if line.strip().isdigit():
            keep.setdefault(int(line), "sshd listens")
    return dict(sorted(keep.items()))


def describe_ssh_ports(ports: dict[int, str]) -> str:
    return ", ".join(f"{port} ({why})" for port, why in ports.items())


def _nft_comment(text: str) -> str:
    """An nft comment string: no double quotes or newlines, at most 128 bytes."""
    return " ".join(text.replace('"', "'").split()).encode()[:128].decode(errors="ignore")


def firewall_files(node_name: str, ssh_ports: dict[int, str] | None = None) -> tuple[str, str, str]:
    """The rules file, its digest (the live table carries it as a comment) and the unit file."""
    spec = cluster_spec()
    node = spec.node(node_name)
    # Weave's and flannel's IPAM give no per-node subnet kubewire knows: their bridge it is.
    own_bridge = {"weave": WEAVE_BRIDGE, "flannel": FLANNEL_BRIDGE}.get(spec.cni_plugin)
    ipvs = spec.kube_proxy_mode == "ipvs"
    context = {
        "node_name": node.name,
        "groups": sorted(node.groups & {"controlplane", "workers"}),
        "node_network": str(spec.node_network),
        "controlplane_nodes": [str(cp.node_ip) for cp in spec.controlplane],
        "pod_network": str(spec.pod_cidr),
        # Only this node's pods, from its own bridge: a pod elsewhere reaches this node only
        # through the ports open to it.
        "own_pods_bridge": own_bridge or node.cni.bridge,
        "own_pods_subnet": None if own_bridge else str(spec.pod_cidr_for(node.host)),
        "input_policy": node.firewall.input_policy,
        "ssh_ports": sorted(ssh_ports or {int(host.data.get("ssh_port") or 22): "this connection"}),
        "rules": [{"match": rule.nft_match, "comment": _nft_comment(rule.purpose)} for rule in node_rules(spec, node)],
        "service_network": str(spec.service_cidr) if ipvs else None,
        "load_balancer_addresses": list(node.firewall.load_balancer_addresses) if ipvs else [],
    }
    rules_digest = sha256(repr(sorted(context.items())))[:16]
    rules = render("firewall", "firewall.nft.j2", rules_digest=rules_digest, **context)
    unit = render("firewall", "kubewire-firewall.service.j2", nft=NFT, rules_file=RULES_FILE)
    return rules, rules_digest, unit


def firewall_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes (the same for every host)."""
    return (
        ("rules-file", file_digest_probe(RULES_FILE)),
        ("unit-file", file_digest_probe(UNIT_FILE)),
        ("table listing", nft_table_probe(TABLE)),
        ("loaded listing", read_line(LOADED_FILE)),
        ("enabled", unit_enabled_probe(UNIT)),
        ("sshd ports", SSHD_PORTS),
    )


@deploy("Firewall")
def firewall() -> None:
    settings = cluster_spec().node(host.name).firewall
    probed = node_probed("firewall", firewall_node_probes(host.name))
    enabled = first_line(probed, "enabled") == "enabled"

    if not settings.enabled:
        _remove(enabled, probed)
        return

    ssh_ports = ssh_ports_to_keep(probed)
    rules, rules_digest, unit = firewall_files(host.name, ssh_ports)
    listing = TableListing.probed(probed, "table listing")
    unit_changed = first_line(probed, "unit-file") != sha256(unit)
    steps = [
        step(f"Write the allow-list {RULES_FILE}", text_file, path=RULES_FILE, text=rules,
             current_digest=first_line(probed, "rules-file"), mode="600"),
        step(f"Install {UNIT}", text_file, path=UNIT_FILE, text=unit, current_digest=first_line(probed, "unit-file")),
    ]
    steps.append(units_enabled({UNIT: (unit_changed, first_line(probed, "enabled"))},
                               "the allow-list comes back at boot"))
    steps.append(step("Load the allow-list atomically", nft_table_loaded, table=TABLE, rules_file=RULES_FILE,
                      loaded_file=LOADED_FILE, wanted_digest=rules_digest,
                      live_digest=listing.marker("kubewire-rules"), live_listing=listing.digest,
                      loaded_listing=first_line(probed, "loaded listing")))
    checks(name=f"Allow-list {RULES_FILE} written, enabled at boot and loaded atomically; SSH kept open on "
                f"{describe_ssh_ports(ssh_ports)}", steps=steps)


def _remove(enabled: bool, probed: dict) -> None:
    nft_table_removed(name="Remove kubewire's nftables table", table=TABLE,
                      present=TableListing.probed(probed, "table listing").present)
    if enabled:
        systemd.service(name=f"Disable {UNIT}", service=UNIT, enabled=False, running=None)
    for name, path in (("rules-file", RULES_FILE), ("unit-file", UNIT_FILE), ("loaded listing", LOADED_FILE)):
        if first_line(probed, name):
            files.file(name=f"Remove {path}", path=path, present=False)
