"""The firewall role: rendered allow-lists per node role, and operations only for what differs."""

import re
import socket

import pytest

from kubewire.facts import sha256
from kubewire.inventory import spec_from_inventory
from kubewire.nft_probes import TableListing
from kubewire.ports import CONTROLPLANE_PORTS, WORKER_PORTS, required_ports
from kubewire.roles import firewall as firewall_role
from kubewire.spec import SpecError
from tests.unit.plan import fake_host, plan, probes_answer

CP, W1 = ("controlplane", "192.168.56.10"), ("node01", "192.168.56.11")


def accepted(rules_text: str) -> set[str]:
    """'6443/tcp'-style entries of every accept rule with a port (or a protocol such as esp)."""
    ports = {f"{port}/{proto}" for proto, ports in re.findall(r"(tcp|udp) dport (\{[^}]*\}|\S+) accept", rules_text)
             for port in ports.strip("{ }").split(", ")}
    return ports | set(re.findall(r"meta l4proto (\w+) accept", rules_text))


def render_for(name: str, settings: dict | None = None, ssh_ports=None, **host_data) -> tuple[str, str, str]:
    """Render the firewall files for one host of a two-node cluster (the role's own code path)."""
    captured = {}

    def capture():
        from pyinfra import host
        if host.data.node_name == name:
            captured["files"] = firewall_role.firewall_files(host.name, ssh_ports)

    plan([fake_host(*CP, **(host_data if name == "controlplane" else {}))],
         [fake_host(*W1, **(host_data if name == "node01" else {}))], capture, settings)
    return captured["files"]


def test_controlplane_accepts_api_etcd_and_kubelet_only():
    rules, _, _ = render_for("controlplane")
    assert accepted(rules) == {"22/tcp", "6443/tcp", "2379-2380/tcp", "10250/tcp"}
    assert {str(rule) for rule in CONTROLPLANE_PORTS} == accepted(rules) - {"22/tcp"}
    assert "policy drop;" in rules


def test_scheduler_and_controller_manager_ports_stay_closed_to_the_network():
    # Ports and Protocols: 10259 and 10257 are used by "Self"; kubeadm binds them to 127.0.0.1.
    rules, _, _ = render_for("controlplane")
    assert not re.search(r"dport 1025[79]\b", rules)
    assert 'iif "lo" accept' in rules


def test_worker_accepts_kubelet_proxy_health_and_node_ports():
    rules, _, _ = render_for("node01")
    assert accepted(rules) == {"22/tcp", "10250/tcp", "10256/tcp", "30000-32767/tcp"}
    assert {str(rule) for rule in WORKER_PORTS} < accepted(rules)


def test_etcd_and_the_kubelet_accept_only_the_controlplane_nodes():
    rules, _, _ = render_for("controlplane")
    assert "ip saddr @controlplane_nodes tcp dport 2379-2380 accept" in rules
    assert re.search(r"set controlplane_nodes \{\s+type ipv4_addr\s+elements = \{ 192.168.56.10 \}", rules)
    # Ports and Protocols: the kubelet API is used by "Self, Control plane".
    assert "ip saddr @controlplane_nodes tcp dport 10250 accept" in rules
    assert re.search(r"^\s+tcp dport 6443 accept", rules, re.M)  # the API server: from anywhere


def test_kube_proxy_health_port_source_is_configurable_for_load_balancers():
    assert "ip saddr @node_network tcp dport 10256 accept" in render_for("node01")[0]
    rules, _, _ = render_for("node01", firewall_kube_proxy_health_from=["203.0.113.0/28", "198.51.100.7"])
    assert "ip saddr { 203.0.113.0/28, 198.51.100.7/32 } tcp dport 10256 accept" in rules
    assert re.search(r"^\s+tcp dport 10256 accept", render_for("node01", firewall_kube_proxy_health_from="any")[0],
                     re.M)


@pytest.mark.parametrize("value", ["everyone", ["203.0.113.1/28"], [], "10.0.0.0/8"])
def test_a_bad_health_source_is_a_spec_error_naming_the_key(value):
    from pyinfra.api import Inventory

    from tests.unit.plan import LAB_SETTINGS

    inventory = Inventory(([fake_host(*W1, firewall_kube_proxy_health_from=value)], LAB_SETTINGS),
                          workers=([fake_host(*W1)], {}))
    with pytest.raises(SpecError) as error:
        spec_from_inventory(inventory)
    assert "firewall_kube_proxy_health_from" in error.value.report()


def test_pods_are_accepted_only_from_this_nodes_own_bridge_and_subnet():
    rules, _, _ = render_for("node01")
    assert 'iifname "cni0" ip saddr 10.244.11.0/24 accept' in rules
    assert "10.244.0.0/16" not in rules  # never the whole pod network
    rules, _, _ = render_for("node01", cni_bridge="kwbr0")
    assert 'iifname "kwbr0" ip saddr 10.244.11.0/24 accept' in rules


def test_with_weave_pods_are_accepted_from_its_bridge_only():
    rules, _, _ = render_for("node01", {"cni_plugin": "weave"})
    assert 'iifname "weave" ip saddr 10.244.0.0/16 accept' in rules
    assert not re.search(r"^\s+ip saddr 10.244", rules, re.M)


def test_ipvs_mode_accepts_node_ports_tcp_and_udp_and_the_service_range_on_every_node():
    for name in ("controlplane", "node01"):
        rules, _, _ = render_for(name, {"kube_proxy_mode": "ipvs"})
        assert {"30000-32767/tcp", "30000-32767/udp"} <= accepted(rules), name
        assert "ip daddr 10.96.0.0/12 accept" in rules, name
    rules, _, _ = render_for("controlplane")
    assert "30000-32767/tcp" not in accepted(rules) and "ip daddr" not in rules  # iptables: DNAT before input


def test_load_balancer_addresses_are_accepted_in_ipvs_mode():
    lb = {"firewall_load_balancer_addresses": ["192.168.56.240/28", "192.168.56.250"]}
    rules, _, _ = render_for("node01", {"kube_proxy_mode": "ipvs"}, **lb)
    assert "ip daddr { 192.168.56.240/28, 192.168.56.250/32 } accept" in rules
    assert "ip daddr" not in render_for("node01", **lb)[0]  # iptables mode: DNAT in prerouting


def test_weave_adds_its_ports_on_every_node():
    for name in ("controlplane", "node01"):
        rules, _, _ = render_for(name, {"cni_plugin": "weave"})
        assert {"6783/tcp", "6783-6784/udp"} <= accepted(rules)
        assert "esp" not in accepted(rules)  # unencrypted
    assert required_ports(frozenset({"workers"}), "bridge") == WORKER_PORTS


def test_encrypted_weave_accepts_esp_between_nodes(tmp_path):
    password = tmp_path / "weave-password"
    password.write_text("s3cret\n")
    for name in ("controlplane", "node01"):
        rules, _, _ = render_for(name, {"cni_plugin": "weave", "weave_password_file": str(password)})
        assert "ip saddr @node_network meta l4proto esp accept" in rules, name
        assert "s3cret" not in rules


def test_every_ssh_port_kept_open_is_accepted():
    rules, _, _ = render_for("node01", ssh_ports={2222: "this connection", 22: "sshd listens"})
    assert "tcp dport { 22, 2222 } accept" in rules


def test_extra_ports_and_policy_per_host():
    rules, digest, _ = render_for("node01", firewall_extra_ports=["9000-9010/udp", {"port": 8443, "source": "nodes"}],
                                  firewall_input_policy="accept")
    assert {"9000-9010/udp", "8443/tcp"} <= accepted(rules)
    assert "ip saddr @node_network tcp dport 8443 accept" in rules
    assert "policy accept;" in rules
    assert digest != render_for("node01")[1]  # the live table's marker follows the rules


def test_a_purpose_cannot_break_the_rules_file():
    rules, _, _ = render_for("node01", firewall_extra_ports=[{"port": 8443, "purpose": 'x" accept\n#'}])
    assert "tcp dport 8443 accept comment \"x' accept #\"" in rules


def test_only_the_kubewire_table_is_replaced():
    rules, _, unit = render_for("controlplane")
    for text in (rules, unit):
        assert not [line for line in text.splitlines() if "flush" in line and not line.startswith("#")]
    assert re.findall(r"^(?:table|delete table) (\w+ \w+)", rules, re.M) == ["inet kubewire"] * 3


# Plans: one probe in, operations out ---------------------------------------------------------

def firewall_plan(state: dict, **host_data) -> list[str]:
    return plan([fake_host(*CP, probes_answer(state), **host_data)], [], firewall_role.firewall)["controlplane"]


def table_listing(digest: str, *more: str) -> list[str]:
    """`nft list table inet kubewire` as the node prints it: its comment carries the rules' digest."""
    return ["table inet kubewire {", f'\tcomment "kubewire-rules {digest}"', *more, "}"]


def converged(ssh_ports=None, **host_data) -> dict:
    rules, digest, unit = render_for("controlplane", ssh_ports=ssh_ports, **host_data)
    listing = table_listing(digest)
    return {"rules-file": sha256(rules), "unit-file": sha256(unit), "table listing": listing,
            "loaded listing": TableListing(tuple(listing)).digest, "enabled": "enabled",
            "sshd ports": [str(port) for port in ssh_ports or ()]}


def test_a_converged_node_gets_no_operations():
    assert firewall_plan(converged()) == []


RELOAD = ["/usr/sbin/nft -f /etc/kubewire/firewall.nft && "
          "/usr/sbin/nft list table inet kubewire | sha256sum | cut -d' ' -f1 > /etc/kubewire/firewall.loaded"]


def test_a_flushed_table_is_loaded_again_without_rewriting_files():
    state = converged()
    state["table listing"] = []  # `nft flush ruleset`
    assert firewall_plan(state) == RELOAD


def test_a_table_changed_by_hand_is_loaded_again():
    state = converged()
    digest = render_for("controlplane")[1]
    state["table listing"] = table_listing(digest, "\tchain added_by_hand {", "\t}")  # same comment, other rules
    assert firewall_plan(state) == RELOAD


def test_every_port_sshd_listens_on_stays_open_and_the_plan_says_so(caplog):
    # The node's sshd listens on 22 and 2222; pyinfra's connection is on 2222.
    state = converged(ssh_ports={22: "sshd listens", 2222: "this connection"})
    state["sshd ports"] = ["22", "2222"]
    assert firewall_plan(state, ssh_port=2222) == []  # converged: both ports are in the rules
    state["sshd ports"] = ["2222"]  # sshd no longer listens on 22: 22 is closed
    commands = firewall_plan(state, ssh_port=2222)
    assert commands[-1:] == RELOAD
    names = planned_operation_names(state, ssh_port=2222)
    assert any(name.startswith("Firewall | ") and name.endswith("; SSH kept open on 2222 (this connection)")
               for name in names), names


def planned_operation_names(state: dict, **host_data) -> list[str]:
    from pyinfra.api import Config, Inventory, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.deploy import add_deploy

    from tests.unit.plan import LAB_SETTINGS

    inventory = Inventory(([fake_host(*CP, probes_answer(state), **host_data)[0]], LAB_SETTINGS),
                          controlplane=([fake_host(*CP, probes_answer(state), **host_data)], {}))
    pyinfra_state = State(inventory, Config())
    connect_all(pyinfra_state)
    add_deploy(pyinfra_state, firewall_role.firewall)
    return [", ".join(pyinfra_state.get_op_meta(op_hash).names) for op_hash in pyinfra_state.get_op_order()]


def test_the_connection_port_is_the_real_sockets_peer_port():
    """Whatever set it (ssh_port, an SSH config file's Port), the port is read from the socket."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    client_socket = socket.create_connection(listener.getsockname())
    try:
        class Transport:
            sock = client_socket

        class Client:
            _ssh_config = {"port": 22}  # what the data said; the socket says otherwise

            def get_transport(self):
                return Transport()

        class Connector:
            client = Client()

        from pyinfra.context import ctx_host

        class Host:
            connector = Connector()

        with ctx_host.use(Host()):
            assert firewall_role.connection_port() == listener.getsockname()[1]
            Transport.sock = object()  # a proxied connection: the port pyinfra's client resolved
            assert firewall_role.connection_port() == 22
    finally:
        client_socket.close()
        listener.close()


def installed(path: str) -> dict:
    """pyinfra's File fact answer for an existing file."""
    return {f"test -e {path}": f"user=root group=root mode=-rw------- atime=0 mtime=0 ctime=0 size=1 '{path}'"}


def test_disabled_firewall_removes_the_table_and_unit():
    enabled_unit = {"UnitFileState kubewire-firewall.service": ["Id=kubewire-firewall.service",
                                                                 "UnitFileState=enabled"]}
    responses = {**probes_answer(converged()), **enabled_unit, **installed(firewall_role.RULES_FILE),
                 **installed(firewall_role.UNIT_FILE)}
    node = fake_host(*CP, responses, firewall_enabled=False)
    commands = plan([node], [], firewall_role.firewall)["controlplane"]
    assert "/usr/sbin/nft delete table inet kubewire" in commands
    assert any("disable" in c and "kubewire-firewall.service" in c for c in commands)
    assert any("rm" in c and "/etc/kubewire/firewall.nft" in c for c in commands)
