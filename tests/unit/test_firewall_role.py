"""The firewall role: rendered allow-lists per node role, and operations only for what differs."""

import re

from kubewire.facts import sha256
from kubewire.ports import CONTROLPLANE_PORTS, WORKER_PORTS, required_ports
from kubewire.roles import firewall as firewall_role
from tests.unit.plan import fake_host, plan, probes_answer

CP, W1 = ("controlplane", "192.168.56.10"), ("node01", "192.168.56.11")


def accepted(rules_text: str) -> set[str]:
    """'6443/tcp'-style entries of every accept rule with a port."""
    return {f"{port}/{proto}" for proto, port in re.findall(r"(tcp|udp) dport (\S+) accept", rules_text)}


def render_for(name: str, settings: dict | None = None, **host_data) -> tuple[str, str, str]:
    """Render the firewall files for one host of a two-node cluster (the role's own code path)."""
    captured = {}

    def capture():
        from pyinfra import host
        if host.data.node_name == name:
            captured["files"] = firewall_role.firewall_files(host.name)

    plan([fake_host(*CP, **(host_data if name == "controlplane" else {}))],
         [fake_host(*W1, **(host_data if name == "node01" else {}))], capture, settings)
    return captured["files"]


def test_controlplane_accepts_its_ports_and_no_worker_only_ones():
    rules, _, _ = render_for("controlplane")
    assert accepted(rules) == {"22/tcp"} | {str(rule) for rule in CONTROLPLANE_PORTS}
    assert "30000-32767/tcp" not in accepted(rules)
    assert "policy drop;" in rules


def test_worker_accepts_kubelet_proxy_health_and_node_ports():
    rules, _, _ = render_for("node01")
    assert accepted(rules) == {"22/tcp", "10250/tcp", "10256/tcp", "30000-32767/tcp"}
    assert {str(rule) for rule in WORKER_PORTS} < accepted(rules)


def test_node_only_ports_are_limited_to_the_node_network():
    rules, _, _ = render_for("controlplane")
    assert "ip saddr @node_network tcp dport 2379-2380 accept" in rules
    assert re.search(r"^\s+tcp dport 6443 accept", rules, re.M)  # the API server: from anywhere
    assert "elements = { 192.168.56.0/24 }" in rules and "elements = { 10.244.0.0/16 }" in rules


def test_weave_adds_its_ports_on_every_node():
    for name in ("controlplane", "node01"):
        rules, _, _ = render_for(name, {"cni_plugin": "weave"})
        assert {"6783/tcp", "6783-6784/udp"} <= accepted(rules)
    assert required_ports(frozenset({"workers"}), "bridge") == WORKER_PORTS


def test_the_ssh_port_in_use_is_always_allowed():
    rules, _, _ = render_for("node01", ssh_port=2222)
    assert "tcp dport 2222 accept" in rules


def test_extra_ports_and_policy_per_host():
    rules, digest, _ = render_for("node01", firewall_extra_ports=["9000-9010/udp", {"port": 8443, "source": "nodes"}],
                                  firewall_input_policy="accept")
    assert {"9000-9010/udp", "8443/tcp"} <= accepted(rules)
    assert "ip saddr @node_network tcp dport 8443 accept" in rules
    assert "policy accept;" in rules
    assert digest != render_for("node01")[1]  # the live table's marker follows the rules


def test_only_the_kubewire_table_is_replaced():
    rules, _, unit = render_for("controlplane")
    for text in (rules, unit):
        assert not [line for line in text.splitlines() if "flush" in line and not line.startswith("#")]
    assert re.findall(r"^(?:table|delete table) (\w+ \w+)", rules, re.M) == ["inet kubewire"] * 3


def firewall_plan(state: dict, **host_data) -> list[str]:
    return plan([fake_host(*CP, probes_answer(state), **host_data)], [], firewall_role.firewall)["controlplane"]


def converged(**host_data) -> dict:
    rules, digest, unit = render_for("controlplane", **host_data)
    return {"rules-file": sha256(rules), "unit-file": sha256(unit),
            "live": f"kubewire-rules {digest}", "live listing": "abc", "loaded listing": "abc", "enabled": "enabled"}


def test_a_converged_node_gets_no_operations():
    assert firewall_plan(converged()) == []


RELOAD = ["/usr/sbin/nft -f /etc/kubewire/firewall.nft",
          "/usr/sbin/nft list table inet kubewire | sha256sum | cut -d' ' -f1 > /etc/kubewire/firewall.loaded"]


def test_a_flushed_table_is_loaded_again_without_rewriting_files():
    state = converged()
    state["live"] = ""
    assert firewall_plan(state) == RELOAD


def test_a_table_changed_by_hand_is_loaded_again():
    state = converged()
    state["live listing"] = "def"  # same version comment, different rules
    assert firewall_plan(state) == RELOAD


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
