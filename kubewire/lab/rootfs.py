"""The cached node roots and the local apt repositories, one pair per Debian suite.

A root is made once with debootstrap; the repository beside it holds what roles may install
on offline lab nodes, as at an air-gapped site. Both are mounted into every node of that suite.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from . import base
from .base import DEFAULT_SUITE, LabError, run

# In the cached root: what a minimal booting node with SSH needs.
ROOTFS_PACKAGES = ("systemd-sysv", "dbus", "openssh-server", "iproute2", "procps", "iputils-ping", "netbase")
# In the controller's local apt repository: what roles may install on offline lab nodes, the
# container runtime included (busybox-static is also the lab's container image).
REPO_PACKAGES = (
    "conntrack", "ipset", "iptables", "nftables", "socat", "ipvsadm", "kmod", "netcat-openbsd",
    "containernetworking-plugins", "containerd", "runc", "busybox-static",
)
# The CNI plugins as a release-style tarball (plugins at its top level), built from Debian's
# containernetworking-plugins: the lab installs CNI through the same tarball code path as
# an upstream release.
CNI_PACKAGE = "containernetworking-plugins"
NODE_REPO_MOUNT = "/srv/kubewire-apt"
# Timers that would only try to reach a mirror the nodes cannot see, and what no node uses but
# every node would start, on cores the whole lab shares: login prompts on consoles nobody attaches
# to (--console=passive), systemd-logind (no session registers with it: libpam-systemd is not in the
# node root), a huge pages mount, the static /dev nodes (systemd-nspawn makes a node's /dev, and
# its device cgroup refuses others), a remount of a root that has no fstab entry, and the flush of
# the journal to /var (the journal stays in /run: JOURNALD_CONF). Fifty nodes boot on two cores:
# each unit left out is a process fifty times over.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
                "dpkg-db-backup.timer", "getty@tty1.service", "console-getty.service", "systemd-logind.service",
                "dev-hugepages.mount", "systemd-tmpfiles-setup-dev-early.service",
                "systemd-tmpfiles-setup-dev.service", "systemd-remount-fs.service", "systemd-journal-flush.service")
# Generators run at every boot and every `systemctl daemon-reload`, before any unit loads. These
# turn what a node has not got into units: a kernel command line, partitions, TPM, hibernation,
# rc.local, an offline system update, AF_VSOCK/AF_UNIX SSH sockets beside ssh.service, and gettys.
# A link to /dev/null in /etc/systemd/system-generators masks one (systemd.generator(7)). The
# fstab and SysV generators stay: what roles and users may rely on.
MASKED_GENERATORS = tuple(f"systemd-{name}-generator" for name in (
    "debug", "getty", "gpt-auto", "hibernate-resume", "rc-local", "run", "ssh", "system-update", "tpm2"))
JOURNALD_CONF = "[Journal]\nStorage=volatile\n"  # journald.conf(5)
# Debian's ssh.service checks the configuration with `sshd -t` before starting sshd, which checks it
# again: the lab's configuration is ours, so only the second runs.
SSH_DROPIN = "[Service]\nExecStartPre=\n"

# systemd-nspawn mounts the cgroup v1 controllers read-only in a node, and no nspawn option
# changes that; a container runtime must create groups there (runc: "mkdir
# /sys/fs/cgroup/cpuset/...: read-only file system"). nspawn keeps CAP_SYS_ADMIN in the node,
# so a bind remount makes them writable. Safe because each node has cgroups of its own.
CGROUPS_RW_UNIT = "kubewire-lab-cgroups-rw.service"
CGROUPS_RW_SCRIPT = """#!/bin/sh
# Remount the read-only cgroup v1 controllers writable (lab nodes only; see the unit).
set -e
awk '$3 == "cgroup" && $4 ~ /(^|,)ro(,|$)/ { print $2 }' /proc/self/mounts | while read -r mount; do
    mount -o remount,bind,rw "$mount"
done
"""
CGROUPS_RW_UNIT_TEXT = """[Unit]
Description=Make the cgroup controllers writable for a container runtime (kubewire lab node)
DefaultDependencies=no
After=local-fs.target
Before=containerd.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/kubewire-lab-cgroups-rw

[Install]
WantedBy=sysinit.target
"""
RECIPE_VERSION = 4  # bump when the preparation below changes


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
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+\s", text, re.M):
            if "security" not in match.group(1):
                return match.group(1)
    raise LabError("cannot find the controller's Debian mirror; set KUBEWIRE_DEBIAN_MIRROR")


def cache_key(suite: str) -> str:
    recipe = json.dumps([suite, ROOTFS_PACKAGES, REPO_PACKAGES, MASKED_UNITS, MASKED_GENERATORS, JOURNALD_CONF,
                         SSH_DROPIN, NODE_REPO_MOUNT, CGROUPS_RW_SCRIPT, CGROUPS_RW_UNIT_TEXT, RECIPE_VERSION])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def cached_rootfs(suite: str = DEFAULT_SUITE) -> tuple[Path, Path]:
    """The suite's node root and local apt repository (built or not)."""
    key = cache_key(suite)
    return base.CACHE_DIR / f"rootfs-{suite}-{key}", base.CACHE_DIR / f"apt-{suite}-{key}"


def ensure_rootfs(log=print, suite: str = DEFAULT_SUITE) -> tuple[Path, Path]:
    """Build the suite's node root and local apt repository once; reuse them afterwards."""
    rootfs, repo = cached_rootfs(suite)
    if (rootfs / ".kubewire-complete").exists() and (repo / "Packages").exists():
        return rootfs, repo
    base.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    building = rootfs.with_name(rootfs.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)
    mirror = controller_mirror()
    log(f"building the node root in {rootfs} (debootstrap {suite}, once; about a minute)")
    run("debootstrap", "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}", suite, str(building), mirror)

    log(f"downloading {len(REPO_PACKAGES)} packages and their dependencies for the local {suite} repository")
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
    _prepare_cached_root(building)
    (building / ".kubewire-complete").write_text(cache_key(suite) + "\n")
    building.rename(rootfs)
    return rootfs, repo


def _prepare_cached_root(root: Path) -> None:
    etc = root / "etc"
    (etc / "apt/sources.list").write_text(f"deb [trusted=yes] file:{NODE_REPO_MOUNT} ./\n")
    for sources in (etc / "apt/sources.list.d").glob("*"):
        sources.unlink()  # trixie's debootstrap may write deb822 sources: only the local repository
    for path in (root / "var/lib/apt/lists").glob("*"):
        if path.is_file():
            path.unlink()
    run("chroot", str(root), "apt-get", "clean")
    (etc / "resolv.conf").write_text("")  # no DNS off the bridge
    (etc / "machine-id").write_text("")  # written per node
    (etc / "hostname").unlink(missing_ok=True)
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()  # each node gets its own, kept in the lab directory
    (etc / "ssh/sshd_config.d").mkdir(exist_ok=True)
    (etc / "ssh/sshd_config.d/kubewire-lab.conf").write_text(
        "PasswordAuthentication no\nPermitRootLogin prohibit-password\nUseDNS no\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
    )
    (etc / "systemd/system-generators").mkdir(exist_ok=True)
    for mask in [etc / "systemd/system" / unit for unit in MASKED_UNITS] + \
            [etc / "systemd/system-generators" / generator for generator in MASKED_GENERATORS]:
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")
    for dropin, text in (("journald.conf.d", JOURNALD_CONF), ("system/ssh.service.d", SSH_DROPIN)):
        (etc / "systemd" / dropin).mkdir(exist_ok=True)
        (etc / "systemd" / dropin / "kubewire-lab.conf").write_text(text)
    script = root / "usr/local/sbin/kubewire-lab-cgroups-rw"
    script.write_text(CGROUPS_RW_SCRIPT)
    os.chmod(script, 0o755)
    (etc / "systemd/system" / CGROUPS_RW_UNIT).write_text(CGROUPS_RW_UNIT_TEXT)
    wants = etc / "systemd/system/sysinit.target.wants"
    wants.mkdir(exist_ok=True)
    (wants / CGROUPS_RW_UNIT).symlink_to(f"/etc/systemd/system/{CGROUPS_RW_UNIT}")
    _finish_first_boot(root)


def _finish_first_boot(root: Path) -> None:
    """Do once here what every node's first boot would redo: the units with ConditionNeedsUpdate=/etc
    or /var (ldconfig, systemd-sysusers, the journal catalog, systemd-update-done) run only while /usr
    is newer than /etc/.updated or /var/.updated (systemd.unit(5), ConditionNeedsUpdate=). Their work
    is done, then both stamps get /usr's modification time, as systemd-update-done gives them. Fifty
    nodes booting together on two cores each saved from an ldconfig is seconds off `lab up`."""
    for command in (("ldconfig",), ("systemd-sysusers",), ("journalctl", "--update-catalog")):
        run("chroot", str(root), *command)
    usr = (root / "usr").stat()
    for stamp in (root / "etc/.updated", root / "var/.updated"):
        stamp.write_text("# The first-boot updates were done when kubewire built this node root.\n")
        os.utime(stamp, ns=(usr.st_atime_ns, usr.st_mtime_ns))


def package_debs(suite: str, package: str) -> list[Path]:
    return sorted(cached_rootfs(suite)[1].glob(f"{package}_*.deb"))


def upstream_version(deb: Path) -> str:
    """The Debian package's upstream version (1.1.1 from containernetworking-plugins_1.1.1+ds1-3+b5_amd64.deb,
    1.35.0 from busybox-static_1%3a1.35.0-4_amd64.deb)."""
    version = deb.name.split("_")[1].split("%3a")[-1]
    return re.split(r"[+~-]", version)[0]


def cni_tarball(suite: str = DEFAULT_SUITE) -> Path:
    return cached_rootfs(suite)[1].with_name(f"cni-plugins-{suite}-{cache_key(suite)}.tgz")


def cni_tarball_version(suite: str = DEFAULT_SUITE) -> str:
    debs = package_debs(suite, CNI_PACKAGE)
    return upstream_version(debs[0]) if debs else "unknown"


def cni_tarball_sha256(suite: str = DEFAULT_SUITE) -> str | None:
    sidecar = cni_tarball(suite).with_suffix(".tgz.sha256")
    return sidecar.read_text().split()[0] if sidecar.exists() else None


def ensure_cni_tarball(suite: str = DEFAULT_SUITE) -> Path:
    tarball = cni_tarball(suite)
    if cni_tarball_sha256(suite):
        return tarball
    with tempfile.TemporaryDirectory() as unpacked:
        run("dpkg-deb", "-x", str(package_debs(suite, CNI_PACKAGE)[0]), unpacked)
        plugins = Path(unpacked) / "usr/lib/cni"
        run("tar", "-czf", str(tarball), "--owner=0", "--group=0", "-C", str(plugins),
            *sorted(path.name for path in plugins.iterdir()))
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    tarball.with_suffix(".tgz.sha256").write_text(f"{digest}  {tarball.name}\n")
    return tarball
