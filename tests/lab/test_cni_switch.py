"""Switching `cni_plugin` from bridge to weave and back: each side's node files, routes and
ports follow, a config that would win over Weave's is moved aside, Weave's node state is
removed on the way back (and only Weave's), and re-runs change nothing."""

import re

from tests.harness import deploy_totals
from tests.hosts.netcheck import listeners, tcp_reachable, udp_delivered

BRIDGE_FILES = ("/etc/cni/net.d/10-kubewire.conflist", "/etc/kubewire/pod-routes.sh")
ROUTES_UNIT = "kubewire-pod-routes.service"
WEAVE_TCP, WEAVE_UDP = 6783, (6783, 6784)
CONF_DIR, BIN_DIR = "/etc/cni/net.d", "/opt/cni/bin"
# A containerd bundle's config: it sorts before Weave's 10-weave.conflist, so it would win.
BUNDLED_CONFIG = "10-containerd-net.conflist"

# What a running Weave Net 2.8.1 leaves on a node (names from weaveworks/weave: net/bridge.go,
# prog/weave-kube/launch.sh, npc/constants.go, router/fastdp.go). There is no cluster in the lab,
# so it is planted by hand; "datapath" is an Open vSwitch device on a real node, a bridge here
# (this kernel has neither openvswitch nor dummy links).
WEAVE_LINKS = ("weave", "datapath", "vethwe-bridge", "vethwe-datapath", "vxlan-6784")
WEAVE_FILES = (f"{CONF_DIR}/10-weave.conflist", f"{BIN_DIR}/weave-plugin-2.8.1", f"{BIN_DIR}/weave-net",
               f"{BIN_DIR}/weave-ipam", "/var/lib/weave/weave-netdata.db")
PLANT_WEAVE = f"""set -e
ip link add weave type bridge
ip link add datapath type bridge
ip link add vethwe-bridge type veth peer name vethwe-datapath
ip link set vethwe-bridge master weave
ip link add vxlan-6784 type vxlan id 6784 dstport 6784 local 127.0.0.1
iptables -t nat -N WEAVE
iptables -t nat -A POSTROUTING -j WEAVE
iptables -t nat -A WEAVE -s 10.244.0.0/16 -d 224.0.0.0/4 -j RETURN
iptables -N WEAVE-NPC
iptables -N WEAVE-NPC-INGRESS
iptables -A WEAVE-NPC -j WEAVE-NPC-INGRESS
iptables -N WEAVE-EXPOSE
iptables -A FORWARD -o weave -m comment --comment "NOTE: this must go before '-j KUBE-FORWARD'" -j WEAVE-NPC
iptables -A FORWARD -o weave -j WEAVE-EXPOSE
iptables -A FORWARD -i weave ! -o weave -j ACCEPT
iptables -A FORWARD -o weave -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
iptables -t nat -N WEAVE-CANARY
mkdir -p /var/lib/weave
echo weave > /var/lib/weave/weave-netdata.db
cp {BIN_DIR}/loopback {BIN_DIR}/weave-plugin-2.8.1
ln -sf {BIN_DIR}/weave-plugin-2.8.1 {BIN_DIR}/weave-net
ln -sf {BIN_DIR}/weave-plugin-2.8.1 {BIN_DIR}/weave-ipam
echo '{{"cniVersion": "0.3.0", "name": "weave", "plugins": [{{"name": "weave", "type": "weave-net"}}]}}' \
    > {CONF_DIR}/10-weave.conflist
"""
# Look-alikes Weave does not create: they stay.
PLANT_OTHERS = f"""set -e
ip link add weave0 type bridge
iptables -N WEAVER
mkdir -p /var/lib/weave-other
echo keep > {BIN_DIR}/weaver-keep
"""


def weave_state(host) -> dict:
    """What of Weave's is on the node: its links, chains (WEAVE, WEAVE-*), rules pointing at them or
    at its bridge, and files."""
    links = host.run("ip -o link show").stdout
    saved = host.run("iptables-save").stdout.splitlines()
    return {
        "links": sorted(name for name in WEAVE_LINKS if f" {name}:" in links or f" {name}@" in links),
        "chains": sorted(line.split()[0][1:] for line in saved if re.match(r":WEAVE(-\S+)? ", line)),
        "rules": [line for line in saved if re.match(r"-A .*(-j WEAVE(-\S+)?|-[io] weave)( |$)", line)],
        "files": sorted(path for path in WEAVE_FILES if host.run(f"test -e {path} || test -L {path}").rc == 0),
    }


def weave_ports_open(nodes, spec, target_name, client_name) -> dict:
    target, client = nodes[target_name], nodes[client_name]
    address = str(next(node.node_ip for node in spec.nodes if node.name == target_name))
    with listeners(target, tcp_ports=(WEAVE_TCP,), udp_ports=WEAVE_UDP):
        opened = {f"{WEAVE_TCP}/tcp": tcp_reachable(client, address, (WEAVE_TCP,))[WEAVE_TCP]}
        opened.update({f"{port}/udp": udp_delivered(client, target, address, port) for port in WEAVE_UDP})
    return opened


def test_switch_to_weave_and_back(converged, nodes, spec):
    inventory = converged.inventory
    for host in nodes.values():
        host.run(f"echo '{{\"cniVersion\": \"1.0.0\", \"name\": \"bundled\", \"plugins\": []}}' "
                 f"> {CONF_DIR}/{BUNDLED_CONFIG}")
    assert deploy_totals(inventory, "weave")["error"] == 0
    for name, host in nodes.items():
        assert not host.file(f"{CONF_DIR}/{BUNDLED_CONFIG}").exists, f"{name}: {BUNDLED_CONFIG} would win over Weave's"
        assert host.file(f"{CONF_DIR}/kubewire-disabled/{BUNDLED_CONFIG}").exists, name
    for name, host in nodes.items():
        assert not any(host.file(path).exists for path in BRIDGE_FILES), f"{name} keeps bridge files"
        assert host.run("ip route show proto 75").stdout.strip() == "", f"{name} keeps pod routes"
        # Gone for systemd, whatever its version: no unit file left anywhere it looks. (`is-enabled`
        # of a missing unit prints nothing on systemd 252, "not-found" on 257: systemd/systemd#25680.)
        assert host.run(f"systemctl list-unit-files --no-legend {ROUTES_UNIT}").stdout.strip() == "", name
        assert host.run(f"systemctl is-enabled --quiet {ROUTES_UNIT}").rc != 0, f"{name}: {ROUTES_UNIT} is enabled"
    assert weave_ports_open(nodes, spec, "node01", "node02") == {"6783/tcp": True, "6783/udp": True, "6784/udp": True}
    assert weave_ports_open(nodes, spec, "controlplane", "node01") == {
        "6783/tcp": True, "6783/udp": True, "6784/udp": True}
    assert deploy_totals(inventory, "weave")["success"] == 0

    for host in nodes.values():  # what Weave's pods would have left on every node
        assert host.run(PLANT_WEAVE).rc == 0 and host.run(PLANT_OTHERS).rc == 0
    planted = weave_state(nodes["node01"])
    assert planted["links"] == sorted(WEAVE_LINKS) and len(planted["files"]) == len(WEAVE_FILES), planted
    assert {"WEAVE", "WEAVE-NPC", "WEAVE-NPC-INGRESS", "WEAVE-EXPOSE", "WEAVE-CANARY"} <= set(planted["chains"])
    assert deploy_totals(inventory, "weave")["success"] == 0, "Weave's own state is left alone in weave mode"

    assert deploy_totals(inventory)["error"] == 0
    for name, host in nodes.items():
        assert weave_state(host) == {"links": [], "chains": [], "rules": [], "files": []}, name
        assert host.file("/var/lib/weave").exists is False, name
        # Only Weave's: look-alikes stay.
        assert host.run("ip link show weave0").rc == 0 and host.run("iptables -n -L WEAVER").rc == 0, name
        assert host.file("/var/lib/weave-other").is_directory and host.file(f"{BIN_DIR}/weaver-keep").exists, name
        host.run(f"ip link delete weave0; iptables -X WEAVER; rmdir /var/lib/weave-other; rm {BIN_DIR}/weaver-keep")
        assert all(host.file(path).exists for path in BRIDGE_FILES), f"{name} lacks bridge files"
        assert host.run("ip route show proto 75").stdout.count("via") == len(spec.nodes) - 1
    assert weave_ports_open(nodes, spec, "node01", "node02") == {
        "6783/tcp": False, "6783/udp": False, "6784/udp": False}
    assert deploy_totals(inventory)["success"] == 0
