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

from kubewire import operations
from kubewire.facts import file_digest_probe, first_line, lines, node_probed, package_probe
from kubewire.inventory import cluster_spec
from kubewire.templates import render
from kubewire.unit_probes import swap_units_probe

MODULES_FILE = "/etc/modules-load.d/kubewire.conf"
# Read at boot by systemd-sysctl on Debian 12 and 13 alike (sysctl.d(5)). Never /etc/sysctl.conf:
# Debian 13 no longer has it (procps 2:4.0.4-5: "Remove /etc/sysctl.conf as using
# /etc/sysctl.d/*.conf is better").
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
    # /proc/filesystems' "nodev\toverlay" line, read with the shell's own `read` (a small seq_file).
    "overlay": 'while read -r first second; do [ "$first" = overlay ] || [ "$second" = overlay ] && break; done '
               "< /proc/filesystems && [ \"$first\" = overlay ] || [ \"$second\" = overlay ]",
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
    in_proc_modules = shlex.quote(f"^{module} ")
    # /proc/modules is missing in a container: no grep to run there.
    return (f"if [ -e /sys/module/{name} ] "
            f"|| {{ [ -e /proc/modules ] && grep -q -- {in_proc_modules} /proc/modules; }} || {{ {evidence}; }}; "
            f"then echo loaded; elif modprobe -n -q -- {name}; then echo loadable; else echo absent; fi")


def sysctls_probe(keys) -> str:
    """Prints `KEY = VALUE` per known key, the value as `sysctl -n` prints it, with one `sysctl` (it
    goes on past an unknown key). Not the shell's `read` on /proc/sys: the kernel answers a read
    from an offset other than 0 with nothing for a multi-value sysctl, and `read` reads byte by byte."""
    return "sysctl " + " ".join(map(shlex.quote, keys))


def wanted_state(host_name: str) -> tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], dict[str, str]]:
    """(proxy mode prepared for, required modules, every module, packages, sysctls) for one host."""
    spec = cluster_spec()
    settings = spec.node(host_name).prereqs
    mode = spec.kube_proxy_mode if settings.prepare_proxy_mode else "iptables"
    required_modules = BASE_MODULES + PROXY_MODE_MODULES[mode]
    modules = required_modules + tuple(m for m in settings.extra_modules if m not in required_modules)
    packages = BASE_PACKAGES + PROXY_MODE_PACKAGES[mode] + tuple(settings.extra_packages)
    return mode, required_modules, modules, packages, {**BASE_SYSCTLS, **settings.extra_sysctls}


def prereqs_node_probes(host_name: str) -> tuple[tuple[str, str], ...]:
    """The role's probes for one host (read with every other role's by deploys/cluster.py)."""
    _, _, modules, packages, sysctls = wanted_state(host_name)
    return (
        ("packages", package_probe(("Package", "db:Status-Abbrev"), packages)),
        ("modules-file", file_digest_probe(MODULES_FILE)),
        ("sysctl-file", file_digest_probe(SYSCTL_FILE)),
        ("sysctls", sysctls_probe(sysctls)),
        *((f"module {module}", module_probe(module)) for module in modules),
        ("swaps", "{ read -r _ && while read -r swap; do echo \"$swap\"; done; } < /proc/swaps"),  # all but the header
        # The lines whose third field is "swap", comments aside (awk's fields: with the shell's `read`).
        ("fstab swap", "while IFS= read -r line; do set -f; set -- $line; set +f; case $1 in '#'*) ;; "
                       '*) [ "$3" = swap ] && printf \'%s\\n\' "$line" ;; esac; done < /etc/fstab'),
        ("swap units", swap_units_probe()),
    )


@deploy("Prerequisites")
def prereqs() -> None:
    settings = cluster_spec().node(host.name).prereqs
    mode, required_modules, modules, packages, sysctls = wanted_state(host.name)
    modules_text = render("prereqs", "modules-load.conf.j2", modules=modules)
    sysctl_text = render("prereqs", "sysctl.conf.j2", sysctls=sysctls)

    probed = node_probed("prereqs", prereqs_node_probes(host.name))
    statuses = {module: first_line(probed, f"module {module}") for module in modules}
    _check_absent_modules(statuses, required_modules, mode)  # before any operation: nothing half-applied

    step = operations.step
    steps = [
        step("Install the packages every node needs", operations.packages_installed, packages=list(packages),
             dpkg_lines=lines(probed, "packages")),
        # Both files written together, then made live: modules before the sysctls some of them add.
        step(f"Persist kernel modules in {MODULES_FILE}", operations.text_file, path=MODULES_FILE,
             text=modules_text, current_digest=first_line(probed, "modules-file")),
        step(f"Persist sysctls in {SYSCTL_FILE}", operations.text_file, path=SYSCTL_FILE, text=sysctl_text,
             current_digest=first_line(probed, "sysctl-file")),
        step("Load kernel modules", operations.kernel_modules_loaded, statuses=statuses),
        step("Apply sysctls", operations.sysctls_applied, wanted=sysctls, probe_lines=lines(probed, "sysctls")),
    ]
    if settings.disable_swap:
        steps.append(step("Turn swap off, now and for good", operations.swap_off, active_swaps=lines(probed, "swaps"),
                          fstab_swaps=lines(probed, "fstab swap"), swap_units=lines(probed, "swap units")))
    operations.checks(name="Packages, kernel modules, sysctls" + (" and swap off" if settings.disable_swap else ""),
                      steps=steps)


def _check_absent_modules(statuses: dict[str, str], required: tuple[str, ...], mode: str) -> None:
    absent = [module for module, status in statuses.items() if status not in ("loaded", "loadable")]
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
