"""The main job: validate the cluster spec and node identities, then run every role on every node.

    pyinfra inventories/local.py deploys/cluster.py

Each role decides from the node's own settings what applies there; the add-ons are applied
once, from the first controlplane node.
"""

from kubewire.connection import disable_nagle
from kubewire.identity import check_node_identities
from kubewire.inventory import cluster_spec
from kubewire.roles.addons import addons
from kubewire.roles.cni import cni
from kubewire.roles.firewall import firewall
from kubewire.roles.hosts import hosts
from kubewire.roles.kubelet import kubelet
from kubewire.roles.prereqs import prereqs

disable_nagle()  # small remote commands no longer wait on delayed ACKs
# Parsed and validated once, before any fact is read or anything changes (exit 2 on errors).
cluster_spec()
# Hostnames, MACs, machine ids and product_uuids must be unique across the inventory.
check_node_identities()

hosts()
prereqs()
firewall()
cni()
kubelet()
# Last: kube-proxy and CoreDNS, applied from the first controlplane node when a cluster is there.
addons()
