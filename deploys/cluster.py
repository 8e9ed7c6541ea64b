"""The main job: validate the cluster spec, then run each role on the hosts it belongs to.

    pyinfra inventories/local.py deploys/cluster.py
"""

from kubewire.inventory import cluster_spec
from roles.hosts import hosts

# Parsed and validated once, before any fact is read or anything changes (exit 2 on errors).
cluster_spec()

hosts()
