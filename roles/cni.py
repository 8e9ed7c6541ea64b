"""Role `cni`: the CNI plugins, the network config the container runtime loads, and routes
to every other node's pod subnet -- so every pod gets an address from its node's subnet and
reaches pods on other nodes without NAT.

With `cni_plugin: weave` the bridge config and pod routes are removed (Weave Net brings its
own); the plugin binaries stay, as Weave uses loopback and portmap too.
"""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import apt, files, server, systemd

from kubewire.cni_plugins import PluginsTarballError, plugin_digests, plugins_tarball
from kubewire.facts import Probes, file_digest_probe, first_line, sha256
from kubewire.inventory import cluster_spec
from kubewire.operations import put_if_changed
from kubewire.settings import CniSettings
from kubewire.templates import render

DEFAULTS = CniSettings.defaults()

CONFLIST = "10-kubewire.conflist"
LOOPBACK = "99-loopback.conf"
UPLOAD_DIR = "/var/cache/kubewire"
# Pod routes carry this routing protocol number, named in /etc/iproute2/rt_protos.d.
ROUTE_PROTO = 75
ROUTES_SCRIPT = "/etc/kubewire/pod-routes.sh"
ROUTES_UNIT = "kubewire-pod-routes.service"
ROUTES_UNIT_FILE = f"/etc/systemd/system/{ROUTES_UNIT}"
RT_PROTOS_FILE = "/etc/iproute2/rt_protos.d/kubewire.conf"
DEBIAN_PLUGINS_DIR = "/usr/lib/cni"
CONFIG_SUFFIXES = (".conf", ".conflist", ".json")  # what runtimes load from conf_dir


class CniError(PyinfraError):
    pass



def cni_files(host_name: str) -> dict[str, str]:
    """Every file this role writes on the node, by path (for the bridge plugin)."""
    spec = cluster_spec()
    settings = spec.node(host_name).cni
    subnet = spec.pod_cidr_for(host_name)
    return {
        f"{settings.conf_dir}/{CONFLIST}": render(
            "cni", f"{CONFLIST}.j2", network_name=settings.network_name, bridge=settings.bridge, mtu=settings.mtu,
            pod_subnet=str(subnet), gateway=str(subnet.network_address + 1)),
        f"{settings.conf_dir}/{LOOPBACK}": render("cni", f"{LOOPBACK}.j2"),
        ROUTES_SCRIPT: render("cni", "pod-routes.sh.j2", routes=pod_routes(host_name), proto=ROUTE_PROTO),
        ROUTES_UNIT_FILE: render("cni", "kubewire-pod-routes.service.j2", script=ROUTES_SCRIPT),
        RT_PROTOS_FILE: f"{ROUTE_PROTO}\tkubewire\n",
    }


def pod_routes(host_name: str) -> dict[str, str]:
    """Every other node's pod subnet, and the node address it is routed via."""
    spec = cluster_spec()
    return {str(spec.pod_cidr_for(other.host)): str(other.node_ip) for other in spec.nodes if other.host != host_name}


@deploy("CNI", data_defaults=DEFAULTS)
def cni() -> None:
    spec = cluster_spec()
    settings = spec.node(host.name).cni
    wanted = cni_files(host.name)
    bin_dir, conf_dir = settings.bin_dir, settings.conf_dir
    probed = host.get_fact(Probes, probes=(
        ("machine", "uname -m"),
        ("plugins", f"cd {bin_dir} && sha256sum *"),
        ("package links", f"for f in {DEBIAN_PLUGINS_DIR}/*; do "
                          f"echo \"$(basename $f) $(readlink {bin_dir}/$(basename $f))\"; done"),
        ("conf files", f"ls -1 {conf_dir}"),
        *((path, file_digest_probe(path)) for path in wanted),
        ("routes", f"ip -4 route show proto {ROUTE_PROTO}"),
        ("routes unit", f"systemctl is-enabled {ROUTES_UNIT}"),
    ))

    _install_plugins(settings, probed)
    if spec.cni_plugin == "bridge":
        _write_changed(wanted, probed)
        _move_aside_winning_configs(conf_dir, probed)
        _pod_routes(probed, wanted)
    else:
        _remove_bridge_network(wanted, probed)


def _install_plugins(settings: CniSettings, probed: dict) -> None:
    bin_dir = settings.bin_dir
    if settings.plugins_source == "package":
        links = dict(line.split(" ", 1) if " " in line else (line, "") for line in probed.get("package links", []))
        if not links or any(target != f"{DEBIAN_PLUGINS_DIR}/{name}" for name, target in links.items()):
            apt.packages(name="Install the distribution's CNI plugins", packages=["containernetworking-plugins"],
                         update=True, cache_time=3600)
            server.shell(name=f"Link the plugins into {bin_dir}", commands=[
                f"mkdir -p {bin_dir} && for f in {DEBIAN_PLUGINS_DIR}/*; do ln -sfn \"$f\" {bin_dir}/; done"])
        return
    try:
        tarball, digest = plugins_tarball(settings, first_line(probed, "machine"))
        expected = plugin_digests(tarball)
    except PluginsTarballError as error:
        raise CniError(f"{host.name}: {error}") from None
    installed = dict(reversed(line.split(None, 1)) for line in probed.get("plugins", []) if "  " in line)
    stale = sorted(name for name, sha in expected.items() if installed.get(name) != sha)
    if not stale:
        return
    remote = f"{UPLOAD_DIR}/cni-plugins-{settings.plugins_version}-{digest[:12]}.tgz"
    files.put(name=f"Upload CNI plugins {settings.plugins_version} (stale: {', '.join(stale[:4])})",
              src=str(tarball), dest=remote, mode="600", create_remote_dir=True)
    server.shell(name=f"Verify and unpack CNI plugins {settings.plugins_version} into {bin_dir}", commands=[
        f"echo '{digest}  {remote}' | sha256sum -c --quiet -",
        f"mkdir -p {bin_dir} && tar -xzf {remote} -C {bin_dir} --no-same-owner && chmod 755 {bin_dir}/*",
    ])


def _write_changed(wanted: dict[str, str], probed: dict) -> None:
    for path, text in wanted.items():
        put_if_changed(probed, path, path, text, name=f"Write {path}", mode="755" if path.endswith(".sh") else "644")


def _move_aside_winning_configs(conf_dir: str, probed: dict) -> None:
    """The runtime loads the lexically first config: anything sorting before ours would win."""
    configs = sorted(name for name in probed.get("conf files", []) if name.endswith(CONFIG_SUFFIXES))
    winners = [name for name in configs if name < CONFLIST]
    for name in winners:
        files.directory(name="Make room for configs moved aside", path=f"{conf_dir}/kubewire-disabled")
        server.shell(name=f"Move aside {conf_dir}/{name}, which would win over {CONFLIST}",
                     commands=[f"mv {conf_dir}/{name} {conf_dir}/kubewire-disabled/{name}"])
    logger.info(f"[{host.name}] active CNI config: {conf_dir}/{CONFLIST}"
                + (f" (moved aside: {', '.join(winners)})" if winners else ""))


def _pod_routes(probed: dict, wanted: dict[str, str]) -> None:
    live = {" ".join(line.split()[:3]) for line in probed.get("routes", [])}
    unit_changed = first_line(probed, ROUTES_UNIT_FILE) != sha256(wanted[ROUTES_UNIT_FILE])
    if unit_changed or first_line(probed, "routes unit") != "enabled":
        systemd.service(name=f"Enable {ROUTES_UNIT} (pod routes come back at boot)", service=ROUTES_UNIT,
                        enabled=True, running=None, daemon_reload=unit_changed)
    if live != {f"{subnet} via {via}" for subnet, via in pod_routes(host.name).items()}:
        server.shell(name="Route other nodes' pod subnets via their nodes", commands=[f"/bin/sh {ROUTES_SCRIPT}"])


def _remove_bridge_network(wanted: dict[str, str], probed: dict) -> None:
    if probed.get("routes"):
        server.shell(name="Remove kubewire's pod routes", commands=[f"ip route flush proto {ROUTE_PROTO}"])
    if first_line(probed, "routes unit") == "enabled":
        systemd.service(name=f"Disable {ROUTES_UNIT}", service=ROUTES_UNIT, enabled=False, running=None)
    for path in wanted:
        if first_line(probed, path):
            files.file(name=f"Remove {path}", path=path, present=False)
