"""SSH to the one-machine lab's nodes (the group of every host in inventories/local.py).

The lab's host keys are generated once and pinned in the lab's known_hosts; checking is
relaxed to accept-new only here, so a node added to the lab is accepted on first contact.
"""

from kubewire.lab import (
    client_key,
    cni_tarball,
    cni_tarball_sha256,
    cni_tarball_version,
    known_hosts_file,
)
from kubewire.lab.flannel_standin import flannel_standin

ssh_user = "root"
ssh_key = str(client_key())
ssh_known_hosts_file = str(known_hosts_file())
ssh_strict_host_key_checking = "accept-new"

# One extra port, to show the setting and to check UDP through the firewall in the lab tests.
firewall_extra_ports = [{"port": 9099, "protocol": "udp", "source": "nodes", "purpose": "lab UDP check"}]

# The lab has no route out: CNI plugins come as a release-style tarball that `kubewire lab up`
# builds on the controller from Debian's containernetworking-plugins (the tarball code path).
cni_plugins_source = "tarball"
cni_plugins_tarball = str(cni_tarball())
cni_plugins_tarball_sha256 = cni_tarball_sha256()
cni_plugins_version = cni_tarball_version()

# containerd and runc come from the lab's repository (the distribution's packages). This host's
# capability bounding set lacks CAP_SYS_RESOURCE, so runc cannot lower a sandbox's oom_score_adj:
# the CRI keeps it at containerd's own.
containerd_restrict_oom_score_adj = True
# No registry is reachable: the lab's locally built pause image stands in (kubewire lab images).
containerd_sandbox_image = "kubewire.lab/pause:lab"

# The lab's apt repository has no kubelet/kubeadm (Debian packages neither): the bootstrap is off
# here. Turned on, it stops before any change, naming the package source to configure.
kubeadm_enabled = False
kubeadm_packages_source = "apt"

# With cni_plugin "flannel": no flannel CNI plugin is packaged for Debian and the lab cannot fetch
# upstream's, so a stand-in script (kubewire/lab/flannel_standin.py, not flannel) is installed from
# the controller, checksummed like a real one. The lab has no cluster: flanneld never runs here.
flannel_cni_plugin_source = "file"
flannel_cni_plugin_file, flannel_cni_plugin_sha256 = flannel_standin()
