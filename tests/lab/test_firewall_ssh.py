"""No lock-out: a node's sshd listens on 2222 only, and the port reaches pyinfra only through an
SSH config file (`ssh_config_file`), not `ssh_port`. The firewall keeps 2222 open, so a second
run connects again and changes nothing. On a node of each Debian release (OpenSSH 9.2 and 10)."""

import json
import re
import shlex

import pytest

from kubewire.lab import known_hosts_file
from tests.harness import NODE_PER_SUITE, run_deploy, run_pyinfra

PORT = 2222
DROP_IN = "/etc/ssh/sshd_config.d/kubewire-test-port.conf"



def sshd_ports(host) -> set[int]:
    out = host.run("ss -Hltnp | awk '/\"sshd\"/ {n = split($4, a, \":\"); print a[n]}'").stdout
    return {int(port) for port in out.split()}


def ssh_rule_ports(chain: str) -> set[int]:
    """The ports of the live SSH rule (nft lists one port bare, several as a set)."""
    line = next(line for line in chain.splitlines() if "never locked out" in line)
    return {int(port) for port in re.search(r"tcp dport (\{[^}]*\}|\d+)", line).group(1).strip("{ }").split(", ")}


@pytest.mark.parametrize("node_name", NODE_PER_SUITE)
def test_sshd_on_a_port_from_an_ssh_config_file_stays_reachable(converged, nodes, spec, tmp_path, node_name):
    host, address = nodes[node_name], str(spec.node(node_name).node_ip)
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(f"Host {address}\n    Port {PORT}\n")
    # The lab's known hosts, plus the node's keys for [address]:2222 (the lab's file stays untouched).
    known_hosts = tmp_path / "known_hosts"
    lab_known = known_hosts_file().read_text()
    extra = [f"[{address}]:{PORT} " + line.split(" ", 1)[1] for line in lab_known.splitlines()
             if line.split(" ", 1)[0] == address]
    known_hosts.write_text(lab_known + "\n".join(extra) + "\n")
    data = ["--data", f"ssh_config_file={ssh_config}", "--data", f"ssh_known_hosts_file={known_hosts}"]

    # A node kubewire has not configured yet (no table of its own), with sshd moved to 2222.
    host.run_test(f"printf 'Port {PORT}\\n' > {DROP_IN} && systemctl restart ssh && sleep 0.5 && "
                  "nft delete table inet kubewire")
    try:
        assert sshd_ports(host) == {PORT}, "sshd should listen on 2222 only"
        first = run_pyinfra(converged.inventory, "--json", *data)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        names = [name for op in json.loads(first.stdout)["results"]["operations"] for name in op["names"]]
        assert any(name.startswith("Firewall | ") and name.endswith(f"; SSH kept open on {PORT} (this connection)")
                   for name in names), names
        chain = host.run("nft list chain inet kubewire input").stdout
        assert ssh_rule_ports(chain) == {PORT}, chain
        second = run_pyinfra(converged.inventory, "--json", *data)  # a new connection, through the loaded firewall
        assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
        results = json.loads(second.stdout)["results"]
        assert results["totals"]["success"] == 0, [op["name"] for op in results["operations"] if op["success"]]
    finally:
        # Back to sshd on 22 over the test's own session (established: still accepted), and the
        # firewall reloaded by a normal run.
        host.run(f"rm -f {shlex.quote(DROP_IN)} && systemctl restart ssh && nft delete table inet kubewire")
        run_deploy(converged.inventory)
    assert sshd_ports(host) == {22}
