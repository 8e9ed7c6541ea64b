"""Role `kubeadm`: kubelet, kubeadm and kubectl, then `kubeadm init` on the first controlplane node
and `kubeadm join` on every other node, from the configuration kubewire/kubeadm.py renders.

Nodes join with a bootstrap token made for the run on the first controlplane node. It is kept in
memory on the controller and reaches a node only inside its JoinConfiguration (uploaded 0600,
removed after the join): never printed, logged or written on the controller. kubeadm's own output
names tokens, so it goes to a root-only log on the node. An initialised controlplane and joined
nodes are left alone; what disagrees with the spec is reported, never re-initialised.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO, StringIO
from pathlib import Path
from urllib.parse import urlsplit
from weakref import WeakSet

from pyinfra import host, logger
from pyinfra.api import deploy, operation
from pyinfra.api.command import FunctionCommand, StringCommand
from pyinfra.api.exceptions import OperationError, PyinfraError
from pyinfra.context import ctx_host
from pyinfra.operations import files, python, server

from kubewire.facts import file_digest_probe, first_line, node_probed, package_probe, sha256
from kubewire.inventory import cluster_spec
from kubewire.kubeadm import cgroup_driver, init_config_text, join_config_text
from kubewire.operations import text_file
from kubewire.settings import KubeadmSettings
from kubewire.spec import ClusterSpec, NodeSpec
from kubewire.transfer import MAKE_TRANSFER_DIR, TRANSFER_DIR, connector_arguments, transfer_path
from kubewire.versions import KUBERNETES_APT_KEY_FINGERPRINT, KUBERNETES_APT_URL, kubernetes_release

PACKAGES = ("kubelet", "kubeadm", "kubectl")
KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
SOURCES = "/etc/apt/sources.list.d/kubernetes.list"
DEBS_DIR = "/var/cache/kubewire/kubernetes-debs"
INIT_CONFIG = "/etc/kubewire/kubeadm-config.yaml"
JOIN_CONFIG = "/etc/kubewire/kubeadm-join.yaml"
LOG = "/var/log/kubewire-kubeadm.log"
# What kubeadm writes: the admin kubeconfig on an initialised controlplane, the kubelet's
# kubeconfig on every node in the cluster (kubeadm's preflight checks refuse both on a second run).
ADMIN_CONF = "/etc/kubernetes/admin.conf"
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
KUBEADM_FLAGS = "/var/lib/kubelet/kubeadm-flags.env"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
# How long a node may take to open a TCP connection to the package repository before the run
# stops (name lookup included): generous for a slow link, short enough not to stall a run.
REPOSITORY_CONNECT_SECONDS = 10
# How long the run's join token lives (kubeadm token create --ttl).
JOIN_TOKEN_TTL = "15m"
# Filled on the first controlplane node while the run executes; read by the joins after it.
_run_secrets: dict[str, str] = {}
# The hosts on which this run's plan has `kubeadm init` (pyinfra's hosts of this run only).
_initialising: WeakSet = WeakSet()


def initialises_cluster() -> bool:
    """Whether this run's kubeadm role planned `kubeadm init` on the current host: the cluster is not
    there while the run is planned, and is once the run reaches the roles after this one (a failed
    init stops the run on this host)."""
    return ctx_host.get() in _initialising


class KubeadmError(PyinfraError):
    pass


def kubeadm_logged(command: str) -> str:
    """Run a kubeadm command with its output in the root-only log; on failure show its end, without
    the lines that name a token or certificate key."""
    return (f"install -m 600 /dev/null {LOG} && {{ {command} ; }} >{LOG} 2>&1 || {{ "
            f"grep -v -i -e token -e certificate-key {LOG} | tail -n 30 >&2; exit 1; }}")


def sources_line(spec: ClusterSpec) -> str:
    return f"deb [signed-by={KEYRING}] {KUBERNETES_APT_URL.format(minor=spec.minor)} /\n"


def repository_reachable_probe(spec: ClusterSpec) -> str:
    """`installed` when the three packages are already at the spec's release (no repository needed),
    else whether the node opens a TCP connection to pkgs.k8s.io (bash's /dev/tcp: no curl needed
    before the role installs it)."""
    release = re.escape(kubernetes_release(spec.kubernetes_version))
    url = urlsplit(KUBERNETES_APT_URL.format(minor=spec.minor))
    connect = shlex.quote(f": </dev/tcp/{url.hostname}/{url.port or 443}")
    return (f"test \"$(dpkg-query -W -f='${{Version}}\\n' {' '.join(PACKAGES)} 2>/dev/null | grep -c '^{release}-')\" "
            f"= {len(PACKAGES)} && echo installed || {{ timeout {REPOSITORY_CONNECT_SECONDS} bash -c {connect} "
            "2>/dev/null && echo reachable || echo unreachable; }")


# GnuPG doc/DETAILS, --with-colons: field 2 of a "pub" record is the key's validity, "e" once expired,
# field 7 its expiry date; field 10 of the "fpr" record after it is its fingerprint.
_KEY_STATE_AWK = shlex.quote('/^pub/ && !pub++ { state = $2 == "e" ? " expired " $7 : "" } '
                             '/^fpr/ && !fpr++ { print $10 state }')


def signing_key_state(path: str) -> str:
    """A command printing the primary key's fingerprint of the OpenPGP key file at `path` (a shell
    word), followed by ` expired EPOCH` when gpg finds it expired."""
    return f"gpg --show-keys --with-colons {path} | awk -F: {_KEY_STATE_AWK}"


def signing_key_install_command(key_url: str) -> str:
    """Fetch pkgs.k8s.io's Release.key and install it only when it is the pinned key and has not
    expired: apt refuses a repository whose signing key expired (EXPKEYSIG), and upstream extends the
    key's expiry in place, under the same fingerprint (kubernetes/release#3818: the key expired on
    2024-11-02 and was extended), so a key fetched again is the remedy and a new fingerprint is not."""
    pinned = KUBERNETES_APT_KEY_FINGERPRINT
    expired = shlex.quote(f"kubewire: the signing key at {key_url} ({pinned}) has expired, so apt would refuse "
                          "pkgs.k8s.io; nothing was installed. Upstream extends it in place: run again once it "
                          "has, or use kubeadm_packages_source 'apt' or 'debs' meanwhile")
    other = shlex.quote(f"kubewire: the signing key at {key_url} is not the pinned {pinned}; nothing was installed."
                        " Got:")
    temporary = '"$tmp"'
    return (f"tmp=$(mktemp) && curl -fsSL {shlex.quote(key_url)} | gpg --dearmor > {temporary} && "
            f"key=$({signing_key_state(temporary)}) && case $key in "
            f"{pinned}) install -D -m 644 {temporary} {shlex.quote(KEYRING)} ;; "
            f"\"{pinned} expired \"*) echo {expired} >&2; false ;; "
            f"*) echo {other} \"${{key:-no key}}\" >&2; false ;; esac; status=$?; rm -f {temporary}; exit $status")


def release_debs(directory: str, release: str) -> dict[str, Path]:
    """kubelet, kubeadm and kubectl .deb files of this release in a directory on the controller."""
    found = {}
    for path in sorted(Path(directory).expanduser().glob("*.deb")):
        match = re.match(r"(kubelet|kubeadm|kubectl)_([^_]+)_", path.name)
        if match and match[2].startswith(f"{release}-"):
            found[match[1]] = path
    return found


def kubeadm_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes for one host (none with `kubeadm_enabled` off)."""
    spec = cluster_spec()
    settings = spec.kubeadm
    if not settings.enabled:
        return ()
    is_first = spec.node(host_name).host == spec.controlplane[0].host
    return (
        ("packages", package_probe(("Package", "Version", "Status"), PACKAGES)),
        ("held", f"apt-mark showhold {' '.join(PACKAGES)}"),
        # What the node's apt sources offer, read from fresh lists while kubeadm is not installed yet.
        ("available", ("command -v kubeadm >/dev/null || apt-get update -qq >/dev/null 2>&1; "
                       if settings.packages_source == "apt" else "")
         + f"apt-cache madison {' '.join(PACKAGES)} | awk '{{print $1, $3}}'"),
        *((("pkgs.k8s.io", repository_reachable_probe(spec)),) if settings.packages_source == "pkgs.k8s.io" else ()),
        ("keyring", signing_key_state(shlex.quote(KEYRING))),
        (SOURCES, file_digest_probe(SOURCES)),
        ("admin.conf", file_digest_probe(ADMIN_CONF)),
        ("kubelet.conf", f"test -e {KUBELET_CONF} && echo joined"),
        ("node-ip", f"sed -n 's/.*--node-ip=\\([0-9.]*\\).*/\\1/p' {KUBEADM_FLAGS}"),
        ("cgroup driver", f"sed -n 's/^cgroupDriver: *//p' {KUBELET_CONFIG}"),
        (INIT_CONFIG, file_digest_probe(INIT_CONFIG)),
        *((("node cidrs", f"kubectl --kubeconfig={ADMIN_CONF} get nodes -o "
                          "jsonpath='{range .items[*]}{.metadata.name} {.spec.podCIDR}{\"\\n\"}{end}'"),)
          if is_first else ()),
    )


@deploy("kubeadm")
def kubeadm() -> None:
    spec = cluster_spec()
    settings = spec.kubeadm
    if not settings.enabled:
        host.noop("kubeadm_enabled is off: the cluster is made another way")
        return
    node, first = spec.node(host.name), spec.controlplane[0]
    is_first = node.host == first.host
    probed = node_probed("kubeadm", kubeadm_node_probes(host.name))
    _packages(spec, settings, probed)
    if is_first:
        _init(spec, probed)
        joining = _nodes_to_join(spec, probed)
        if joining:
            python.call(name=f"Create a join token for this run (for {', '.join(joining)})",
                        function=create_join_secrets,
                        certificate_key=any(spec.node(name).is_controlplane for name in joining))
    elif first_line(probed, "kubelet.conf") != "joined":
        join_cluster(name=f"Join the cluster ({'controlplane' if node.is_controlplane else 'worker'})",
                     host_name=node.host)
    if first_line(probed, "kubelet.conf") == "joined":
        _report_kubelet(node, probed)
    if is_first and spec.cni_plugin != "flannel":  # with flannel the controller manager allocates them
        _pod_cidrs(spec, probed)
        _fetch_admin_kubeconfig(settings, probed)


def _packages(spec: ClusterSpec, settings: KubeadmSettings, probed: dict) -> None:
    release = kubernetes_release(spec.kubernetes_version)
    versions = {line.split()[0]: line.split()[1] for line in probed.get("packages", [])
                if line.endswith("install ok installed")}
    current = all(versions.get(name, "").startswith(f"{release}-") for name in PACKAGES)
    held = set(probed.get("held", [])) >= set(PACKAGES)
    hold = f"apt-mark hold {' '.join(PACKAGES)}"
    install = ("DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades --allow-change-held-packages "
               + " ".join(f"{name}={release}-*" for name in PACKAGES))
    if settings.packages_source == "pkgs.k8s.io":
        if not current and first_line(probed, "pkgs.k8s.io") == "unreachable":
            url = KUBERNETES_APT_URL.format(minor=spec.minor)
            raise KubeadmError(
                f"{host.name}: {url} is not reachable from this node (kubeadm_packages_source 'pkgs.k8s.io'), so "
                "kubelet, kubeadm and kubectl cannot be installed; nothing was changed. Configure a package source: "
                "let the nodes reach it, or set kubeadm_packages_source 'apt' (an apt source with the Kubernetes "
                "packages on the nodes) or 'debs' with kubeadm_debs_dir (a directory of .deb files on the "
                "controller); or set kubeadm_enabled False (pyinfra ... --data kubeadm_enabled=False) when the "
                "cluster is made another way")
        changed = _package_repository(spec, probed, installing=not current)
        if changed or not current:
            server.shell(name=f"Install kubelet, kubeadm and kubectl {release} from pkgs.k8s.io and hold them",
                         commands=["apt-get update -q", install, hold])
    elif settings.packages_source == "apt" and not current:
        available = {tuple(line.split()[:2]) for line in probed.get("available", []) if len(line.split()) >= 2}
        missing = [name for name in PACKAGES if not any(package == name and version.startswith(f"{release}-")
                                                        for package, version in available)]
        if missing:
            raise KubeadmError(
                f"{host.name}: {', '.join(missing)} {release} are not in this node's apt sources "
                "(kubeadm_packages_source 'apt'); nothing was changed. Add an apt source with the Kubernetes "
                "packages to the nodes, or set kubeadm_packages_source 'pkgs.k8s.io' (the nodes reach "
                f"{KUBERNETES_APT_URL.format(minor=spec.minor)}) or 'debs' with kubeadm_debs_dir (a directory of "
                ".deb files on the controller)")
        server.shell(name=f"Install kubelet, kubeadm and kubectl {release} and hold them",
                     commands=["apt-get update -q", install, hold])
    elif settings.packages_source == "debs" and not current:
        debs = release_debs(settings.debs_dir, release)
        if set(debs) != set(PACKAGES):
            raise KubeadmError(f"kubeadm_debs_dir {settings.debs_dir} has no "
                               f"{', '.join(sorted(set(PACKAGES) - set(debs)))} {release} .deb; nothing was changed. "
                               f"Put the kubelet, kubeadm and kubectl {release} packages and their dependencies there")
        for path in sorted(Path(settings.debs_dir).expanduser().glob("*.deb")):
            files.put(name=f"Upload {path.name}", src=str(path), dest=f"{DEBS_DIR}/{path.name}", mode="644",
                      create_remote_dir=True)
        server.shell(name=f"Install kubelet, kubeadm and kubectl {release} from the uploaded packages and hold them",
                     commands=["DEBIAN_FRONTEND=noninteractive apt-get install -y -q --allow-downgrades "
                               f"--allow-change-held-packages {DEBS_DIR}/*.deb", hold])
    elif not held:
        server.shell(name="Hold kubelet, kubeadm and kubectl", commands=[hold])


def _package_repository(spec: ClusterSpec, probed: dict, installing: bool) -> bool:
    """pkgs.k8s.io for the spec's minor, its key installed only when it has the pinned fingerprint and
    has not expired. An installed key that has expired is fetched again before packages are installed;
    with nothing to install it is only reported (fetching it would fail while upstream's has expired too)."""
    changed = False
    key = first_line(probed, "keyring").split()
    expired = key[:2] == [KUBERNETES_APT_KEY_FINGERPRINT, "expired"]
    if expired and not installing:
        since = datetime.fromtimestamp(int(key[2]), UTC).date() if key[2:3] and key[2].isdigit() else "?"
        logger.warning(f"{host.print_prefix}the Kubernetes packages' signing key in {KEYRING} expired on {since}: "
                       "apt-get update refuses pkgs.k8s.io on this node until it is fetched again, which kubewire "
                       "does when it next installs the packages")
    elif key != [KUBERNETES_APT_KEY_FINGERPRINT]:
        key_url = f"{KUBERNETES_APT_URL.format(minor=spec.minor)}Release.key"
        server.shell(name=f"Install the Kubernetes packages' signing key ({KUBERNETES_APT_KEY_FINGERPRINT})", commands=[
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ca-certificates curl gpg",
            signing_key_install_command(key_url)])
        changed = True
    sources = text_file(name=f"Kubernetes 1.{spec.minor} package repository in {SOURCES}", path=SOURCES,
                        text=sources_line(spec), current_digest=first_line(probed, SOURCES))
    return changed or sources.will_change


def _init(spec: ClusterSpec, probed: dict) -> None:
    config = init_config_text(spec)
    if first_line(probed, "admin.conf"):
        if first_line(probed, INIT_CONFIG) != sha256(config):
            logger.warning(f"{host.print_prefix}the cluster was initialised with another {INIT_CONFIG} than the spec "
                           "renders now; kubewire does not re-initialise a cluster (see kubewire render)")
        else:
            host.noop("the controlplane is initialised (kubeadm init ran)")
        return
    text_file(name=f"Write {INIT_CONFIG}", path=INIT_CONFIG, text=config,
              current_digest=first_line(probed, INIT_CONFIG), mode="600")
    upload_certs = " --upload-certs" if len(spec.controlplane) > 1 else ""
    server.shell(name=f"kubeadm init (output in {LOG})",
                 commands=[kubeadm_logged(f"kubeadm init --config {INIT_CONFIG}{upload_certs}")])
    _initialising.add(ctx_host.get())  # the Host itself (`host` is pyinfra's context proxy)


def _registered(probed: dict) -> dict[str, str]:
    """The cluster's nodes and their podCIDR, as the API server has them ({} before init)."""
    return {line.split()[0]: (line.split() + [""])[1] for line in probed.get("node cidrs", []) if line.strip()}


def _nodes_to_join(spec: ClusterSpec, probed: dict) -> list[str]:
    registered = _registered(probed)
    return [node.host for node in spec.nodes if node != spec.controlplane[0] and node.name not in registered]


def create_join_secrets(state, host, certificate_key: bool) -> None:
    """On the first controlplane node, while the run executes: a bootstrap token for this run and the
    CA's public key hash (and the key to the uploaded certificates), kept in memory only."""
    arguments = connector_arguments(host)  # through the inventory's sudo, as the operation's own commands
    status, output = host.run_shell_command(
        f"kubeadm token create --ttl {JOIN_TOKEN_TTL} --description 'kubewire run' --print-join-command",
        print_output=False, print_input=False, **arguments)
    join = " ".join(output.stdout_lines) if status else ""
    token, ca_hash = re.search(r"--token (\S+)", join), re.search(r"--discovery-token-ca-cert-hash (\S+)", join)
    if not (token and ca_hash):
        raise OperationError("kubeadm token create failed on the first controlplane node (see its kubelet and API "
                             "server); no node was joined")
    _run_secrets.update(token=token[1], ca_cert_hash=ca_hash[1])
    if certificate_key:
        status, output = host.run_shell_command(
            kubeadm_logged(f"kubeadm init phase upload-certs --upload-certs --config {INIT_CONFIG}")
            + f" && tail -n 1 {LOG}", print_output=False, print_input=False, **arguments)
        if not status or not output.stdout_lines:
            raise OperationError("kubeadm could not upload the controlplane certificates; no controlplane node joined")
        _run_secrets["certificate_key"] = output.stdout_lines[-1].strip()


def join_config_uploaded(host_name: str):
    """The commands that put the node's JoinConfiguration in place, readable by root only (`join_cluster`)."""
    spec = cluster_spec()
    yield f"mkdir -p {Path(JOIN_CONFIG).parent} && install -m 600 /dev/null {JOIN_CONFIG} && {MAKE_TRANSFER_DIR}"
    # The token exists only once the run executes (create_join_secrets): uploaded then, from memory.
    yield FunctionCommand(upload_join_config, (JoinTarget(spec, spec.node(host_name)),), {})


@operation(is_idempotent=False)
def join_cluster(host_name: str):
    """kubeadm join with the run's token, in a JoinConfiguration that exists only for the join."""
    yield from join_config_uploaded(host_name)
    # Removed however the join ends: the file holds the token.
    yield StringCommand(f"trap 'rm -f {JOIN_CONFIG}' EXIT; {kubeadm_logged(f'kubeadm join --config {JOIN_CONFIG}')}")


@dataclass(frozen=True)
class JoinTarget:
    spec: ClusterSpec
    node: NodeSpec

    def __repr__(self) -> str:  # pyinfra prints a FunctionCommand's arguments when debugging
        return f"JoinTarget({self.node.name})"


def upload_join_config(state, host, target: JoinTarget) -> None:
    spec, node = target.spec, target.node
    if "token" not in _run_secrets:
        raise OperationError(f"no join token for {node.name}: the first controlplane node did not make one (is this "
                             "node already a member of the cluster under another name?)")
    text = join_config_text(spec, node, _run_secrets["token"], _run_secrets["ca_cert_hash"],
                            _run_secrets.get("certificate_key"))
    if not host.put_file(StringIO(text), JOIN_CONFIG, remote_temp_filename=transfer_path(JOIN_CONFIG),
                         print_output=False, print_input=False, **connector_arguments(host)):
        raise OperationError(f"could not upload {JOIN_CONFIG} to {node.name}")


def _report_kubelet(node: NodeSpec, probed: dict) -> None:
    """A member's kubelet against the spec: reported, never re-joined (kubeadm reset is the user's call)."""
    running_ip, driver = first_line(probed, "node-ip"), first_line(probed, "cgroup driver")
    found = []
    if running_ip != str(node.node_ip):
        found.append(f"runs with node-ip {running_ip or '(none)'} ({KUBEADM_FLAGS}), the spec says {node.node_ip}")
    if driver != cgroup_driver(node):
        found.append(f"uses cgroupDriver {driver or '(none)'} ({KUBELET_CONFIG}), containerd_systemd_cgroup says "
                     f"{cgroup_driver(node)}")
    for problem in found:
        logger.warning(f"{host.print_prefix}the kubelet {problem}; kubewire does not re-join a node: reset and remove "
                       "it to fix it")
    if not found:
        host.noop("the node is in the cluster (kubeadm join ran) and its kubelet agrees with the spec")


def _pod_cidrs(spec: ClusterSpec, probed: dict) -> None:
    """Each node's spec.podCIDR is its kubewire pod subnet: set once, when empty (it is immutable)."""
    registered = _registered(probed)
    for node in spec.nodes:
        wanted, current = str(spec.pod_cidr_for(node.host)), registered.get(node.name)
        if current and current != wanted:
            logger.warning(f"{host.print_prefix}node {node.name} has podCIDR {current}, kubewire gives it {wanted}; "
                           "podCIDR cannot change: remove and re-join the node to fix it")
        elif not current:
            patch = shlex.quote(f'{{"spec":{{"podCIDR":"{wanted}","podCIDRs":["{wanted}"]}}}}')
            kubectl, name = f"kubectl --kubeconfig={ADMIN_CONF}", shlex.quote(node.name)
            server.shell(name=f"Set node {node.name}'s podCIDR to its pod subnet {wanted}", commands=[
                # A node registers itself just after its join: wait for it, up to a minute.
                f"for i in $(seq 60); do {kubectl} get node {name} >/dev/null 2>&1 && break; sleep 1; done; "
                f"{kubectl} patch node {name} --type merge -p {patch}"])


def _fetch_admin_kubeconfig(settings: KubeadmSettings, probed: dict) -> None:
    local = Path(settings.admin_kubeconfig).expanduser()
    remote_digest = first_line(probed, "admin.conf")
    if remote_digest and local.is_file() and hashlib.sha256(local.read_bytes()).hexdigest() == remote_digest:
        return
    python.call(name=f"Fetch the admin kubeconfig to {local} (mode 0600)", function=fetch_private,
                remote=ADMIN_CONF, local=str(local))


def fetch_private(state, host, remote: str, local: str) -> None:
    """Download a file into memory and write it readable by its owner only (through sudo, by way of
    kubewire's private transfer directory)."""
    arguments = connector_arguments(host)
    if arguments.get("_sudo"):
        status, output = host.run_shell_command(MAKE_TRANSFER_DIR, print_output=False, print_input=False, **arguments)
        if not status:
            raise OperationError(f"could not make {TRANSFER_DIR} on {host.name}: {' '.join(output.stderr_lines)}")
    buffer = BytesIO()
    if not host.get_file(remote, buffer, remote_temp_filename=transfer_path(remote), print_output=False,
                         print_input=False, **arguments):
        raise OperationError(f"could not read {remote} on {host.name}")
    Path(local).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(buffer.getvalue())
