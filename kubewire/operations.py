"""Operations that decide from what a role probed: quoted commands for what differs, else a noop.

A role reads its whole state with one `Probes` fact (one round trip per re-run) and hands each
check's part of it to one of these operations. Like pyinfra's own (`server.sysctl`,
pyinfra-dev/pyinfra src/pyinfra/operations/server.py), each operation either yields commands
with every value quoted (`StringCommand`/`QuoteString`) or calls `host.noop("… is already …")`,
so a converged run says what it found, check by check. They are tested from data:
tests/unit/operations/<operation>/*.json, probed state in, commands or noop out, and a second
run against the state after the change must be a noop.
"""

from __future__ import annotations

from io import StringIO

import yaml
from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import apt, files, server

from .facts import first_line, sha256


@operation()
def text_file(path: str, text: str, current_digest: str, mode: str = "644"):
    """`path` (root's, `mode`) holds `text`; `current_digest` is what `file_digest_probe` printed."""
    if current_digest == sha256(text):
        host.noop(f"{path} already has the wanted content")
        return
    yield from files.put._inner(src=StringIO(text), dest=path, user="root", group="root", mode=mode,
                                create_remote_dir=True)


def put_if_changed(probed: dict, probe: str, path: str, text: str, name: str, mode: str = "644"
                   ) -> OperationMeta | None:
    """`text_file` from the probe `probe`; returns the operation when it uploads, None when the file is right."""
    current = first_line(probed, probe)
    operation_meta = text_file(name=name, path=path, text=text, current_digest=current, mode=mode)
    return operation_meta if current != sha256(text) else None


@operation()
def hostname(wanted: str, current: str):
    """The node's hostname is `wanted` (`current`: what `hostname` printed)."""
    if current == wanted:
        host.noop(f"hostname is already {wanted}")
        return
    yield from server.hostname._inner(hostname=wanted)


def installed_packages(dpkg_lines: list[str]) -> set[str]:
    """Packages `dpkg-query -W -f='${Package} ${db:Status-Abbrev}\\n'` lists as installed ("ii")."""
    return {line.split()[0] for line in dpkg_lines if line.split()[1:2] == ["ii"]}


@operation()
def packages_installed(packages: list[str], dpkg_lines: list[str]):
    """Every one of `packages` is installed (from apt, its lists refreshed at most hourly)."""
    missing = [package for package in packages if package not in installed_packages(dpkg_lines)]
    if not missing:
        host.noop(f"packages {', '.join(packages)} are already installed")
        return
    yield from apt.packages._inner(packages=missing, update=True, cache_time=3600)


@operation()
def kernel_modules_loaded(statuses: dict[str, str]):
    """Load each module whose status (`module_probe`: loaded, loadable, absent) is loadable.

    Absent modules are the role's to judge (fatal when required); they are left alone here."""
    loadable = [module for module, status in statuses.items() if status == "loadable"]
    if not loadable:
        loaded = [module for module, status in statuses.items() if status == "loaded"]
        host.noop(f"kernel modules {', '.join(loaded) or '(none)'} are already loaded")
        return
    for module in loadable:
        yield StringCommand("modprobe", QuoteString(module))


def live_sysctls(probe_lines: list[str]) -> dict[str, str]:
    """`key=value` lines (as `echo KEY=$(sysctl -n KEY)` prints them) by key."""
    return dict(line.split("=", 1) for line in probe_lines if "=" in line)


def same_sysctl_value(live: str | None, wanted: str) -> bool:
    """The kernel prints multi-value sysctls separated by tabs (ip_local_port_range: "32768\\t60999")."""
    return live is not None and live.split() == wanted.split()


@operation()
def sysctls_applied(wanted: dict[str, str], probe_lines: list[str]):
    """Every sysctl in `wanted` has its value live (persisting them is `text_file`'s job)."""
    live = live_sysctls(probe_lines)
    wrong = {key: value for key, value in wanted.items() if not same_sysctl_value(live.get(key), value)}
    if not wrong:
        host.noop("sysctls " + ", ".join(f"{key}={value}" for key, value in wanted.items()) + " are already live")
        return
    yield StringCommand("sysctl", "-w", *(QuoteString(f"{key}={value}") for key, value in wrong.items()))


FSTAB = "/etc/fstab"
# Comments out every uncommented fstab line whose type field is swap.
COMMENT_OUT_SWAP = r"/^[[:space:]]*#/!{/[[:space:]]swap[[:space:]]/s/^/# (swap off: kubewire) /}"


@operation()
def swap_off(active_swaps: list[str], fstab_swaps: list[str], swap_units: list[str]):
    """No swap is active, none is mounted from /etc/fstab at boot, and no systemd swap unit can start.

    `active_swaps`: /proc/swaps without its header; `fstab_swaps`: fstab's swap lines;
    `swap_units`: the unmasked swap units systemd knows."""
    units = [unit for unit in swap_units if unit.endswith(".swap")]
    if not (active_swaps or fstab_swaps or units):
        host.noop("swap is already off, in /etc/fstab and in systemd")
        return
    if active_swaps:
        yield StringCommand("swapoff", "-a")
    if fstab_swaps:
        yield StringCommand("sed", "-i", "-E", QuoteString(COMMENT_OUT_SWAP), FSTAB)
    if units:
        yield StringCommand("systemctl", "mask", *(QuoteString(unit) for unit in units))


def with_settings(config_text: str, wanted: dict) -> str | None:
    """The YAML `config_text` with the top-level `wanted` settings, or None when it has them already."""
    config = yaml.safe_load(config_text) or {}
    if all(config.get(key) == value for key, value in wanted.items()):
        return None
    return yaml.safe_dump({**config, **wanted}, sort_keys=False)


@operation()
def yaml_settings(path: str, wanted: dict, current_lines: list[str] | None):
    """The YAML file `path` has the top-level `wanted` settings, every other setting kept.

    `current_lines`: the file's lines (None: no such file, then there is nothing to configure)."""
    if current_lines is None:
        host.noop(f"{path} is absent; nothing to configure")
        return
    updated = with_settings("\n".join(current_lines), wanted)
    if updated is None:
        host.noop(f"{path} already has " + ", ".join(f"{key}: {value}" for key, value in wanted.items()))
        return
    yield from files.put._inner(src=StringIO(updated), dest=path, user="root", group="root", mode="644")
