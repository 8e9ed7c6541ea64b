"""The hosts role, planned against the @fake connector and rendered on the controller."""

from kubewire.facts import sha256
from kubewire.roles.hosts import hosts
from kubewire.spec import HostInput, parse_cluster
from kubewire.templates import render
from tests.unit.plan import fake_host, plan, probes_answer


def facts(hostname: str = "", hosts_file: str = "") -> dict:
    """The hosts role's probe answers: the current hostname and /etc/hosts' digest."""
    return {**probes_answer({"hostname": hostname, "hosts-file": sha256(hosts_file) if hosts_file else ""}),
            # pyinfra's server.hostname, once called, asks for hostnamectl itself.
            "command -v hostnamectl": "/usr/bin/hostnamectl"}


def three_nodes(responses_for=lambda name: {}):
    controlplane = [fake_host("controlplane", "192.168.56.10", responses_for("controlplane"))]
    workers = [fake_host(name, f"192.168.56.{11 + index}", responses_for(name))
               for index, name in enumerate(["node01", "node02"])]
    return controlplane, workers


def test_sets_the_hostname_when_it_differs():
    commands = plan(*three_nodes(lambda name: facts(hostname="debian")), hosts)
    for node in ("controlplane", "node01", "node02"):
        assert any(f"hostnamectl set-hostname {node}" in c for c in commands[node]), commands[node]


def test_leaves_a_correct_hostname_alone():
    commands = plan(*three_nodes(lambda name: facts(hostname=name)), hosts)
    for node_commands in commands.values():
        assert not any("set-hostname" in c for c in node_commands), node_commands


def test_a_converged_node_gets_no_operations():
    spec = parse_cluster({}, [HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "192.168.56.10"}),
                              HostInput("node01", frozenset({"workers"}), {"node_ip": "192.168.56.11"}),
                              HostInput("node02", frozenset({"workers"}), {"node_ip": "192.168.56.12"})])
    text = render("hosts", "hosts.j2", cluster_name=spec.cluster_name, nodes=spec.nodes, extra_entries={})
    commands = plan(*three_nodes(lambda name: facts(hostname=name, hosts_file=text)), hosts)
    assert commands == {"controlplane": [], "node01": [], "node02": []}


def test_uploads_hosts_file_when_missing():
    planned = plan(*three_nodes(lambda name: facts(hostname=name)), hosts)
    for node in ("controlplane", "node01", "node02"):
        lines = [line.split() for line in planned.uploaded(node, "/etc/hosts").splitlines()
                 if line and not line.startswith("#")]
        assert ["192.168.56.10", "controlplane"] in lines and ["192.168.56.12", "node02"] in lines, lines


def test_hosts_file_names_every_node_at_its_node_ip():
    spec = parse_cluster({}, [
        HostInput("cp", frozenset({"controlplane"}), {"node_ip": "10.0.0.5", "node_name": "cp1"}),
        HostInput("w", frozenset({"workers"}), {"node_ip": "10.0.0.6"}),
    ])
    text = render("hosts", "hosts.j2", cluster_name=spec.cluster_name, nodes=spec.nodes,
                  extra_entries={"10.0.0.100": ["registry.lab", "registry"]})
    lines = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    assert ["10.0.0.5", "cp1"] in lines
    assert ["10.0.0.6", "w"] in lines
    assert ["10.0.0.100", "registry.lab", "registry"] in lines
    assert ["127.0.0.1", "localhost"] in lines
    # Debian's 127.0.1.1 alias would make the node name resolve to loopback.
    assert not any(line[0] == "127.0.1.1" for line in lines)
