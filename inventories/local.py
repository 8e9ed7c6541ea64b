"""The one-machine lab that `kubewire lab up [--nodes N]` builds: nodes on 192.168.56.0/24.

SSH settings (lab key, lab known_hosts) are in group_data/local.py.
"""

from kubewire.inventory import validate_before_connect
from kubewire.lab import lab_node_count, lab_nodes

_nodes = lab_nodes(lab_node_count() or 3)

controlplane = [(node.name, {"ssh_hostname": str(node.ip), "node_ip": str(node.ip)})
                for node in _nodes if "controlplane" in node.groups]
workers = [(node.name, {"ssh_hostname": str(node.ip), "node_ip": str(node.ip)})
           for node in _nodes if "workers" in node.groups]

validate_before_connect(__file__)
