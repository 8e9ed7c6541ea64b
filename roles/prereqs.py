"""Role `prereqs`: what every Kubernetes node needs before networking is set up.

Kernel modules (persisted in /etc/modules-load.d, loaded now where loadable; one built into
the kernel counts as loaded), forwarding and bridge-netfilter sysctls (persisted in
/etc/sysctl.d and applied live), swap off now and across reboots, and the packages
kube-proxy and the CNI plugins call. The whole state is read in one remote command; an
operation is created only for what differs, so a re-run costs one round trip per host.
"""

from __future__ import annotations

import shlex

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import PyinfraError
from pyinfra.operations import apt, server

from kubewire.facts import Probes, file_digest_probe, first_line
from kubewire.inventory import cluster_spec
from kubewire.operations import put_if_changed
from kubewire.settings import PrereqsSettings
from kubewire.templates import render

DEFAULTS = PrereqsSettings.defaults()

MODULES_FILE = "/etc/modules-load.d/kubewire.conf"
SYSCTL_FILE = "/etc/sysctl.d/90-kubewire.conf"

BASE_MODULES = ("overlay", "br_netfilter")
PROXY_MODE_MODULES = {
    "iptables": (),
    "ipvs": ("ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack"),
    "nftables": ("nf_tables",),
}
# How a module shows when it is built into the kernel (no /sys/module entry or /proc/modules
# line then, and no /sys/module at all inside a container).
BUILT_IN_EVIDENCE = {
    "overlay": "grep -qw overlay /proc/filesystems",
    "br_netfilter": "test -d /proc/sys/net/bridge",
    "nf_conntrack": "test -e /proc/sys/net/netfilter/nf_conntrack_max",
    "nf_tables": "grep -q ' nft_register_chain_type$' /proc/kallsyms",
    "ip_vs": "test -e /proc/net/ip_vs",
    **{f"ip_vs_{s}": f"grep -q ' ip_vs_{s}_schedule$' /proc/kallsyms" for s in ("rr", "wrr", "sh")},
}

BASE_PACKAGES = ("conntrack", "ipset", "iptables", "nftables", "socat", "iproute2", "kmod")
PROXY_MODE_PACKAGES = {"iptables": (), "ipvs": ("ipvsadm",), "nftables": ()}

BASE_SYSCTLS = {
    "net.ipv4.ip_forward": "1",
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
}


class MissingKernelModule(PyinfraError):
    pass


def module_probe(module: str) -> str:
    """Prints loaded, loadable or absent."""
    evidence = BUILT_IN_EVIDENCE.get(module, "false")
    name = shlex.quote(module)
    return (f"if [ -e /sys/module/{name} ] || grep -q '^{module} ' /proc/modules || {evidence}; then echo loaded; "
            f"elif modprobe -n -q {name}; then echo loadable; else echo absent; fi")



@deploy("Prerequisites", data_defaults=DEFAULTS)
def prereqs() -> None:
    spec = cluster_spec()
    settings = spec.node(host.name).prereqs
    mode = spec.kube_proxy_mode if settings.prepare_proxy_mode else "iptables"
    required_modules = BASE_MODULES + PROXY_MODE_MODULES[mode]
    modules = required_modules + tuple(m for m in settings.extra_modules if m not in required_modules)
    packages = BASE_PACKAGES + PROXY_MODE_PACKAGES[mode] + tuple(settings.extra_packages)
    sysctls = {**BASE_SYSCTLS, **settings.extra_sysctls}
    modules_text = render("prereqs", "modules-load.conf.j2", modules=modules)
    sysctl_text = render("prereqs", "sysctl.conf.j2", sysctls=sysctls)

    probed = host.get_fact(Probes, probes=(
        ("packages", "dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n' " + " ".join(packages)),
        ("modules-file", file_digest_probe(MODULES_FILE)),
        ("sysctl-file", file_digest_probe(SYSCTL_FILE)),
        ("sysctls", " ; ".join(f"echo {key}=$(sysctl -n {key})" for key in sysctls)),
        *((f"module {module}", module_probe(module)) for module in modules),
        ("swaps", "tail -n +2 /proc/swaps"),
        ("fstab swap", "awk '!/^[[:space:]]*#/ && $3 == \"swap\"' /etc/fstab"),
        ("swap units", "systemctl list-units --type=swap --all --plain --no-legend"
                       " | awk '$2 != \"masked\" {print $1}'"),
    ))

    installed = {line.split()[0] for line in probed.get("packages", []) if line.split()[1:2] == ["ii"]}
    missing = [package for package in packages if package not in installed]
    if missing:
        apt.packages(name=f"Install {', '.join(missing)}", packages=missing, update=True, cache_time=3600)

    put_if_changed(probed, "modules-file", MODULES_FILE, modules_text, name=f"Persist kernel modules in {MODULES_FILE}")
    _load_modules(probed, modules, required_modules, mode)

    put_if_changed(probed, "sysctl-file", SYSCTL_FILE, sysctl_text, name=f"Persist sysctls in {SYSCTL_FILE}")
    live = dict(line.split("=", 1) for line in probed.get("sysctls", []) if "=" in line)
    wrong = {key: value for key, value in sysctls.items() if live.get(key) != value}
    if wrong:
        server.shell(name=f"Apply sysctls {', '.join(wrong)}",
                     commands=["sysctl -w " + " ".join(f"{key}={value}" for key, value in wrong.items())])

    if settings.disable_swap:
        _disable_swap(probed)


def _load_modules(probed: dict, modules: tuple[str, ...], required: tuple[str, ...], mode: str) -> None:
    absent = []
    for module in modules:
        status = first_line(probed, f"module {module}")
        if status == "loadable":
            server.shell(name=f"Load kernel module {module}", commands=[f"modprobe {module}"])
        elif status != "loaded":
            absent.append(module)
    needed = [module for module in absent if module in required]
    if needed:
        why = f"kube_proxy_mode {mode!r}" if set(needed) & set(PROXY_MODE_MODULES[mode]) else "every Kubernetes node"
        raise MissingKernelModule(
            f"{host.name}: {why} needs the kernel module(s) {', '.join(needed)}, which are neither loaded, "
            "built into the kernel nor loadable here (modprobe finds nothing). Use a kernel that has them, "
            "or choose another kube_proxy_mode. Nothing was changed."
        )
    for module in absent:
        logger.warning(f"[{host.name}] kernel module {module} is absent (not loaded, built in or loadable); "
                       "kept in the module list for a kernel that has it")


def _disable_swap(probed: dict) -> None:
    if probed.get("swaps"):
        server.shell(name="Turn swap off now", commands=["swapoff -a"])
    if probed.get("fstab swap"):
        comment_out = r"/^[[:space:]]*#/!{/[[:space:]]swap[[:space:]]/s/^/# (swap off: kubewire) /}"
        server.shell(name="Comment out swap in /etc/fstab", commands=[f"sed -i -E '{comment_out}' /etc/fstab"])
    units = [unit for unit in probed.get("swap units", []) if unit.endswith(".swap")]
    if units:
        server.shell(name=f"Mask swap units {', '.join(units)}", commands=["systemctl mask " + " ".join(units)])
