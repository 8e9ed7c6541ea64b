"""SSH to the Vagrant lab's VMs (the group of every host in inventories/lab.py).

The Vagrantfile installs kubewire's key for the vagrant user and records each VM's host key
in .vagrant/known_hosts through Vagrant's own channel, so host keys are checked strictly.
Paths are relative to the repository root, where pyinfra is run.
"""

import os

ssh_user = "vagrant"
ssh_key = ".vagrant/kubewire_key"
ssh_known_hosts_file = ".vagrant/known_hosts"
ssh_strict_host_key_checking = "yes"
# The vagrant user is not root: every operation and fact runs with sudo.
_sudo = True

# A site without a route to GitHub (such as the VM test tier, which runs cut off from every
# network) gives the CNI plugins as a release-style tarball on the controller and its sha256.
if os.environ.get("KUBEWIRE_CNI_TARBALL"):
    cni_plugins_source = "tarball"
    cni_plugins_tarball = os.environ["KUBEWIRE_CNI_TARBALL"]
    cni_plugins_tarball_sha256 = os.environ.get("KUBEWIRE_CNI_TARBALL_SHA256")
    cni_plugins_version = os.environ.get("KUBEWIRE_CNI_VERSION", "1.1.1")
