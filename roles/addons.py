"""Role `addons`: kube-proxy and CoreDNS (kubewire/manifests.py), applied from the first controlplane node.

The manifests are rendered and validated on the controller before anything is applied; a bad
render stops the run (exit 1). They are applied with kubectl's server-side apply when the node
has kubectl and the admin kubeconfig, and a disabled add-on's objects are deleted by label.
Without a cluster the role says so and changes nothing.
"""

import shlex
import sys
from io import StringIO

from pyinfra import host, logger
from pyinfra.api import FactBase, deploy, operation
from pyinfra.facts.files import File
from pyinfra.facts.server import Which
from pyinfra.operations import files, server

from kubewire.inventory import cluster_spec
from kubewire.manifests import FIELD_MANAGER, Manifest, ManifestError, render_all
from kubewire.spec import ClusterSpec

# Where the applied manifests are kept on the node: an upload that changes nothing applies nothing.
MANIFESTS_DIR = "/etc/kubewire/addons"
MANIFEST_ERROR_EXIT = 1


class LabelledObjects(FactBase):
    """The objects (kind/name) that match a label selector, among the given resource types."""

    def command(self, kubeconfig: str, resource_types: str, selector: str) -> str:
        return (f"kubectl --kubeconfig={shlex.quote(kubeconfig)} get {resource_types} --all-namespaces "
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
    yield (f"kubectl --kubeconfig={shlex.quote(kubeconfig)} delete {types} --all-namespaces "
           f"--selector={shlex.quote(selector)} --ignore-not-found")


def validated_manifests(spec: ClusterSpec) -> list[Manifest]:
    """Render and validate on the controller; a problem stops the run before anything is applied."""
    try:
        return render_all(spec)
    except ManifestError as error:
        print(f"kubewire: {error.report()}", file=sys.stderr)
        raise SystemExit(MANIFEST_ERROR_EXIT) from None


def has_cluster(kubeconfig: str) -> bool:
    return bool(host.get_fact(Which, command="kubectl")) and bool(host.get_fact(File, path=kubeconfig))


def apply_manifest(manifest: Manifest, kubeconfig: str) -> None:
    path = f"{MANIFESTS_DIR}/{manifest.filename}"
    upload = files.put(
        name=f"Upload the {manifest.name} manifest",
        src=StringIO(manifest.text),
        dest=path,
        user="root",
        group="root",
        mode="600",
    )
    # A failed apply removes the upload, so the next run applies again.
    server.shell(
        name=f"Apply {manifest.name} (server-side)",
        commands=[f"kubectl --kubeconfig={shlex.quote(kubeconfig)} apply --server-side "
                  f"--field-manager={FIELD_MANAGER} --filename={path} || {{ rm -f {path}; exit 1; }}"],
        _if=upload.did_change,
    )


@deploy("Cluster add-ons")
def addons() -> None:
    spec = cluster_spec()
    if host.name != spec.controlplane[0].host:
        return  # applied once, from the first controlplane node
    manifests = [manifest for manifest in validated_manifests(spec) if manifest.addon is not None]
    for warning in spec.warnings():
        logger.warning(f"kubewire: {warning}")
    kubeconfig = spec.addons.kubeconfig
    if not has_cluster(kubeconfig):
        names = ", ".join(manifest.name for manifest in manifests if manifest.addon.enabled(spec))
        logger.warning(f"{host.print_prefix}no Kubernetes cluster to apply {names} to (kubectl or {kubeconfig} "
                       "is missing here); they were rendered and validated only (see kubewire render)")
        return
    files.directory(name="Directory for the applied manifests", path=MANIFESTS_DIR,
                    user="root", group="root", mode="700")
    for manifest in manifests:
        if manifest.addon.enabled(spec):
            apply_manifest(manifest, kubeconfig)
        else:
            delete_labelled(name=f"Remove {manifest.name} (disabled)", kubeconfig=kubeconfig,
                            resource_types=manifest.resource_types, selector=manifest.addon.selector)
