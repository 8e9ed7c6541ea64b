"""SSH to the one-machine lab's nodes (the group of every host in inventories/local.py).

The lab's host keys are generated once and pinned in the lab's known_hosts; checking is
relaxed to accept-new only here, so a node added to the lab is accepted on first contact.
"""

from kubewire.lab import client_key, known_hosts_file

ssh_user = "root"
ssh_key = str(client_key())
ssh_known_hosts_file = str(known_hosts_file())
ssh_strict_host_key_checking = "accept-new"

# One extra port, to show the setting and to check UDP through the firewall in the lab tests.
firewall_extra_ports = [{"port": 9099, "protocol": "udp", "source": "nodes", "purpose": "lab UDP check"}]
