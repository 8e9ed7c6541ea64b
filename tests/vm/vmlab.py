"""The Vagrant lab on a machine without hardware virtualisation, cut off from every network.

Everything runs inside one network namespace made here, whose only links are loopback and the
bridges libvirt makes for the lab (so no route can lead off this machine): libvirtd and virtlogd
(started by hand: PID 1 here is not systemd), the QEMU processes libvirt starts, the apt
repository the VMs install from, vagrant, pyinfra and testinfra. The namespace is checked
before any VM starts. `down` removes every domain, volume and network the lab made, stops the
processes it started by their PIDs, and deletes the namespace.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from kubewire import lab
from tests.vm import box

ROOT = Path(__file__).resolve().parents[2]
NETNS = "kubewire-vm"
STATE_DIR = lab.STATE_DIR.parent / "vm"
STATE_FILE = STATE_DIR / "state.json"  # PIDs we started, and what existed before
# Vagrant's own state (the added box) lives with the box cache: the box is added once.
VAGRANT_HOME = lab.CACHE_DIR / "vagrant.d"
BOX_NAME = f"kubewire/bookworm-{box.cache_key()}"
LIBVIRT_SOCKET = Path("/run/libvirt/libvirt-sock")
VIRSH = ("virsh", "--connect", "qemu:///system", "--quiet")
STORAGE_POOL = "default"  # vagrant-libvirt's default pool (/var/lib/libvirt/images)
PREFIX = "kubewire-"  # of every domain and network the Vagrantfile makes
MACHINES = ("controlplane", "node01", "node02")
APT_PORT = 8080  # box.APT_REPOSITORY_URL's port
UP_TIMEOUT = 900  # seconds for `vagrant up` of three VMs under emulation (measured: 2-4 minutes)
DAEMON_TIMEOUT = 180  # seconds for libvirtd to answer (a few seconds idle; the machine may be busy)
NICENESS = 10  # the VMs share two cores with other work


class VmLabError(Exception):
    pass


class VagrantHung(VmLabError):
    pass


def vagrant_env() -> dict:
    return {
        **os.environ, "VAGRANT_HOME": str(VAGRANT_HOME), "VAGRANT_DEFAULT_PROVIDER": "libvirt",
        "VAGRANT_CHECKPOINT_DISABLE": "1", "VAGRANT_BOX_UPDATE_CHECK_DISABLE": "1",
        "KUBEWIRE_BOX": BOX_NAME, "KUBEWIRE_LIBVIRT_MANAGEMENT_MODE": "none",
        "LIBVIRT_DEFAULT_URI": "qemu:///system",
    }


def in_netns(*command: str) -> list[str]:
    return ["ip", "netns", "exec", NETNS, *command]


def run(*command: str, timeout: float = 120, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise VmLabError(f"{' '.join(command)} failed ({result.returncode}):\n"
                         f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def vagrant(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    return run(*in_netns("vagrant", *args), timeout=timeout, check=check, cwd=ROOT, env=vagrant_env())


def virsh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run(*VIRSH, *args, check=check)


# -- the namespace ------------------------------------------------------------------------


def namespace_links() -> list[dict]:
    return json.loads(run("ip", "-n", NETNS, "-j", "-d", "link", "show").stdout or "[]")


def namespace_escape_routes() -> list[str]:
    """Every way out of the namespace: links that are not loopback, a bridge, or a VM's tap
    on one of them, and routes that are a default route or use another link."""
    ours = {link["ifname"] for link in namespace_links()
            if link["ifname"] == "lo"
            or link.get("linkinfo", {}).get("info_kind") in ("bridge", "tun")
            or link.get("linkinfo", {}).get("info_slave_kind") == "bridge"}
    problems = [f"link {link['ifname']} ({link.get('linkinfo', {}).get('info_kind', 'device')})"
                for link in namespace_links() if link["ifname"] not in ours]
    for family in ("-4", "-6"):
        routes = json.loads(run("ip", "-n", NETNS, family, "-j", "route", "show", "table", "all").stdout or "[]")
        for route in routes:
            if route.get("dst") == "default" or route.get("gateway"):
                problems.append(f"route {route.get('dst')} via {route.get('gateway')} dev {route.get('dev')}")
            elif route.get("dev") not in ours:
                problems.append(f"route {route.get('dst')} dev {route.get('dev')}")
    return problems


def assert_isolated() -> None:
    problems = namespace_escape_routes()
    if problems:
        raise VmLabError(f"namespace {NETNS} has a way off this machine: {'; '.join(problems)}")


_HOME_NETNS: list = []  # this process's own network namespace, while it is in the lab's


def _setns(path: str) -> None:
    with open(path) as handle:
        if ctypes.CDLL(None, use_errno=True).setns(handle.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
            raise VmLabError(f"setns({path}): {os.strerror(ctypes.get_errno())}")


def join_namespace() -> None:
    """Put this process's network in the lab's namespace, so its SSH to the VMs stays there."""
    _HOME_NETNS.append(open("/proc/self/ns/net"))
    _setns(f"/run/netns/{NETNS}")


def leave_namespace() -> None:
    """Back to this process's own namespace, so the lab's can be deleted."""
    while _HOME_NETNS:
        home = _HOME_NETNS.pop()
        _setns(f"/proc/self/fd/{home.fileno()}")
        home.close()


# -- processes ----------------------------------------------------------------------------


def _state() -> dict:
    try:
        return json.loads(STATE_FILE.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _remember(key: str, value) -> None:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(json.dumps({**_state(), key: value}))


def _start(name: str, *command: str) -> int:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    log = open(STATE_DIR / f"{name}.log", "ab")
    process = subprocess.Popen(in_netns("nice", "-n", str(NICENESS), *command), stdin=subprocess.DEVNULL,
                               stdout=log, stderr=log, start_new_session=True)
    log.close()
    _remember("pids", {**_state().get("pids", {}), name: process.pid})
    return process.pid


def _exists(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    except FileNotFoundError:
        return False


def _stop(pids: list[int], timeout: float = 20) -> None:
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        if _exists(pid):
            _signal(pid, signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def namespace_pids() -> list[int]:
    if NETNS not in lab.netns_list():
        return []
    return [int(pid) for pid in run("ip", "netns", "pids", NETNS, check=False).stdout.split()
            if _exists(int(pid))]


def _wait_for(what: str, ready, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise VmLabError(f"{what} not ready after {timeout:.0f}s (logs in {STATE_DIR})")
        time.sleep(0.2)


# -- up and down --------------------------------------------------------------------------


def up(log=print, machines: tuple[str, ...] = MACHINES, after_hang: bool = False) -> dict:
    """Namespace, libvirt, apt repository, box; then `vagrant up` (one retry). Timings in seconds."""
    timings = {}
    if namespace_pids() or NETNS in lab.netns_list() or _leftover_libvirt_files():
        log("removing a VM lab left behind")
        down(log=lambda *_: None)
    started = time.monotonic()
    box_file = box.ensure_box(log)
    _, repo = lab.ensure_rootfs(log, suite=box.SUITE)
    lab.ensure_cni_tarball(box.SUITE)
    timings["box build"] = time.monotonic() - started

    run("ip", "netns", "add", NETNS)
    run("ip", "-n", NETNS, "link", "set", "lo", "up")
    resolv = Path("/etc/netns") / NETNS / "resolv.conf"  # `ip netns exec` mounts it: no DNS servers
    resolv.parent.mkdir(parents=True, exist_ok=True)
    resolv.write_text("")
    assert_isolated()

    _start("virtlogd", "virtlogd")
    _start("libvirtd", "libvirtd")
    _wait_for("libvirtd", lambda: LIBVIRT_SOCKET.exists() and virsh("version", check=False).returncode == 0,
              DAEMON_TIMEOUT)
    _remember("pool existed", virsh("pool-info", STORAGE_POOL, check=False).returncode == 0)
    if after_hang:  # what libvirtd did for the killed vagrant after `down` removed the rest
        _remove_libvirt_objects()
    _start("apt-repository", "python3", "-m", "http.server", str(APT_PORT), "--directory", str(repo))

    if BOX_NAME not in vagrant("box", "list").stdout:
        vagrant("box", "add", "--name", BOX_NAME, str(box_file), timeout=600)

    started = time.monotonic()
    try:
        timings["retried"] = _vagrant_up(log, machines)
    except VagrantHung as hung:
        if after_hang:
            raise VmLabError(f"vagrant up hung twice (logs in {STATE_DIR})") from hung
        # libvirtd may still carry out what the killed vagrant asked of it (a domain defined after any
        # cleanup: "domain already exists" on the retry), so the whole lab goes, libvirtd with it.
        log(f"{hung}; taking the VM lab down and bringing it up once more")
        down(log)
        return {**up(log, machines, after_hang=True), "retried": list(machines)}
    timings["vagrant up"] = time.monotonic() - started
    assert_isolated()
    return timings


def _vagrant_up(log, machines: tuple[str, ...], timeout: float = UP_TIMEOUT) -> list[str]:
    """`vagrant up`; machines that fail to come up are destroyed and brought up once more. A hung one
    raises VagrantHung, once vagrant is killed."""
    assert_isolated()
    returncode, output = _vagrant_up_once(machines, timeout)
    (STATE_DIR / "vagrant-up.log").write_text(output)
    if returncode is None:
        raise VagrantHung(f"vagrant up hung for {timeout:.0f}s:\n{output[-4000:]}")
    if returncode == 0:
        return []
    failed = [name for name in machines if "running" not in vagrant("status", name, check=False).stdout
              or vagrant("ssh", name, "-c", "true", check=False, timeout=60).returncode != 0]
    failed = failed or list(machines)
    log(f"vagrant up failed ({returncode}) for {', '.join(failed)}; retrying once:\n{output[-4000:]}")
    vagrant("destroy", "-f", *failed, timeout=300, check=False)
    assert_isolated()
    vagrant("up", "--provider=libvirt", *failed, timeout=UP_TIMEOUT)
    return failed


def _vagrant_up_once(machines: tuple[str, ...], timeout: float) -> tuple[int | None, str]:
    """`vagrant up` in a process group of its own: (its exit status, or None when it hung and the
    group was killed, by its id; its output)."""
    process = subprocess.Popen(in_netns("vagrant", "up", "--provider=libvirt", *machines), cwd=ROOT,
                               env=vagrant_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # vagrant and what it started (ssh, rsync); not libvirt's QEMU
        output, _ = process.communicate()
        return None, output


def _leftover_libvirt_files() -> list[Path]:
    config = Path("/etc/libvirt")
    return sorted([*config.glob(f"qemu/{PREFIX}*.xml"), *config.glob(f"qemu/networks/{PREFIX}*.xml"),
                   *Path("/var/lib/libvirt/images").glob(f"{PREFIX}*"),
                   *Path("/var/lib/libvirt/images").glob("kubewire-VAGRANTSLASH-*")])


def _libvirt_objects() -> dict[str, list[str]]:
    domains = [name for name in virsh("list", "--all", "--name", check=False).stdout.split() if name.startswith(PREFIX)]
    networks = [name for name in virsh("net-list", "--all", "--name", check=False).stdout.split()
                if name.startswith(PREFIX)]
    volumes = []
    if virsh("pool-info", STORAGE_POOL, check=False).returncode == 0:
        volumes = [line.split()[0] for line in virsh("vol-list", STORAGE_POOL, check=False).stdout.splitlines()
                   if line.strip().startswith(PREFIX)]
    return {"domains": domains, "networks": networks, "volumes": volumes}


def _remove_libvirt_objects() -> None:
    """Every domain, network and volume of the lab's (their names start with PREFIX)."""
    objects = _libvirt_objects()
    for domain in objects["domains"]:
        virsh("destroy", domain, check=False)
        virsh("undefine", domain, "--remove-all-storage", check=False)
    for network in objects["networks"]:
        virsh("net-destroy", network, check=False)
        virsh("net-undefine", network, check=False)
    for volume in _libvirt_objects()["volumes"]:
        virsh("vol-delete", volume, "--pool", STORAGE_POOL, check=False)


def down(log=print) -> dict:
    """Destroy the VMs and everything libvirt holds for them, stop our processes by PID,
    delete the namespace. Returns what was left (empty lists when clean) and the time taken."""
    started = time.monotonic()
    daemons_up = LIBVIRT_SOCKET.exists() and virsh("version", check=False).returncode == 0
    if daemons_up and (ROOT / ".vagrant/machines").exists():
        vagrant("destroy", "-f", timeout=300, check=False)
    if daemons_up:
        _remove_libvirt_objects()
        if _state().get("pool existed") is False:  # vagrant-libvirt defined it for this lab
            virsh("pool-destroy", STORAGE_POOL, check=False)
            virsh("pool-undefine", STORAGE_POOL, check=False)
    pids = list(_state().get("pids", {}).values())
    _stop([pid for pid in pids if _exists(pid)])
    _stop(namespace_pids(), timeout=10)  # anything else still inside (a QEMU libvirt left behind)
    if NETNS in lab.netns_list():
        run("ip", "netns", "delete", NETNS, check=False)
    shutil.rmtree(Path("/etc/netns") / NETNS, ignore_errors=True)
    STATE_FILE.unlink(missing_ok=True)
    left = {"processes": [pid for pid in pids if _exists(pid)], "namespace": NETNS in lab.netns_list(),
            "libvirt files": [str(path) for path in _leftover_libvirt_files()]}
    log(f"VM lab down in {time.monotonic() - started:.0f}s")
    return {"left": left, "seconds": time.monotonic() - started}
