"""The prereqs role's results on every node: packages, modules, sysctls (live and persisted), swap.

What is checked follows each node's own settings (extra packages, modules and sysctls; proxy-mode
preparation; swap), so `kubewire verify` against another inventory checks what it asked for.
"""

import shlex

from kubewire.roles.prereqs import (
    BASE_MODULES,
    BASE_PACKAGES,
    BASE_SYSCTLS,
    MODULES_FILE,
    PROXY_MODE_MODULES,
    PROXY_MODE_PACKAGES,
    SYSCTL_FILE,
)
from tests.hosts.checks import check_each, node_named, nodes_where


def proxy_mode(spec, node) -> str:
    """The kube_proxy_mode the role prepared this node for."""
    return spec.kube_proxy_mode if node.prereqs.prepare_proxy_mode else "iptables"


def test_packages_for_kube_proxy_and_cni_are_installed(nodes, spec):
    def check(name, host):
        node = node_named(spec, name)
        wanted = BASE_PACKAGES + PROXY_MODE_PACKAGES[proxy_mode(spec, node)] + tuple(node.prereqs.extra_packages)
        missing = [package for package in wanted if not host.package(package).is_installed]
        assert not missing, missing
    check_each(nodes, check)


def test_chosen_proxy_mode_has_its_tools(nodes, spec):
    tool = {"iptables": "conntrack", "ipvs": "ipvsadm", "nftables": "nft"}[spec.kube_proxy_mode]
    chosen = nodes_where(nodes, spec, lambda node: node.prereqs.prepare_proxy_mode,
                         "prereqs_prepare_proxy_mode is off on every node: the node image provides the tools")

    def check(name, host):
        assert host.exists(tool), f"{tool} is missing for kube_proxy_mode {spec.kube_proxy_mode}"
    check_each(chosen, check)


def test_kernel_modules_are_persisted(nodes, spec):
    def check(name, host):
        node = node_named(spec, name)
        wanted = {*BASE_MODULES, *PROXY_MODE_MODULES[proxy_mode(spec, node)], *node.prereqs.extra_modules}
        listed = {line.strip() for line in host.file(MODULES_FILE).content_string.splitlines()
                  if line.strip() and not line.startswith("#")}
        assert wanted <= listed, wanted - listed
    check_each(nodes, check)


def test_sysctls_are_live_and_persisted(nodes, spec):
    def check(name, host):
        persisted = host.file(SYSCTL_FILE).content_string.splitlines()
        for key, value in {**BASE_SYSCTLS, **node_named(spec, name).prereqs.extra_sysctls}.items():
            assert f"{key} = {value}" in persisted, f"{key} is not persisted as {value!r}"
            live = host.run(f"sysctl -n {shlex.quote(key)}")
            # Multi-value sysctls print tab-separated (ip_local_port_range: "32768\t60999").
            assert live.rc == 0 and live.stdout.split() == value.split(), f"{key} is {live.stdout!r} live"
    check_each(nodes, check)


def test_swap_is_off(nodes, spec):
    chosen = nodes_where(nodes, spec, lambda node: node.prereqs.disable_swap,
                         "prereqs_disable_swap is off on every node: swap is the operator's")

    def check(name, host):
        assert host.file("/proc/swaps").content_string.strip().count("\n") == 0, "swap is active"
        assert not host.run("awk '!/^[[:space:]]*#/ && $3 == \"swap\"' /etc/fstab").stdout.strip()
    check_each(chosen, check)
