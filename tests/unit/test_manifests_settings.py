"""The add-ons' data keys (kube_proxy_*, coredns_*, addons_*): validated with the spec, errors name the key."""

import pytest

from kubewire.spec import HostInput, SpecError, parse_cluster


def hosts():
    return [HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "192.168.56.10"})]


def problems(**settings) -> dict:
    with pytest.raises(SpecError) as caught:
        parse_cluster(settings, hosts())
    return {problem.key: problem for problem in caught.value.problems}


def warnings(**settings) -> list[str]:
    # The bridge CNI's note that NetworkPolicy is not enforced comes with every bridge cluster.
    return [str(warning) for warning in parse_cluster(settings, hosts()).warnings()
            if not str(warning).startswith("cni_plugin = 'bridge'")]


def test_defaults():
    spec = parse_cluster({}, hosts())
    assert spec.kube_proxy.enabled and spec.coredns.enabled
    assert spec.kube_proxy.ipvs_scheduler == "rr"
    assert spec.coredns.pods == "insecure" and spec.coredns.upstreams == ["/etc/resolv.conf"]
    assert spec.coredns.replicas == 2
    assert spec.addons.kubeconfig == "/etc/kubernetes/admin.conf"


@pytest.mark.parametrize(("key", "value", "hint"), [
    ("kube_proxy_ipvs_scheduler", "fifo", "is not an IPVS scheduler; use one of: rr, wrr, lc, wlc, lblc, lblcr, sh"),
    ("kube_proxy_metrics_bind_address", "127.0.0.1", "must be ADDRESS:PORT"),
    ("kube_proxy_metrics_bind_address", "127.0.0.1:99999", "must be ADDRESS:PORT"),
    ("kube_proxy_sync_period", "30", "is not a duration"),
    ("kube_proxy_enabled", "sometimes", "valid boolean"),
    ("coredns_pods", "maybe", "is not a pods mode of CoreDNS; use one of: insecure, verified, disabled"),
    ("coredns_upstreams", ["dns.google"], "has ['dns.google']; list server IPs"),
    ("coredns_upstreams", [], "list server IPs"),
    ("coredns_upstreams", ["1.1.1.1:0"], "has ['1.1.1.1:0']"),
    ("coredns_stub_domains", {"corp_example": ["10.0.0.53"]}, "the zone 'corp_example', which is not a DNS domain"),
    ("coredns_stub_domains", {"corp.example": ["10.0.0.300"]}, "the servers ['10.0.0.300']"),
    ("coredns_stub_domains", {"corp.example": []}, "use server IPs"),
    ("coredns_replicas", 0, "greater than or equal to 1"),
    ("addons_kubeconfig", "admin.conf", "must be an absolute path"),
])
def test_invalid_setting_names_the_key(key, value, hint):
    problem = problems(**{key: value})[key]
    assert hint in problem.message, problem.message


def test_valid_server_addresses():
    spec = parse_cluster({"coredns_upstreams": ["1.1.1.1", "9.9.9.9:53", "[2620:fe::fe]:53", "/etc/resolv.conf"],
                          "kube_proxy_metrics_bind_address": "[::]:10249"}, hosts())
    assert len(spec.coredns.upstreams) == 4


def test_a_mistyped_add_on_key_gets_a_suggestion():
    problem = problems(coredns_upstream=["1.1.1.1"])["coredns_upstream"]
    assert "did you mean coredns_upstreams?" in problem.message


def test_forwarding_to_the_cluster_dns_itself_is_a_loop():
    problem = problems(coredns_upstreams=["10.96.0.10:53"])["coredns_upstreams"]
    assert "the cluster DNS address 10.96.0.10 itself" in problem.message


def test_a_stub_domain_inside_the_cluster_domain():
    problem = problems(coredns_stub_domains={"svc.cluster.local": ["10.0.0.53"]})["coredns_stub_domains"]
    assert "inside the cluster domain cluster.local" in problem.message


def test_add_on_errors_are_reported_with_the_others():
    found = problems(coredns_pods="maybe", kube_proxy_ipvs_scheduler="fifo", service_cidr="10.96.0.1/12")
    assert {"coredns_pods", "kube_proxy_ipvs_scheduler", "service_cidr"} <= set(found)


def test_ipvs_is_allowed_with_a_deprecation_warning():
    assert warnings(kube_proxy_mode="ipvs") == [
        "kube_proxy_mode = 'ipvs': upstream deprecated kube-proxy's ipvs mode in Kubernetes 1.35; "
        "plan a move to nftables"]


def test_ipvs_options_without_ipvs_mode_warn():
    assert warnings(kube_proxy_ipvs_scheduler="wlc") == [
        "kube_proxy_ipvs_scheduler = 'wlc': has no effect: kube_proxy_mode is iptables, not ipvs"]


def test_no_warnings_by_default():
    assert warnings() == []


def test_add_on_keys_come_from_group_data_not_one_host():
    from pyinfra.api import Inventory

    from kubewire.inventory import spec_from_inventory

    controlplane = [("controlplane", {"node_ip": "192.168.56.10", "coredns_pods": "verified"})]
    inventory = Inventory((["controlplane"], {"coredns_replicas": 3}), controlplane=(controlplane, {}))
    with pytest.raises(SpecError) as caught:
        spec_from_inventory(inventory)
    [problem] = caught.value.problems
    assert problem.key == "hosts.controlplane.coredns_pods" and "is a cluster-wide key" in problem.message
