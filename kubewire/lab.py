"""A lab of real Debian nodes on one machine.

Each node is a debootstrap'd bookworm root, copy-on-write per node (overlayfs), booted with
`systemd-nspawn --boot` (systemd is PID 1) inside its own network namespace, and plugged
into a Linux bridge with a veth pair -- the `ip netns` / `ip link` recipe of the course:

    ip link add kw-br0 type bridge; ip addr add 192.168.56.1/24 dev kw-br0
    ip netns add kw-node01
    ip link add kw-node01 type veth peer name eth0 netns kw-node01
    ip link set kw-node01 master kw-br0 up
    ip -n kw-node01 addr add 192.168.56.11/24 dev eth0

Nodes have no default route and no NAT: nothing leaves the bridge. Packages reach them from
the controller, as at an air-gapped site: a local apt repository, built once beside the
cached root and mounted read-only into every node.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

LAB_NETWORK = IPv4Network("192.168.56.0/24")
BRIDGE = "kw-br0"
BRIDGE_IP = LAB_NETWORK.network_address + 1
FIRST_NODE_IP = LAB_NETWORK.network_address + 10
MAX_NODES = 200
PREFIX = "kw-"  # netns and host-side veth names; with "controlplane" this is 15 chars, the limit

# Machine-wide runtime state (one lab per machine: the bridge address is fixed), so that a lab
# left behind by another checkout is found and removed by `up` and `down`.
STATE_DIR = Path(os.environ.get("KUBEWIRE_STATE_DIR", "/var/lib/kubewire/lab"))
CACHE_DIR = Path(os.environ.get("KUBEWIRE_CACHE_DIR", "/var/cache/kubewire"))
# SSH keys and node host keys: kept across down/up so known_hosts stays valid (git-ignored).
KEYS_DIR = Path(os.environ.get("KUBEWIRE_LAB_DIR", PROJECT_ROOT / ".lab"))

SUITE = "bookworm"
# In the cached root: what a minimal booting node with SSH needs.
ROOTFS_PACKAGES = ("systemd-sysv", "dbus", "openssh-server", "iproute2", "procps", "iputils-ping", "netbase")
# In the controller's local apt repository: what roles may install on offline lab nodes.
REPO_PACKAGES = (
    "conntrack", "ipset", "iptables", "nftables", "socat", "ipvsadm", "kmod", "netcat-openbsd",
    "containernetworking-plugins",
)
# The CNI plugins as a release-style tarball (plugins at its top level), built from Debian's
# containernetworking-plugins: the lab installs CNI through the same tarball code path as
# an upstream release.
CNI_PACKAGE = "containernetworking-plugins"
NODE_REPO_MOUNT = "/srv/kubewire-apt"
# Timers that would only try to reach a mirror the nodes cannot see.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
                "dpkg-db-backup.timer", "getty@tty1.service")

SSH_PORT = 22
# Every node's systemd holds several inotify instances; the kernel default (128 per user,
# and all nodes run as root) runs out at about 20 nodes ("Too many open files" at boot).
INOTIFY_INSTANCES_PER_NODE = 32
BOOT_TIMEOUT = 60.0


class LabError(Exception):
    pass


@dataclass(frozen=True)
class LabNode:
    name: str
    index: int

    @property
    def ip(self) -> IPv4Address:
        return FIRST_NODE_IP + self.index

    @property
    def netns(self) -> str:
        return PREFIX + self.name

    @property
    def veth(self) -> str:
        return PREFIX + self.name

    @property
    def mac(self) -> str:
        # Locally administered, unique per index.
        return "02:6b:77:00:{:02x}:{:02x}".format(*divmod(self.index, 256))

    @property
    def machine_uuid(self) -> str:
        # Stable per node name, distinct between nodes: the node's /etc/machine-id.
        return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{self.name}.lab.kubewire"))

    @property
    def groups(self) -> tuple[str, ...]:
        return ("controlplane",) if self.index == 0 else ("workers",)

    @property
    def dir(self) -> Path:
        return STATE_DIR / "nodes" / self.name

    @property
    def root(self) -> Path:
        return self.dir / "root"


def node_names(count: int) -> list[str]:
    return ["controlplane"] + [f"node{number:02d}" for number in range(1, count)]


def lab_nodes(count: int) -> list[LabNode]:
    if not 1 <= count <= MAX_NODES:
        raise LabError(f"--nodes {count}: the lab holds 1 to {MAX_NODES} nodes")
    return [LabNode(name, index) for index, name in enumerate(node_names(count))]


def assert_lab_address(address: str) -> IPv4Address:
    """Refuse any target outside the lab bridge network before connecting to it."""
    try:
        ip = IPv4Address(address)
    except ValueError:
        raise LabError(f"{address!r} is not a lab node address") from None
    if ip not in LAB_NETWORK or ip == BRIDGE_IP:
        raise LabError(f"{ip} is outside the lab network {LAB_NETWORK}; refusing to connect")
    return ip


# -- shell helpers -------------------------------------------------------------------------


def run(*args: str, check: bool = True, quiet: bool = False, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(args, text=True, capture_output=True, **kwargs)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", *args, check=check)


def link_exists(name: str) -> bool:
    return ip("link", "show", "dev", name, check=False).returncode == 0


def netns_list() -> list[str]:
    out = ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# -- the cached root and the local apt repository -------------------------------------------


def controller_mirror() -> str:
    """The Debian mirror the controller itself uses (its apt sources), or KUBEWIRE_DEBIAN_MIRROR."""
    if os.environ.get("KUBEWIRE_DEBIAN_MIRROR"):
        return os.environ["KUBEWIRE_DEBIAN_MIRROR"]
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]
    for path in sources:
        if not path.exists():
            continue
        text = path.read_text()
        for match in re.finditer(r"^URIs:\s*(\S+)", text, re.M):
            if "security" not in match.group(1):
                return match.group(1)
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", text, re.M):
            return match.group(1)
    raise LabError("cannot find the controller's Debian mirror; set KUBEWIRE_DEBIAN_MIRROR")


def cache_key() -> str:
    recipe = json.dumps([SUITE, ROOTFS_PACKAGES, REPO_PACKAGES, MASKED_UNITS, NODE_REPO_MOUNT, 2])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def cached_rootfs() -> tuple[Path, Path]:
    key = cache_key()
    return CACHE_DIR / f"rootfs-{SUITE}-{key}", CACHE_DIR / f"apt-{SUITE}-{key}"


def ensure_rootfs(log=print) -> tuple[Path, Path]:
    """Build the node root and the local apt repository once; reuse them afterwards."""
    rootfs, repo = cached_rootfs()
    if (rootfs / ".kubewire-complete").exists() and (repo / "Packages").exists():
        return rootfs, repo
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    building = rootfs.with_name(rootfs.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)
    mirror = controller_mirror()
    log(f"building the node root in {rootfs} (debootstrap {SUITE}, once; about a minute)")
    run("debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}",
        SUITE, str(building), mirror)

    log(f"downloading {len(REPO_PACKAGES)} packages and their dependencies for the local repository")
    shutil.copy("/etc/resolv.conf", building / "etc/resolv.conf")
    chroot = ("chroot", str(building))
    run(*chroot, "apt-get", "clean")
    run(*chroot, "apt-get", "update", "-q")
    run(*chroot, "apt-get", "install", "-q", "-y", "--download-only", "--no-install-recommends", *REPO_PACKAGES,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    repo.mkdir(parents=True)
    for deb in (building / "var/cache/apt/archives").glob("*.deb"):
        shutil.move(deb, repo / deb.name)
    packages = run("dpkg-scanpackages", "--multiversion", ".", "/dev/null", cwd=repo).stdout
    (repo / "Packages").write_text(packages)
    # The repository must be readable by apt's unprivileged _apt user.
    os.chmod(repo, 0o755)
    for item in repo.iterdir():
        os.chmod(item, 0o644)

    log("preparing the node root")
    etc = building / "etc"
    (etc / "apt/sources.list").write_text(f"deb [trusted=yes] file:{NODE_REPO_MOUNT} ./\n")
    for path in (building / "var/lib/apt/lists").glob("*"):
        if path.is_file():
            path.unlink()
    run(*chroot, "apt-get", "clean")
    (etc / "resolv.conf").write_text("")  # no DNS off the bridge
    (etc / "machine-id").write_text("")  # written per node
    (etc / "hostname").unlink(missing_ok=True)
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()  # each node gets its own, kept in the lab directory
    (etc / "ssh/sshd_config.d/kubewire-lab.conf").write_text(
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
    )
    for unit in MASKED_UNITS:
        mask = etc / "systemd/system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    (building / ".kubewire-complete").write_text(cache_key() + "\n")
    building.rename(rootfs)
    return rootfs, repo


def cni_tarball() -> Path:
    return cached_rootfs()[1].with_name(f"cni-plugins-{cache_key()}.tgz")


def cni_tarball_version() -> str:
    """The Debian package's upstream version (1.1.1 from 1.1.1+ds1-3+b5)."""
    debs = sorted(cached_rootfs()[1].glob(f"{CNI_PACKAGE}_*.deb"))
    return re.split(r"[+~-]", debs[0].name.split("_")[1])[0] if debs else "unknown"


def cni_tarball_sha256() -> str | None:
    sidecar = cni_tarball().with_suffix(".tgz.sha256")
    return sidecar.read_text().split()[0] if sidecar.exists() else None


def ensure_cni_tarball() -> Path:
    tarball = cni_tarball()
    if cni_tarball_sha256():
        return tarball
    deb = next(cached_rootfs()[1].glob(f"{CNI_PACKAGE}_*.deb"))
    with tempfile.TemporaryDirectory() as unpacked:
        run("dpkg-deb", "-x", str(deb), unpacked)
        plugins = Path(unpacked) / "usr/lib/cni"
        run("tar", "-czf", str(tarball), "--owner=0", "--group=0", "-C", str(plugins),
            *sorted(path.name for path in plugins.iterdir()))
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    tarball.with_suffix(".tgz.sha256").write_text(f"{digest}  {tarball.name}\n")
    return tarball


# -- keys ----------------------------------------------------------------------------------


def client_key() -> Path:
    return KEYS_DIR / "id_ed25519"


def known_hosts_file() -> Path:
    return KEYS_DIR / "known_hosts"


def ssh_config_file() -> Path:
    return KEYS_DIR / "ssh_config"


def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path))
    os.chmod(path, 0o600)


def host_key(node: LabNode) -> Path:
    return KEYS_DIR / "hostkeys" / node.name / "ssh_host_ed25519_key"


def ensure_keys(nodes: list[LabNode]) -> None:
    KEYS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(KEYS_DIR, 0o700)
    _keygen(client_key(), "kubewire-lab")
    lines, config = [], []
    for node in nodes:
        _keygen(host_key(node), f"root@{node.name}")
        public = host_key(node).with_suffix(".pub").read_text().split()[:2]
        lines.append(f"{node.ip} {' '.join(public)}")
        config.append(
            f"Host {node.name} {node.ip}\n  HostName {node.ip}\n  User root\n"
            f"  IdentityFile {client_key()}\n  UserKnownHostsFile {known_hosts_file()}\n"
            "  StrictHostKeyChecking yes\n  IdentitiesOnly yes\n"
        )
    _write_private(known_hosts_file(), "\n".join(lines) + "\n")
    _write_private(ssh_config_file(), "\n".join(config))


def _write_private(path: Path, text: str) -> None:
    path.write_text(text)
    os.chmod(path, 0o600)


# -- state ---------------------------------------------------------------------------------


def state_file() -> Path:
    return STATE_DIR / "state.json"


def read_state() -> dict:
    try:
        return json.loads(state_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def lab_node_count() -> int | None:
    """How many nodes the running lab has, or None when no lab is up."""
    nodes = read_state().get("nodes")
    return len(nodes) if nodes else None


# -- up and down ---------------------------------------------------------------------------


def up(count: int = 3, recreate: bool = False, log=print) -> list[LabNode]:
    """Build a lab of `count` nodes; a healthy lab of that size already up is kept as it is."""
    nodes = lab_nodes(count)
    if not recreate and _healthy(nodes):
        log(f"the lab's {count} nodes are already up (kubewire lab up --recreate starts afresh)")
        return nodes
    if read_state() or _leftovers():
        log("removing a lab left behind")
        down(log=lambda *_: None)
    rootfs, repo = ensure_rootfs(log)
    ensure_cni_tarball()
    ensure_keys(nodes)
    started = time.monotonic()
    _raise_inotify_limit(len(nodes))
    _bridge_up()
    state = {"nodes": [], "bridge": BRIDGE, "keys_dir": str(KEYS_DIR)}
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    try:
        for node in nodes:
            _prepare_root(node, rootfs)
            _wire(node)
            pid = _spawn(node, repo)
            state["nodes"].append({**asdict(node), "ip": str(node.ip), "pid": pid})
            _write_state(state)
        _wait_for_ssh(nodes)
    except BaseException:
        down(log=lambda *_: None)
        raise
    log(f"{len(nodes)} nodes up in {time.monotonic() - started:.1f}s on {BRIDGE} ({LAB_NETWORK})")
    return nodes


def _healthy(nodes: list[LabNode]) -> bool:
    state = read_state()
    entries = state.get("nodes", [])
    # A lab made from another checkout has other keys: this checkout could not log in.
    return (state.get("keys_dir") == str(KEYS_DIR)
            and [entry["name"] for entry in entries] == [node.name for node in nodes]
            and all(_alive(entry["pid"]) for entry in entries) and all(_ssh_answers(node) for node in nodes))


def _write_state(state: dict) -> None:
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.rename(state_file())


def _raise_inotify_limit(count: int) -> None:
    limit = Path("/proc/sys/fs/inotify/max_user_instances")
    wanted = 128 + INOTIFY_INSTANCES_PER_NODE * count
    if int(limit.read_text()) < wanted:
        limit.write_text(f"{wanted}\n")


def _bridge_up() -> None:
    if not link_exists(BRIDGE):
        ip("link", "add", BRIDGE, "type", "bridge")
    ip("addr", "replace", f"{BRIDGE_IP}/{LAB_NETWORK.prefixlen}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")
    # Belt and braces: nothing from the bridge is routed anywhere else by this machine.
    rules = (
        f"table inet kubewire_lab {{\n"
        f"  chain forward {{ type filter hook forward priority -10; policy accept;\n"
        f'    iifname "{BRIDGE}" oifname != "{BRIDGE}" drop\n'
        f'    oifname "{BRIDGE}" iifname != "{BRIDGE}" drop\n  }}\n}}\n'
    )
    run("nft", "-f", "-", input=rules)


def _prepare_root(node: LabNode, rootfs: Path) -> None:
    for sub in ("upper", "work", "root"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    run("mount", "-t", "overlay", "overlay", "-o",
        f"lowerdir={rootfs},upperdir={node.dir / 'upper'},workdir={node.dir / 'work'}", str(node.root))
    etc = node.root / "etc"
    (etc / "hostname").write_text(node.name + "\n")
    (etc / "machine-id").write_text(uuid.UUID(node.machine_uuid).hex + "\n")
    ssh_dir = node.root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    shutil.copy(client_key().with_suffix(".pub"), ssh_dir / "authorized_keys")
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    for suffix in ("", ".pub"):
        target = etc / "ssh" / ("ssh_host_ed25519_key" + suffix)
        shutil.copy(str(host_key(node)) + suffix, target)
        os.chmod(target, 0o600 if not suffix else 0o644)


def _wire(node: LabNode) -> None:
    ip("netns", "add", node.netns)
    ip("link", "add", node.veth, "type", "veth", "peer", "name", "eth0", "netns", node.netns)
    ip("link", "set", node.veth, "master", BRIDGE, "up")
    ip("-n", node.netns, "link", "set", "lo", "up")
    ip("-n", node.netns, "link", "set", "eth0", "address", node.mac)
    ip("-n", node.netns, "addr", "add", f"{node.ip}/{LAB_NETWORK.prefixlen}", "dev", "eth0")
    ip("-n", node.netns, "link", "set", "eth0", "up")


def spawn_command(node: LabNode, repo: Path) -> list[str]:
    return [
        "systemd-nspawn", "--boot", f"--directory={node.root}", f"--machine={node.name}",
        f"--network-namespace-path=/run/netns/{node.netns}", f"--uuid={node.machine_uuid}",
        "--register=no", "--keep-unit", "--console=passive", f"--bind-ro={repo}:{NODE_REPO_MOUNT}",
        "--private-network",
    ]


def _spawn(node: LabNode, repo: Path) -> int:
    log_file = open(node.dir / "console.log", "ab")
    process = subprocess.Popen(
        spawn_command(node, repo), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
        start_new_session=True,
    )
    log_file.close()
    return process.pid


def _state_entry(state: dict, name: str) -> dict:
    entry = next((n for n in state.get("nodes", []) if n["name"] == name), None)
    if entry is None:
        raise LabError(f"no lab node named {name!r}; see `kubewire lab status`")
    return entry


def start_node(name: str) -> None:
    """Start a stopped node again on its kept state and address (after a reboot inside it)."""
    state = read_state()
    entry = _state_entry(state, name)
    if _alive(entry["pid"]):
        return
    node = LabNode(entry["name"], entry["index"])
    entry["pid"] = _spawn(node, cached_rootfs()[1])
    _write_state(state)
    _wait_for_ssh([node])


def reboot_node(name: str, timeout: float = 30.0) -> None:
    """Reboot a node as its own admin would (`systemctl reboot` inside it), keeping its state.

    The node's systemd shuts down, systemd-nspawn exits, and the node is started again on the
    same root with a fresh network namespace (same link, MAC and address): kernel network
    state -- sysctls, nftables, routes -- starts empty, as on a real machine after a reboot,
    so what comes back is what the node restores at boot."""
    entry = _state_entry(read_state(), name)
    node = LabNode(entry["name"], entry["index"])
    subprocess.run(ssh_command(name, ["systemctl", "reboot"]), capture_output=True, timeout=timeout)
    deadline = time.monotonic() + timeout
    while _exists(entry["pid"]):
        if time.monotonic() > deadline:
            raise LabError(f"{name} did not shut down within {timeout:.0f}s")
        time.sleep(0.1)
    ip("netns", "delete", node.netns)
    # The kernel frees the namespace, and its veth pair, asynchronously.
    deadline = time.monotonic() + 5
    while link_exists(node.veth) and time.monotonic() < deadline:
        time.sleep(0.05)
    if link_exists(node.veth):
        ip("link", "delete", node.veth)
    _wire(node)
    start_node(node.name)


def _ssh_answers(node: LabNode) -> bool:
    try:
        with socket.create_connection((str(node.ip), SSH_PORT), timeout=0.5) as sock:
            return sock.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _wait_for_ssh(nodes: list[LabNode]) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    waiting = list(nodes)
    while waiting:
        waiting = [node for node in waiting if not _ssh_answers(node)]
        if waiting and time.monotonic() > deadline:
            names = ", ".join(node.name for node in waiting)
            console = waiting[0].dir / "console.log"
            tail = console.read_text(errors="replace").splitlines()[-15:] if console.exists() else []
            raise LabError(f"no SSH from {names} after {BOOT_TIMEOUT:.0f}s; {waiting[0].name}'s console ends:\n"
                           + "\n".join(tail))
        if waiting:
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"systemd-nspawn")


def _leftovers() -> bool:
    return (link_exists(BRIDGE) or any(name.startswith(PREFIX) for name in netns_list())
            or bool(_our_mounts()))


def _our_mounts() -> list[str]:
    prefix = str(STATE_DIR / "nodes") + "/"
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    # Deepest first, so nested mounts go before their parents.
    return sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True)


def down(log=print) -> None:
    """Remove every process, mount, namespace and link the lab made. Safe to run twice."""
    state = read_state()
    pids = [entry["pid"] for entry in state.get("nodes", []) if _alive(entry["pid"])]
    namespaces = [name for name in netns_list() if name.startswith(PREFIX)]
    if not pids:  # a lab left without its state file: find its processes by namespace
        pids = [int(pid) for name in namespaces for pid in ip("netns", "pids", name, check=False).stdout.split()]
    for pid in pids:
        _signal(pid, signal.SIGTERM)  # nspawn shuts the node down cleanly
    deadline = time.monotonic() + 15
    while any(_exists(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _exists(pid):
            _signal(pid, signal.SIGKILL)
    for name in namespaces:  # anything still inside a namespace of ours
        for pid in ip("netns", "pids", name, check=False).stdout.split():
            _signal(int(pid), signal.SIGKILL)
    for mount in _our_mounts():
        run("umount", mount, check=False)
    for name in namespaces:
        ip("netns", "delete", name, check=False)
        if link_exists(name):
            ip("link", "delete", name, check=False)
    if link_exists(BRIDGE):
        ip("link", "delete", BRIDGE)
    run("nft", "delete", "table", "inet", "kubewire_lab", check=False)
    if not _our_mounts():
        shutil.rmtree(STATE_DIR / "nodes", ignore_errors=True)
    state_file().unlink(missing_ok=True)
    log(f"lab down: {len(pids)} node processes stopped, {len(namespaces)} namespaces removed")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _exists(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child (lab up in this process)
    except ChildProcessError:
        pass
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1]
    except FileNotFoundError:
        return False


def status() -> list[dict]:
    rows = []
    for entry in read_state().get("nodes", []):
        node = LabNode(entry["name"], entry["index"])
        rows.append({
            "name": node.name, "ip": str(node.ip), "groups": ",".join(node.groups),
            "pid": entry["pid"], "running": _alive(entry["pid"]), "ssh": _ssh_answers(node),
        })
    return rows


def ssh_command(name: str, command: list[str]) -> list[str]:
    assert_lab_address(_state_entry(read_state(), name)["ip"])
    return ["ssh", "-F", str(ssh_config_file()), *(["-t"] if not command else []), name, *command]
