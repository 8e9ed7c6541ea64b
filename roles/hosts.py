"""Role `hosts`: each node's hostname, and an /etc/hosts that names every cluster node.

Kubernetes wants node names that are unique and resolve to the node address (not Debian's
127.0.1.1 alias), on every node, before anything else is set up.
"""

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, server

from kubewire.inventory import cluster_spec
from kubewire.settings import HostsSettings
from kubewire.templates import jinja_env_kwargs, template_path

DEFAULTS = HostsSettings.defaults()


@deploy("Hosts", data_defaults=DEFAULTS)
def hosts() -> None:
    spec = cluster_spec()
    node = spec.node(host.name)

    if node.hosts.set_hostname:
        server.hostname(name=f"Set hostname to {node.name}", hostname=node.name)

    files.template(
        name="Write /etc/hosts with every cluster node",
        src=template_path("hosts", "hosts.j2"),
        dest="/etc/hosts",
        user="root",
        group="root",
        mode="644",
        jinja_env_kwargs=jinja_env_kwargs(),
        cluster_name=spec.cluster_name,
        nodes=spec.nodes,
        extra_entries=node.hosts.extra_entries,
    )
