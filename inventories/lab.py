"""The Vagrant lab defined by the Vagrantfile: three Debian 12 VMs on 192.168.56.0/24.

    vagrant up && pyinfra inventories/lab.py deploys/cluster.py

SSH settings (the vagrant user, Vagrant's keys, host-key checking) are in group_data/lab.py.
"""

from kubewire.inventory import validate_before_connect

controlplane = [("controlplane", {"ssh_hostname": "192.168.56.10", "node_ip": "192.168.56.10"})]
workers = [
    ("node01", {"ssh_hostname": "192.168.56.11", "node_ip": "192.168.56.11"}),
    ("node02", {"ssh_hostname": "192.168.56.12", "node_ip": "192.168.56.12"}),
]

validate_before_connect(__file__)
