"""Every node, checked over SSH: its name, its /etc/hosts, and SSH itself."""

import shlex

from tests.hosts.checks import check_each, node_named, nodes_where


def test_ssh_runs_commands_as_root(nodes):
    def check(name, host):
        assert host.run("id -u").stdout.strip() == "0"
    check_each(nodes, check)


def test_hostname_is_the_node_name(nodes, spec):
    chosen = nodes_where(nodes, spec, lambda node: node.hosts.set_hostname,
                         "hosts_set_hostname is off on every node: their hostnames are the operator's")

    def check(name, host):
        assert host.run("hostname").stdout.strip() == name
        assert host.file("/etc/hostname").content_string.strip() == name
    check_each(chosen, check)


def test_etc_hosts_names_every_node_at_its_address(nodes, spec):
    cluster = {(str(node.node_ip), node.name) for node in spec.nodes}

    def check(name, host):
        hosts_file = host.file("/etc/hosts")
        assert hosts_file.user == "root" and hosts_file.mode == 0o644
        lines = [line.split() for line in hosts_file.content_string.splitlines()
                 if line.strip() and not line.startswith("#")]
        entries = {tuple(line[:2]) for line in lines}
        assert cluster <= entries, cluster - entries
        extra = [[address, *names] for address, names in node_named(spec, name).hosts.extra_entries.items()]
        assert all(entry in lines for entry in extra), [entry for entry in extra if entry not in lines]
        assert not any(address == "127.0.1.1" for address, *_ in lines)
    check_each(nodes, check)


def test_every_node_name_resolves_to_its_node_ip(nodes, spec):
    def check(name, host):
        for node in spec.nodes:
            resolved = host.run(f"getent ahostsv4 {shlex.quote(node.name)}").stdout.split()
            assert resolved and resolved[0] == str(node.node_ip), (node.name, resolved)
    check_each(nodes, check)
