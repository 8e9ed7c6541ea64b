"""Cluster spec validation, offline: `parse_cluster`, `spec_from_inventory` and `kubewire check`.

Every bad-input test feeds one mistake and checks that the reported problem names the key,
the bad value, and says what would be valid.
"""

from __future__ import annotations

import random
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyinfra.api.inventory import Inventory

import kubewire.lab
from kubewire.cli import main
from kubewire.inventory import SPEC_ERROR_EXIT, spec_from_inventory
from kubewire.spec import ClusterSpec, HostInput, Problem, SpecError, parse_cluster

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# -- helpers --------------------------------------------------------------------------------


def node(host: str, node_ip: str | None, group: str = "workers", **host_data) -> HostInput:
    """One inventory host; extra keyword arguments go into its host data (node_name, pod_cidr)."""
    data = dict(host_data)
    if node_ip is not None:
        data["node_ip"] = node_ip
    return HostInput(host=host, groups=frozenset([group]), host_data=data)


def lab_hosts(**host_data: dict) -> list[HostInput]:
    """The three-node lab: controlplane 192.168.56.10, node01 .11, node02 .12.

    `lab_hosts(node01={"pod_cidr": ...})` adds data to one host.
    """
    layout = [("controlplane", "192.168.56.10", "controlplane"),
              ("node01", "192.168.56.11", "workers"),
              ("node02", "192.168.56.12", "workers")]
    return [node(name, ip, group, **host_data.get(name, {})) for name, ip, group in layout]


def spec_errors(settings: dict, hosts: list[HostInput] | None = None) -> SpecError:
    """The SpecError that parse_cluster raises for this input (fails the test if none)."""
    with pytest.raises(SpecError) as caught:
        parse_cluster(settings, lab_hosts() if hosts is None else hosts)
    return caught.value


def assert_problem(error: SpecError, key: str, value, *hints: str) -> Problem:
    """There is a problem for `key` with the bad `value`, and its message contains every hint.

    The printed report must show the key and the value too, as the user sees them.
    """
    matching = [problem for problem in error.problems if problem.key == key]
    assert matching, f"no problem reported for {key!r}:\n{error.report()}"
    with_value = [problem for problem in matching if problem.value == value]
    assert with_value, f"{key!r} reported with {[p.value for p in matching]}, not {value!r}:\n{error.report()}"
    problem = with_value[0]
    for hint in hints:
        assert hint in problem.message, f"{hint!r} not in the message for {key}: {problem.message!r}"
    assert f"{key} = {value!r}: " in error.report()
    return problem


def inventory(all_hosts, groups: dict[str, tuple[list, dict]], all_data: dict | None = None) -> Inventory:
    """A real pyinfra Inventory: `all_hosts` is the names list, `groups` maps name -> (hosts, data)."""
    return Inventory((all_hosts, all_data or {}), **groups)


def inventory_errors(inv: Inventory) -> SpecError:
    with pytest.raises(SpecError) as caught:
        spec_from_inventory(inv)
    return caught.value


# -- ranges overlapping ---------------------------------------------------------------------


def test_pod_and_service_cidrs_overlapping():
    error = spec_errors({"pod_cidr": "10.100.0.0/16", "service_cidr": "10.96.0.0/12"})
    assert_problem(error, "service_cidr", "10.96.0.0/12",
                   "overlaps pod_cidr 10.100.0.0/16", "separate ranges", "10.244.0.0/16")


def test_pod_cidr_overlapping_node_network():
    error = spec_errors({"node_cidr": "192.168.0.0/16", "pod_cidr": "192.168.128.0/17"})
    assert_problem(error, "pod_cidr", "192.168.128.0/17",
                   "overlaps the node network 192.168.0.0/16", "choose a range the nodes do not use")
    assert len(error.problems) == 1


def test_service_cidr_overlapping_node_network():
    error = spec_errors({"node_cidr": "192.168.0.0/16", "service_cidr": "192.168.128.0/17"})
    assert_problem(error, "service_cidr", "192.168.128.0/17",
                   "overlaps the node network 192.168.0.0/16", "choose a range the nodes do not use")
    assert len(error.problems) == 1


def test_node_ip_inside_pod_range():
    hosts = lab_hosts()[:2] + [node("node02", "10.244.5.5")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "10.244.5.5",
                   "lies inside pod_cidr 10.244.0.0/16", "must be outside the pod and service ranges")


def test_node_ip_inside_service_range():
    hosts = lab_hosts()[:2] + [node("node02", "10.96.0.50")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "10.96.0.50",
                   "lies inside service_cidr 10.96.0.0/12", "must be outside the pod and service ranges")


# -- the cluster DNS address ----------------------------------------------------------------


def test_dns_service_ip_outside_service_cidr():
    error = spec_errors({"dns_service_ip": "10.200.0.10"})
    assert_problem(error, "dns_service_ip", "10.200.0.10",
                   "is outside service_cidr 10.96.0.0/12", "e.g. 10.96.0.10")


def test_dns_service_ip_is_the_service_network_address():
    error = spec_errors({"dns_service_ip": "10.96.0.0"})
    assert_problem(error, "dns_service_ip", "10.96.0.0",
                   "network or broadcast address of service_cidr 10.96.0.0/12", "e.g. 10.96.0.10")


def test_dns_service_ip_is_the_api_server_service_ip():
    error = spec_errors({"dns_service_ip": "10.96.0.1"})
    assert_problem(error, "dns_service_ip", "10.96.0.1",
                   "first service address", "'kubernetes' service", "e.g. 10.96.0.10")


# -- per-node pod subnets -------------------------------------------------------------------


def test_per_node_pod_cidr_outside_pod_cidr():
    error = spec_errors({}, lab_hosts(node01={"pod_cidr": "10.245.1.0/24"}))
    assert_problem(error, "hosts.node01.pod_cidr", "10.245.1.0/24",
                   "outside the cluster's pod_cidr 10.244.0.0/16", "pick a subnet inside it")


def test_per_node_pod_cidrs_overlapping():
    hosts = lab_hosts(node01={"pod_cidr": "10.244.1.0/24"}, node02={"pod_cidr": "10.244.0.0/23"})
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.pod_cidr", "10.244.0.0/23",
                   "overlaps the pod subnet 10.244.1.0/24 of host node01", "give each node its own subnet")


def test_pod_cidr_too_small_for_the_nodes():
    error = spec_errors({"pod_cidr": "10.244.0.0/23", "node_pod_prefix": 24})
    assert_problem(error, "pod_cidr", "10.244.0.0/23",
                   "holds only 2 node subnets of /24 but there are 3 nodes", "widen pod_cidr or raise node_pod_prefix")


def test_pod_cidr_too_small_once_a_wide_per_node_subnet_is_reserved():
    # 4 subnets of /24 for 4 nodes, but controlplane's own /23 takes two of them: one node
    # would get none (this used to pass validation and crash in pod_subnets()).
    hosts = lab_hosts(controlplane={"pod_cidr": "10.244.0.0/23"}) + [node("node03", "192.168.56.13")]
    error = spec_errors({"pod_cidr": "10.244.0.0/22"}, hosts)
    assert_problem(error, "pod_cidr", "10.244.0.0/22",
                   "holds only 4 node subnets of /24 but there are 4 nodes and per-host pod_cidr values take 2",
                   "widen pod_cidr or raise node_pod_prefix")



@pytest.mark.parametrize("prefix", [7, 31, "24", True], ids=["7", "31", "string-24", "bool"])
def test_node_pod_prefix_out_of_range(prefix):
    error = spec_errors({"node_pod_prefix": prefix})
    assert_problem(error, "node_pod_prefix", prefix, "must be a prefix length between 8 and 30")


def test_node_pod_prefix_wider_than_pod_cidr():
    error = spec_errors({"pod_cidr": "10.244.0.0/16", "node_pod_prefix": 12})
    assert_problem(error, "node_pod_prefix", 12, "is wider than pod_cidr 10.244.0.0/16", "at least 16, e.g. 24")

# -- the hosts ------------------------------------------------------------------------------


def test_duplicate_node_names():
    hosts = lab_hosts(node01={"node_name": "worker"}, node02={"node_name": "worker"})
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_name", "worker",
                   "is also used by host node01", "every node needs its own node_name")


def test_duplicate_node_ips():
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.11")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "192.168.56.11",
                   "is also used by host node01", "every node needs its own node_ip")


def test_host_in_neither_group():
    inv = inventory(
        ["controlplane", "node01", ("lost", {"node_ip": "192.168.56.20"})],
        {"controlplane": ([("controlplane", {"node_ip": "192.168.56.10"})], {}),
         "workers": ([("node01", {"node_ip": "192.168.56.11"})], {})},
    )
    error = inventory_errors(inv)
    assert_problem(error, "hosts.lost.groups", [],
                   "in neither controlplane nor workers", "add it to one of them")
    assert len(error.problems) == 1


def test_no_controlplane():
    hosts = [node("node01", "192.168.56.11"), node("node02", "192.168.56.12")]
    error = spec_errors({}, hosts)
    assert_problem(error, "groups.controlplane", [],
                   "no host is in group controlplane", "put one of ['node01', 'node02'] there")


def test_no_hosts_at_all():
    error = spec_errors({}, [])
    assert_problem(error, "nodes", [], "the inventory has no hosts", "add hosts to the groups controlplane and workers")


# -- choices --------------------------------------------------------------------------------


def test_unknown_cni_plugin():
    error = spec_errors({"cni_plugin": "calico"})
    assert_problem(error, "cni_plugin", "calico", "not a CNI plugin", "use one of: bridge, weave")


def test_unknown_kube_proxy_mode():
    error = spec_errors({"kube_proxy_mode": "ebpf"})
    assert_problem(error, "kube_proxy_mode", "ebpf", "not a kube-proxy mode", "use one of: iptables, ipvs, nftables")


def test_kube_proxy_mode_userspace_was_removed():
    error = spec_errors({"kube_proxy_mode": "userspace"})
    assert_problem(error, "kube_proxy_mode", "userspace",
                   "removed from kube-proxy in Kubernetes 1.26", "use one of: iptables, ipvs, nftables")


def test_nftables_needs_kubernetes_1_31():
    error = spec_errors({"kube_proxy_mode": "nftables", "kubernetes_version": "1.30"})
    assert_problem(error, "kube_proxy_mode", "nftables",
                   "needs Kubernetes 1.31 or newer (this cluster is 1.30)", "use iptables or raise kubernetes_version")


def test_nftables_with_kubernetes_1_31_is_fine():
    spec = parse_cluster({"kube_proxy_mode": "nftables", "kubernetes_version": "1.31"}, lab_hosts())
    assert spec.kube_proxy_mode == "nftables"


# -- malformed values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "hint"),
    [
        ("pod_cidr", "10.244.0.0/33", "is not a valid IPv4 CIDR (like 10.244.0.0/16)"),
        ("pod_cidr", "banana", "is not a valid IPv4 CIDR (like 10.244.0.0/16)"),
        ("service_cidr", "banana", "is not a valid IPv4 CIDR (like 10.96.0.0/12)"),
        ("node_cidr", "192.168.56/24/1", "is not a valid IPv4 CIDR (like 192.168.56.0/24)"),
        ("pod_cidr", 10, "must be a CIDR string such as 10.244.0.0/16"),
        ("dns_service_ip", "x", "is not a valid IPv4 address (like 192.168.56.10)"),
        ("dns_service_ip", "10.96.0.300", "is not a valid IPv4 address (like 192.168.56.10)"),
    ],
    ids=["pod-prefix-33", "pod-banana", "service-banana", "node-cidr-garbled", "pod-not-a-string",
         "dns-x", "dns-octet-300"],
)
def test_malformed_cluster_address(key, value, hint):
    error = spec_errors({key: value})
    assert_problem(error, key, value, hint)


def test_malformed_node_ip():
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.300")]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", "192.168.56.300", "is not a valid IPv4 address (like 192.168.56.10)")


def test_missing_node_ip():
    hosts = lab_hosts()[:2] + [node("node02", None)]
    error = spec_errors({}, hosts)
    assert_problem(error, "hosts.node02.node_ip", None, "is missing", "set node_ip in the host's data")


def test_malformed_per_node_pod_cidr():
    error = spec_errors({}, lab_hosts(node01={"pod_cidr": "banana"}))
    assert_problem(error, "hosts.node01.pod_cidr", "banana", "is not a valid IPv4 CIDR (like 10.244.1.0/24)")


@pytest.mark.parametrize(
    ("key", "value", "network"),
    [
        ("pod_cidr", "10.244.1.0/16", "10.244.0.0/16"),
        ("service_cidr", "10.96.0.1/12", "10.96.0.0/12"),
        ("node_cidr", "192.168.56.10/24", "192.168.56.0/24"),
    ],
)
def test_cidr_with_host_bits_set(key, value, network):
    error = spec_errors({key: value})
    assert_problem(error, key, value, f"has host bits set; the network is {network}")


def test_per_node_pod_cidr_with_host_bits_set():
    error = spec_errors({}, lab_hosts(node01={"pod_cidr": "10.244.11.1/24"}))
    assert_problem(error, "hosts.node01.pod_cidr", "10.244.11.1/24", "the network is 10.244.11.0/24")


@pytest.mark.parametrize("domain", ["Cluster_Local", "cluster.local.", "-bad.local"])
def test_invalid_cluster_domain(domain):
    error = spec_errors({"cluster_domain": domain})
    assert_problem(error, "cluster_domain", domain,
                   "not a valid DNS domain", "lower-case labels", "no trailing dot", "e.g. cluster.local")


@pytest.mark.parametrize(
    ("version", "hint"),
    [
        ("1.28", "is not supported; kubewire supports 1.29-1.36"),
        ("1.37", "is not supported; kubewire supports 1.29-1.36"),
        ("2.0", "is not a Kubernetes version; use 'MAJOR.MINOR' within 1.29-1.36"),
        (1.3, "must be a quoted string such as '1.30'"),
    ],
    ids=["too-old-1.28", "too-new-1.37", "major-2", "float-1.3"],
)
def test_unsupported_kubernetes_version(version, hint):
    error = spec_errors({"kubernetes_version": version})
    assert_problem(error, "kubernetes_version", version, hint)


@pytest.mark.parametrize("version", ["1.29", "1.36", "v1.33", "1.33.2"])
def test_supported_kubernetes_versions(version):
    spec = parse_cluster({"kubernetes_version": version}, lab_hosts())
    assert spec.kubernetes_version == version.removeprefix("v")


# -- inventory structure --------------------------------------------------------------------


def lab_inventory(controlplane_data: dict | None = None, workers_data: dict | None = None,
                  controlplane_host: dict | None = None) -> Inventory:
    return inventory(
        ["controlplane", "node01"],
        {"controlplane": ([("controlplane", {"node_ip": "192.168.56.10", **(controlplane_host or {})})],
                          controlplane_data or {}),
         "workers": ([("node01", {"node_ip": "192.168.56.11"})], workers_data or {})},
    )


def test_cluster_key_in_one_hosts_data():
    error = inventory_errors(lab_inventory(controlplane_host={"service_cidr": "10.97.0.0/16"}))
    assert_problem(error, "hosts.controlplane.service_cidr", "10.97.0.0/16",
                   "is a cluster-wide key", "set it in group_data/all.py")
    assert len(error.problems) == 1


def test_cluster_key_differing_between_groups():
    error = inventory_errors(lab_inventory(controlplane_data={"cni_plugin": "bridge"},
                                           workers_data={"cni_plugin": "weave"}))
    assert_problem(error, "cni_plugin", "weave",
                   "differs between hosts (controlplane has 'bridge', node01 has 'weave')",
                   "set it in group_data/all.py")
    assert len(error.problems) == 1


def test_cluster_key_set_in_one_group_only():
    # controlplane would otherwise get the default while workers' value was used for all.
    error = inventory_errors(lab_inventory(workers_data={"pod_cidr": "10.200.0.0/16"}))
    assert_problem(error, "pod_cidr", "10.200.0.0/16",
                   "is set for node01 but not for controlplane", "set it in group_data/all.py")
    assert len(error.problems) == 1


def test_cluster_keys_from_all_data_and_per_host_pod_cidr():
    inv = inventory(
        ["controlplane", "node01"],
        {"controlplane": ([("controlplane", {"node_ip": "192.168.56.10"})], {}),
         "workers": ([("node01", {"node_ip": "192.168.56.11", "pod_cidr": "10.200.99.0/24"})], {})},
        all_data={"pod_cidr": "10.200.0.0/16", "cni_plugin": "weave"},
    )
    spec = spec_from_inventory(inv)
    assert spec.pod_cidr == IPv4Network("10.200.0.0/16")
    assert spec.cni_plugin == "weave"
    assert spec.pod_subnets() == {"controlplane": IPv4Network("10.200.10.0/24"),
                                  "node01": IPv4Network("10.200.99.0/24")}


def test_node_ip_defaults_to_an_ip_ssh_hostname():
    inv = inventory(["cp"], {"controlplane": ([("cp", {"ssh_hostname": "192.168.56.10"})], {})})
    assert spec_from_inventory(inv).node("cp").node_ip == IPv4Address("192.168.56.10")


# -- what a good spec gives -----------------------------------------------------------------


def test_defaults():
    spec = parse_cluster({}, lab_hosts())
    assert spec.cluster_dns_ip == IPv4Address("10.96.0.10")
    assert spec.api_service_ip == IPv4Address("10.96.0.1")
    assert spec.node_network == IPv4Network("192.168.56.0/24")
    assert spec.pod_cidr == IPv4Network("10.244.0.0/16")
    assert spec.service_cidr == IPv4Network("10.96.0.0/12")
    assert (spec.kubernetes_version, spec.cni_plugin, spec.kube_proxy_mode) == ("1.33", "bridge", "iptables")
    assert [n.name for n in spec.controlplane] == ["controlplane"]
    assert [n.name for n in spec.workers] == ["node01", "node02"]


def test_explicit_dns_service_ip_and_node_cidr():
    spec = parse_cluster({"dns_service_ip": "10.96.0.53", "node_cidr": "192.168.0.0/16"}, lab_hosts())
    assert spec.cluster_dns_ip == IPv4Address("10.96.0.53")
    assert spec.node_network == IPv4Network("192.168.0.0/16")


def test_pod_subnet_follows_the_node_address():
    subnets = parse_cluster({}, lab_hosts()).pod_subnets()
    assert subnets == {"controlplane": IPv4Network("10.244.10.0/24"),
                       "node01": IPv4Network("10.244.11.0/24"),
                       "node02": IPv4Network("10.244.12.0/24")}


def test_adding_a_node_keeps_existing_pod_subnets():
    before = parse_cluster({}, lab_hosts()).pod_subnets()
    after = parse_cluster({}, lab_hosts() + [node("node03", "192.168.56.13")]).pod_subnets()
    assert {host: after[host] for host in before} == before
    assert after["node03"] == IPv4Network("10.244.13.0/24")


def test_explicit_per_node_pod_cidr_is_honoured_and_avoided():
    # node02 takes the subnet node01 would get by its address; node01 must go elsewhere.
    spec = parse_cluster({}, lab_hosts(node02={"pod_cidr": "10.244.11.0/24"}))
    subnets = spec.pod_subnets()
    assert subnets["node02"] == IPv4Network("10.244.11.0/24")
    assert subnets["controlplane"] == IPv4Network("10.244.10.0/24")
    assert subnets["node01"] != subnets["node02"]
    assert not subnets["node01"].overlaps(subnets["node02"])
    assert subnets["node01"].subnet_of(spec.pod_cidr)


def test_twenty_nodes_in_a_slash_19_never_share_a_subnet():
    # Nodes on different /24s: every address has offset 10 modulo the 32 subnets, so each
    # allocation collides and has to probe for a free subnet.
    hosts = [node(f"node{i:02d}", f"10.0.{i}.10", "controlplane" if i == 0 else "workers") for i in range(20)]
    spec = parse_cluster({"pod_cidr": "10.244.0.0/19", "node_pod_prefix": 24}, hosts)
    subnets = spec.pod_subnets()
    assert len(subnets) == 20
    assert len(set(subnets.values())) == 20
    nets = list(subnets.values())
    for index, net in enumerate(nets):
        assert net.prefixlen == 24 and net.subnet_of(spec.pod_cidr)
        assert not any(net.overlaps(other) for other in nets[index + 1:])
    # Deterministic: the order hosts are listed in does not matter.
    shuffled = hosts[:]
    random.Random(4).shuffle(shuffled)
    assert parse_cluster({"pod_cidr": "10.244.0.0/19", "node_pod_prefix": 24}, shuffled).pod_subnets() == subnets


def test_a_full_pod_range_is_accepted():
    hosts = [node(f"node{i:02d}", f"192.168.56.{10 + i}", "controlplane" if i == 0 else "workers")
             for i in range(4)]
    subnets = parse_cluster({"pod_cidr": "10.244.0.0/22"}, hosts).pod_subnets()
    assert sorted(subnets.values()) == [IPv4Network(f"10.244.{i}.0/24") for i in range(4)]


# -- every error at once --------------------------------------------------------------------


def test_field_errors_are_all_reported_together():
    settings = {
        "cni_plugin": "calico",
        "kube_proxy_mode": "userspace",
        "cluster_domain": "cluster.local.",
        "kubernetes_version": "1.28",
        "service_cidr": "banana",
    }
    hosts = lab_hosts()[:2] + [node("node02", "192.168.56.300")]
    error = spec_errors(settings, hosts)
    assert sorted(problem.key for problem in error.problems) == sorted([*settings, "hosts.node02.node_ip"])
    assert len(error.problems) == 6
    assert error.report().startswith("the cluster spec has 6 errors; nothing was changed:")


def test_cross_checks_are_all_reported_together():
    settings = {
        "pod_cidr": "10.100.0.0/16",  # inside the default service range
        "dns_service_ip": "10.96.0.1",  # the API server's address
        "kube_proxy_mode": "nftables",
        "kubernetes_version": "1.30",
    }
    hosts = lab_hosts(node01={"pod_cidr": "10.101.0.0/24"})  # outside pod_cidr
    error = spec_errors(settings, hosts)
    keys = [problem.key for problem in error.problems]
    assert sorted(keys) == sorted(["service_cidr", "dns_service_ip", "kube_proxy_mode", "hosts.node01.pod_cidr"])
    assert error.report().startswith("the cluster spec has 4 errors")


def test_report_lists_key_value_and_message():
    error = SpecError([Problem("cni_plugin", "calico", "is not a CNI plugin")])
    assert error.report() == ("the cluster spec has 1 error; nothing was changed:\n"
                              "  - cni_plugin = 'calico': is not a CNI plugin")
    assert str(error) == error.report()


# -- kubewire check -------------------------------------------------------------------------


BAD_INVENTORY = """\
controlplane = [("cp", {"node_ip": "192.168.56.10"})]
workers = [
    ("w1", {"node_ip": "192.168.56.300"}),
    ("w2", {"node_ip": "192.168.56.12", "pod_cidr": "10.244.99.1/24"}),
]
"""

BAD_GROUP_DATA = """\
kubernetes_version = "1.28"
cni_plugin = "calico"
kube_proxy_mode = "userspace"
cluster_domain = "cluster.local."
"""


def test_check_lists_every_error_and_exits_2(tmp_path, monkeypatch):
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "all.py").write_text(BAD_GROUP_DATA)
    (tmp_path / "inventory.py").write_text(BAD_INVENTORY)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(main, ["check", "inventory.py"])

    assert result.exit_code == SPEC_ERROR_EXIT == 2, result.output
    expected = [
        "kubernetes_version = '1.28': is not supported; kubewire supports 1.29-1.36",
        "cni_plugin = 'calico': is not a CNI plugin kubewire configures; use one of: bridge, weave",
        "kube_proxy_mode = 'userspace': was removed from kube-proxy in Kubernetes 1.26",
        "cluster_domain = 'cluster.local.': is not a valid DNS domain",
        "hosts.w1.node_ip = '192.168.56.300': is not a valid IPv4 address (like 192.168.56.10)",
        "hosts.w2.pod_cidr = '10.244.99.1/24': has host bits set; the network is 10.244.99.0/24",
    ]
    for line in expected:
        assert line in result.stderr, f"{line!r} missing from:\n{result.stderr}"
    assert "the cluster spec has 6 errors; nothing was changed:" in result.stderr
    assert "node network" not in result.output  # no summary for a bad spec


def test_check_passes_the_local_lab_inventory(tmp_path, monkeypatch):
    monkeypatch.setattr(kubewire.lab, "STATE_DIR", tmp_path / "no-lab")  # no lab up: the default 3 nodes
    monkeypatch.chdir(PROJECT_ROOT)

    result = CliRunner().invoke(main, ["check", "inventories/local.py"])

    assert result.exit_code == 0, result.output
    assert "node network   192.168.56.0/24" in result.output
    assert "cluster DNS    10.96.0.10 (cluster.local)" in result.output
    for name, ip, subnet in [("controlplane", "192.168.56.10", "10.244.10.0/24"),
                             ("node01", "192.168.56.11", "10.244.11.0/24"),
                             ("node02", "192.168.56.12", "10.244.12.0/24")]:
        row = next((line for line in result.output.splitlines() if line.strip().startswith(name)), "")
        assert ip in row and f"pods {subnet}" in row, result.output


def test_parse_cluster_returns_a_cluster_spec():
    assert isinstance(parse_cluster({}, lab_hosts()), ClusterSpec)



def test_node_ip_outside_node_cidr():
    error = spec_errors({"node_cidr": "192.168.56.0/24"}, [node("controlplane", "192.168.57.10", "controlplane")])
    assert_problem(error, "hosts.controlplane.node_ip", "192.168.57.10", "outside node_cidr 192.168.56.0/24")
