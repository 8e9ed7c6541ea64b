"""Role `addons`: the cluster add-ons (kube-proxy, CoreDNS, Weave Net, an ingress controller; see
kubewire/manifests.py), applied from the first controlplane node.

The manifests are rendered and validated on the controller before anything is applied; a bad
render stops the run (exit 1). They are applied with kubectl's server-side apply when the node
has kubectl and the admin kubeconfig; a disabled add-on's objects are deleted by label, and its
namespace only when kubewire created it and nothing else is in it. Secrets are piped to kubectl,
never uploaded as files. Without a cluster the role says so and changes nothing, unless the kubeadm
role initialises one earlier in the same run: the add-ons are then applied right after it (facts are
read while the run is planned, before that cluster exists, so they are not asked for it).
"""

import shlex
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FactBase, QuoteString, StringCommand, deploy, operation
from pyinfra.operations import files, server

from kubewire.errors import ManifestError, exit_with
from kubewire.facts import first_line, node_probed
from kubewire.inventory import cluster_spec
from kubewire.manifests import (
    ADDONS,
    FIELD_MANAGER,
    SECRET_FINGERPRINT,
    Manifest,
    addon_warnings,
    render_all,
)
from kubewire.roles.kubeadm import ADMIN_CONF, initialises_cluster
from kubewire.spec import ClusterSpec

# Where the applied manifests are kept on the node: an upload that changes nothing applies nothing.
MANIFESTS_DIR = "/etc/kubewire/addons"


class LabelledObjects(FactBase):
    """The objects (kind/name) that match a label selector, among the given resource types."""

    def command(self, kubeconfig: str, resource_types: str, selector: str) -> str:
        return (f"kubectl --kubeconfig={shlex.quote(kubeconfig)} get {shlex.quote(resource_types)} --all-namespaces "
                f"--selector={shlex.quote(selector)} --output=name --ignore-not-found")

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line.strip()]


@operation()
def delete_labelled(kubeconfig: str, resource_types: list[str], selector: str):
    """Delete every object of these types that carries the labels; no change when there is none."""
    types = ",".join(resource_types)
    if not host.get_fact(LabelledObjects, kubeconfig=kubeconfig, resource_types=types, selector=selector):
        host.noop(f"nothing labelled {selector} is left")
        return
    yield (f"kubectl --kubeconfig={shlex.quote(kubeconfig)} delete {shlex.quote(types)} --all-namespaces "
           f"--selector={shlex.quote(selector)} --ignore-not-found")


class SecretFingerprints(FactBase):
    """The fingerprint annotation of each labelled Secret in the cluster: {"kube-system/weave-passwd": "…"}.
    Only the annotation is read, never the Secret's data."""

    def command(self, kubeconfig: str, selector: str) -> str:
        template = ('{range .items[*]}{.metadata.namespace}/{.metadata.name} '
                    f'{{.metadata.annotations.{SECRET_FINGERPRINT}}}{{"\\n"}}{{end}}')
        return (f"kubectl --kubeconfig={shlex.quote(kubeconfig)} get secrets --all-namespaces "
                f"--selector={shlex.quote(selector)} --output=jsonpath={shlex.quote(template)}")

    def process(self, output: list[str]) -> dict[str, str]:
        return dict(line.split(" ", 1) for line in output if " " in line.strip())

    @staticmethod
    def default() -> dict[str, str]:
        return {}


class ManifestsHoldingSecrets(FactBase):
    """Manifests on the node that hold a Secret (an earlier kubewire put Weave's password there): names only."""

    def command(self, directory: str) -> str:
        return f"grep -l -x 'kind: Secret' {shlex.quote(directory)}/*.yaml 2>/dev/null || true"

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line.strip()]

    @staticmethod
    def default() -> list[str]:
        return []


# Kubernetes puts these in every namespace; they do not keep a namespace kubewire created.
NAMESPACE_DEFAULTS = ("ServiceAccount/default", "ConfigMap/kube-root-ca.crt")
EVENT_KINDS = ("Event",)
LISTING_FAILED = "listing failed"


class NamespaceOwner(FactBase):
    """The namespace's kubewire labels, "managed-by/addon" ("kubewire/nginx-ingress"; "/" for a namespace
    kubewire did not create); None when there is no such namespace."""

    def command(self, kubeconfig: str, namespace: str) -> str:
        labels = r"namespace {.metadata.labels.app\.kubernetes\.io/managed-by}/{.metadata.labels.kubewire/addon}"
        return (f"kubectl --kubeconfig={shlex.quote(kubeconfig)} get namespace {shlex.quote(namespace)} "
                f"--ignore-not-found --output=jsonpath={shlex.quote(labels)}")

    def process(self, output: list[str]) -> str | None:
        return next((line.removeprefix("namespace ").strip() for line in output if line.startswith("namespace ")),
                    None)


class NamespaceContents(FactBase):
    """Every object in the namespace, of every namespaced type the API server lists, as
    "Kind/name|<managed-by label>|<first owner's kind>" lines; LISTING_FAILED when the list is incomplete."""

    def command(self, kubeconfig: str, namespace: str) -> str:
        kubectl = f"kubectl --kubeconfig={shlex.quote(kubeconfig)}"
        each = (r"{range .items[*]}{.kind}/{.metadata.name}|{.metadata.labels.app\.kubernetes\.io/managed-by}|"
                r'{.metadata.ownerReferences[0].kind}{"\n"}{end}')
        return (f"types=$({kubectl} api-resources --namespaced --verbs=list,delete --output=name) && "
                f"{kubectl} get \"$(echo $types | tr ' ' ,)\" --namespace={shlex.quote(namespace)} "
                f"--ignore-not-found --output=jsonpath={shlex.quote(each)} || echo {shlex.quote(LISTING_FAILED)}")

    def process(self, output: list[str]) -> list[str]:
        return [line for line in output if line.strip()]

    @staticmethod
    def default() -> list[str]:
        return []


def not_created_by(addon_leftovers: tuple[str, ...], contents: list[str]) -> list[str]:
    """The objects in a namespace that neither kubewire nor Kubernetes made for kubewire's add-on
    (LISTING_FAILED counts as one: what could not be listed may be anything)."""
    foreign = []
    for line in contents:
        name, managed_by, owner = (line.strip().split("|") + ["", ""])[:3]
        ours = (managed_by == "kubewire" or owner.strip()  # an owned object goes with its owner, listed itself
                or name in NAMESPACE_DEFAULTS + addon_leftovers or name.split("/")[0] in EVENT_KINDS)
        if not ours:
            foreign.append(name)
    return foreign


@operation()
def delete_namespace(kubeconfig: str, namespace: str, addon: str, leftovers: tuple[str, ...]):
    """Delete the add-on's namespace only when kubewire created it and it holds nothing kubewire did not
    create: deleting a namespace deletes everything in it."""
    owner = host.get_fact(NamespaceOwner, kubeconfig=kubeconfig, namespace=namespace)
    if owner is None:
        host.noop(f"namespace {namespace} is gone")
        return
    if owner != f"kubewire/{addon}":
        host.noop(f"namespace {namespace} was not created by kubewire for {addon}: kept")
        return
    foreign = not_created_by(leftovers, host.get_fact(NamespaceContents, kubeconfig=kubeconfig, namespace=namespace))
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        logger.warning(f"{host.print_prefix}kubewire: namespace {namespace} holds what kubewire did not create "
                       f"({shown}): kept; delete it yourself when it is no longer needed")
        host.noop(f"namespace {namespace} holds objects kubewire did not create: kept")
        return
    yield StringCommand("kubectl", QuoteString(f"--kubeconfig={kubeconfig}"), "delete", "namespace",
                        QuoteString(namespace), "--ignore-not-found")


class _SecretStdin:
    """A Secret manifest as a command's stdin; its repr (in pyinfra's debug dumps) shows nothing of it."""

    def __init__(self, text: str):
        self._text = text

    def readlines(self) -> list[str]:
        return self._text.splitlines(keepends=True)

    def __repr__(self) -> str:
        return "<Secret manifest, not shown>"


@operation()
def apply_secrets(manifest: Manifest, kubeconfig: str):
    """Apply the manifest's Secrets from stdin (never a file, so never diffed or printed) when the
    cluster's copies lack their current fingerprint."""
    applied = host.get_fact(SecretFingerprints, kubeconfig=kubeconfig, selector=manifest.addon.selector)
    if all(applied.get(name) == wanted for name, wanted in manifest.fingerprints.items()):
        host.noop(f"{', '.join(manifest.fingerprints)} in the cluster is current")
        return
    yield StringCommand("kubectl", QuoteString(f"--kubeconfig={kubeconfig}"), "apply", "--server-side",
                        QuoteString(f"--field-manager={FIELD_MANAGER}"), "--filename=-",
                        _stdin=_SecretStdin(manifest.text))


def validated_manifests(spec: ClusterSpec) -> list[Manifest]:
    """Render and validate on the controller; a problem stops the run before anything is applied."""
    try:
        return render_all(spec)
    except ManifestError as error:
        exit_with(error)


def addons_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes: on the first controlplane node, is there a cluster to apply to (none elsewhere)."""
    spec = cluster_spec()
    if host_name != spec.controlplane[0].host:
        return ()
    return (("kubectl", "command -v kubectl"),
            ("kubeconfig", f"test -f {shlex.quote(spec.addons.kubeconfig)} && echo present"))


def has_cluster() -> bool:
    probed = node_probed("addons", addons_node_probes(host.name))
    return bool(first_line(probed, "kubectl")) and first_line(probed, "kubeconfig") == "present"


def own_namespace_only(manifest: Manifest, namespace: str | None, kubeconfig: str, new_cluster: bool) -> Manifest:
    """The manifest to apply: without its Namespace when that namespace exists and kubewire did not
    create it (kubewire then uses it, and never labels it as its own, so never deletes it). A cluster
    this run creates has no namespace but kubeadm's (and no kubectl to ask while the run is planned)."""
    if namespace is None or new_cluster:
        return manifest
    owner = host.get_fact(NamespaceOwner, kubeconfig=kubeconfig, namespace=namespace)
    if owner is None or owner.startswith("kubewire/"):
        return manifest
    logger.info(f"{host.print_prefix}namespace {namespace} exists and was not created by kubewire: "
                f"{manifest.name} goes into it, and kubewire will never delete it")
    return manifest.without_namespace()


def apply_manifest(manifest: Manifest, kubeconfig: str, holding_secrets: list[str]) -> None:
    path = f"{MANIFESTS_DIR}/{manifest.filename}"
    upload = files.put(
        name=f"Upload the {manifest.name} manifest",
        src=StringIO(manifest.text),
        dest=path,
        user="root",
        group="root",
        mode="600",
        # Replaced without reading it (no --diff of it) when an earlier kubewire left a Secret in it.
        force=path in holding_secrets,
    )
    # A failed apply removes the upload, so the next run applies again.
    server.shell(
        name=f"Apply {manifest.name} (server-side)",
        commands=[f"kubectl --kubeconfig={shlex.quote(kubeconfig)} apply --server-side "
                  f"--field-manager={shlex.quote(FIELD_MANAGER)} --filename={shlex.quote(path)} "
                  f"|| {{ rm -f {shlex.quote(path)}; exit 1; }}"],
        _if=upload.did_change,
    )


@deploy("Cluster add-ons")
def addons() -> None:
    spec = cluster_spec()
    if host.name != spec.controlplane[0].host:
        return  # applied once, from the first controlplane node
    manifests = [manifest for manifest in validated_manifests(spec) if manifest.addon is not None]
    for warning in spec.warnings() + addon_warnings(spec):
        logger.warning(f"kubewire: {warning}")
    kubeconfig = spec.addons.kubeconfig
    # kubeadm init in this run makes the cluster (and its admin kubeconfig) before these operations run.
    new_cluster = kubeconfig == ADMIN_CONF and initialises_cluster()
    if not new_cluster and not has_cluster():
        names = ", ".join(manifest.name for manifest in manifests
                          if manifest.addon.enabled(spec) and not manifest.secret)
        logger.warning(f"{host.print_prefix}no Kubernetes cluster to apply {names} to (kubectl or {kubeconfig} "
                       "is missing here); they were rendered and validated only (see kubewire render)")
        return
    files.directory(name="Directory for the applied manifests", path=MANIFESTS_DIR,
                    user="root", group="root", mode="700")
    holding_secrets = host.get_fact(ManifestsHoldingSecrets, directory=MANIFESTS_DIR)
    in_use = {addon.own_namespace(spec) for addon in ADDONS if addon.enabled(spec)}
    for manifest in manifests:
        addon, namespace = manifest.addon, manifest.addon.own_namespace(spec)
        if manifest.secret:
            apply_secrets(name=f"Apply {manifest.name} (from stdin)", manifest=manifest, kubeconfig=kubeconfig)
        elif addon.enabled(spec):
            apply_manifest(own_namespace_only(manifest, namespace, kubeconfig, new_cluster), kubeconfig,
                           holding_secrets)
        elif not new_cluster:  # a new cluster holds nothing of a disabled add-on
            delete_labelled(name=f"Remove {manifest.name} (disabled)", kubeconfig=kubeconfig,
                            resource_types=manifest.resource_types, selector=addon.selector)
            if namespace and namespace not in in_use:
                delete_namespace(name=f"Remove namespace {namespace} of {manifest.name} if kubewire's alone",
                                 kubeconfig=kubeconfig, namespace=namespace, addon=addon.name,
                                 leftovers=addon.leftovers)
