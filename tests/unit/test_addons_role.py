"""The addons role against the @fake connector: apply, skip, delete, and never re-apply what is unchanged."""

import hashlib

import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.operations import run_ops

from kubewire.manifests import ADDONS, render_addon
from kubewire.roles.addons import MANIFESTS_DIR, addons
from kubewire.spec import HostInput, parse_cluster
from tests.unit.plan import LAB_SETTINGS, fake_host, plan, probes_answer

ADMIN_CONF = "/etc/kubernetes/admin.conf"


def stat_line(path: str, mode: str = "-rw-------") -> str:
    """What `stat` prints for an existing root-owned path, as pyinfra's File and Directory facts read it."""
    return f"user=root group=root mode={mode} atime=1700000000 mtime=1700000000 ctime=1700000000 size=4096 '{path}'"


def has_cluster(kubectl: bool = True, kubeconfig: bool = True) -> dict:
    """The role's probe answered: kubectl and the kubeconfig there (or not)."""
    return probes_answer({"kubectl": "/usr/bin/kubectl" if kubectl else [],
                          "kubeconfig": "present" if kubeconfig else []})


def cluster(kubeconfig: str = ADMIN_CONF, objects: list[str] | None = None) -> dict:
    """Fact answers on a controlplane node with kubectl and a kubeconfig (and these labelled objects)."""
    return {**has_cluster(), "--output=name": objects or []}


def nodes(controlplane_responses: dict):
    controlplane = [fake_host("controlplane", "192.168.56.10", controlplane_responses)]
    workers = [fake_host("node01", "192.168.56.11", cluster())]
    return controlplane, workers


def kubectl_commands(commands: list[str]) -> list[str]:
    return [command for command in commands if "kubectl" in command]


def test_applies_every_add_on_server_side_when_a_cluster_is_there():
    commands = plan(*nodes(cluster()), addons)
    applies = kubectl_commands(commands["controlplane"])
    assert applies == [
        f"kubectl --kubeconfig={ADMIN_CONF} apply --server-side --field-manager=kubewire "
        f"--filename={MANIFESTS_DIR}/{name}.yaml || {{ rm -f {MANIFESTS_DIR}/{name}.yaml; exit 1; }}"
        for name in ("kube-proxy", "coredns")
    ]


def test_runs_only_on_the_first_controlplane_node():
    assert plan(*nodes(cluster()), addons)["node01"] == []


def test_without_kubectl_says_so_and_runs_nothing(caplog):
    responses = {**cluster(), **has_cluster(kubectl=False)}
    commands = plan(*nodes(responses), addons)
    assert commands["controlplane"] == []
    assert "no Kubernetes cluster to apply kube-proxy, coredns to" in caplog.text


def test_without_the_kubeconfig_says_so_and_runs_nothing(caplog):
    responses = has_cluster(kubeconfig=False)
    commands = plan(*nodes(responses), addons)
    assert commands["controlplane"] == []
    assert f"kubectl or {ADMIN_CONF} is missing" in caplog.text


def test_the_kubeconfig_path_is_a_setting():
    commands = plan(*nodes(cluster("/root/.kube/config")), addons, {"addons_kubeconfig": "/root/.kube/config"})
    assert all("--kubeconfig=/root/.kube/config" in command for command in kubectl_commands(commands["controlplane"]))


def test_a_disabled_add_on_is_deleted_by_label():
    # Only CoreDNS has labelled objects left (the first matcher wins over cluster()'s empty answer).
    responses = {"kubewire/addon=coredns --output=name": ["deployment.apps/coredns", "service/kube-dns"], **cluster()}
    commands = kubectl_commands(plan(*nodes(responses), addons, {"coredns_enabled": False})["controlplane"])
    assert len(commands) == 2 and "kube-proxy.yaml" in commands[1]  # disabled add-ons go first
    assert commands[0] == (
        f"kubectl --kubeconfig={ADMIN_CONF} delete clusterrole.rbac.authorization.k8s.io,"
        "clusterrolebinding.rbac.authorization.k8s.io,configmap,deployment.apps,poddisruptionbudget.policy,service,"
        "serviceaccount "
        "--all-namespaces --selector=app.kubernetes.io/managed-by=kubewire,kubewire/addon=coredns --ignore-not-found")


def test_a_disabled_add_on_already_gone_changes_nothing():
    commands = plan(*nodes(cluster()), addons, {"kube_proxy_enabled": False, "coredns_enabled": False})
    assert kubectl_commands(commands["controlplane"]) == []


def execute(controlplane_responses: dict, settings: dict | None = None) -> list[str]:
    """Run the role for real on the @fake connector (so `_if` is honoured); the commands it ran."""
    controlplane, workers = nodes(controlplane_responses)
    inventory = Inventory((["@fake/controlplane", "@fake/node01"], {**LAB_SETTINGS, **(settings or {})}),
                          controlplane=(controlplane, {}), workers=(workers, {}))
    state = State(inventory, Config())
    connect_all(state)
    add_deploy(state, addons)
    run_ops(state)
    return inventory.get_host("@fake/controlplane").connector.executed_commands


def uploaded_unchanged() -> dict:
    """sha1sum answers saying each manifest on the node already has the rendered content."""
    spec = parse_cluster(LAB_SETTINGS, [HostInput("controlplane", frozenset({"controlplane"}),
                                                  {"node_ip": "192.168.56.10"}),
                                        HostInput("node01", frozenset({"workers"}), {"node_ip": "192.168.56.11"})])
    answers = {f"test -e {MANIFESTS_DIR} ||": stat_line(MANIFESTS_DIR, "drwx------")}
    for addon in ADDONS:
        manifest = render_addon(spec, addon)
        path = f"{MANIFESTS_DIR}/{manifest.filename}"
        answers[f"sha1sum {path}"] = f"{hashlib.sha1(manifest.text.encode()).hexdigest()}  {path}"
        answers[f"test -e {path}"] = stat_line(path)
    return answers


def test_unchanged_manifests_are_not_applied_again():
    ran = execute({**uploaded_unchanged(), **cluster()})
    assert not [command for command in ran if " apply " in command]


def test_changed_manifests_are_applied():
    ran = execute(cluster())
    assert len([command for command in ran if " apply --server-side " in command]) == 2


@pytest.mark.parametrize("setting", [{"coredns_replicas": 3}, {"kube_proxy_mode": "ipvs"}])
def test_a_changed_setting_changes_the_manifest_and_is_applied(setting):
    ran = execute({**uploaded_unchanged(), **cluster()}, setting)
    applied = [command for command in ran if " apply --server-side " in command]
    assert len(applied) == 1  # only the add-on whose manifest changed


# Never delete what kubewire did not create: the ingress controller's namespace -------------------

INGRESS = {"ingress_enabled": True, "ingress_namespace": "web"}


def uploads(controlplane_responses: dict, settings: dict) -> dict[str, str]:
    """What the role would upload, by destination (the text itself, as pyinfra would send it)."""
    from pyinfra.api.command import FileUploadCommand
    from pyinfra.context import ctx_host, ctx_state

    controlplane, workers = nodes(controlplane_responses)
    inventory = Inventory((["@fake/controlplane", "@fake/node01"], {**LAB_SETTINGS, **settings}),
                          controlplane=(controlplane, {}), workers=(workers, {}))
    state = State(inventory, Config())
    connect_all(state)
    add_deploy(state, addons)
    host = inventory.get_host("@fake/controlplane")
    found = {}
    for op_hash in state.get_op_order():
        with ctx_state.use(state), ctx_host.use(host):
            for command in state.get_op_data_for_host(host, op_hash).command_generator():
                if isinstance(command, FileUploadCommand):
                    found[command.dest] = command.src.getvalue()
    return found


def namespace_answer(labels: str = "", objects: list[str] | None = None) -> dict:
    """Answers about namespace web: its kubewire labels ('kubewire/nginx-ingress'), and the objects in it."""
    return {"get namespace web": [f"namespace {labels}"] if labels is not None else [],
            "api-resources": objects or []}


def deletes(commands: list[str]) -> list[str]:
    return [command for command in kubectl_commands(commands) if " delete " in command]


@pytest.mark.parametrize("reserved", ["kube-system", "kube-public", "kube-node-lease", "default"])
def test_a_reserved_namespace_is_refused_for_the_ingress_controller(reserved):
    from kubewire.spec import SpecError

    with pytest.raises(SpecError) as caught:
        parse_cluster({**LAB_SETTINGS, "ingress_enabled": True, "ingress_namespace": reserved},
                      [HostInput("controlplane", frozenset({"controlplane"}), {"node_ip": "192.168.56.10"})])
    [problem] = caught.value.problems
    assert problem.key == "ingress_namespace" and "Kubernetes' own" in problem.message


def test_label_deletion_never_takes_a_namespace():
    left = {"kubewire/addon=nginx-ingress --output=name": ["deployment.apps/nginx-ingress"]}
    commands = plan(*nodes({**left, **namespace_answer(None), **cluster()}), addons,
                    {"ingress_namespace": "web"})["controlplane"]
    [delete] = deletes(commands)
    assert "namespace" not in delete.split(" delete ")[1].split(" ")[0].split(",")


def test_a_namespace_holding_workloads_kubewire_did_not_create_is_kept():
    left = {"kubewire/addon=nginx-ingress --output=name": ["deployment.apps/nginx-ingress"]}
    inside = ["Deployment/shop||", "Service/shop||", "Deployment/nginx-ingress|kubewire|",
              "Pod/nginx-ingress-7c9||ReplicaSet"]
    commands = plan(*nodes({**left, **namespace_answer("kubewire/nginx-ingress", inside), **cluster()}), addons,
                    {"ingress_namespace": "web"})["controlplane"]
    assert not [command for command in deletes(commands) if "delete namespace" in command]


def test_a_namespace_kubewire_did_not_create_is_kept_even_empty():
    commands = plan(*nodes({**namespace_answer("/"), **cluster()}), addons, {"ingress_namespace": "web"})
    assert not [command for command in deletes(commands["controlplane"]) if "namespace" in command]


def test_a_namespace_kubewire_created_and_holding_only_its_objects_is_deleted():
    inside = ["Deployment/nginx-ingress|kubewire|", "Pod/nginx-ingress-7c9||ReplicaSet", "ServiceAccount/default||",
              "ConfigMap/kube-root-ca.crt||", "Event/nginx-ingress.17f||", "Lease/nginx-ingress-leader||"]
    commands = plan(*nodes({**namespace_answer("kubewire/nginx-ingress", inside), **cluster()}), addons,
                    {"ingress_namespace": "web"})["controlplane"]
    assert [command for command in deletes(commands) if "delete namespace" in command] == [
        f"kubectl --kubeconfig={ADMIN_CONF} delete namespace web --ignore-not-found"]


def test_a_namespace_whose_contents_cannot_be_listed_is_kept():
    commands = plan(*nodes({**namespace_answer("kubewire/nginx-ingress", ["listing failed"]), **cluster()}), addons,
                    {"ingress_namespace": "web"})["controlplane"]
    assert not [command for command in deletes(commands) if "delete namespace" in command]


def test_switching_controllers_in_one_namespace_keeps_it():
    inside = ["Deployment/nginx-ingress|kubewire|"]
    commands = plan(*nodes({**namespace_answer("kubewire/nginx-ingress", inside), **cluster()}), addons,
                    {**INGRESS, "ingress_controller": "ingress-nginx"})["controlplane"]
    assert not [command for command in deletes(commands) if "delete namespace" in command]


def test_an_existing_namespace_kubewire_did_not_create_is_used_but_not_taken_over():
    path = f"{MANIFESTS_DIR}/nginx-ingress.yaml"
    foreign = uploads({**namespace_answer("/"), **cluster()}, INGRESS)[path]
    assert "kind: Namespace" not in foreign and "namespace: web" in foreign
    fresh = uploads({**namespace_answer(None), **cluster()}, INGRESS)[path]
    assert "kind: Namespace" in fresh
    own = uploads({**namespace_answer("kubewire/nginx-ingress"), **cluster()}, INGRESS)[path]
    assert own == fresh


def test_every_value_in_a_command_is_quoted():
    import shlex

    odd = "/root/my kube/$config"
    answers = {**cluster(), f"test -e {shlex.quote(odd)}": stat_line(odd)}
    commands = kubectl_commands(plan(*nodes(answers), addons, {"addons_kubeconfig": odd})["controlplane"])
    assert commands
    for command in commands:
        words = shlex.split(command.split(" || ")[0])
        assert f"--kubeconfig={odd}" in words, command
        assert all(word.startswith("--filename=/etc/kubewire/addons/") for word in words if "--filename" in word)


def test_a_bad_render_stops_the_run_with_the_manifest_exit_status_and_every_problem(tmp_path, capsys):
    from kubewire.errors import MANIFEST_ERROR_EXIT

    password = tmp_path / "password"
    password.write_text("\n\n")  # passes the spec (not empty), refused when the Secret is rendered
    with pytest.raises(SystemExit) as exited:
        plan(*nodes(cluster()), addons, {"cni_plugin": "weave", "weave_password_file": str(password)})
    assert exited.value.code == MANIFEST_ERROR_EXIT
    report = capsys.readouterr().err
    assert report.startswith("kubewire: the rendered manifests have 1 problem; nothing was applied:"), report
    assert f"Secret kube-system/weave-passwd: data.weave-passwd: weave_password_file {password} holds no password" \
        in report
