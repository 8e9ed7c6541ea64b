"""SSH to the Vagrant lab's VMs (the group of every host in inventories/lab.py).

The Vagrantfile installs kubewire's key for the vagrant user and records each VM's host key
in .vagrant/known_hosts through Vagrant's own channel, so host keys are checked strictly.
Paths are relative to the repository root, where pyinfra is run.
"""

ssh_user = "vagrant"
ssh_key = ".vagrant/kubewire_key"
ssh_known_hosts_file = ".vagrant/known_hosts"
ssh_strict_host_key_checking = "yes"
# The vagrant user is not root: every operation and fact runs with sudo.
_sudo = True
