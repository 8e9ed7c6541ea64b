"""The main job: validate the cluster spec, then run each role on the hosts it belongs to.

    pyinfra inventories/local.py deploys/cluster.py
"""

from kubewire.connection import disable_nagle
from kubewire.identity import check_node_identities
from kubewire.inventory import cluster_spec
from kubewire.runlock import take_run_lock
from roles.addons import addons
from roles.cni import cni
from roles.containerd import containerd
from roles.firewall import firewall
from roles.hosts import hosts
from roles.kubeadm import kubeadm
from roles.kubelet import kubelet
from roles.prereqs import prereqs

disable_nagle()  # small remote commands no longer wait on delayed ACKs
# One run per node at a time, held until this run ends; a node held by another run stops it here.
take_run_lock()
# Parsed and validated once, before any fact is read or anything changes (exit 2 on errors).
cluster_spec()
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
# Last: kube-proxy and CoreDNS, applied from the first controlplane node when a cluster is there.
addons()
