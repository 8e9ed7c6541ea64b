"""kubeadm's configuration from the spec: advertise address, one API endpoint, podCIDRs kubewire's own."""

import copy

import pytest
import yaml

from kubewire.kubeadm import extra_args, join_config_text, kubeadm_checks, render_kubeadm_config
from kubewire.manifests import ADDONS, find, parse_objects, render_addon
from kubewire.spec import SpecError, parse_cluster
from tests.unit.spec_input import two_node_spec


def objects(**settings) -> list[dict]:
    return list(render_kubeadm_config(two_node_spec(**settings)).objects)


@pytest.mark.parametrize(("version", "api"), [("1.29", "v1beta3"), ("1.30", "v1beta3"), ("1.31", "v1beta4"),
                                              ("1.36", "v1beta4")])
def test_init_configuration_advertises_the_node_ip_in_both_api_forms(version, api):
    rendered = objects(kubernetes_version=version)
    init, cluster = find(rendered, "InitConfiguration"), find(rendered, "ClusterConfiguration")
    assert init["apiVersion"] == f"kubeadm.k8s.io/{api}"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "192.168.56.10", "bindPort": 6443}
    kubelet_args = init["nodeRegistration"]["kubeletExtraArgs"]
    manager_args = cluster["controllerManager"]["extraArgs"]
    if api == "v1beta3":  # maps
        assert kubelet_args == {"node-ip": "192.168.56.10"}
        assert manager_args == {"allocate-node-cidrs": "false"}
    else:  # lists of {name, value}
        assert kubelet_args == [{"name": "node-ip", "value": "192.168.56.10"}]
        assert manager_args == [{"name": "allocate-node-cidrs", "value": "false"}]
    assert init["nodeRegistration"]["criSocket"] == "unix:///run/containerd/containerd.sock"
    assert init["skipPhases"] == ["addon/kube-proxy", "addon/coredns"]
    assert kubeadm_checks(two_node_spec(kubernetes_version=version), rendered) == []


def test_the_endpoint_defaults_to_the_first_controlplane_and_is_in_the_certificate():
    cluster = find(objects(), "ClusterConfiguration")
    assert cluster["controlPlaneEndpoint"] == "192.168.56.10:6443"
    assert "192.168.56.10" in cluster["apiServer"]["certSANs"]


def test_a_load_balancer_endpoint_is_used_everywhere():
    spec = two_node_spec(control_plane_endpoint="api.lab.example")
    cluster = find(render_kubeadm_config(spec).objects, "ClusterConfiguration")
    assert cluster["controlPlaneEndpoint"] == "api.lab.example:6443"
    assert cluster["apiServer"]["certSANs"][0] == "api.lab.example"
    kube_proxy = render_addon(spec, next(addon for addon in ADDONS if addon.name == "kube-proxy"))
    kubeconfig = yaml.safe_load(find(kube_proxy.objects, "ConfigMap", "kube-proxy")["data"]["kubeconfig.conf"])
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://api.lab.example:6443"
    worker = spec.nodes[1]
    join = yaml.safe_load(join_config_text(spec, worker, "abcdef.0123456789abcdef", "sha256:" + "a" * 64, None))
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "api.lab.example:6443"


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_join_configuration_names_the_node_and_its_ip(version):
    spec = two_node_spec(kubernetes_version=version)
    join = yaml.safe_load(join_config_text(spec, spec.nodes[1], "abcdef.0123456789abcdef", "sha256:" + "a" * 64, None))
    assert join["kind"] == "JoinConfiguration"
    assert join["nodeRegistration"]["name"] == spec.nodes[1].name
    assert extra_args(join, "nodeRegistration.kubeletExtraArgs") == {"node-ip": str(spec.nodes[1].node_ip)}


def broken(change) -> list[str]:
    spec = two_node_spec()
    rendered = copy.deepcopy(objects())
    change(rendered)
    return [str(problem) for problem in kubeadm_checks(spec, rendered)]


def test_controller_manager_allocation_left_on_is_refused():
    [problem] = broken(lambda rendered: find(rendered, "ClusterConfiguration").update(controllerManager={}))
    assert "allocate-node-cidrs: must be 'false'" in problem


def test_a_kubelet_node_ip_other_than_the_spec_is_refused():
    def change(rendered):
        find(rendered, "InitConfiguration")["nodeRegistration"]["kubeletExtraArgs"] = [
            {"name": "node-ip", "value": "10.0.2.15"}]
    [problem] = broken(change)
    assert problem == ("InitConfiguration: nodeRegistration.kubeletExtraArgs.node-ip: is '10.0.2.15', "
                       "the spec says '192.168.56.10'")


def test_an_endpoint_missing_from_the_certificate_is_refused():
    [problem] = broken(lambda rendered: find(rendered, "ClusterConfiguration")["apiServer"].update(certSANs=[]))
    assert problem.startswith("ClusterConfiguration: apiServer.certSANs: lacks some of ['192.168.56.10']")


@pytest.mark.parametrize("endpoint", ["api..lab", "192.168.56.5:0", "192.168.56.5:99999", "https://api.lab", ""])
def test_a_bad_control_plane_endpoint_is_a_spec_error(endpoint):
    from kubewire.spec import HostInput
    with pytest.raises(SpecError) as error:
        parse_cluster({"control_plane_endpoint": endpoint}, [
            HostInput(host="cp", groups=frozenset({"controlplane"}), host_data={"node_ip": "192.168.56.10"})])
    assert "control_plane_endpoint" in str(error.value) and "HOST:PORT" in str(error.value)


def test_the_rendered_text_parses_as_three_documents():
    assert [obj["kind"] for obj in parse_objects(render_kubeadm_config(two_node_spec()).text)] == [
        "InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]
