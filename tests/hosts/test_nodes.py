"""Every node, checked over SSH: its name, its /etc/hosts, and SSH itself."""


def check_each(nodes, check):
    """Run `check(name, host)` on every node; report every node that fails, not just the first."""
    failures = {}
    for name, host in nodes.items():
        try:
            check(name, host)
        except AssertionError as error:
            failures[name] = str(error)
    assert not failures, failures


def test_ssh_runs_commands_as_root(nodes):
    def check(name, host):
        assert host.run("id -u").stdout.strip() == "0"
    check_each(nodes, check)


def test_hostname_is_the_node_name(nodes):
    def check(name, host):
        assert host.run("hostname").stdout.strip() == name
        assert host.file("/etc/hostname").content_string.strip() == name
    check_each(nodes, check)


def test_etc_hosts_names_every_node_at_its_address(nodes, spec):
    expected = {(str(node.node_ip), node.name) for node in spec.nodes}

    def check(name, host):
        hosts_file = host.file("/etc/hosts")
        assert hosts_file.user == "root" and hosts_file.mode == 0o644
        entries = {tuple(line.split()[:2]) for line in hosts_file.content_string.splitlines()
                   if line.strip() and not line.startswith("#")}
        assert expected <= entries, expected - entries
        assert not any(address == "127.0.1.1" for address, _ in entries)
    check_each(nodes, check)


def test_every_node_name_resolves_to_its_node_ip(nodes, spec):
    def check(name, host):
        for node in spec.nodes:
            resolved = host.run(f"getent ahostsv4 {node.name}").stdout.split()
            assert resolved and resolved[0] == str(node.node_ip), (node.name, resolved)
    check_each(nodes, check)
