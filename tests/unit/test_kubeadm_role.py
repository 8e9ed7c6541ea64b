"""The kubeadm role against the @fake connector: a fresh cluster, a converged one, one new worker."""

import hashlib
import os
import stat

import pytest
import yaml
from pyinfra.api.command import FileUploadCommand, FunctionCommand

from kubewire.facts import sha256
from kubewire.roles import kubeadm as role
from kubewire.transfer import MAKE_TRANSFER_DIR, TRANSFER_DIR, transfer_path
from tests.unit.kubeadm_plan import (
    CA_HASH,
    CP,
    RELEASE,
    SOURCES_LINE,
    TOKEN,
    W1,
    W2,
    fresh,
    member,
    run,
    strings,
)
from tests.unit.plan import fake_host, plan_commands, probes_answer


def capture(nodes, function):
    captured = {}

    def run():
        from pyinfra import host

        from kubewire.inventory import cluster_spec
        captured[host.name] = function(cluster_spec(), host.name)

    hosts = [fake_host(*node) for node in nodes]
    plan_commands(hosts[:1], hosts[1:], run)
    return captured


def init_config(nodes) -> str:
    return capture(nodes, lambda spec, name: role.init_config_text(spec))["@fake/controlplane"]


def uploads(commands: list) -> dict[str, str]:
    return {command.dest: command.src.getvalue() for command in commands
            if isinstance(command, FileUploadCommand) and hasattr(command.src, "getvalue")}


def uploaded_join_config(commands: list) -> str:
    """What the join's upload step sends when the run executes (the token exists only then)."""
    upload = next(c for c in commands if isinstance(c, FunctionCommand) and c.function is role.upload_join_config)
    node = FakeHost([])
    upload.function(None, node, *upload.args)
    return node.uploads[role.JOIN_CONFIG]


def functions(commands: list) -> list[str]:
    return [command.function.__name__ for command in commands if isinstance(command, FunctionCommand)]


def converged_states(nodes) -> dict[str, dict]:
    config = init_config(nodes)
    cidrs = [f"{name} 10.244.{ip.rsplit('.', 1)[1]}.0/24" for name, ip in nodes]
    states = {name: member(**{"node-ip": ip}) for name, ip in nodes}
    states["controlplane"].update({"admin.conf": "f" * 64, role.INIT_CONFIG: sha256(config), "node cidrs": cidrs})
    return states


def test_a_fresh_cluster_is_initialised_joined_and_its_pod_cidrs_set(run_secrets, tmp_path):
    nodes = [CP, W1, W2]
    plans = run(nodes, {name: fresh() for name, _ in nodes}, kubeadm_admin_kubeconfig=str(tmp_path / "admin.conf"))
    controlplane = strings(plans["controlplane"])
    key = next(command for command in controlplane if "Release.key" in command)
    assert "https://pkgs.k8s.io/core:/stable:/v1.33/deb/Release.key" in key
    assert f"case $key in {role.KUBERNETES_APT_KEY_FINGERPRINT}) install -D -m 644" in key  # checked before installing
    assert uploads(plans["controlplane"])[role.SOURCES] == SOURCES_LINE
    install = ("DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades --allow-change-held-packages "
               f"kubelet={RELEASE}-* kubeadm={RELEASE}-* kubectl={RELEASE}-*")
    assert install in controlplane and "apt-mark hold kubelet kubeadm kubectl" in controlplane
    assert uploads(plans["controlplane"])[role.INIT_CONFIG] == init_config(nodes)
    assert role.kubeadm_logged(f"kubeadm init --config {role.INIT_CONFIG}") in controlplane
    assert functions(plans["controlplane"]) == ["create_join_secrets", "fetch_private"]
    patches = [command for command in controlplane
               if "kubectl --kubeconfig=/etc/kubernetes/admin.conf patch" in command]
    assert [patch.split(" patch node ")[1].split()[0] for patch in patches] == ["controlplane", "node01", "node02"]
    assert """'{"spec":{"podCIDR":"10.244.11.0/24","podCIDRs":["10.244.11.0/24"]}}'""" in patches[1]
    for worker in ("node01", "node02"):
        commands = plans[worker]
        assert install in strings(commands)
        join = yaml.safe_load(uploaded_join_config(commands))
        assert join["discovery"]["bootstrapToken"] == {"apiServerEndpoint": "192.168.56.10:6443", "token": TOKEN,
                                                       "caCertHashes": [CA_HASH]}
        assert "controlPlane" not in join
        # The token reaches the node only inside the uploaded file, created 0600 first and removed after the join.
        assert not any(TOKEN in command for command in strings(commands))
        made = strings(commands).index(f"mkdir -p /etc/kubewire && install -m 600 /dev/null {role.JOIN_CONFIG} && "
                                       f"{MAKE_TRANSFER_DIR}")
        joined = next(i for i, c in enumerate(strings(commands)) if f"kubeadm join --config {role.JOIN_CONFIG}" in c)
        assert made < joined and strings(commands)[joined].startswith(f"trap 'rm -f {role.JOIN_CONFIG}' EXIT; ")


def test_a_converged_cluster_gets_no_operations(tmp_path):
    nodes = [CP, W1, W2]
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_bytes(b"admin")
    states = converged_states(nodes)
    states["controlplane"]["admin.conf"] = hashlib.sha256(b"admin").hexdigest()
    plans = run(nodes, states, kubeadm_admin_kubeconfig=str(kubeconfig))
    assert plans == {"controlplane": [], "node01": [], "node02": []}


def test_one_new_worker_joins_and_nothing_else_changes(run_secrets, tmp_path):
    nodes = [CP, W1, W2]
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_bytes(b"admin")
    states = converged_states(nodes)
    states["controlplane"]["admin.conf"] = hashlib.sha256(b"admin").hexdigest()
    states["controlplane"]["node cidrs"] = states["controlplane"]["node cidrs"][:2]  # node02 is not in the cluster
    states["node02"] = fresh()
    plans = run(nodes, states, kubeadm_admin_kubeconfig=str(kubeconfig))
    assert plans["node01"] == []
    assert functions(plans["controlplane"]) == ["create_join_secrets"]
    assert [c.split(" patch node ")[1].split()[0] for c in strings(plans["controlplane"]) if " patch node " in c] == [
        "node02"]
    assert strings(plans["node02"]) == [
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ca-certificates curl gpg",
        role.signing_key_install_command("https://pkgs.k8s.io/core:/stable:/v1.33/deb/Release.key"),
        f"mkdir -p -- /etc/apt/sources.list.d && {MAKE_TRANSFER_DIR} && umask 077 && : >> {role.SOURCES} && "
        f"chown root:root -- {role.SOURCES} && chmod 644 -- {role.SOURCES}",
        "apt-get update -q",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades --allow-change-held-packages "
        f"kubelet={RELEASE}-* kubeadm={RELEASE}-* kubectl={RELEASE}-*",
        "apt-mark hold kubelet kubeadm kubectl",
        f"mkdir -p /etc/kubewire && install -m 600 /dev/null {role.JOIN_CONFIG} && {MAKE_TRANSFER_DIR}",
        f"trap 'rm -f {role.JOIN_CONFIG}' EXIT; install -m 600 /dev/null {role.LOG} && "
        f"{{ kubeadm join --config {role.JOIN_CONFIG} ; }} >{role.LOG} 2>&1 || "
        f"{{ grep -v -i -e token -e certificate-key {role.LOG} | tail -n 30 >&2; exit 1; }}"]
    assert uploads(plans["node02"]) == {role.SOURCES: SOURCES_LINE}


def test_a_further_controlplane_joins_with_the_uploaded_certificates(run_secrets, tmp_path):
    run_secrets["certificate_key"] = "c" * 64
    nodes = [CP, ("controlplane2", "192.168.56.13")]
    hosts = [fake_host(*node, probes_answer(fresh())) for node in nodes]
    plans = plan_commands(hosts, [], role.kubeadm, settings={"kubeadm_admin_kubeconfig": str(tmp_path / "a")})
    assert "--upload-certs" in next(c for c in strings(plans["controlplane"]) if "kubeadm init" in c)
    join = yaml.safe_load(uploaded_join_config(plans["controlplane2"]))
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "192.168.56.13", "bindPort": 6443},
                                    "certificateKey": "c" * 64}
    create = next(c for c in plans["controlplane"] if isinstance(c, FunctionCommand))
    assert create.kwargs == {"certificate_key": True}


def test_without_packages_in_the_node_sources_the_run_stops_naming_the_source():
    with pytest.raises(role.KubeadmError) as error:
        run([CP, W1], {"controlplane": fresh(), "node01": fresh()}, kubeadm_packages_source="apt")
    message = str(error.value)
    assert "kubelet, kubeadm, kubectl 1.33.5 are not in this node's apt sources" in message
    assert "nothing was changed" in message and "kubeadm_packages_source 'pkgs.k8s.io'" in message


def test_an_unreachable_package_repository_stops_the_run_before_any_change(tmp_path):
    with pytest.raises(role.KubeadmError) as error:
        run([CP, W1], {"controlplane": fresh() | {"pkgs.k8s.io": "unreachable"}, "node01": fresh()})
    message = str(error.value)
    assert message.startswith("@fake/controlplane: https://pkgs.k8s.io/core:/stable:/v1.33/deb/ is not reachable")
    assert "nothing was changed" in message and "Configure a package source" in message
    assert "kubeadm_packages_source 'apt'" in message and "--data kubeadm_enabled=False" in message
    # Nodes that already hold the release need no repository: a converged cluster plans nothing.
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_bytes(b"admin")
    states = converged_states([CP, W1])
    states["controlplane"]["admin.conf"] = hashlib.sha256(b"admin").hexdigest()
    states["node01"]["pkgs.k8s.io"] = "installed"
    assert run([CP, W1], states, kubeadm_admin_kubeconfig=str(kubeconfig)) == {"controlplane": [], "node01": []}


def test_the_repository_probe_connects_only_when_the_release_is_missing():
    probes = capture([CP], lambda spec, name: role.repository_reachable_probe(spec))["@fake/controlplane"]
    assert probes == ("test \"$(dpkg-query -W -f='${Version}\\n' kubelet kubeadm kubectl 2>/dev/null | grep -c "
                      "'^1\\.33\\.5-')\" = 3 && echo installed || { timeout 10 bash -c "
                      "': </dev/tcp/pkgs.k8s.io/443' 2>/dev/null && echo reachable || echo unreachable; }")


def test_debs_from_the_controller(tmp_path):
    for name in role.PACKAGES:
        (tmp_path / f"{name}_{RELEASE}-1.1_amd64.deb").write_bytes(b"deb")
    (tmp_path / "cri-tools_1.33.0-1.1_amd64.deb").write_bytes(b"deb")
    plans = run([CP], {"controlplane": fresh()}, kubeadm_packages_source="debs", kubeadm_debs_dir=str(tmp_path),
                kubeadm_admin_kubeconfig=str(tmp_path / "admin.conf"))
    uploaded = [c.dest for c in plans["controlplane"] if isinstance(c, FileUploadCommand)]
    assert f"{role.DEBS_DIR}/cri-tools_1.33.0-1.1_amd64.deb" in uploaded
    assert any(command.endswith(f"--allow-change-held-packages {role.DEBS_DIR}/*.deb")
               for command in strings(plans["controlplane"]))
    (tmp_path / f"kubeadm_{RELEASE}-1.1_amd64.deb").unlink()
    with pytest.raises(role.KubeadmError, match="has no kubeadm 1.33.5 .deb"):
        run([CP], {"controlplane": fresh()}, kubeadm_packages_source="debs", kubeadm_debs_dir=str(tmp_path))


def test_disagreements_are_reported_not_repaired(tmp_path, caplog):
    nodes = [CP, W1]
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_bytes(b"admin")
    states = converged_states(nodes)
    states["controlplane"].update({"admin.conf": hashlib.sha256(b"admin").hexdigest(),
                                   "node cidrs": ["controlplane 10.244.10.0/24", "node01 10.244.0.0/24"]})
    states["node01"]["node-ip"] = "10.0.2.15"
    states["controlplane"]["cgroup driver"] = "cgroupfs"
    plans = run(nodes, states, kubeadm_admin_kubeconfig=str(kubeconfig))
    assert plans == {"controlplane": [], "node01": []}
    assert "node node01 has podCIDR 10.244.0.0/24, kubewire gives it 10.244.11.0/24" in caplog.text
    assert "the kubelet runs with node-ip 10.0.2.15" in caplog.text
    assert "the kubelet uses cgroupDriver cgroupfs" in caplog.text


class FakeHost:
    """A host as a `FunctionCommand` meets it while the run executes: inside an operation whose
    connector arguments are `arguments` (the inventory's `_sudo`, say); it records each call's."""

    name = "controlplane"

    def __init__(self, outputs, arguments: dict | None = None):
        self.outputs, self.commands, self.uploads = list(outputs), [], {}
        self.current_op_global_arguments = {"_sudo": False, "_shell_executable": "sh", **(arguments or {})}
        self.calls: list[tuple[str, dict]] = []

    def run_shell_command(self, command, print_output, print_input, **arguments):
        assert print_output is False and print_input is False  # nothing of it reaches the run's output
        self.commands.append(command)
        self.calls.append(("run_shell_command", arguments))
        return self.outputs.pop(0)

    def put_file(self, source, remote, remote_temp_filename, print_output, print_input, **arguments):
        assert print_output is False and print_input is False
        self.uploads[remote] = source.getvalue()
        self.calls.append(("put_file", {"remote_temp_filename": remote_temp_filename, **arguments}))
        return True

    def get_file(self, remote, buffer, remote_temp_filename, print_output, print_input, **arguments):
        assert print_output is False and print_input is False
        buffer.write(b"apiVersion: v1\nkind: Config\n")
        self.calls.append(("get_file", {"remote_temp_filename": remote_temp_filename, **arguments}))
        return True


class Output:
    def __init__(self, lines):
        self.stdout_lines = lines


def test_the_join_secrets_stay_in_memory(run_secrets):
    run_secrets.clear()
    host = FakeHost([(True, Output([f"kubeadm join 192.168.56.10:6443 --token {TOKEN} "
                                    f"--discovery-token-ca-cert-hash {CA_HASH} "])),
                     (True, Output(["[upload-certs] Using certificate key:", "c" * 64]))])
    role.create_join_secrets(None, host, certificate_key=True)
    assert run_secrets == {"token": TOKEN, "ca_cert_hash": CA_HASH, "certificate_key": "c" * 64}
    assert not any(TOKEN in command for command in host.commands)


def test_the_admin_kubeconfig_is_written_for_its_owner_only(tmp_path):
    target = tmp_path / "kube" / "admin.conf"
    old = os.umask(0)
    try:
        role.fetch_private(None, FakeHost([]), role.ADMIN_CONF, str(target))
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_bytes().startswith(b"apiVersion: v1")


def test_through_sudo_the_secrets_are_made_sent_and_fetched_as_root_by_way_of_a_private_directory(run_secrets,
                                                                                                    tmp_path):
    """The functions that call the connector themselves pass on the operation's connector arguments
    (pyinfra gives them to its own commands only), and transfer through kubewire's private directory,
    not pyinfra's readable copies in /tmp."""
    sudo = {"_sudo": True, "_sudo_user": None}
    secrets = FakeHost([(True, Output([f"kubeadm join 192.168.56.10:6443 --token {TOKEN} "
                                       f"--discovery-token-ca-cert-hash {CA_HASH} "]))], sudo)
    role.create_join_secrets(None, secrets, certificate_key=False)
    fetch = FakeHost([(True, Output([]))], sudo)
    role.fetch_private(None, fetch, role.ADMIN_CONF, str(tmp_path / "admin.conf"))
    plans = run([CP, W1], {"controlplane": member(), "node01": fresh()})
    join = next(c for c in plans["node01"] if isinstance(c, FunctionCommand))
    upload = FakeHost([], sudo)
    join.function(None, upload, *join.args)
    calls = secrets.calls + fetch.calls + upload.calls
    assert [name for name, _ in calls] == ["run_shell_command", "run_shell_command", "get_file", "put_file"]
    assert all(arguments["_sudo"] is True for _, arguments in calls), calls
    assert fetch.commands[0] == MAKE_TRANSFER_DIR
    assert [arguments["remote_temp_filename"] for _, arguments in calls[2:]] == [
        transfer_path(role.ADMIN_CONF), transfer_path(role.JOIN_CONFIG)]
    assert all(path.startswith(f"{TRANSFER_DIR}/") for path in (transfer_path(role.ADMIN_CONF),
                                                                  transfer_path(role.JOIN_CONFIG)))
    before_upload = plans["node01"][plans["node01"].index(join) - 1]
    assert str(before_upload).endswith(f"&& {MAKE_TRANSFER_DIR}")


def test_joins_are_planned_before_any_token_exists():
    """pyinfra may run an operation's generator while planning; the token is made only at execution."""
    assert role._run_secrets == {}
    plans = run([CP, W1], {"controlplane": fresh(), "node01": fresh()})
    upload = next(c for c in plans["node01"] if isinstance(c, FunctionCommand))
    with pytest.raises(role.OperationError, match="no join token for node01"):
        upload.function(None, FakeHost([]), *upload.args)


def bootstrap_and_add_ons():
    """The main deploy's order: the bootstrap, then the add-ons."""
    from kubewire.roles.addons import addons

    role.kubeadm()
    addons()


def test_a_fresh_cluster_gets_its_add_ons_in_the_run_that_initialises_it(run_secrets, tmp_path):
    """Facts are read while the run is planned, before kubeadm init makes the cluster: the add-ons must not
    wait for a second run because kubectl and the admin kubeconfig were not there yet."""
    from kubewire.roles.addons import MANIFESTS_DIR

    nodes = [CP, W1]
    hosts = [fake_host(*node, probes_answer(fresh())) for node in nodes]  # no kubectl, no admin.conf anywhere
    plans = plan_commands(hosts[:1], hosts[1:], bootstrap_and_add_ons,
                          settings={"kubeadm_admin_kubeconfig": str(tmp_path / "admin.conf")})
    controlplane = strings(plans["controlplane"])
    init = controlplane.index(role.kubeadm_logged(f"kubeadm init --config {role.INIT_CONFIG}"))
    applies = [index for index, command in enumerate(controlplane) if " apply --server-side " in command]
    assert [controlplane[index].split("--filename=")[1].split()[0] for index in applies] == [
        f"{MANIFESTS_DIR}/kube-proxy.yaml", f"{MANIFESTS_DIR}/coredns.yaml"]
    assert all(index > init for index in applies)
    assert not [command for command in strings(plans["node01"]) if "kubectl" in command and "apply" in command]
