"""A Vagrant box for the libvirt provider, built locally from debootstrap (no box is downloaded).

The box is a Debian 12 root (systemd, openssh, sudo, Debian's kernel) as one ext4 filesystem
on a whole qcow2 disk, booted directly by QEMU with the kernel and initrd the box carries: the
box's own Vagrantfile points vagrant-libvirt's `kernel`/`initrd`/`cmd_line` at them, so no
bootloader is installed. The `vagrant` user has passwordless sudo and Vagrant's insecure key
(replaced by `vagrant up` as usual). Built once, cached under /var/cache/kubewire.

Box layout (vagrant-libvirt's docs, "Box Format"): metadata.json {"provider": "libvirt",
"format": "qcow2", "virtual_size": GB} and box.img, tarred into a .box file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

from kubewire import lab

SUITE = "bookworm"
PACKAGES = (
    "systemd-sysv", "udev", "dbus", "openssh-server", "sudo", "linux-image-amd64", "initramfs-tools",
    "iproute2", "procps", "iputils-ping", "netbase", "kmod",
)
DISK_GB = 4
# Vagrant ships its insecure key pair; `vagrant up` logs in with it once and puts a fresh key in.
VAGRANT_INSECURE_KEY = Path("/usr/share/rubygems-integration/all/gems/vagrant-2.3.4/keys/vagrant.pub")
# Where the VMs find packages: the apt repository served inside the VM lab's namespace on the
# private network's host address (the same bookworm repository the nspawn lab mounts).
APT_REPOSITORY_URL = "http://192.168.56.1:8080/"
# Timers that would only try to reach a mirror the VMs cannot see.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
                "dpkg-db-backup.timer")
KERNEL_CMDLINE = "root=/dev/vda rw console=ttyS0 net.ifnames=0 biosdevname=0"

NETWORKD_DHCP = """\
# The management interface (Vagrant's channel) by DHCP; Vagrant writes its own
# 50-vagrant-*.network files for private networks, which sort before this one.
[Match]
Name=eth*

[Network]
DHCP=ipv4
"""
# Each VM makes its own SSH host keys at first boot (Debian's package makes them at install).
HOST_KEYS_UNIT = """\
[Unit]
Description=Generate SSH host keys missing on this machine
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""
BOX_VAGRANTFILE = """\
# Direct kernel boot: the kernel and initrd are files of this box.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.join(__dir__, "vmlinuz")
    libvirt.initrd = File.join(__dir__, "initrd.img")
    libvirt.cmd_line = "{cmdline}"
  end
end
"""


def cache_key() -> str:
    recipe = json.dumps([SUITE, PACKAGES, DISK_GB, APT_REPOSITORY_URL, MASKED_UNITS, KERNEL_CMDLINE,
                         NETWORKD_DHCP, HOST_KEYS_UNIT, BOX_VAGRANTFILE, "compressed"])
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def box_file() -> Path:
    return lab.CACHE_DIR / f"vagrant-box-{SUITE}-{cache_key()}.box"


def run(*args: str, **kwargs) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def ensure_box(log=print) -> Path:
    """The .box file, built once (debootstrap about 2 minutes, image a few seconds)."""
    box = box_file()
    if box.exists():
        return box
    started = time.monotonic()
    work = box.with_suffix(".building")
    shutil.rmtree(work, ignore_errors=True)
    root, out = work / "root", work / "box"
    out.mkdir(parents=True)
    log(f"building the Vagrant box {box.name} (debootstrap {SUITE}, once)")
    run("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root),
        lab.controller_mirror())
    _configure_root(root)
    kernel = max((root / "boot").glob("vmlinuz-*"))  # the one kernel linux-image-amd64 installed
    shutil.copy(kernel, out / "vmlinuz")
    shutil.copy(root / "boot" / kernel.name.replace("vmlinuz-", "initrd.img-"), out / "initrd.img")
    raw = work / "root.img"
    run("mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(root), str(raw), f"{DISK_GB}G")
    # Compressed: vagrant-libvirt uploads the box image into libvirt's pool on every fresh lab.
    run("qemu-img", "convert", "-c", "-O", "qcow2", str(raw), str(out / "box.img"))
    raw.unlink()
    (out / "metadata.json").write_text(json.dumps({"provider": "libvirt", "format": "qcow2",
                                                   "virtual_size": DISK_GB}))
    (out / "Vagrantfile").write_text(BOX_VAGRANTFILE.format(cmdline=KERNEL_CMDLINE))
    partial = box.with_suffix(".partial")
    with tarfile.open(partial, "w") as archive:
        for item in sorted(out.iterdir()):
            archive.add(item, arcname=item.name)
    partial.rename(box)
    shutil.rmtree(work)
    log(f"box built in {time.monotonic() - started:.0f}s")
    return box


def _configure_root(root: Path) -> None:
    etc = root / "etc"
    chroot = ("chroot", str(root))
    (etc / "fstab").write_text("/dev/vda / ext4 defaults,errors=remount-ro 0 1\n")
    (etc / "hostname").write_text("debian\n")
    (etc / "machine-id").write_text("")  # systemd makes one per VM at first boot
    (root / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    (etc / "resolv.conf").unlink(missing_ok=True)
    (etc / "resolv.conf").write_text("")  # no DNS: the VMs reach nothing by name
    (etc / "apt/sources.list").write_text(f"deb [trusted=yes] {APT_REPOSITORY_URL} ./\n")
    for path in (root / "var/lib/apt/lists").glob("*"):
        if path.is_file():
            path.unlink()
    run(*chroot, "apt-get", "clean")
    for key in (etc / "ssh").glob("ssh_host_*"):
        key.unlink()
    (etc / "ssh/sshd_config.d/vagrant.conf").write_text("PasswordAuthentication no\nUseDNS no\n")
    (etc / "systemd/system/ssh-host-keys.service").write_text(HOST_KEYS_UNIT)
    (etc / "systemd/network/99-dhcp.network").write_text(NETWORKD_DHCP)
    run(*chroot, "systemctl", "enable", "ssh-host-keys.service", "systemd-networkd.service")
    for unit in MASKED_UNITS:
        mask = etc / "systemd/system" / unit
        mask.unlink(missing_ok=True)
        mask.symlink_to("/dev/null")

    run(*chroot, "useradd", "--create-home", "--shell", "/bin/bash", "vagrant")
    (etc / "sudoers.d/vagrant").write_text("vagrant ALL=(ALL) NOPASSWD: ALL\n")
    os.chmod(etc / "sudoers.d/vagrant", 0o440)
    ssh_dir = root / "home/vagrant/.ssh"
    ssh_dir.mkdir(mode=0o700)
    shutil.copy(VAGRANT_INSECURE_KEY, ssh_dir / "authorized_keys")
    os.chmod(ssh_dir / "authorized_keys", 0o600)
    run(*chroot, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh")
