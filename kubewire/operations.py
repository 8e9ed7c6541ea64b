"""Operations that decide from what a role probed: quoted commands for what differs, else a noop.

Like pyinfra's own (`server.sysctl`, pyinfra-dev/pyinfra src/pyinfra/operations/server.py), each
either yields commands with every value quoted or calls `host.noop("… is already …")`, so a converged
run says what it found, check by check. A role hands its checks to `checks` as `step`s: ONE pyinfra
operation per role (pyinfra's planning of each operation was most of a re-run's controller time).
Tested from data: tests/unit/operations/<operation>/*.json, probed state in, commands or noop out,
and a second run against the state after the change must be a noop.

Longer than 400 lines: every operation a role hands to `checks`, which must know each one that
reads no fact, and which the data-driven tests find here by name.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO, StringIO
from itertools import takewhile
from typing import Any

import yaml
from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, QuoteString, StringCommand, operation
from pyinfra.operations import apt, server

from .facts import sha256
from .nft_probes import NFT
from .transfer import MAKE_TRANSFER_DIR, transfer_path

CNI_CONFIG_SUFFIXES = (".conf", ".conflist", ".json")  # what runtimes load from a CNI conf dir
CNI_DISABLED_DIR = "kubewire-disabled"


@dataclass(frozen=True)
class Step:
    """One check of a role: an operation (kubewire's or pyinfra's) and its arguments."""

    description: str  # what it makes true, e.g. "Write /etc/hosts with every cluster node"
    operation: Callable
    arguments: dict[str, Any] = field(default_factory=dict)


def step(description: str, operation_: Callable, **arguments: Any) -> Step:
    return Step(description, operation_, arguments)


def units_enabled(units: dict[str, tuple[bool, str]], why: str) -> Step:
    """The step that keeps units enabled: each unit's (whether kubewire just changed its unit file, what
    `unit_enabled_probe` printed)."""
    return step(f"Enable {', '.join(units)} ({why})", systemd_units_enabled,
                units={unit: {"unit_file_changed": changed, "enablement": enablement}
                       for unit, (changed, enablement) in units.items()})


@operation()
def systemd_units_enabled(units: dict[str, dict]):
    """Each unit is enabled, systemd reloaded first (once) when kubewire just changed a unit file. From
    the probe, not read again: pyinfra's `systemd.service` would read each unit's state and enablement."""
    wanted = [unit for unit, found in units.items() if found["unit_file_changed"] or found["enablement"] != "enabled"]
    if not wanted:
        host.noop(f"{', '.join(units)} already enabled")
        return
    reload = ["systemctl", "daemon-reload", "&&"] if any(found["unit_file_changed"] for found in units.values()) else []
    yield StringCommand(*reload, "systemctl", "enable", *map(QuoteString, wanted))


@operation()
def checks(steps: list[Step]):
    """Each step in order, its commands when its part of the node differs (announced by its
    description), else its own `host.noop`.

    Every command costs the node a session and a shell, so adjacent commands of steps that read no
    fact run as one (`_in_turn`), and the files of adjacent `text_file` steps are made ready for their
    uploads by one command (`files_made_ready`) and travel as one upload (`FilesFromBundle`): each
    upload costs a transfer, and through sudo two commands more (pyinfra's `cp` and `rm` of its
    temporary file). A step that reads a fact (pyinfra's own operations do) reads it after the
    commands of the steps before it have run."""
    ready: set[int] = set()  # the steps whose file a command before made ready
    bundled: set[int] = set()  # the steps whose file travelled in a bundle
    waiting: list = []  # commands not run yet, all of steps that read no fact
    for index, each in enumerate(steps):
        if each.operation not in READ_NO_FACTS and waiting:
            yield _in_turn(waiting)
        if writes(each) and index not in ready:
            adjacent = [at for at in takewhile(lambda at: steps[at].operation is text_file, range(index, len(steps)))
                        if writes(steps[at])]
            files = [(steps[at].arguments["path"], steps[at].arguments.get("mode", "644")) for at in adjacent]
            bundle = FilesFromBundle([(steps[at].arguments["path"], steps[at].arguments["text"].encode())
                                      for at in adjacent]) if len(adjacent) > 1 else None
            waiting.append(files_made_ready(files + ([(UPLOAD_BUNDLE, "600")] if bundle else [])))
            ready.update(adjacent)
            if bundle:
                for at in adjacent:
                    logger.info(f"[{host.name}] {steps[at].description}")
                yield _in_turn(waiting)
                yield FileUploadCommand(BytesIO(bundle.content), UPLOAD_BUNDLE,
                                        remote_temp_filename=transfer_path(UPLOAD_BUNDLE))
                waiting.append(bundle)
                bundled.update(adjacent)
        if index in bundled:
            continue
        announced = False
        for command in each.operation._inner(**each.arguments, **({"file_ready": True} if index in ready else {})):
            if not announced:
                logger.info(f"[{host.name}] {each.description}")
                announced = True
            if each.operation in READ_NO_FACTS and isinstance(command, str | StringCommand) \
                    and not getattr(command, "connector_arguments", None):
                waiting.append(command)
                continue
            if waiting:
                yield _in_turn(waiting)
            yield command
    if waiting:
        yield _in_turn(waiting)


class InTurn(StringCommand):
    """One command that runs `commands` in turn, each only when the one before succeeded (as pyinfra
    stops at a failed one), each in a subshell of its own: its `exit`, traps and variables stay its
    own. A comment in one ends at its line."""

    def __init__(self, commands: list) -> None:
        self.commands = list(commands)
        joined: list[Any] = []
        for command in self.commands:
            joined += ["&&", "(", command, "\n)"] if joined else ["(", command, "\n)"]
        super().__init__(*joined)


# Where the files of adjacent writes travel together (`checks`), removed once they are in place.
UPLOAD_BUNDLE = "/var/lib/kubewire/upload.bundle"


class FilesFromBundle(StringCommand):
    """Writes each (path, content) from UPLOAD_BUNDLE, which holds their contents one after another,
    into its file made ready before (`files_made_ready`), then removes the bundle; nothing is written
    unless the whole bundle has the sha256 of what was sent. Each `head -c SIZE` reads exactly SIZE
    bytes of the shared input (coreutils head.c, `head_bytes`: it never asks `read` for more than is
    left), so the next starts where it stopped; the shell's `>` truncates the file, which keeps its
    owner and mode, as an upload into it does."""

    def __init__(self, files: list[tuple[str, bytes]], bundle: str = UPLOAD_BUNDLE) -> None:
        self.files = list(files)
        self.content = b"".join(content for _, content in self.files)
        parts: list[Any] = ["printf", "'%s  %s\\n'", hashlib.sha256(self.content).hexdigest(), QuoteString(bundle), "|",
                            "sha256sum", "-c", "--quiet", "-", "&&", "{"]
        for index, (path, content) in enumerate(self.files):
            parts += [*(["&&"] if index else []), "head", "-c", str(len(content)), ">", QuoteString(path)]
        parts += [";", "}", "<", QuoteString(bundle), "&&", "rm", "-f", "--", QuoteString(bundle)]
        super().__init__(*parts)


def _in_turn(waiting: list) -> StringCommand:
    """The waiting commands as one (emptying the list); a single one as it is."""
    commands = list(waiting)
    waiting.clear()
    if len(commands) == 1:
        return commands[0] if isinstance(commands[0], StringCommand) else StringCommand(commands[0])
    return InTurn(commands)


def _holds(current_digest: str, text: str) -> bool:
    """Whether the file whose digest the probe printed already holds `text`."""
    return current_digest == sha256(text)


def writes(each: Step) -> bool:
    """Whether the step is a `text_file` whose file does not hold its text yet."""
    return each.operation is text_file and not _holds(each.arguments["current_digest"], each.arguments["text"])


@operation()
def text_file(path: str, text: str, current_digest: str, mode: str = "644", file_ready: bool = False):
    """`path` (root's, `mode`) holds `text`; `current_digest` is what `file_digest_probe` printed.
    `file_ready`: a command before made it ready for the upload (`checks`)."""
    if _holds(current_digest, text):
        host.noop(f"{path} already has the wanted content")
        return
    yield from _root_file(path, text, mode, file_ready)


def files_made_ready(files: list[tuple[str, str]]) -> StringCommand:
    """One command that makes each (path, mode) ready for an upload: its directory made, the file made
    if missing (umask 077), owned by root, given its mode. The upload writes into the file, which keeps
    owner and mode: never readable beyond its mode. (OpenSSH's sftp-server, `process_open`, opens it with
    `open(name, flags, mode)`, O_TRUNC, and open(2) applies a mode only to a file it creates; `cp`
    through sudo writes into an existing file alike.) Through sudo, the private directory the upload
    passes through is made too (kubewire.transfer)."""
    paths = [QuoteString(path) for path, _ in files]
    directories = dict.fromkeys(posixpath.dirname(path) for path, _ in files)
    parts: list[Any] = ["mkdir", "-p", "--", *map(QuoteString, directories), "&&", MAKE_TRANSFER_DIR, "&&",
                        "umask", "077"]
    for path in paths:
        parts += ["&&", ":", ">>", path]
    parts += ["&&", "chown", "root:root", "--", *paths]
    for mode in dict.fromkeys(mode for _, mode in files):
        parts += ["&&", "chmod", QuoteString(mode), "--", *(QuoteString(path) for path, each in files if each == mode)]
    return StringCommand(*parts)


def _root_file(path: str, text: str, mode: str, file_ready: bool = False):
    """Write `text` to `path`, root's with `mode`: one command and the upload, where pyinfra's `files.put`
    sends up to eight (reading what the probe answered; owner and mode set after the upload)."""
    if not file_ready:
        yield files_made_ready([(path, mode)])
    # As files.put uploads (pyinfra/operations/files.py), through a temporary file where it must
    # (sudo): kubewire's private one (kubewire.transfer), not pyinfra's in /tmp.
    yield FileUploadCommand(StringIO(text), path, remote_temp_filename=transfer_path(path))


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
    """`key = value` lines (as `sysctl KEY…` prints them) by key."""
    pairs = (line.partition("=") for line in probe_lines if "=" in line)
    return {key.strip(): value.strip(" ") for key, _, value in pairs}


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
    yield from _root_file(path, updated, "644")


def _path(directory: str, name: str) -> QuoteString:
    return QuoteString(f"{directory}/{name}")


def _glob_in(directory: str, pattern: str = "*") -> StringCommand:
    """`'<directory>'/*`: the directory quoted, the glob left to the shell."""
    return StringCommand(QuoteString(directory), f"/{pattern}", _separator="")


def configs_that_win(config_names: list[str], active: str) -> list[str]:
    """Runtimes load the lexically first .conf/.conflist/.json in the conf dir: these sort before `active`."""
    return sorted(name for name in config_names if name.endswith(CNI_CONFIG_SUFFIXES) and name < active)


@operation()
def cni_configs_moved_aside(conf_dir: str, config_names: list[str], active: str):
    """Move every CNI config that would win over `active` into `conf_dir`/kubewire-disabled.

    An earlier file of the same name there is kept as a numbered backup, never overwritten."""
    winners = configs_that_win(config_names, active)
    if not winners:
        host.noop(f"nothing in {conf_dir} sorts before {active}")
        return
    aside = f"{conf_dir}/{CNI_DISABLED_DIR}"
    yield StringCommand("mkdir", "-p", "--", QuoteString(aside))
    for name in winners:
        yield StringCommand("mv", "--backup=numbered", "--", _path(conf_dir, name), _path(aside, name))


@operation()
def cni_plugins_unpacked(tarball: str, sha256: str, bin_dir: str, stale: list[str], record: str = "",
                         upload_from: str = ""):
    """Upload the tarball of the `stale` plugins from the controller's file `upload_from` (when given)
    to `tarball`, check it on the node, unpack it into `bin_dir`, remove it, then run `record` (the
    command that records the installed plugins' digests). Not pyinfra's `files.put`: it would read the
    remote file, its directory and its digest first, for a file removed right after."""
    if not stale:
        host.noop(f"every CNI plugin in {bin_dir} matches the tarball")
        return
    if upload_from:
        yield StringCommand("mkdir", "-p", "--", QuoteString(posixpath.dirname(tarball)), "&&", MAKE_TRANSFER_DIR)
        yield FileUploadCommand(upload_from, tarball, remote_temp_filename=transfer_path(tarball))
    # One command, each part only when the one before it succeeded. Only the unpacked plugins get their
    # mode: a chmod changes a file's ctime, and so its record.
    yield StringCommand("printf", "'%s  %s\\n'", QuoteString(sha256), QuoteString(tarball), "|",
                        "sha256sum", "-c", "--quiet", "-", "&&",
                        "mkdir", "-p", "--", QuoteString(bin_dir), "&&", "tar", "-xzf", QuoteString(tarball),
                        "-C", QuoteString(bin_dir), "--no-same-owner", "&&", "chmod", "755", "--",
                        *(_path(bin_dir, name) for name in stale), "&&", "rm", "-f", "--", QuoteString(tarball),
                        *(["&&", record] if record else []))


@operation()
def cni_plugins_linked(source_dir: str, bin_dir: str, linked: bool):
    """Link every plugin of the distribution's package (in `source_dir`) into `bin_dir`."""
    if linked:
        host.noop(f"the plugins in {source_dir} are linked into {bin_dir}")
        return
    yield StringCommand("mkdir", "-p", "--", QuoteString(bin_dir), "&&", "for", "f", "in", _glob_in(source_dir),
                        ";", "do", "ln", "-sfn", '"$f"', StringCommand(QuoteString(bin_dir), "/", _separator=""),
                        ";", "done")


@operation()
def pod_routes_applied(script: str, live: set[str] | list[str], wanted: set[str] | list[str]):
    """Run the pod routes script when the live routes differ from the wanted `SUBNET via ADDRESS`."""
    if set(live) == set(wanted):
        host.noop(f"{len(wanted)} pod routes are in place")
        return
    yield StringCommand("/bin/sh", QuoteString(script))


@operation()
def nft_table_loaded(table: str, rules_file: str, loaded_file: str, wanted_digest: str, live_digest: str,
                     live_listing: str, loaded_listing: str):
    """Load `rules_file` (it replaces only its own table, atomically) unless the live table carries
    `wanted_digest` and still lists as it did right after loading (else it was changed by hand)."""
    if live_digest == wanted_digest and live_listing == loaded_listing:
        host.noop(f"nftables table {table} is loaded from {rules_file}")
        return
    # One command: each command costs a node a session and a shell.
    yield StringCommand(NFT, "-f", QuoteString(rules_file), "&&", NFT, "list", "table",
                        *map(QuoteString, table.split()), "|", "sha256sum", "|", "cut", "-d' '", "-f1", ">",
                        QuoteString(loaded_file))


@operation()
def nft_table_removed(table: str, present: bool):
    if not present:
        host.noop(f"no nftables table {table}")
        return
    yield StringCommand(NFT, "delete", "table", *map(QuoteString, table.split()))


@operation()
def weave_node_state_removed(links: list[str], iptables: dict[str, dict[str, list[str]]], paths: list[str]):
    """Remove what Weave Net's pods leave on a node: its links, its iptables chains and the rules
    that jump to them or match its bridge, its CNI config, plugins and database.

    `iptables` is {table: {"chains": [...], "rules": ["-A CHAIN ..." as iptables-save prints them]}}.
    Weave Net names every chain it creates WEAVE or WEAVE-... (net/bridge.go, npc/constants.go)."""
    yield from node_state_removed._inner(owner="Weave Net", links=links, paths=paths, iptables=iptables,
                                         chain_prefix="WEAVE")


@operation()
def node_state_removed(owner: str, links: list[str], paths: list[str],
                       iptables: dict[str, dict[str, list[str]]] | None = None, chain_prefix: str = ""):
    """Remove the links, files (or directories) and iptables chains a CNI's pods left on the node, as a
    probe found them. `iptables` as for `weave_node_state_removed`; its chains are `chain_prefix` or
    `chain_prefix`-..., and a rule inside one of them goes with its chain."""
    iptables = iptables or {}
    if not (links or paths or any(found["chains"] or found["rules"] for found in iptables.values())):
        host.noop(f"no {owner} state on the node")
        return
    for link in links:  # a veth's peer goes with it, so one already gone is fine
        yield StringCommand("ip", "link", "delete", "dev", QuoteString(link), "||", "test", "!", "-e",
                            QuoteString(f"/sys/class/net/{link}"))
    for table, found in sorted(iptables.items()):
        restore = [f"*{table}"]
        restore += ["-D" + rule[2:] for rule in found["rules"] if not _own_chain(rule.split()[1], chain_prefix)]
        restore += [f"-F {chain}" for chain in found["chains"]] + [f"-X {chain}" for chain in found["chains"]]
        # One transaction per table: the references go before the chains they point at.
        yield StringCommand("printf", "'%s\\n'", *map(QuoteString, [*restore, "COMMIT"]), "|",
                            "iptables-restore", "--noflush")
    if paths:
        yield StringCommand("rm", "-rf", "--", *map(QuoteString, paths))


def _own_chain(chain: str, prefix: str) -> bool:
    return chain == prefix or chain.startswith(f"{prefix}-")


@operation()
def files_removed(paths: list[str], why: str = ""):
    """Remove files a probe found (no further fact is read)."""
    if not paths:
        host.noop("nothing to remove" + (f" ({why})" if why else ""))
        return
    yield StringCommand("rm", "-f", "--", *map(QuoteString, paths))


@operation()
def systemd_unit_disabled(unit: str, enabled: bool):
    """Disable a unit the probe found enabled (`systemctl is-enabled`), without reading it again."""
    if not enabled:
        host.noop(f"{unit} is not enabled")
        return
    yield StringCommand("systemctl", "disable", QuoteString(unit))


# The operations whose generators read no fact: `checks` may run their commands together.
READ_NO_FACTS = frozenset({
    text_file, systemd_units_enabled, kernel_modules_loaded, sysctls_applied, swap_off, yaml_settings,
    cni_configs_moved_aside, cni_plugins_unpacked, cni_plugins_linked, pod_routes_applied, nft_table_loaded,
    nft_table_removed, weave_node_state_removed, node_state_removed, files_removed, systemd_unit_disabled,
    server.shell,
})
