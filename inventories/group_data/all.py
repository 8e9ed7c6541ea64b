"""The cluster spec, shared by every inventory here. See the README for every key."""

cluster_name = "kubewire"
kubernetes_version = "1.33"
pod_cidr = "10.244.0.0/16"
node_pod_prefix = 24
service_cidr = "10.96.0.0/12"
# dns_service_ip defaults to the 10th address of service_cidr (10.96.0.10).
cluster_domain = "cluster.local"
node_cidr = "192.168.56.0/24"
cni_plugin = "bridge"
kube_proxy_mode = "iptables"
