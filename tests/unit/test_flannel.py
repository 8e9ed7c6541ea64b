"""Flannel (`cni_plugin: flannel`): its manifest, the checks that guard it, kubeadm's podCIDR
allocation, the firewall's ports and the cni role's node state."""

import copy
import hashlib
import json

import pytest

from kubewire import flannel, rbac
from kubewire.kubeadm import extra_args, kubeadm_checks, render_kubeadm_config
from kubewire.manifests import ADDONS, find, manifest_problems, render_addon
from kubewire.ports import node_rules
from kubewire.roles import cni as cni_role
from kubewire.spec import SUPPORTED_K8S_MINORS, HostInput, SpecError, parse_cluster
from tests.unit.cni_plan import converged, live_routes, plan_both, plan_cni, probe_output
from tests.unit.kubeadm_plan import CP, W1, W2, fresh, run, strings
from tests.unit.spec_input import two_node_spec as spec_of

FLANNEL = next(addon for addon in ADDONS if addon.name == "flannel")
FLANNEL_SPEC = {"cni_plugin": "flannel"}


def rendered(**settings):
    spec = spec_of(**FLANNEL_SPEC, **settings)
    return spec, render_addon(spec, FLANNEL)


def net_conf(manifest) -> dict:
    return json.loads(find(manifest.objects, "ConfigMap", flannel.CONFIG_MAP)["data"]["net-conf.json"])


@pytest.mark.parametrize("minor", SUPPORTED_K8S_MINORS)
@pytest.mark.parametrize("settings", [{}, {"flannel_backend": "host-gw"}], ids=["vxlan", "host-gw"])
def test_the_manifest_validates_strictly_for_every_supported_minor(minor, settings):
    spec, manifest = rendered(kubernetes_version=f"1.{minor}", **settings)
    assert manifest_problems(spec, manifest) == []
    assert FLANNEL.enabled(spec) and not FLANNEL.enabled(spec_of())


def test_net_conf_is_the_pod_network_split_into_node_subnets():
    _spec, manifest = rendered(pod_cidr="10.32.0.0/12", node_pod_prefix=22, flannel_backend="host-gw")
    assert net_conf(manifest) == {"Network": "10.32.0.0/12", "SubnetLen": 22, "EnableNFTables": False,
                                  "Backend": {"Type": "host-gw"}}
    assert net_conf(rendered()[1])["Backend"] == {"Type": "vxlan"}


def test_the_plugin_comes_from_its_image_unless_from_a_file(tmp_path):
    def init_containers(**settings):
        daemonset = find(rendered(**settings)[1].objects, "DaemonSet", flannel.DAEMONSET)
        return [container["image"] for container in daemonset["spec"]["template"]["spec"].get("initContainers", [])]

    assert init_containers() == ["ghcr.io/flannel-io/flannel-cni-plugin:v1.8.0-flannel1"]
    binary = tmp_path / "flannel-amd64"
    binary.write_bytes(b"plugin")
    assert init_containers(flannel_cni_plugin_source="file", flannel_cni_plugin_file=str(binary),
                           flannel_cni_plugin_sha256=hashlib.sha256(b"plugin").hexdigest()) == []


def broken(change) -> list[str]:
    spec, manifest = rendered()
    objects = copy.deepcopy(list(manifest.objects))
    change(objects)
    return [str(problem) for problem in flannel.checks(spec, objects)]


def set_net_conf(objects, **values):
    config_map = find(objects, "ConfigMap", flannel.CONFIG_MAP)
    config_map["data"]["net-conf.json"] = json.dumps({**json.loads(config_map["data"]["net-conf.json"]), **values})


def test_a_network_other_than_pod_cidr_is_refused():
    assert broken(lambda objects: set_net_conf(objects, Network="10.32.0.0/12")) == [
        "ConfigMap kube-flannel/kube-flannel-cfg: data.net-conf.json.Network: is '10.32.0.0/12', "
        "not pod_cidr '10.244.0.0/16'"]


def test_a_subnet_size_or_backend_other_than_the_specs_is_refused():
    [size] = broken(lambda objects: set_net_conf(objects, SubnetLen=26))
    assert "SubnetLen: is 26, not node_pod_prefix 24" in size
    [backend] = broken(lambda objects: set_net_conf(objects, Backend={"Type": "udp"}))
    assert "Backend: is {'Type': 'udp'}, not flannel_backend {'Type': 'vxlan'}" in backend


def test_flanneld_without_the_kube_subnet_manager_is_refused():
    def change(objects):
        find(objects, "DaemonSet", flannel.DAEMONSET)["spec"]["template"]["spec"]["containers"][0]["args"] = [
            "--ip-masq"]
    [problem] = broken(change)
    assert "containers[kube-flannel].args: ['--ip-masq'] lacks --kube-subnet-mgr" in problem


def test_a_grant_beyond_upstreams_is_refused():
    def change(objects):
        find(objects, "ClusterRole", "flannel")["rules"].append(
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["patch"]})
    [problem] = broken(change)
    assert problem == ("ClusterRole flannel: rules: grants patch core/nodes, beyond upstream's own RBAC "
                       "(kubewire/rbac.py)")


def test_rbac_is_upstreams_and_all_flanneld_needs():
    _spec, manifest = rendered()
    assert rbac.rendered_triples(manifest.objects) == rbac.ceiling("flannel") == rbac.needs("flannel")


@pytest.mark.parametrize("version", ["1.30", "1.33"])
def test_kubeadm_lets_the_controller_manager_allocate_pod_cidrs_of_the_specs_size(version):
    spec = spec_of(**FLANNEL_SPEC, kubernetes_version=version, pod_cidr="10.32.0.0/12", node_pod_prefix=22)
    objects = list(render_kubeadm_config(spec).objects)
    assert extra_args(find(objects, "ClusterConfiguration"), "controllerManager.extraArgs") == {
        "allocate-node-cidrs": "true", "cluster-cidr": "10.32.0.0/12", "node-cidr-mask-size": "22"}
    assert kubeadm_checks(spec, objects) == []
    bridge = spec_of(kubernetes_version=version, pod_cidr="10.32.0.0/12", node_pod_prefix=22)
    assert [str(problem) for problem in kubeadm_checks(bridge, objects)] == [
        "ClusterConfiguration: controllerManager.extraArgs.allocate-node-cidrs: is 'true', not 'false': "
        "kubewire sets each node's podCIDR to its own pod subnet"]


def test_kubeadm_with_kubewires_own_allocation_is_refused_for_flannel():
    objects = list(render_kubeadm_config(spec_of()).objects)
    problems = [str(problem) for problem in kubeadm_checks(spec_of(**FLANNEL_SPEC), objects)]
    assert problems[0] == ("ClusterConfiguration: controllerManager.extraArgs.allocate-node-cidrs: is 'false', "
                           "not 'true': flannel takes each node's subnet from the podCIDR the controller manager "
                           "allocates")
    assert len(problems) == 3  # cluster-cidr and node-cidr-mask-size are missing too


@pytest.mark.usefixtures("run_secrets")
def test_the_kubeadm_role_leaves_pod_cidrs_to_the_controller_manager():
    nodes = [CP, W1, W2]
    plans = run(nodes, {name: fresh() for name, _ in nodes}, cni_plugin="flannel")
    assert not [command for command in strings(plans["controlplane"]) if " patch node " in command]


@pytest.mark.parametrize(("settings", "udp"), [({}, [8472]), ({"flannel_backend": "host-gw"}, []),
                                              ({"cni_plugin": "bridge"}, [])], ids=["vxlan", "host-gw", "bridge"])
def test_vxlan_opens_8472_udp_between_nodes_only(settings, udp):
    spec = spec_of(**{**FLANNEL_SPEC, **settings})
    for node in spec.nodes:
        rules = [rule for rule in node_rules(spec, node) if rule.protocol == "udp"]
        assert [rule.first for rule in rules] == udp and all(rule.source == "nodes" for rule in rules)


def test_kubewires_own_node_subnets_are_refused_with_flannel():
    hosts = [HostInput("controlplane", frozenset({"controlplane"}),
                       {"node_ip": "192.168.56.10", "pod_cidr": "10.244.9.0/24"})]
    with pytest.raises(SpecError, match="has no effect with cni_plugin 'flannel'"):
        parse_cluster(FLANNEL_SPEC, hosts)
    with pytest.raises(SpecError, match="more than 16 bits longer than pod_cidr's /8"):
        spec_of(**FLANNEL_SPEC, pod_cidr="10.0.0.0/8", node_pod_prefix=25)


def flannel_mode(tarball, **changes):  # noqa: F811 (the fixture's value, passed on)
    """Probe answers of a node converged in flannel mode (nothing of the bridge network left)."""
    def state(files):
        answer = converged(tarball, files, **changes)
        for path in files:
            answer[path] = ""
        answer.update({"routes unit": "", "masquerade unit": "", "masquerade listing": [], "masquerade loaded": "",
                       "conf files": [flannel.CONFLIST], "flannel conflist": hashlib.sha256(
                           flannel.conflist().encode()).hexdigest(), **changes})
        return answer
    return state


def test_flannel_mode_writes_its_config_and_removes_the_bridge_network(tarball):  # noqa: F811
    commands = plan_cni(tarball, lambda files: converged(tarball, files, routes=live_routes(),
                                                         **{"links": ["cni0 10.244.10.1/24"]}), FLANNEL_SPEC)
    assert "ip route flush proto 75" in commands
    assert "systemctl disable kubewire-pod-routes.service" in commands
    assert "ip link delete dev cni0 || test ! -e /sys/class/net/cni0" in commands  # kubewire's gateway address
    assert any(command.startswith("rm -f -- /etc/cni/net.d/10-kubewire.conflist") for command in commands)
    planned = plan_both(tarball, lambda files: converged(tarball, files), FLANNEL_SPEC)
    assert planned.uploaded("controlplane", "/etc/cni/net.d/10-flannel.conflist") == flannel.conflist()
    assert plan_cni(tarball, flannel_mode(tarball), FLANNEL_SPEC) == []


def test_a_cni0_that_flanneld_made_is_left_alone_in_flannel_mode(tarball):  # noqa: F811
    state = flannel_mode(tarball, **{"links": ["cni0 10.244.3.1/24", "flannel.1 "], "flannel subnet": "10.244.3.1/24",
                                     "flannel files": ["/run/flannel"]})
    assert plan_cni(tarball, state, FLANNEL_SPEC) == []


def test_the_plugin_from_a_file_is_verified_on_the_node_before_it_is_installed(tarball, tmp_path):  # noqa: F811
    binary = tmp_path / "flannel-amd64"
    binary.write_bytes(b"plugin")
    digest = hashlib.sha256(b"plugin").hexdigest()
    data = {"flannel_cni_plugin_source": "file", "flannel_cni_plugin_file": str(binary),
            "flannel_cni_plugin_sha256": digest}
    commands = plan_cni(tarball, flannel_mode(tarball), {**FLANNEL_SPEC, **data})
    remote = f"/var/cache/kubewire/flannel-{digest[:12]}"
    verify = commands.index(f"printf '%s  %s\\n' {digest} {remote} | sha256sum -c --quiet - && "
                            f"install -D -m 755 {remote} /opt/cni/bin/flannel")
    assert commands.index(f"upload {remote}") < verify == len(commands) - 1
    assert plan_cni(tarball, flannel_mode(tarball, **{"flannel plugin": digest}), {**FLANNEL_SPEC, **data}) == []


def test_a_plugin_file_with_another_checksum_stops_the_run(tarball, tmp_path):  # noqa: F811
    binary = tmp_path / "flannel-amd64"
    binary.write_bytes(b"plugin")
    data = {"flannel_cni_plugin_source": "file", "flannel_cni_plugin_file": str(binary),
            "flannel_cni_plugin_sha256": "0" * 64}
    with pytest.raises(cni_role.CniError, match="refusing to install"):
        plan_cni(tarball, flannel_mode(tarball), {**FLANNEL_SPEC, **data})


def test_switching_away_removes_flannels_node_state_and_only_that(tarball):  # noqa: F811
    state = {"links": ["flannel.1 ", "cni0 10.244.3.1/24"], "flannel subnet": "10.244.3.1/24",
             "flannel files": ["/etc/cni/net.d/10-flannel.conflist", "/opt/cni/bin/flannel", "/run/flannel"],
             "conf files": ["10-flannel.conflist", "10-kubewire.conflist"]}
    commands = plan_cni(tarball, lambda files: converged(tarball, files, routes=live_routes(), **state))
    assert commands == ["ip link delete dev flannel.1 || test ! -e /sys/class/net/flannel.1",
                        "ip link delete dev cni0 || test ! -e /sys/class/net/cni0",
                        "rm -rf -- /etc/cni/net.d/10-flannel.conflist /opt/cni/bin/flannel /run/flannel"]
    # A cni0 flanneld did not make (another address than its subnet's) stays.
    other = {**state, "links": ["cni0 10.244.10.1/24"]}
    commands = plan_cni(tarball, lambda files: converged(tarball, files, routes=live_routes(), **other))
    assert not any("link delete dev cni0" in command for command in commands)


# As flanneld v0.27 leaves them (pkg/trafficmngr/iptables/iptables.go), with a look-alike that stays.
FLANNEL_IPTABLES_SAVE = """\
*nat
:POSTROUTING ACCEPT [0:0]
:FLANNEL-POSTRTG - [0:0]
:FLANNELX - [0:0]
-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG
-A POSTROUTING -j FLANNELX
-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN
-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully
COMMIT
*filter
:FORWARD ACCEPT [0:0]
:FLANNEL-FWD - [0:0]
-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD
-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT
COMMIT
"""


def test_switching_away_removes_flannels_chains_and_the_rules_jumping_to_them_only(tarball, tmp_path):  # noqa: F811
    probed = probe_output(tmp_path, "flannel iptables", **{"iptables-save": FLANNEL_IPTABLES_SAVE})
    assert cni_role.iptables_excerpt(probed) == {
        "nat": {"chains": ["FLANNEL-POSTRTG"],
                "rules": ['-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG']},
        "filter": {"chains": ["FLANNEL-FWD"],
                   "rules": ['-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD']}}
    commands = plan_cni(tarball, lambda files: converged(tarball, files, routes=live_routes(),
                                                         **{"flannel iptables": probed}))
    assert commands == [
        "printf '%s\\n' '*filter' '-D FORWARD -m comment --comment \"flanneld forward\" -j FLANNEL-FWD' "
        "'-F FLANNEL-FWD' '-X FLANNEL-FWD' COMMIT | iptables-restore --noflush",
        "printf '%s\\n' '*nat' '-D POSTROUTING -m comment --comment \"flanneld masq\" -j FLANNEL-POSTRTG' "
        "'-F FLANNEL-POSTRTG' '-X FLANNEL-POSTRTG' COMMIT | iptables-restore --noflush"]
    # In flannel mode they are flanneld's, and stay.
    assert plan_cni(tarball, flannel_mode(tarball, **{"flannel iptables": probed}), FLANNEL_SPEC) == []
