"""The prereqs role's results on every node: packages, modules, sysctls (live and persisted), swap."""

from kubewire.roles.prereqs import BASE_PACKAGES, BASE_SYSCTLS, MODULES_FILE, PROXY_MODE_MODULES, SYSCTL_FILE

from tests.hosts.test_nodes import check_each


def test_packages_for_kube_proxy_and_cni_are_installed(nodes, spec):
    wanted = BASE_PACKAGES + (("ipvsadm",) if spec.kube_proxy_mode == "ipvs" else ())

    def check(name, host):
        missing = [package for package in wanted if not host.package(package).is_installed]
        assert not missing, missing
    check_each(nodes, check)


def test_chosen_proxy_mode_has_its_tools(nodes, spec):
    tool = {"iptables": "conntrack", "ipvs": "ipvsadm", "nftables": "nft"}[spec.kube_proxy_mode]

    def check(name, host):
        assert host.exists(tool), f"{tool} is missing for kube_proxy_mode {spec.kube_proxy_mode}"
    check_each(nodes, check)


def test_kernel_modules_are_persisted(nodes, spec):
    wanted = {"overlay", "br_netfilter", *PROXY_MODE_MODULES[spec.kube_proxy_mode]}

    def check(name, host):
        listed = {line.strip() for line in host.file(MODULES_FILE).content_string.splitlines()
                  if line.strip() and not line.startswith("#")}
        assert wanted <= listed, wanted - listed
    check_each(nodes, check)


def test_sysctls_are_live_and_persisted(nodes):
    def check(name, host):
        persisted = host.file(SYSCTL_FILE).content_string
        for key, value in BASE_SYSCTLS.items():
            assert f"{key} = {value}" in persisted
            assert str(host.sysctl(key)) == value, f"{key} is {host.sysctl(key)} live"
    check_each(nodes, check)


def test_swap_is_off(nodes):
    def check(name, host):
        assert host.file("/proc/swaps").content_string.strip().count("\n") == 0, "swap is active"
        assert not host.run("awk '!/^[[:space:]]*#/ && $3 == \"swap\"' /etc/fstab").stdout.strip()
    check_each(nodes, check)
