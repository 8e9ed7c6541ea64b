"""The main job: validate the cluster spec and node identities, then run every role on every node.

    pyinfra inventories/local.py deploys/cluster.py

Each role decides from the node's own settings what applies there; the add-ons are applied
once, from the first controlplane node.
"""

from kubewire.connection import disable_nagle
from kubewire.facts import read_node_state, read_together
from kubewire.identity import check_node_identities
from kubewire.inventory import cluster_spec
from kubewire.node_read import node_sections
from kubewire.planning import cheaper_planning
from kubewire.roles.addons import addons
from kubewire.roles.cni import cni
from kubewire.roles.containerd import containerd
from kubewire.roles.firewall import firewall
from kubewire.roles.hosts import hosts
from kubewire.roles.kubeadm import kubeadm
from kubewire.roles.kubelet import kubelet
from kubewire.roles.prereqs import prereqs
from kubewire.runlock import confirm_run_lock, request_run_lock

disable_nagle()  # small remote commands no longer wait on delayed ACKs
cheaper_planning()  # pyinfra plans each operation call at a fraction of its cost, with the same results
# One run per node at a time, held until this run ends: asked for here, answered below.
request_run_lock()
# Parsed and validated once, before any fact is read or anything changes (exit 2 on errors).
cluster_spec()
# A node's whole state, for the checks below and every role, is read in ONE remote command; each
# role then takes its own section of it (a role called alone reads its own).
read_together(node_sections())
read_node_state()
# A node held by another run stops this one here, before any check of what was read.
confirm_run_lock()
# Hostnames, MACs, machine ids and product_uuids must be unique across the inventory.
check_node_identities()

hosts()
prereqs()
firewall()
# The runtime first: its CRI plugin reads the CNI directories the cni role fills.
containerd()
cni()
# kubeadm init/join where there is no cluster yet; the add-ons come after it.
kubeadm()
kubelet()
# Last: the add-ons (kube-proxy, CoreDNS, …), applied from the first controlplane node when a cluster
# is there, or kubeadm made it above in this run.
addons()
