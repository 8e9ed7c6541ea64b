"""The prereqs role, planned against the @fake connector: only what differs becomes an operation."""

import subprocess
from pathlib import Path

import pytest

from kubewire.facts import Probes, lines, sha256
from kubewire.operations import live_sysctls, same_sysctl_value
from kubewire.roles.prereqs import (
    BASE_PACKAGES,
    BASE_SYSCTLS,
    MissingKernelModule,
    module_probe,
    prereqs,
    sysctls_probe,
)
from kubewire.templates import render
from tests.unit.plan import fake_host, plan, probes_answer

MODULES = ("overlay", "br_netfilter")


def converged_state(**changes) -> dict:
    """What the probes print on a node that already has everything (iptables mode)."""
    modules = changes.pop("modules", MODULES)
    state = {
        "packages": [f"{package} ii " for package in changes.pop("packages", BASE_PACKAGES)],
        "modules-file": sha256(render("prereqs", "modules-load.conf.j2", modules=modules)),
        "sysctl-file": sha256(render("prereqs", "sysctl.conf.j2", sysctls=BASE_SYSCTLS)),
        "sysctls": [f"{key}={value}" for key, value in BASE_SYSCTLS.items()],
        **{f"module {module}": "loaded" for module in modules},
        "swaps": [], "fstab swap": [], "swap units": [],
    }
    state.update(changes)
    return state


def plan_node(state: dict, settings: dict | None = None, **host_data):
    node = fake_host("controlplane", "192.168.56.10", probes_answer(state), **host_data)
    return plan([node], [], prereqs, settings)


def plan_one(state: dict, settings: dict | None = None, **host_data) -> list[str]:
    return plan_node(state, settings, **host_data)["controlplane"]


def test_a_converged_node_gets_no_operations():
    assert plan_one(converged_state()) == []


def test_missing_packages_are_installed_from_apt():
    commands = plan_one(converged_state(packages=("iproute2",)))
    install = [c for c in commands if "apt-get" in c and " install " in c]
    assert install and all(package in install[0] for package in ("conntrack", "ipset", "nftables", "socat"))


def test_a_loadable_module_is_loaded_and_a_loaded_one_left_alone():
    commands = plan_one(converged_state(**{"module br_netfilter": "loadable"}))
    assert "modprobe br_netfilter" in commands
    assert not any("modprobe overlay" in c for c in commands)


def test_a_required_module_that_is_absent_stops_the_run_naming_it():
    with pytest.raises(MissingKernelModule, match=r"controlplane: every Kubernetes node needs .*br_netfilter"):
        plan_one(converged_state(**{"module br_netfilter": "absent"}))


def test_ipvs_mode_needs_ip_vs_modules_and_ipvsadm():
    ipvs_modules = MODULES + ("ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack")
    state = converged_state(modules=ipvs_modules)
    state["module ip_vs"] = "absent"
    with pytest.raises(MissingKernelModule, match=r"kube_proxy_mode 'ipvs' needs the kernel module\(s\) ip_vs\b"):
        plan_one(state, {"kube_proxy_mode": "ipvs"})
    state["module ip_vs"] = "loadable"
    commands = plan_one(state, {"kube_proxy_mode": "ipvs"})
    assert "modprobe ip_vs" in commands
    assert any("ipvsadm" in c and "install" in c for c in commands)


def test_an_absent_extra_module_is_only_reported():
    state = converged_state(modules=MODULES + ("dummy",))
    state["module dummy"] = "absent"
    assert plan_one(state, prereqs_extra_modules=["dummy"]) == []


def test_wrong_live_sysctl_is_set_and_changed_files_rewritten():
    state = converged_state(sysctls=["net.ipv4.ip_forward=0", "net.bridge.bridge-nf-call-iptables=1",
                                     "net.bridge.bridge-nf-call-ip6tables=1"])
    state["sysctl-file"] = ""
    planned = plan_node(state)
    assert "sysctl -w net.ipv4.ip_forward=1" in planned["controlplane"]
    persisted = planned.uploaded("controlplane", "/etc/sysctl.d/90-kubewire.conf")
    assert {line for line in persisted.splitlines() if line and not line.startswith("#")} == {
        f"{key} = {value}" for key, value in BASE_SYSCTLS.items()}


def test_swap_is_turned_off_now_and_for_good():
    state = converged_state(swaps=["/swapfile file 1048572 0 -2"], **{"fstab swap": ["/swapfile none swap sw 0 0"],
                            "swap units": ["swapfile.swap"]})
    commands = plan_one(state)
    assert "swapoff -a" in commands
    assert any(c.startswith("sed -i") and "/etc/fstab" in c for c in commands)
    assert "systemctl mask swapfile.swap" in commands
    assert plan_one(state, prereqs_disable_swap=False) == []


def test_a_sysctl_value_with_a_space_is_applied_and_persisted_as_one_value():
    wanted = {**BASE_SYSCTLS, "net.ipv4.ip_local_port_range": "32768 60999"}
    state = converged_state(sysctls=[f"{key}={value}" for key, value in BASE_SYSCTLS.items()]
                            + ["net.ipv4.ip_local_port_range=32768\t61000"])
    state["sysctl-file"] = ""
    planned = plan_node(state, prereqs_extra_sysctls={"net.ipv4.ip_local_port_range": "32768 60999"})
    assert "sysctl -w 'net.ipv4.ip_local_port_range=32768 60999'" in planned["controlplane"]
    persisted = planned.uploaded("controlplane", "/etc/sysctl.d/90-kubewire.conf")
    assert "net.ipv4.ip_local_port_range = 32768 60999\n" in persisted
    state = converged_state(sysctls=[f"{key}={value}" for key, value in wanted.items()])
    state["sysctl-file"] = sha256(persisted)
    assert plan_one(state, prereqs_extra_sysctls={"net.ipv4.ip_local_port_range": "32768 60999"}) == []


def run_probes(*probes: tuple[str, str]) -> dict[str, list[str]]:
    """The probes run by a real local shell, parsed as on a node."""
    output = subprocess.run(["sh", "-c", Probes().command(probes)], capture_output=True, text=True, check=True)
    return Probes().process(output.stdout.splitlines())


def test_the_sysctl_probe_reads_a_multi_value_sysctl_as_the_operation_compares_it():
    key = "net.ipv4.ip_local_port_range"
    kernel = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()  # "32768\t60999\n"
    live = live_sysctls(lines(run_probes(("sysctls", sysctls_probe(["kernel.no_such_key", key]))), "sysctls"))
    assert same_sysctl_value(live[key], " ".join(kernel.split()))


def test_the_module_probe_quotes_the_module_name(tmp_path):
    marker = tmp_path / "ran"
    probed = run_probes(("odd", module_probe(f"x;touch {marker}")), ("spaced", module_probe("a b")))
    assert probed == {"odd": ["absent"], "spaced": ["absent"]}
    assert not marker.exists()
