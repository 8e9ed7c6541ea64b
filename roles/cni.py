"""Role `cni`: the CNI plugins, the network config the container runtime loads, routes to
every other node's pod subnet, and masquerading of pod traffic that leaves the pod network --
so every pod gets an address from its node's subnet, reaches pods on other nodes without NAT,
and reaches everything else with its node's address.

With `cni_plugin: weave` or `flannel` the bridge config, pod routes and masquerading are removed
(Weave Net and flannel bring their own); the plugin binaries stay, as both use loopback and
portmap too (flannel's plugin delegates to bridge and host-local). With flannel the role writes
its CNI config, and its plugin when it comes from a file on the controller. Switching to another
CNI removes what the previous one left on the node, and only that.
"""

from __future__ import annotations

import json
import shlex

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import apt, files, server

from kubewire import flannel
from kubewire.cni_plugins import PluginsTarballError, plugin_digests, plugins_subset, plugins_tarball
from kubewire.facts import (
    existing_paths_probe,
    file_digest_probe,
    first_line,
    iptables_lines_probe,
    node_probed,
    read_line,
    record_digests_command,
    recorded_digests_probe,
    sha256,
)
from kubewire.inventory import cluster_spec
from kubewire.nft_probes import NFT, TableListing, nft_table_probe
from kubewire.operations import (
    Step,
    checks,
    cni_configs_moved_aside,
    cni_plugins_linked,
    cni_plugins_unpacked,
    configs_that_win,
    files_removed,
    nft_table_loaded,
    nft_table_removed,
    node_state_removed,
    pod_routes_applied,
    step,
    systemd_unit_disabled,
    text_file,
    units_enabled,
    weave_node_state_removed,
)
from kubewire.settings import CniSettings
from kubewire.templates import render
from kubewire.unit_probes import unit_enabled_probe

CONFLIST = "10-kubewire.conflist"
UPLOAD_DIR = "/var/cache/kubewire"
# Pod routes carry this routing protocol number, named in /etc/iproute2/rt_protos.d.
ROUTE_PROTO = 75
ROUTES_SCRIPT = "/etc/kubewire/pod-routes.sh"
ROUTES_UNIT = "kubewire-pod-routes.service"
ROUTES_UNIT_FILE = f"/etc/systemd/system/{ROUTES_UNIT}"
RT_PROTOS_FILE = "/etc/iproute2/rt_protos.d/kubewire.conf"
# Pod egress: a table of the role's own, loaded atomically and again at boot by its unit, so it
# works with the firewall off and beside kube-proxy's tables in every mode.
MASQUERADE_TABLE = "ip kubewire_cni"
MASQUERADE_RULES = "/etc/kubewire/pod-masquerade.nft"
MASQUERADE_LOADED = "/etc/kubewire/pod-masquerade.loaded"  # sha256 of the table's listing once loaded
MASQUERADE_UNIT = "kubewire-pod-masquerade.service"
MASQUERADE_UNIT_FILE = f"/etc/systemd/system/{MASQUERADE_UNIT}"
# kube-proxy's masquerade mark: masqueradeBit 14, its default (KubeProxyConfiguration).
KUBE_PROXY_MASQUERADE_MARK = 1 << 14
# Earlier releases wrote this loopback config; runtimes set up `lo` themselves, so it goes.
LEGACY_LOOPBACK = "99-loopback.conf"
LEGACY_LOOPBACK_SHA256 = sha256('{\n  "cniVersion": "1.0.0",\n  "name": "lo",\n  "type": "loopback"\n}\n')
# systemd-udevd's default MACAddressPolicy=persistent rewrites the MAC of every new veth after
# the bridge plugin has reported it, so the runtime's CNI CHECK fails ("Mac doesn't match").
# Nodes with udev need veths left alone (Flatcar's fix: flatcar/init#33, flatcar/Flatcar#278).
VETH_LINK_FILE = "/etc/systemd/network/50-kubewire-veth.link"
VETH_LINK = "[Match]\nDriver=veth\n\n[Link]\nMACAddressPolicy=none\n"
# systemd-networkd (v246+, ManageForeignRoutes=yes by default) deletes routes it did not make
# whenever it (re)configures a link -- our pod routes, e.g. after `systemctl restart
# systemd-networkd`. networkd.conf(5): ManageForeignRoutes=no keeps them.
NETWORKD_DROPIN = "/etc/systemd/networkd.conf.d/50-kubewire.conf"
NETWORKD_KEEP_ROUTES = "[Network]\nManageForeignRoutes=no\n"
DEBIAN_PLUGINS_DIR = "/usr/lib/cni"
# Each installed plugin's inode, size, ctime and sha256, recorded right after it was unpacked: a
# re-run hashes only the plugins whose inode, size or ctime changed since (kubewire/facts.py).
PLUGIN_DIGESTS = "/var/lib/kubewire/cni-plugins.digests"
# Plugins every node needs whatever the config: containerd's CRI sets up each pod's `lo` with the
# `loopback` plugin (containerd/go-cni opts.go, WithLoNetwork). Weave Net's own config,
# 10-weave.conflist (weaveworks/weave prog/weave-kube/launch.sh), chains `weave-net` (installed by
# Weave's pods) and `portmap`; kubewire's bridge config names its plugins itself.
ALWAYS_USED_PLUGINS = ("loopback",)
WEAVE_USED_PLUGINS = ("portmap",)
# The flannel plugin (installed apart) delegates to the bridge plugin with host-local IPAM by
# default (containernetworking/plugins plugins/meta/flannel/README.md, "Operation").
FLANNEL_DELEGATE_PLUGINS = ("bridge", "host-local")

# What Weave Net 2.8.1 leaves on a node (weaveworks/weave): the bridge "weave", the Open vSwitch
# datapath "datapath" and the veths between them or to the packet capture (net/bridge.go), the
# fastdp VXLAN port "vxlan-6784" (router/fastdp.go), chains named WEAVE or WEAVE-* (net/bridge.go,
# npc/constants.go, the WEAVE-CANARY of net/iptables.go), 10-weave.conflist (10-weave.conf before
# 2.6), the plugin weave-plugin-VERSION with its links weave-net and weave-ipam in the CNI bin dir
# (prog/weave-kube/launch.sh), and its database, the DaemonSet's hostPath /var/lib/weave.
WEAVE_CONFLIST = "10-weave.conflist"
WEAVE_LINKS = ("weave", "datapath", "vethwe-bridge", "vethwe-datapath", "vethwe-pcap", "vxlan-6784")
WEAVE_DB_DIR = "/var/lib/weave"


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
        ROUTES_SCRIPT: render("cni", "pod-routes.sh.j2", routes=spec.pod_routes(host_name), proto=ROUTE_PROTO),
        ROUTES_UNIT_FILE: render("cni", "kubewire-pod-routes.service.j2", script=ROUTES_SCRIPT),
        RT_PROTOS_FILE: f"{ROUTE_PROTO}\tkubewire\n",
        MASQUERADE_RULES: masquerade_rules()[0],
        MASQUERADE_UNIT_FILE: render("cni", "kubewire-pod-masquerade.service.j2", nft=NFT, rules=MASQUERADE_RULES,
                                     table=MASQUERADE_TABLE),
        VETH_LINK_FILE: VETH_LINK,
        NETWORKD_DROPIN: NETWORKD_KEEP_ROUTES,
    }


def masquerade_rules() -> tuple[str, str]:
    """The pod masquerade rules file, and the digest its table carries as a comment."""
    context = {"table": MASQUERADE_TABLE, "pod_network": str(cluster_spec().pod_cidr),
               "kube_proxy_mark": f"{KUBE_PROXY_MASQUERADE_MARK:#x}"}
    digest = sha256(render("cni", "pod-masquerade.nft.j2", digest="", **context))[:16]
    return render("cni", "pod-masquerade.nft.j2", digest=digest, **context), digest


def cni_probes(settings: CniSettings, wanted: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """The role's one probe: every value that reaches the node's shell is quoted."""
    bin_dir, conf_dir = shlex.quote(settings.bin_dir), shlex.quote(settings.conf_dir)
    return (
        ("machine", "uname -m"),
        ("plugins", recorded_digests_probe(settings.bin_dir, PLUGIN_DIGESTS)),
        ("package links", f"for f in {DEBIAN_PLUGINS_DIR}/*; do [ -e \"$f\" ] || continue; "
                          f'echo "${{f##*/}} $(readlink -- {bin_dir}/"${{f##*/}}")"; done'),
        # Every name in the conf dir, dot files too (what `ls -A` lists), with the shell's own globbing.
        ("conf files", f"for f in {conf_dir}/* {conf_dir}/.[!.]* {conf_dir}/..?*; do "
                       '[ -e "$f" ] || [ -L "$f" ] && printf \'%s\\n\' "${f##*/}"; done'),
        *((path, file_digest_probe(path)) for path in wanted),
        (LEGACY_LOOPBACK, file_digest_probe(f"{settings.conf_dir}/{LEGACY_LOOPBACK}")),
        ("routes", f"ip -4 route show proto {ROUTE_PROTO}"),
        ("routes unit", unit_enabled_probe(ROUTES_UNIT)),
        ("masquerade listing", nft_table_probe(MASQUERADE_TABLE)),
        ("masquerade loaded", read_line(MASQUERADE_LOADED)),
        ("masquerade unit", unit_enabled_probe(MASQUERADE_UNIT)),
        ("weave links", f"for l in {' '.join(WEAVE_LINKS)}; do test -e /sys/class/net/$l && echo $l; done"),
        ("weave iptables", iptables_lines_probe("^[*]|^:WEAVE[ -]|^-A [^ ]+ .*(-j WEAVE(-[^ ]+)?|-[io] weave)( |$)")),
        ("weave files", existing_paths_probe(f"{conf_dir}/{WEAVE_CONFLIST}", f"{conf_dir}/10-weave.conf",
                                             f"{bin_dir}/weave-net", f"{bin_dir}/weave-ipam",
                                             f"{bin_dir}/weave-plugin-*", WEAVE_DB_DIR)),
        *flannel_probes(settings),
    )


def flannel_probes(settings: CniSettings) -> tuple[tuple[str, str], ...]:
    bin_dir, conf_dir, bridge = (shlex.quote(value) for value in (settings.bin_dir, settings.conf_dir, settings.bridge))
    return (
        ("flannel files", existing_paths_probe(f"{conf_dir}/{flannel.CONFLIST}", f"{bin_dir}/{flannel.PLUGIN}",
                                               flannel.RUN_DIR)),
        ("flannel plugin", file_digest_probe(f"{settings.bin_dir}/{flannel.PLUGIN}")),
        ("flannel conflist", file_digest_probe(f"{settings.conf_dir}/{flannel.CONFLIST}")),
        ("flannel subnet", f"[ -e {flannel.SUBNET_ENV} ] && sed -n 's/^FLANNEL_SUBNET=//p' {flannel.SUBNET_ENV}"),
        ("flannel iptables", iptables_lines_probe(f"^[*]|^:{flannel.CHAIN_PREFIX}-|"
                                                  f"^-A [^ ]+ .*-j {flannel.CHAIN_PREFIX}-[^ ]+( |$)")),
        # The bridge network's bridge is often flannel's too (cni0): asked once.
        ("links", f"for l in {' '.join(dict.fromkeys((flannel.VXLAN_LINK, bridge, flannel.BRIDGE)))}; do "
                  'test -e /sys/class/net/$l && { printf %s "$l "; ip -4 -o addr show dev $l '
                  "| while read -r _ _ _ address _; do printf '%s ' \"$address\"; done; echo; }; done"),
    )


def cni_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes for one host (read with every other role's by deploys/cluster.py)."""
    return cni_probes(cluster_spec().node(host_name).cni, cni_files(host_name))


def plugin_types(config: dict | list) -> set[str]:
    """Every plugin a CNI config names (`type`, in its plugins and nested ones such as `ipam`)."""
    found = set()
    items = config.values() if isinstance(config, dict) else config
    if isinstance(config, dict) and isinstance(config.get("type"), str):
        found.add(config["type"])
    for item in items:
        if isinstance(item, dict | list):
            found |= plugin_types(item)
    return found


def plugins_in_use(settings: CniSettings, wanted: dict[str, str]) -> set[str]:
    """The plugins the node's CNI configs call: kubewire's bridge config's own, flannel's or Weave Net's."""
    cni_plugin = cluster_spec().cni_plugin
    if cni_plugin == "bridge":
        return set(ALWAYS_USED_PLUGINS) | plugin_types(json.loads(wanted[f"{settings.conf_dir}/{CONFLIST}"]))
    if cni_plugin == "flannel":
        chained = plugin_types(json.loads(flannel.conflist())) - {flannel.PLUGIN}
        return set(ALWAYS_USED_PLUGINS) | chained | set(FLANNEL_DELEGATE_PLUGINS)
    return set(ALWAYS_USED_PLUGINS) | set(WEAVE_USED_PLUGINS)


@deploy("CNI")
def cni() -> None:
    spec = cluster_spec()
    settings = spec.node(host.name).cni
    wanted = cni_files(host.name)
    probed = node_probed("cni", cni_probes(settings, wanted))

    steps = _install_plugins(settings, probed, plugins_in_use(settings, wanted))
    steps += _remove_legacy_loopback(settings.conf_dir, probed)
    if spec.cni_plugin != "flannel":
        steps += _remove_flannel_state(probed)
    if spec.cni_plugin != "weave":
        steps += _remove_weave_state(probed)
    # The other CNIs' configs are removed above, not moved aside.
    others = {CONFLIST, flannel.CONFLIST} - {{"bridge": CONFLIST, "flannel": flannel.CONFLIST}.get(spec.cni_plugin)}
    if spec.cni_plugin == "bridge":
        steps += _write_changed(wanted, probed)
        steps += _move_aside_winning_configs(settings.conf_dir, probed, CONFLIST, ignore=others)
        units = ((ROUTES_UNIT, ROUTES_UNIT_FILE, "routes unit"),
                 (MASQUERADE_UNIT, MASQUERADE_UNIT_FILE, "masquerade unit"))
        steps.append(units_enabled({unit: (first_line(probed, path) != sha256(wanted[path]), first_line(probed, probe))
                                    for unit, path, probe in units}, "pod routes and masquerading come back at boot"))
        steps += _pod_routes(probed) + _pod_masquerade(probed)
        what = "bridge network: configs, pod routes and masquerading"
    elif spec.cni_plugin == "weave":
        steps += _remove_bridge_network(wanted, probed)
        steps += _move_aside_winning_configs(settings.conf_dir, probed, WEAVE_CONFLIST, "written by Weave Net's pods",
                                             ignore=others)
        what = "Weave Net's node side (its pods do the rest)"
    else:
        steps += _remove_bridge_network(wanted, probed)
        steps += _flannel_node_files(settings, probed)
        steps += _move_aside_winning_configs(settings.conf_dir, probed, flannel.CONFLIST, "for flannel",
                                             ignore=others)
        what = "flannel's node side (its pods do the rest)"
    checks(name=f"CNI plugins in {settings.bin_dir} and the {what}", steps=steps)


def _install_plugins(settings: CniSettings, probed: dict, in_use: set[str]) -> list[Step]:
    bin_dir = settings.bin_dir
    if settings.plugins_source == "package":
        links = dict(line.split(" ", 1) if " " in line else (line, "") for line in probed.get("package links", []))
        linked = bool(links) and all(target == f"{DEBIAN_PLUGINS_DIR}/{name}" for name, target in links.items())
        install = [] if linked else [step("Install the distribution's CNI plugins", apt.packages,
                                          packages=["containernetworking-plugins"], update=True, cache_time=3600)]
        return [*install, step(f"Link the plugins into {bin_dir}", cni_plugins_linked, source_dir=DEBIAN_PLUGINS_DIR,
                               bin_dir=bin_dir, linked=linked)]
    try:
        tarball, digest = plugins_tarball(settings, first_line(probed, "machine"))
        expected = plugin_digests(tarball)
    except PluginsTarballError as error:
        raise CniError(f"{host.name}: {error}") from None
    installed = dict(reversed(line.split(None, 1)) for line in probed.get("plugins", []) if "  " in line)
    # The plugins in use, or all; and every plugin of the release already on the node stays checked.
    managed = sorted(set(expected) if settings.plugins_all else (in_use | set(installed)) & set(expected))
    stale = [name for name in managed if installed.get(name) != expected[name]]
    if stale:  # only what the node lacks travels
        try:
            tarball, digest = plugins_subset(tarball, digest, tuple(stale))
        except PluginsTarballError as error:
            raise CniError(f"{host.name}: {error}") from None
    remote = f"{UPLOAD_DIR}/cni-plugins-{settings.plugins_version}-{digest[:12]}.tgz"
    stale_names = f" (stale: {', '.join(stale[:4])})" if stale else ""
    return [step(f"Upload, verify and unpack CNI plugins {settings.plugins_version} into {bin_dir}{stale_names}",
                 cni_plugins_unpacked, tarball=remote, sha256=digest, bin_dir=bin_dir, stale=stale,
                 record=record_digests_command(bin_dir, managed, PLUGIN_DIGESTS), upload_from=str(tarball))]


def _write_changed(wanted: dict[str, str], probed: dict) -> list[Step]:
    steps = []
    for path, text in wanted.items():
        mode = "755" if path.endswith(".sh") else "600" if path == MASQUERADE_RULES else "644"
        steps.append(step(f"Write {path}", text_file, path=path, text=text, current_digest=first_line(probed, path),
                          mode=mode))
    # After all writes, which are then made ready for their uploads by one command (`checks`).
    if VETH_LINK_FILE in wanted and first_line(probed, VETH_LINK_FILE) != sha256(wanted[VETH_LINK_FILE]):
        steps.append(step("Reload udev's link files (where udev runs)", server.shell,
                          commands=["if command -v udevadm >/dev/null; then udevadm control --reload; fi"]))
    return steps


def _move_aside_winning_configs(conf_dir: str, probed: dict, active: str, whose: str = "kubewire's",
                                ignore: set[str] = frozenset()) -> list[Step]:
    """The runtime loads the lexically first config: anything sorting before the active one would win."""
    names = [name for name in probed.get("conf files", []) if name not in ignore]
    winners = configs_that_win(names, active)
    logger.info(f"[{host.name}] active CNI config: {conf_dir}/{active} ({whose})"
                + (f" (moved aside to {conf_dir}/kubewire-disabled: {', '.join(winners)})" if winners else ""))
    return [step(f"Move aside CNI configs in {conf_dir} that would win over {active}", cni_configs_moved_aside,
                 conf_dir=conf_dir, config_names=names, active=active)]


def _pod_routes(probed: dict) -> list[Step]:
    live = {" ".join(line.split()[:3]) for line in probed.get("routes", [])}
    return [step("Route other nodes' pod subnets via their nodes", pod_routes_applied, script=ROUTES_SCRIPT, live=live,
                 wanted={f"{subnet} via {via}" for subnet, via in cluster_spec().pod_routes(host.name).items()})]


def _pod_masquerade(probed: dict) -> list[Step]:
    listing = TableListing.probed(probed, "masquerade listing")
    return [step(f"Masquerade pod traffic leaving the pod network (nft -f {MASQUERADE_RULES})", nft_table_loaded,
                 table=MASQUERADE_TABLE, rules_file=MASQUERADE_RULES, loaded_file=MASQUERADE_LOADED,
                 wanted_digest=masquerade_rules()[1],
                 live_digest=listing.marker("kubewire-masquerade"), live_listing=listing.digest,
                 loaded_listing=first_line(probed, "masquerade loaded"))]


def _remove_legacy_loopback(conf_dir: str, probed: dict) -> list[Step]:
    """Only the very file kubewire wrote: a loopback config of anyone else's stays."""
    if first_line(probed, LEGACY_LOOPBACK) == LEGACY_LOOPBACK_SHA256:
        return [step(f"Remove {conf_dir}/{LEGACY_LOOPBACK} (the runtime sets up lo itself)", files_removed,
                     paths=[f"{conf_dir}/{LEGACY_LOOPBACK}"])]
    return []


def _remove_bridge_network(wanted: dict[str, str], probed: dict) -> list[Step]:
    steps = [step("Remove kubewire's pod routes", server.shell, commands=[f"ip route flush proto {ROUTE_PROTO}"])
             ] if probed.get("routes") else []
    for unit, probe in ((ROUTES_UNIT, "routes unit"), (MASQUERADE_UNIT, "masquerade unit")):
        steps.append(step(f"Disable {unit}", systemd_unit_disabled, unit=unit,
                          enabled=first_line(probed, probe) == "enabled"))
    steps.append(step("Remove kubewire's pod masquerading (Weave masquerades itself)", nft_table_removed,
                      table=MASQUERADE_TABLE, present=TableListing.probed(probed, "masquerade listing").present))
    found = [path for path in wanted if first_line(probed, path)]
    found += [MASQUERADE_LOADED] if first_line(probed, "masquerade loaded") else []
    steps.append(step("Remove the bridge network's files", files_removed, paths=found, why="no bridge network files"))
    # The bridge itself when it holds kubewire's gateway address: flannel's pods use a bridge of the same
    # name (cni0), and the bridge plugin refuses one that has another address. Not when flanneld gave
    # this node that very subnet.
    spec = cluster_spec()
    settings, subnet = spec.node(host.name).cni, spec.pod_cidr_for(host.name)
    gateway = f"{subnet.network_address + 1}/{subnet.prefixlen}"
    ours = (gateway in link_addresses(probed).get(settings.bridge, [])
            and first_line(probed, "flannel subnet") != gateway)
    steps.append(step(f"Remove the bridge {settings.bridge} with kubewire's gateway address {gateway}",
                      node_state_removed, owner="bridge network", links=[settings.bridge] if ours else [], paths=[]))
    return steps


def link_addresses(probed: dict) -> dict[str, list[str]]:
    """The probed links and their IPv4 addresses: {"cni0": ["10.244.12.1/24"], "flannel.1": []}."""
    return {line.split()[0]: line.split()[1:] for line in probed.get("links", []) if line.strip()}


def _flannel_node_files(settings: CniSettings, probed: dict) -> list[Step]:
    """flannel's CNI config, and its plugin when it comes from a file on the controller (else its image)."""
    path = f"{settings.conf_dir}/{flannel.CONFLIST}"
    steps = [step(f"Write {path}", text_file, path=path, text=flannel.conflist(),
                  current_digest=first_line(probed, "flannel conflist"))]
    try:
        plugin = flannel.plugin_file(cluster_spec())
    except PluginsTarballError as error:
        raise CniError(f"{host.name}: flannel_cni_plugin_file: {error}") from None
    if plugin is None or first_line(probed, "flannel plugin") == plugin[1]:
        return steps
    source, digest = plugin
    remote, target = f"{UPLOAD_DIR}/flannel-{digest[:12]}", f"{settings.bin_dir}/{flannel.PLUGIN}"
    return [*steps,
            step(f"Upload the flannel CNI plugin ({source.name})", files.put, src=str(source), dest=remote,
                 mode="600", create_remote_dir=True),
            step(f"Verify the flannel CNI plugin's sha256 and install it as {target}", server.shell, commands=[
                f"printf '%s  %s\\n' {digest} {shlex.quote(remote)} | sha256sum -c --quiet - && "
                f"install -D -m 755 {shlex.quote(remote)} {shlex.quote(target)}"])]


def _remove_flannel_state(probed: dict) -> list[Step]:
    """What flannel left: its VXLAN device, its bridge when it holds flanneld's subnet (subnet.env), its
    iptables chains and the rules jumping to them, its run dir, plugin and config."""
    links = link_addresses(probed)
    subnet = first_line(probed, "flannel subnet")  # the bridge's address: FLANNEL_SUBNET is "10.244.3.1/24"
    found = [flannel.VXLAN_LINK] if flannel.VXLAN_LINK in links else []
    found += [flannel.BRIDGE] if subnet and subnet in links.get(flannel.BRIDGE, []) else []
    return [step("Remove flannel's node state (links, FLANNEL-* chains, run dir, plugin, config)", node_state_removed,
                 owner="flannel", links=found, paths=probed.get("flannel files", []),
                 iptables=iptables_excerpt(probed.get("flannel iptables", [])), chain_prefix=flannel.CHAIN_PREFIX)]


def iptables_excerpt(lines: list[str]) -> dict[str, dict[str, list[str]]]:
    """A probe's iptables-save excerpt, by table: a CNI's chains and the rules pointing at them."""
    found: dict[str, dict[str, list[str]]] = {}
    table = None
    for line in lines:
        if line.startswith("*"):
            table = line[1:].strip()
            found.setdefault(table, {"chains": [], "rules": []})
        elif table and line.startswith(":"):
            found[table]["chains"].append(line[1:].split()[0])
        elif table and line.startswith("-A "):
            found[table]["rules"].append(line.rstrip())
    return {name: state for name, state in found.items() if state["chains"] or state["rules"]}


def _remove_weave_state(probed: dict) -> list[Step]:
    return [step("Remove Weave Net's node state (links, WEAVE chains, config, plugin, database)",
                 weave_node_state_removed, links=probed.get("weave links", []),
                 iptables=iptables_excerpt(probed.get("weave iptables", [])), paths=probed.get("weave files", []))]
