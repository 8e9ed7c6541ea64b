"""Role `hosts`: each node's hostname, and an /etc/hosts that names every cluster node.

Kubernetes wants node names that are unique and resolve to the node address (not Debian's
127.0.1.1 alias), on every node, before anything else is set up.
"""

from pyinfra import host
from pyinfra.api import deploy

from kubewire import operations
from kubewire.facts import HOSTNAME_PROBE, file_digest_probe, first_line, node_probed
from kubewire.inventory import cluster_spec
from kubewire.templates import render

HOSTS_FILE = "/etc/hosts"


def hosts_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes (the same for every host)."""
    return (("hostname", HOSTNAME_PROBE), ("hosts-file", file_digest_probe(HOSTS_FILE)))


@deploy("Hosts")
def hosts() -> None:
    spec = cluster_spec()
    node = spec.node(host.name)
    hosts_file = render("hosts", "hosts.j2", cluster_name=spec.cluster_name, nodes=spec.nodes,
                        extra_entries=node.hosts.extra_entries)
    probed = node_probed("hosts", hosts_node_probes(host.name))

    steps = [operations.step(f"Set hostname to {node.name}", operations.hostname, wanted=node.name,
                             current=first_line(probed, "hostname"))] if node.hosts.set_hostname else []
    steps.append(operations.step(f"Write {HOSTS_FILE} with every cluster node", operations.text_file,
                                 path=HOSTS_FILE, text=hosts_file, current_digest=first_line(probed, "hosts-file")))
    hostname = "Hostname and " if node.hosts.set_hostname else ""
    operations.checks(name=f"{hostname}{HOSTS_FILE} with every cluster node", steps=steps)
