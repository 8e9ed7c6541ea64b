"""Weave Net (cni_plugin weave): its manifest, its checks, its password kept secret, and how it is applied."""

import base64
import hashlib
import logging

import pytest
from click.testing import CliRunner

from kubewire.cli import main
from kubewire.manifests import (
    ADDONS,
    ManifestError,
    find,
    manifest_problems,
    render_addon,
    render_all,
    render_secrets,
    schema_problems,
    write_manifests,
)
from kubewire.roles.addons import MANIFESTS_DIR, addons
from kubewire.spec import SUPPORTED_K8S_MINORS, HostInput, SpecError, parse_cluster
from kubewire.versions import WEAVE_VERSION
from tests.unit.plan import fake_host, plan, probes_answer

WEAVE = next(addon for addon in ADDONS if addon.name == "weave")
LOWEST, HIGHEST = f"1.{SUPPORTED_K8S_MINORS.start}", f"1.{SUPPORTED_K8S_MINORS.stop - 1}"
PASSWORD = "correct-horse-battery-staple"
ENCODED = base64.b64encode(PASSWORD.encode()).decode()
ADMIN_CONF = "/etc/kubernetes/admin.conf"


def hosts(**node01_cni):
    return [HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "192.168.56.10"}),
            HostInput("node01", frozenset({"workers"}), {"node_ip": "192.168.56.11"}, role_data=node01_cni)]


def spec_of(**settings):
    return parse_cluster({"node_cidr": "192.168.56.0/24", "cni_plugin": "weave", **settings}, hosts())


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "weave-password"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return str(path)


def weave_objects(**settings):
    return render_addon(spec_of(**settings), WEAVE).objects


def pod_spec(objects):
    return find(objects, "DaemonSet", "weave-net")["spec"]["template"]["spec"]


def container(objects, name):
    return next(item for item in pod_spec(objects)["containers"] if item["name"] == name)


def env(objects):
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container(objects, "weave")["env"]}


# The manifest ----------------------------------------------------------------------------------


def test_upstream_layout():
    objects = weave_objects()
    assert {(obj["kind"], obj["metadata"]["name"]) for obj in objects} == {
        ("ServiceAccount", "weave-net"), ("ClusterRole", "weave-net"), ("ClusterRoleBinding", "weave-net"),
        ("Role", "weave-net"), ("RoleBinding", "weave-net"), ("DaemonSet", "weave-net")}
    pod = pod_spec(objects)
    assert pod["hostNetwork"] is True and pod["hostPID"] is False
    assert [item["name"] for item in pod["initContainers"]] == ["weave-init"]
    assert [item["name"] for item in pod["containers"]] == ["weave", "weave-npc"]
    assert {volume["hostPath"]["path"] for volume in pod["volumes"]} == {
        "/var/lib/weave", "/etc/cni/net.d", "/opt/cni/bin", "/lib/modules", "/run/xtables.lock", "/var/lib/dbus",
        "/etc/machine-id"}


def test_rbac_as_upstream_without_removed_api_groups():
    objects = weave_objects()
    assert find(objects, "ClusterRole")["rules"] == [
        {"apiGroups": [""], "resources": ["pods", "namespaces", "nodes"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch", "update"]},
    ]
    assert find(objects, "Role")["rules"] == [
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["weave-net"], "verbs": ["get", "update"]},
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
    ]


def test_images_are_pinned_and_a_fork_can_replace_them():
    objects = weave_objects()
    assert container(objects, "weave")["image"] == f"docker.io/weaveworks/weave-kube:{WEAVE_VERSION}"
    assert container(objects, "weave-npc")["image"] == f"docker.io/weaveworks/weave-npc:{WEAVE_VERSION}"
    assert pod_spec(objects)["initContainers"][0]["image"] == container(objects, "weave")["image"]
    fork = weave_objects(weave_image_repo="ghcr.io/example/weave", weave_image_tag="2.8.9")
    assert container(fork, "weave-npc")["image"] == "ghcr.io/example/weave/weave-npc:2.8.9"


def test_ip_allocation_range_is_the_pod_range():
    assert env(weave_objects(pod_cidr="10.200.0.0/16"))["IPALLOC_RANGE"] == "10.200.0.0/16"


def test_mtu_only_when_set():
    assert "WEAVE_MTU" not in env(weave_objects())
    assert env(weave_objects(weave_mtu=1400))["WEAVE_MTU"] == "1400"


def test_nftables_nodes_get_weaves_nft_backend():
    # weave-kube's launch.sh guesses the backend from the rules it finds unless IPTABLES_BACKEND says.
    assert env(weave_objects(kube_proxy_mode="nftables"))["IPTABLES_BACKEND"] == "nft"
    assert "IPTABLES_BACKEND" not in env(weave_objects(kube_proxy_mode="iptables"))


def test_cni_directories_follow_the_cni_role():
    every_node = {"cni_bin_dir": "/usr/libexec/cni"}
    spec = parse_cluster({"cni_plugin": "weave"}, [HostInput(item.host, item.groups, item.host_data,
                                                             role_data=every_node) for item in hosts()])
    volumes = {volume["name"]: volume["hostPath"]["path"] for volume in pod_spec(render_addon(spec, WEAVE).objects)
               ["volumes"]}
    assert volumes["cni-bin"] == "/usr/libexec/cni"


def test_cni_directories_must_be_the_same_on_every_node():
    with pytest.raises(SpecError) as caught:
        parse_cluster({"cni_plugin": "weave"}, hosts(cni_conf_dir="/etc/cni/other"))
    [problem] = caught.value.problems
    assert problem.key == "cni_conf_dir" and "mounts one path on every node" in problem.message


def test_encryption_takes_the_password_from_a_secret_kept_out_of_the_manifest(password_file):
    spec = spec_of(weave_password_file=password_file)
    objects = render_addon(spec, WEAVE).objects
    assert find(objects, "Secret") is None  # weave.yaml is uploaded and diffed: no Secret in it
    assert env(objects)["WEAVE_PASSWORD"] == {"secretKeyRef": {"name": "weave-passwd", "key": "weave-passwd"}}
    secrets = render_secrets(spec, WEAVE)
    assert secrets.secret and [obj["kind"] for obj in secrets.objects] == ["Secret"]
    [secret] = secrets.objects
    assert secret["data"] == {"weave-passwd": ENCODED}  # without the file's trailing newline
    assert secret["metadata"]["labels"]["kubewire/addon"] == "weave"  # deleted with Weave
    assert list(secrets.fingerprints) == ["kube-system/weave-passwd"]


def test_the_fingerprint_follows_the_password_and_shows_nothing_of_it(tmp_path, password_file):
    other = tmp_path / "other"
    other.write_text("another-password\n")

    def fingerprint_of(path):
        return render_secrets(spec_of(weave_password_file=str(path)), WEAVE).fingerprints["kube-system/weave-passwd"]

    assert fingerprint_of(password_file) == fingerprint_of(password_file)
    assert fingerprint_of(password_file) != fingerprint_of(other)
    assert not shown(fingerprint_of(password_file))


def test_secrets_come_before_the_manifest_that_reads_them(password_file):
    names = [manifest.name for manifest in render_all(spec_of(weave_password_file=password_file))]
    assert names.index("weave-secrets") == names.index("weave") - 1


def test_no_secret_without_a_password_file():
    objects = weave_objects()
    assert find(objects, "Secret") is None and "WEAVE_PASSWORD" not in env(objects)


@pytest.mark.parametrize("version", [LOWEST, HIGHEST])
def test_validates_strictly(version, password_file):
    spec = spec_of(kubernetes_version=version, weave_password_file=password_file, weave_mtu=1400)
    for obj in render_addon(spec, WEAVE).objects:
        assert schema_problems(obj, version) == []
    render_all(spec)


def test_ip_allocation_range_other_than_the_pod_range_is_refused():
    spec = spec_of()
    manifest = render_addon(spec, WEAVE)
    objects = [dict(obj) for obj in manifest.objects]
    daemonset = find(objects, "DaemonSet")
    daemonset["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "INIT_CONTAINER", "value": "true"}]
    [problem] = manifest_problems(spec, type(manifest)(manifest.name, tuple(objects), manifest.text, WEAVE))
    assert str(problem).startswith("DaemonSet kube-system/weave-net: containers[weave].env.IPALLOC_RANGE: is None, "
                                   "not pod_cidr 10.244.0.0/16")


def test_rendered_only_with_weave(tmp_path):
    def written(**settings):
        spec = parse_cluster({"node_cidr": "192.168.56.0/24", **settings}, hosts())
        lines = write_manifests(render_all(spec), spec, tmp_path)
        return (tmp_path / "weave.yaml").exists(), lines

    exists, lines = written(cni_plugin="bridge")
    assert not exists and any(line.startswith("weave: disabled (cni_plugin)") for line in lines)
    assert written(cni_plugin="weave")[0]


def test_archived_upstream_warning():
    [warning] = spec_of().warnings()
    assert warning.key == "cni_plugin" and "archived upstream" in warning.message


@pytest.mark.parametrize(("content", "message"), [(None, "is not a readable file"), ("", "is empty")])
def test_password_file_must_hold_a_password(tmp_path, content, message):
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content)
    with pytest.raises(SpecError) as caught:
        spec_of(weave_password_file=str(path))
    [problem] = caught.value.problems
    assert problem.key == "weave_password_file" and message in problem.message


def test_a_password_of_newlines_only_is_refused_when_rendering(tmp_path):
    path = tmp_path / "password"
    path.write_text("\n\n")
    with pytest.raises(ManifestError) as caught:
        render_all(spec_of(weave_password_file=str(path)))
    assert "holds no password" in caught.value.report()


def test_with_bridge_the_password_file_is_not_read(tmp_path):
    path = tmp_path / "password"
    path.write_text("\n")  # would be refused if read
    render_all(parse_cluster({"cni_plugin": "bridge", "weave_password_file": str(path)}, hosts()))


# The password is never shown -------------------------------------------------------------------


def shown(text: str) -> bool:
    return PASSWORD in text or ENCODED in text


def inventory(tmp_path, password_file) -> str:
    (tmp_path / "inventory.py").write_text('controlplane = [("controlplane", {"node_ip": "192.168.56.10"})]\n'
                                           'workers = [("node01", {"node_ip": "192.168.56.11"})]\n')
    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data/all.py").write_text(f'cni_plugin = "weave"\nweave_password_file = "{password_file}"\n')
    return str(tmp_path / "inventory.py")


def test_render_writes_no_file_holding_it(tmp_path, password_file):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["render", inventory(tmp_path, password_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert not shown(result.output)
    assert "Secret kube-system/weave-passwd: not written" in result.output
    assert "--from-file=weave-passwd=FILE" in result.output
    assert "weave.yaml" in {path.name for path in out.iterdir()}
    for path in out.iterdir():
        assert not shown(path.read_text()), path


def test_check_never_shows_it(tmp_path, password_file):
    result = CliRunner().invoke(main, ["check", inventory(tmp_path, password_file)])
    assert result.exit_code == 0 and not shown(result.output)


def test_reprs_and_errors_never_show_it(password_file):
    spec = spec_of(weave_password_file=password_file)
    manifests = render_all(spec)
    assert not shown(repr(spec)) and not shown(repr(manifests))
    [secret] = next(manifest for manifest in manifests if manifest.secret).objects
    # Two faults: a wrong type, and the password where a string belongs. The schema reports one
    # error per object, and the one about the data would quote the password: only the other may show.
    broken = {**secret, "type": 5, "data": {"weave-passwd": [PASSWORD]}}
    error = ManifestError(schema_problems(broken, spec.kubernetes_version))
    assert len(error.problems) == 1 and "type" in error.report()
    assert not shown(error.report())


def test_the_roles_plan_and_log_never_show_it(password_file, caplog):
    caplog.set_level(logging.DEBUG)
    commands = plan(*cluster_nodes(cluster()), addons, {"cni_plugin": "weave", "weave_password_file": password_file})
    assert any("weave.yaml" in command for command in commands["controlplane"])
    assert not shown("\n".join(commands["controlplane"])) and not shown(caplog.text)


def secret_apply(commands):
    return [command for command in commands if "--filename=-" in command]


def test_the_secret_is_applied_from_stdin_when_the_cluster_lacks_it(password_file):
    commands = plan(*cluster_nodes(cluster()), addons,
                    {"cni_plugin": "weave", "weave_password_file": password_file})["controlplane"]
    assert secret_apply(commands) == [f"kubectl --kubeconfig={ADMIN_CONF} apply --server-side "
                                      "--field-manager=kubewire --filename=-"]
    assert commands.index(secret_apply(commands)[0]) < next(
        index for index, command in enumerate(commands) if "weave.yaml" in command)


def test_the_secret_is_not_applied_again_when_its_fingerprint_is_current(password_file):
    spec = spec_of(weave_password_file=password_file)
    current = render_secrets(spec, WEAVE).fingerprints["kube-system/weave-passwd"]
    answers = {"get secrets --all-namespaces": [f"kube-system/weave-passwd {current}"], **cluster()}
    settings = {"cni_plugin": "weave", "weave_password_file": password_file}
    assert secret_apply(plan(*cluster_nodes(answers), addons, settings)["controlplane"]) == []
    stale = {"get secrets --all-namespaces": ["kube-system/weave-passwd 0123abcd"], **cluster()}
    assert len(secret_apply(plan(*cluster_nodes(stale), addons, settings)["controlplane"])) == 1


def test_an_earlier_weave_yaml_holding_the_secret_is_replaced_unread(password_file):
    """--diff would print the old file (and its password) if pyinfra compared them: the upload is forced."""
    spec = spec_of(weave_password_file=password_file)
    path = f"{MANIFESTS_DIR}/weave.yaml"
    # The node's file has the rendered digest (so pyinfra alone would upload nothing).
    same = {f"sha1sum {path}": f"{hashlib.sha1(render_addon(spec, WEAVE).text.encode()).hexdigest()}  {path}",
            f"test -e {path}": f"user=root group=root mode=-rw------- atime=0 mtime=0 ctime=0 size=1 '{path}'"}
    settings = {"cni_plugin": "weave", "weave_password_file": password_file}

    def uploads(answers):
        return [command for command in plan(*cluster_nodes(answers), addons, settings)["controlplane"]
                if command == f"upload {path}"]

    assert uploads({**same, **cluster()}) == []
    assert len(uploads({"grep -l": [path], **same, **cluster()})) == 1


# Applied from the first controlplane node (@fake) ------------------------------------------------


def cluster(weave_objects_left: list[str] | None = None) -> dict:
    """Fact answers on a controlplane node with kubectl, a kubeconfig, and these weave objects."""
    return {
        **probes_answer({"kubectl": "/usr/bin/kubectl", "kubeconfig": "present"}),
        "kubewire/addon=weave --output=name": weave_objects_left or [],
    }


def cluster_nodes(responses: dict):
    return [fake_host("controlplane", "192.168.56.10", responses)], [fake_host("node01", "192.168.56.11")]


def test_applied_with_weave():
    commands = plan(*cluster_nodes(cluster()), addons, {"cni_plugin": "weave"})["controlplane"]
    assert any("apply --server-side" in command and "/weave.yaml" in command for command in commands)


def test_with_bridge_a_previous_weave_is_deleted_by_label_secret_included():
    commands = plan(*cluster_nodes(cluster(["daemonset.apps/weave-net", "secret/weave-passwd"])), addons,
                    {"cni_plugin": "bridge"})["controlplane"]
    assert not any("weave.yaml" in command for command in commands)
    [delete] = [command for command in commands if " delete " in command]
    assert delete == (
        f"kubectl --kubeconfig={ADMIN_CONF} delete clusterrole.rbac.authorization.k8s.io,"
        "clusterrolebinding.rbac.authorization.k8s.io,daemonset.apps,role.rbac.authorization.k8s.io,"
        "rolebinding.rbac.authorization.k8s.io,secret,serviceaccount --all-namespaces "
        "--selector=app.kubernetes.io/managed-by=kubewire,kubewire/addon=weave --ignore-not-found")


def test_with_bridge_and_no_weave_left_nothing_is_deleted():
    commands = plan(*cluster_nodes(cluster()), addons, {"cni_plugin": "bridge"})["controlplane"]
    assert not [command for command in commands if " delete " in command]


def test_masquerade_all_with_weave_is_warned():
    from kubewire.manifests import addon_warnings

    [warning] = addon_warnings(spec_of(kube_proxy_masquerade_all=True))
    assert warning.key == "kube_proxy_masquerade_all" and "NetworkPolicies" in warning.message
    assert addon_warnings(spec_of()) == []
    assert addon_warnings(parse_cluster({"cni_plugin": "bridge", "kube_proxy_masquerade_all": True}, hosts())) == []
