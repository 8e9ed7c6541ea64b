"""Facts that read a role's whole state in one remote command.

pyinfra's usual facts cost one SSH round trip each; a role that asks ten of them pays ten
round trips on every re-run. `Probes` runs many small shell probes in one command and
returns each one's output, so a role reads everything it needs at once and creates
operations only for what differs.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import weakref
from collections.abc import Callable

from gevent.lock import Semaphore
from pyinfra import host, state
from pyinfra.api import FactBase
from pyinfra.api.exceptions import PyinfraError

SEPARATOR = "@@kubewire-probe "


class Probes(FactBase):
    """Run named shell snippets in one command: `host.get_fact(Probes, probes=(("name", "cmd"), ...))`.

    Returns {name: output lines}. A probe's stderr is discarded and its exit status ignored:
    print what you need to know (e.g. `test -e F && echo yes`).
    """

    def command(self, probes: tuple[tuple[str, str], ...]) -> str:
        parts = [f"echo {shlex.quote(SEPARATOR + name)}; {{ {script}\n}} 2>/dev/null" for name, script in probes]
        return "\n".join(parts) + "\ntrue"

    @staticmethod
    def default() -> dict[str, list[str]]:
        return {}

    def process(self, output: list[str]) -> dict[str, list[str]]:
        results: dict[str, list[str]] = {}
        current = None
        for line in output:
            if line.startswith(SEPARATOR):
                current = line[len(SEPARATOR):]
                results[current] = []
            elif current is not None:
                results[current].append(line)
        return results


class FileDigestProbe(str):
    """A probe printing a file's sha256 (nothing when it is absent) that knows its file, so that a
    whole-node read hashes every such file with one `sha256sum` instead of two processes each."""

    path: str

    def __new__(cls, path: str) -> FileDigestProbe:
        # From stdin: sha256sum escapes an odd file name in its output, never "-".
        probe = super().__new__(cls, f"sha256sum < {shlex.quote(path)} | cut -d' ' -f1")
        probe.path = path
        return probe


def file_digest_probe(path: str) -> FileDigestProbe:
    """Prints the file's sha256, or nothing when it is absent."""
    return FileDigestProbe(path)


def read_line(path: str) -> str:
    """Prints the first line of the file `path` with the shell's own `read` (no process). Not for a
    /proc/sys file holding several values: `read` reads byte by byte, and the kernel answers such a
    file's read from an offset other than 0 with nothing."""
    return f"read -r line < {shlex.quote(path)} && printf '%s\\n' \"$line\""


def existing_paths_probe(*paths: str) -> str:
    """Prints each of `paths` that exists (a dangling link too), as `ls -1d --` would but without a
    process. Each path is a shell word: quote it, or leave a glob unquoted to have it expanded."""
    return f'for path in {" ".join(paths)}; do [ -e "$path" ] || [ -L "$path" ] && printf \'%s\\n\' "$path"; done'


HOSTNAME_PROBE = read_line("/proc/sys/kernel/hostname")  # what hostname(1) prints: uname's nodename


def shared_output(variable: str, command: str) -> str:
    """Runs `command` into the shell variable `variable`, unless a probe before it in the read did. The
    probes of one read share a shell; this must run in that shell, not in a pipeline's or a `$(…)`'s
    subshell, or what it keeps is lost when the subshell ends."""
    return f'[ "${{{variable}+set}}" ] || {variable}=$({command})'


def output_once(variable: str, command: str, then: str = "") -> str:
    """Prints what `command` prints (through the pipeline `then`, e.g. "| sha256sum"), running it only
    for the first probe of a read that asks (`shared_output`): one `iptables-save` for Weave's and
    flannel's checks. It is printed with one final newline, as `iptables-save` ends its output."""
    return f'{shared_output(variable, command)}; printf \'%s\\n\' "${variable}" {then}'.rstrip()


class UnknownProbe(PyinfraError):
    """A role read a probe that was not in the probed output: a typo or a probe never sent.

    Read as empty, it would look like "differs" and make an operation on every run."""


def lines(probed: dict[str, list[str]], name: str) -> list[str]:
    """Every line the probe `name` printed (none is a valid answer); an error when it was not probed."""
    if name not in probed:
        raise UnknownProbe(f"no probe named {name!r} in the probed output (probed: {', '.join(map(repr, probed))})")
    return probed[name]


def first_line(probed: dict[str, list[str]], name: str) -> str:
    """The first line the probe `name` printed, stripped ("" when it printed nothing)."""
    return next(iter(lines(probed, name)), "").strip()


def sha256(text: str) -> str:
    """What `file_digest_probe` prints for a file holding `text`."""
    return hashlib.sha256(text.encode()).hexdigest()


# -- one read of a host's whole state: every role's probes in one command --

ProbeList = tuple[tuple[str, str], ...]
SECTION_MARK = "::"  # "section::probe name" in a whole-node read; section names never hold it

# Per inventory (one run): the sections a whole-node read runs, {section: probes for a host name}.
_sections: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# Per host: {section: (its probes, their output)} once the whole-node read ran.
_node_state: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_reading: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # host -> its read's lock


def read_together(sections: dict[str, Callable[[str], ProbeList]]) -> None:
    """Declare, for this run, every section a host's first read runs: the roles' probes (and the checks
    before any change) in ONE remote command per host, each section then read by `node_probed`."""
    _sections.setdefault(state.inventory, dict(sections))


DIGESTS = f"{SECTION_MARK}file digests"  # the whole-node read's one sha256sum (no section is named "")


def whole_node_command(sections: dict[str, ProbeList]) -> ProbeList:
    """The sections' probes as one probe list, each name prefixed by its section. Each node process
    costs a few milliseconds of CPU, and the lab's nodes share the controller's cores, so: every file
    digest comes from one `sha256sum` run first, and a script two sections share runs once."""
    paths = list(dict.fromkeys(script.path for probes in sections.values() for _, script in probes
                               if isinstance(script, FileDigestProbe)))
    combined = [(DIGESTS, "sha256sum -- " + " ".join(map(shlex.quote, paths)))] if paths else []
    seen = set()
    for section, probes in sections.items():
        for name, script in probes:
            if not isinstance(script, FileDigestProbe) and script not in seen:
                seen.add(script)
                combined.append((f"{section}{SECTION_MARK}{name}", script))
    return tuple(combined)


def digests_by_path(lines_: list[str]) -> dict[str, str]:
    """`sha256sum`'s "DIGEST  PATH" lines by path. coreutils escapes a path holding a backslash or a
    newline (as \\\\ and \\n) and then starts the line with a backslash."""
    found = {}
    for line in lines_:
        digest, _, path = line.removeprefix("\\").partition("  ")
        if line.startswith("\\"):
            path = re.sub(r"\\(.)", lambda escape: "\n" if escape[1] == "n" else escape[1], path)
        found[path] = digest
    return found


def split_sections(probed: dict[str, list[str]], sections: dict[str, ProbeList]) -> dict[str, tuple]:
    """{section: (its probes, {name: lines})} from the output of `whole_node_command(sections)`; a
    section some of whose probes did not answer (the shell stopped early) is left out, so its role
    reads it again by itself."""
    digests = digests_by_path(probed.get(DIGESTS, []))
    first_name: dict[str, str] = {}
    for section, probes in sections.items():
        for name, script in probes:
            first_name.setdefault(script, f"{section}{SECTION_MARK}{name}")
    read: dict[str, tuple] = {}
    for section, probes in sections.items():
        found: dict[str, list[str]] = {}
        for name, script in probes:
            if isinstance(script, FileDigestProbe) and DIGESTS in probed:
                found[name] = [digests[script.path]] if script.path in digests else []
            elif first_name[script] in probed:
                found[name] = probed[first_name[script]]
        if len(found) == len(probes):
            read[section] = (probes, found)
    return read


def node_probed(section: str, probes: ProbeList, on_host=None) -> dict[str, list[str]]:
    """What `probes` printed on the host: from its whole-node read when this run declared one
    (`read_together`) with this section and these very probes, else from a `Probes` command of their own."""
    on_host = host if on_host is None else on_host  # pyinfra's `host` proxy has no truth value
    declared = _sections.get(on_host.inventory)
    if declared and section in declared:
        with _reading.setdefault(on_host, Semaphore()):
            if on_host not in _node_state:
                wanted = {name: tuple(build(on_host.name)) for name, build in declared.items()}
                probed = on_host.get_fact(Probes, probes=whole_node_command(wanted))
                _node_state[on_host] = split_sections(probed, wanted)
        read = _node_state[on_host].get(section)
        if read is not None and read[0] == tuple(probes):
            return read[1]
    return on_host.get_fact(Probes, probes=tuple(probes))


# -- digests without re-hashing: a file unchanged since kubewire wrote it keeps its recorded digest --
# A record line is "INODE SIZE CTIME<TAB>NAME<TAB>SHA256", taken right after kubewire installed the
# file. The kernel sets a file's ctime to the current time on every change of its content or
# metadata (inode(7): "st_ctime ... changed by writing or by setting inode information"), and no
# system call sets it to a chosen value (utimensat(2) sets atime and mtime only): a file written
# over, even with its old mtime put back, has another ctime (or, replaced, another inode) and is
# hashed again. A missing or unreadable record only means hashing everything, as before.
STAT_KEY = "%i %s %z"  # inode, size, ctime with nanoseconds (stat(1) %z)


def recorded_digests_probe(directory: str, record: str) -> str:
    """Prints `SHA256  NAME` for every file in `directory`, as `sha256sum -- *` would: the recorded
    digest for a file whose inode, size and ctime are the recorded ones, else the file hashed now."""
    match_record = (
        'BEGIN { FS = "\\t"; while ((getline line < record) > 0) { split(line, f, "\\t"); '
        'known[f[1] "\\t" f[2]] = f[3] } } '
        '($1 "\\t" $2) in known { print known[$1 "\\t" $2] "  " $2; next } { print "hash:" $2 }'
    )
    return (f"cd -- {shlex.quote(directory)} && stat --printf {shlex.quote(STAT_KEY + chr(9) + '%n' + chr(10))} -- * "
            f"| awk -v record={shlex.quote(record)} {shlex.quote(match_record)} "
            "| while IFS= read -r line; do case $line in "
            'hash:*) sha256sum -- "${line#hash:}" ;; *) printf \'%s\\n\' "$line" ;; esac; done')


def record_digests_command(directory: str, names: list[str], record: str) -> str:
    """Record the files `names` in `directory` as they are now: each one's inode, size and ctime
    first, then its digest (a change between the two leaves a stale key, so a hash, never a stale digest)."""
    tab = "$(printf '\\t')"
    return (f"mkdir -p -- {shlex.quote(record.rsplit('/', 1)[0] or '/')} && cd -- {shlex.quote(directory)} && "
            f"stat --printf {shlex.quote(STAT_KEY + chr(9) + '%n' + chr(10))} -- {' '.join(map(shlex.quote, names))} "
            f"| while IFS={tab} read -r key name; do "
            f"printf '%s\\t%s\\t%s\\n' \"$key\" \"$name\" \"$(sha256sum -- \"$name\" | cut -d' ' -f1)\"; done "
            f"> {shlex.quote(record + '.new')} && mv -f -- {shlex.quote(record + '.new')} {shlex.quote(record)}")


# -- systemd units: every unit question of a read answered by two systemctl calls --
# A systemctl call costs a node about 6 ms of CPU (it links libsystemd-shared and talks D-Bus); a
# read asked ten of them. Every probe below shares one `systemctl list-units` (what is loaded and
# its active state) and one `systemctl list-unit-files` (each unit file's enablement, "as reported
# by is-enabled": systemctl(1)). Not `systemctl show -P UnitFileState`: the manager caches that for
# a loaded unit, and a link removed by hand still reads "enabled" until a daemon-reload.
# `systemctl is-enabled A B` cannot be shared either: systemd 252 stops at the first unit without a
# unit file. Every unit a probe may ask about is listed here, so every read runs the same two commands.
ASKED_UNITS = ("containerd.service", "firewalld.service", "ssh.socket", "sshd.socket",
               "kubewire-firewall.service", "kubewire-pod-routes.service", "kubewire-pod-masquerade.service")
SWAP_UNITS = "*.swap"
# "UNIT LOAD ACTIVE" per loaded unit (a mark some versions put before a failed unit's name is dropped:
# a unit name always holds a dot).
LOADED_UNITS = "kubewire_loaded_units"
READ_LOADED_UNITS = shared_output(
    LOADED_UNITS,
    f"systemctl list-units --all --plain --no-legend --full {' '.join(ASKED_UNITS)} {shlex.quote(SWAP_UNITS)} "
    "| awk '{ i = ($1 ~ /[.]/) ? 1 : 2; print $i, $(i + 1), $(i + 2) }'")
UNIT_FILES = "kubewire_unit_files"
READ_UNIT_FILES = shared_output(UNIT_FILES, f"systemctl list-unit-files --plain --no-legend {' '.join(ASKED_UNITS)}")


def _asked(unit: str) -> str:
    if unit not in ASKED_UNITS:
        raise ValueError(f"{unit} is not in ASKED_UNITS: add it there, so that every read asks systemd the same")
    return unit


def _active_state(unit: str) -> str:
    return (f"printf '%s\\n' \"${LOADED_UNITS}\" | {{ state=inactive; while read -r name load active; do "
            f"[ \"$name\" = {_asked(unit)} ] && state=$active; done; echo \"$state\"; }}")


def unit_active_probe(unit: str) -> str:
    """Prints the unit's active state as `systemctl is-active` does ("active", "failed", …; "inactive"
    for a unit systemd has not loaded)."""
    return f"{READ_LOADED_UNITS}; {_active_state(unit)}"


def when_unit_active(unit: str, then: str) -> str:
    """Runs the shell snippet `then` when the unit is active (`systemctl is-active -q UNIT && then`).
    For a probe that runs `then` in a subshell, put `READ_LOADED_UNITS` before the subshell."""
    return f"{READ_LOADED_UNITS}; [ \"$({_active_state(unit)})\" = active ] && {then}"


def unit_enabled_probe(unit: str) -> str:
    """Prints the unit file's state as `systemctl is-enabled` does ("enabled", "disabled", "masked", …),
    nothing when the unit has no unit file."""
    return (f"{READ_UNIT_FILES}; printf '%s\\n' \"${UNIT_FILES}\" | while read -r name state _; do "
            f"[ \"$name\" = {_asked(unit)} ] && echo \"$state\"; done")


def swap_units_probe() -> str:
    """Prints every swap unit systemd has loaded that is not masked (what could turn swap on)."""
    return (f"{READ_LOADED_UNITS}; printf '%s\\n' \"${LOADED_UNITS}\" | while read -r name load _; do "
            'case $name in *.swap) [ "$load" = masked ] || echo "$name" ;; esac; done')
