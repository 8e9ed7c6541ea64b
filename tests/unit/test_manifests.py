"""Add-on manifests: rendered from the spec, strictly schema-validated, semantically checked."""

import copy
import inspect

import pytest
import yaml

from kubewire import versions
from kubewire.manifest_render import PYTHON_DUMPER, dump
from kubewire.manifests import (
    ADDONS,
    ManifestError,
    find,
    manifest_problems,
    parse_objects,
    render_addon,
    render_all,
    render_kubeadm_config,
    schema_problems,
)
from kubewire.spec import SUPPORTED_K8S_MINORS
from kubewire.versions import COREDNS_VERSIONS, KUBERNETES_PATCH_RELEASES
from tests.unit.spec_input import two_node_spec

LOWEST, HIGHEST = f"1.{SUPPORTED_K8S_MINORS.start}", f"1.{SUPPORTED_K8S_MINORS.stop - 1}"
KUBE_PROXY, COREDNS, *_ = ADDONS


def kube_proxy_config(**settings) -> dict:
    config_map = find(render_addon(two_node_spec(**settings), KUBE_PROXY).objects, "ConfigMap", "kube-proxy")
    return yaml.safe_load(config_map["data"]["config.conf"])


def corefile(**settings) -> str:
    return find(render_addon(two_node_spec(**settings), COREDNS).objects, "ConfigMap", "coredns")["data"]["Corefile"]


# Every output validates strictly at both ends of the supported range --------------------------


@pytest.mark.parametrize("settings", [
    {"kubernetes_version": LOWEST, "kube_proxy_mode": "iptables"},
    {"kubernetes_version": LOWEST, "kube_proxy_mode": "ipvs", "kube_proxy_ipvs_strict_arp": True},
    {"kubernetes_version": HIGHEST, "kube_proxy_mode": "iptables", "kube_proxy_masquerade_all": True},
    {"kubernetes_version": HIGHEST, "kube_proxy_mode": "ipvs", "kube_proxy_ipvs_scheduler": "wlc"},
    {"kubernetes_version": HIGHEST, "kube_proxy_mode": "nftables",
     "coredns_stub_domains": {"corp.example": ["10.0.0.53"]}, "coredns_pods": "verified"},
])
def test_every_object_validates_strictly(settings):
    spec = two_node_spec(**settings)
    manifests = render_all(spec)  # raises ManifestError on any problem
    for manifest in manifests[:len(ADDONS)]:
        assert manifest.objects
        for obj in manifest.objects:
            assert schema_problems(obj, spec.kubernetes_version) == []


def test_rendered_files_parse_back_to_the_validated_objects():
    for manifest in render_all(two_node_spec()):
        assert parse_objects(manifest.text) == list(manifest.objects)


@pytest.mark.parametrize("settings", [
    {}, {"kube_proxy_mode": "ipvs", "coredns_stub_domains": {"corp.example": ["10.0.0.53"]}}])
def test_the_text_is_the_same_with_and_without_libyaml(settings):
    """Controllers with and without PyYAML's libyaml must apply the same text, or each run of one
    would apply again what the other applied."""
    for addon in ADDONS:
        manifest = render_addon(two_node_spec(**settings), addon)
        assert manifest.text == dump(list(manifest.objects), addon.name, PYTHON_DUMPER)


def test_every_object_is_labelled_for_deletion_by_add_on():
    for addon in ADDONS:
        for obj in render_addon(two_node_spec(), addon).objects:
            assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubewire"
            assert obj["metadata"]["labels"]["kubewire/addon"] == addon.name


def test_kubeadm_layout_of_kube_proxy():
    objects = render_addon(two_node_spec(), KUBE_PROXY).objects
    names = {(obj["kind"], obj["metadata"]["name"]) for obj in objects}
    assert names == {("ServiceAccount", "kube-proxy"), ("ClusterRoleBinding", "kubeadm:node-proxier"),
                     ("Role", "kube-proxy"), ("RoleBinding", "kube-proxy"), ("ConfigMap", "kube-proxy"),
                     ("DaemonSet", "kube-proxy")}
    binding = find(objects, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "system:node-proxier"
    role = find(objects, "Role")
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kube-proxy"],
                              "verbs": ["get"]}]


# kube-proxy ------------------------------------------------------------------------------------


def test_iptables_mode_by_default():
    config = kube_proxy_config()
    assert config["mode"] == "iptables"
    assert config["clusterCIDR"] == "10.244.0.0/16"
    assert config["healthzBindAddress"] == "0.0.0.0:10256"
    assert config["metricsBindAddress"] == "127.0.0.1:10249"
    assert config["iptables"] == {"masqueradeAll": False, "syncPeriod": "30s", "minSyncPeriod": "1s"}
    assert "ipvs" not in config and "nftables" not in config


def test_ipvs_mode_with_its_options():
    config = kube_proxy_config(kube_proxy_mode="ipvs", kube_proxy_ipvs_scheduler="sh", kube_proxy_ipvs_strict_arp=True,
                               kube_proxy_masquerade_all=True, kube_proxy_sync_period="1m")
    assert config["mode"] == "ipvs"
    assert config["ipvs"] == {"scheduler": "sh", "strictARP": True, "syncPeriod": "1m", "minSyncPeriod": "1s"}
    # kube-proxy's ipvs proxier reads masqueradeAll from the iptables section.
    assert config["iptables"] == {"masqueradeAll": True}


def test_nftables_mode_with_its_options():
    config = kube_proxy_config(kube_proxy_mode="nftables", kube_proxy_masquerade_all=True,
                               kube_proxy_min_sync_period="2s")
    assert config["nftables"] == {"masqueradeAll": True, "syncPeriod": "30s", "minSyncPeriod": "2s"}
    assert "iptables" not in config and "ipvs" not in config


def test_metrics_on_every_ipv6_address():
    assert kube_proxy_config(kube_proxy_metrics_bind_address="[::]:10249")["metricsBindAddress"] == "[::]:10249"


def test_kube_proxy_image_follows_the_kubernetes_version():
    def image(**settings):
        daemonset = find(render_addon(two_node_spec(**settings), KUBE_PROXY).objects, "DaemonSet")
        return daemonset["spec"]["template"]["spec"]["containers"][0]["image"]

    assert image(kubernetes_version="1.31") == f"registry.k8s.io/kube-proxy:v{KUBERNETES_PATCH_RELEASES[31]}"
    assert image(kubernetes_version="1.31.2") == "registry.k8s.io/kube-proxy:v1.31.2"


def test_kube_proxy_reaches_the_api_server_at_the_controlplane_node():
    config_map = find(render_addon(two_node_spec(), KUBE_PROXY).objects, "ConfigMap", "kube-proxy")
    kubeconfig = yaml.safe_load(config_map["data"]["kubeconfig.conf"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://192.168.56.10:6443"


# CoreDNS ---------------------------------------------------------------------------------------


def test_default_corefile():
    lines = [line.strip() for line in corefile().splitlines()]
    assert lines[0] == ".:53 {"
    for expected in ("errors", "health :8080 {", "lameduck 5s", "ready :8181",
                     "kubernetes cluster.local in-addr.arpa ip6.arpa {", "pods insecure",
                     "fallthrough in-addr.arpa ip6.arpa", "ttl 30", "prometheus :9153",
                     "forward . /etc/resolv.conf {", "max_concurrent 1000", "loop", "reload", "loadbalance"):
        assert expected in lines, expected


def test_corefile_options():
    text = corefile(cluster_domain="k8s.lab", coredns_pods="verified", coredns_upstreams=["1.1.1.1", "9.9.9.9:53"],
                    coredns_stub_domains={"corp.example": ["10.0.0.53", "10.0.0.54:5353"]})
    lines = [line.strip() for line in text.splitlines()]
    assert "kubernetes k8s.lab in-addr.arpa ip6.arpa {" in lines
    assert "pods verified" in lines
    assert "forward . 1.1.1.1 9.9.9.9:53 {" in lines
    stub = text[text.index("corp.example:53 {"):]
    assert "forward . 10.0.0.53 10.0.0.54:5353 {" in stub


def test_coredns_deployment_and_service():
    spec = two_node_spec(service_cidr="10.100.0.0/16", coredns_replicas=3)
    objects = render_addon(spec, COREDNS).objects
    deployment = find(objects, "Deployment", "coredns")
    assert deployment["spec"]["replicas"] == 3
    pod = deployment["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"]
    container = pod["containers"][0]
    assert container["image"] == f"registry.k8s.io/coredns/coredns:{COREDNS_VERSIONS[spec.minor]}"
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": 8181, "scheme": "HTTP"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8080, "scheme": "HTTP"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"add": ["NET_BIND_SERVICE"], "drop": ["ALL"]}}
    service = find(objects, "Service", "kube-dns")
    assert service["spec"]["clusterIP"] == "10.100.0.10"
    assert [(port["port"], port["protocol"]) for port in service["spec"]["ports"]] == [
        (53, "UDP"), (53, "TCP"), (9153, "TCP")]


def test_coredns_rbac_is_read_only_and_minimal():
    role = find(render_addon(two_node_spec(), COREDNS).objects, "ClusterRole", "system:coredns")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ]


# kubeadm's configuration ----------------------------------------------------------------------


@pytest.mark.parametrize(("version", "api"), [("1.29", "v1beta3"), ("1.30", "v1beta3"), ("1.31", "v1beta4"),
                                              ("1.36", "v1beta4")])
def test_kubeadm_config_api_and_values(version, api):
    manifest = render_kubeadm_config(two_node_spec(kubernetes_version=version, service_cidr="10.100.0.0/16"))
    cluster, kubelet = find(manifest.objects, "ClusterConfiguration"), find(manifest.objects, "KubeletConfiguration")
    assert cluster["apiVersion"] == f"kubeadm.k8s.io/{api}"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.100.0.0/16",
                                     "dnsDomain": "cluster.local"}
    assert kubelet["clusterDNS"] == ["10.100.0.10"] and kubelet["clusterDomain"] == "cluster.local"
    assert find(manifest.objects, "InitConfiguration")["skipPhases"] == ["addon/kube-proxy", "addon/coredns"]
    if api == "v1beta4":
        assert cluster["proxy"] == {"disabled": True} and cluster["dns"] == {"disabled": True}


def test_kubeadm_kinds_have_no_schema_and_would_be_refused_by_it():
    spec = two_node_spec()
    for obj in render_kubeadm_config(spec).objects:
        [problem] = schema_problems(obj, spec.kubernetes_version)
        assert problem.key.endswith(": apiVersion/kind") and "has no schema" in problem.message


# A broken manifest is refused, naming the object and the field --------------------------------


def broken(addon_or_kubeadm, change, **settings):
    """Render, break one object with `change(objects)`, and return the problems found."""
    spec = two_node_spec(**settings)
    manifest = render_kubeadm_config(spec) if addon_or_kubeadm == "kubeadm" else render_addon(spec, addon_or_kubeadm)
    objects = copy.deepcopy(list(manifest.objects))
    change(objects)
    return [str(problem) for problem in manifest_problems(spec, type(manifest)(
        manifest.name, tuple(objects), manifest.text, manifest.addon))]


def set_cluster_ip(address):
    return lambda objects: find(objects, "Service", "kube-dns")["spec"].update(clusterIP=address)


def test_dns_service_ip_outside_the_service_range():
    [problem] = broken(COREDNS, set_cluster_ip("10.200.0.10"))
    assert problem.startswith("Service kube-system/kube-dns: spec.clusterIP: 10.200.0.10 is outside service_cidr")


def test_dns_service_ip_on_the_api_servers_address():
    [problem] = broken(COREDNS, set_cluster_ip("10.96.0.1"))
    assert problem.startswith("Service kube-system/kube-dns: spec.clusterIP: 10.96.0.1 is the first address")


def test_dns_service_ip_not_the_one_kubelets_use():
    [problem] = broken(COREDNS, set_cluster_ip("10.96.0.53"))
    assert "spec.clusterIP: 10.96.0.53 is not dns_service_ip 10.96.0.10" in problem


def test_kube_proxy_cluster_cidr_differs_from_pod_cidr():
    def change(objects):
        config_map = find(objects, "ConfigMap", "kube-proxy")
        config_map["data"]["config.conf"] = config_map["data"]["config.conf"].replace("10.244.0.0/16", "10.245.0.0/16")

    [problem] = broken(KUBE_PROXY, change)
    assert problem == ("ConfigMap kube-system/kube-proxy: data.config.conf.clusterCIDR: "
                       "is '10.245.0.0/16', not pod_cidr 10.244.0.0/16")


def test_kubeadm_service_subnet_differs_from_service_cidr():
    [problem] = broken("kubeadm", lambda objects: find(objects, "ClusterConfiguration")["networking"].update(
        serviceSubnet="10.97.0.0/16"))
    assert problem == ("ClusterConfiguration: networking.serviceSubnet: is '10.97.0.0/16', "
                       "the spec says '10.96.0.0/12'")


def test_kubeadm_wrong_api_version_for_the_kubernetes_version():
    [problem] = broken("kubeadm", lambda objects: find(objects, "ClusterConfiguration").update(
        apiVersion="kubeadm.k8s.io/v1beta4"), kubernetes_version="1.30")
    assert problem.startswith("ClusterConfiguration: apiVersion: is 'kubeadm.k8s.io/v1beta4'")


def test_kubelet_cluster_dns_differs():
    [problem] = broken("kubeadm", lambda objects: find(objects, "KubeletConfiguration").update(
        clusterDNS=["10.96.0.11"]))
    assert problem.startswith("KubeletConfiguration: clusterDNS: is ['10.96.0.11']")


def test_unknown_field_fails_strict_validation():
    def change(objects):
        coredns_container_of(objects)["securityContext"]["readOnlyRootFileSystem"] = True  # capital S: a typo

    problems = broken(COREDNS, change)
    assert len(problems) == 1
    assert problems[0].startswith("Deployment kube-system/coredns: spec.template.spec.containers.0.securityContext:")
    assert "readOnlyRootFileSystem" in problems[0]


def coredns_container_of(objects):
    return find(objects, "Deployment", "coredns")["spec"]["template"]["spec"]["containers"][0]


def test_wrong_type_fails_validation():
    problems = broken(COREDNS, lambda objects: find(objects, "Deployment")["spec"].update(replicas="two"))
    assert len(problems) == 1
    assert problems[0].startswith("Deployment kube-system/coredns: spec.replicas: 'two' is not of type 'integer'")


def test_object_without_a_schema_is_an_error():
    stray = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
             "metadata": {"name": "kube-proxy"}}
    [problem] = broken(KUBE_PROXY, lambda objects: objects.append(stray))
    assert problem.startswith("KubeProxyConfiguration kube-proxy: apiVersion/kind: kubeproxy.config.k8s.io/v1alpha1 "
                              "KubeProxyConfiguration has no schema in Kubernetes 1.33")


def test_a_list_is_unpacked():
    text = ("apiVersion: v1\nkind: List\nitems:\n"
            "  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: a, namespace: kube-system}}\n"
            "  - {apiVersion: v1, kind: ServiceAccount, metadata: {name: b, namespace: kube-system}}\n---\n"
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: kube-system}\n")
    assert [obj["metadata"]["name"] for obj in parse_objects(text)] == ["a", "b", "c"]


def test_manifest_error_lists_every_problem():
    other_services = render_kubeadm_config(two_node_spec(service_cidr="10.100.0.0/16"))
    error = ManifestError(manifest_problems(two_node_spec(), other_services))
    assert "have 2 problems; nothing was applied" in error.report()
    assert "ClusterConfiguration: networking.serviceSubnet" in error.report()
    assert "KubeletConfiguration: clusterDNS" in error.report()


# As kubeadm lays CoreDNS out, per minor (cmd/kubeadm/app/phases/addons/dns/manifests.go) ---------


def test_forward_takes_kubeadms_concurrency_limit():
    lines = [line.strip() for line in corefile(coredns_upstreams=["1.1.1.1"]).splitlines()]
    assert lines[lines.index("forward . 1.1.1.1 {") + 1] == "max_concurrent 1000"


@pytest.mark.parametrize(("version", "disabled"), [("1.31", False), ("1.32", True), (HIGHEST, True)])
def test_cache_leaves_the_cluster_domain_to_the_kubernetes_plugin_from_1_32(version, disabled):
    lines = [line.strip() for line in corefile(kubernetes_version=version, cluster_domain="k8s.lab").splitlines()]
    main = lines[:lines.index("}", lines.index("loadbalance"))]
    if disabled:
        start = main.index("cache 30 {")
        assert main[start + 1:start + 4] == ["disable success k8s.lab", "disable denial k8s.lab", "}"]
    else:
        assert "cache 30" in main and "cache 30 {" not in main


def test_coredns_has_a_disruption_budget_matching_its_pods():
    objects = render_addon(two_node_spec(coredns_replicas=3), COREDNS).objects
    budget = find(objects, "PodDisruptionBudget", "coredns")
    assert budget["apiVersion"] == "policy/v1"
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    deployment = find(objects, "Deployment", "coredns")
    assert deployment["spec"]["selector"] == budget["spec"]["selector"]


def test_every_supported_minor_has_real_pins():
    for minor in SUPPORTED_K8S_MINORS:
        assert KUBERNETES_PATCH_RELEASES[minor].startswith(f"1.{minor}.")
        assert COREDNS_VERSIONS[minor].startswith("v1.")
    assert "placeholder" not in inspect.getsource(versions).lower()
    assert "unsure" not in inspect.getsource(versions).lower()
