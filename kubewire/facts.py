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
from pyinfra import state
from pyinfra.api import FactBase
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_host

SEPARATOR = "@@kubewire-probe "
PROBED = "kubewire_probed"


class Probes(FactBase):
    """Run named shell snippets in one command: `host.get_fact(Probes, probes=(("name", "cmd"), ...))`.

    Returns {name: output lines}. A probe's stderr is discarded and its exit status ignored:
    print what you need to know (e.g. `test -e F && echo yes`).
    """

    def command(self, probes: tuple[tuple[str, str], ...]) -> str:
        parts = [f"echo {shlex.quote(SEPARATOR + name)}; {{ {script}\n}} 2>/dev/null" for name, script in probes]
        # All output printed at once: sshd sends each write of the shell as an SSH packet of its own,
        # which both ends encrypt or decrypt and check (a hundred per read, where this makes a few).
        # The "." keeps the trailing newlines that $(...) would strip.
        return f"{PROBED}=$(\n" + "\n".join(parts) + f"\necho .)\nprintf '%s' \"${{{PROBED}%.}}\""

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


class Gatherer:
    """One command that answers many probes of one kind in a whole-node read: `command(items)` runs once
    for every item the read's probes ask about (files to hash, packages, units), and `answer` picks each
    probe's own output from what it printed, on the controller. Each node process costs a few
    milliseconds of CPU, and the lab's nodes share the controller's cores."""

    name = ""

    def command(self, items: list) -> str:
        raise NotImplementedError

    def answer(self, lines_: list[str], item) -> list[str]:
        raise NotImplementedError


class GatheredProbe(str):
    """A probe whose text runs it alone, and that a whole-node read answers from its gatherer's one
    command instead, with the same output (checked on lab nodes: tests/lab/test_gathered_probes.py)."""

    gatherer: Gatherer
    item: object

    def __new__(cls, script: str, gatherer: Gatherer, item: object) -> GatheredProbe:
        probe = super().__new__(cls, script)
        probe.gatherer, probe.item = gatherer, item
        return probe


class FileDigests(Gatherer):
    """Every file digest of a read from one `sha256sum`."""

    name = "file digests"

    def command(self, items: list) -> str:
        return "sha256sum -- " + " ".join(map(shlex.quote, items))

    def answer(self, lines_: list[str], item) -> list[str]:
        digest = digests_by_path(lines_).get(item)
        return [digest] if digest else []


FILE_DIGESTS = FileDigests()


def file_digest_probe(path: str) -> GatheredProbe:
    """Prints the file's sha256, or nothing when it is absent."""
    # From stdin: sha256sum escapes an odd file name in its output, never "-".
    return GatheredProbe(f"sha256sum < {shlex.quote(path)} | cut -d' ' -f1", FILE_DIGESTS, path)


# Debian policy's package names (lower case letters, digits, + - .): a pattern or an
# architecture-qualified name is asked by a command of its own.
PLAIN_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")


class PackageStates(Gatherer):
    """Every package question of a read from one `dpkg-query -W` that prints every field any probe asks.
    dpkg-query prints each package it knows once, in its own sorted order whatever order the names were
    given in (querycmd.c, showpackages): a probe's lines are the gathered ones of its packages, in order."""

    name = "packages"
    FIELDS = ("Package", "Version", "Status", "db:Status-Abbrev")  # tab-separated: no field holds a tab

    def command(self, items: list) -> str:
        format_ = "\\t".join(f"${{{field}}}" for field in self.FIELDS)
        return f"dpkg-query -W -f='{format_}\\n' " + shlex.join(dict.fromkeys(p for _, names in items for p in names))

    def answer(self, lines_: list[str], item) -> list[str]:
        fields, packages = item
        rows = (dict(zip(self.FIELDS, line.split("\t"), strict=False)) for line in lines_)
        return [" ".join(row.get(field, "") for field in fields) for row in rows if row["Package"] in packages]


PACKAGE_STATES = PackageStates()


def package_probe(fields: tuple[str, ...], packages: tuple[str, ...]) -> str:
    """Prints `dpkg-query -W -f='${F1} ${F2}…\\n' PACKAGES` (a package dpkg does not know prints nothing)."""
    format_ = " ".join(f"${{{field}}}" for field in fields)
    script = f"dpkg-query -W -f='{format_}\\n' {shlex.join(packages)}"
    if not (set(fields) <= set(PackageStates.FIELDS) and all(map(PLAIN_PACKAGE.fullmatch, packages))):
        return script
    return GatheredProbe(script, PACKAGE_STATES, (tuple(fields), tuple(packages)))


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


IPTABLES_RULES = "kubewire_iptables_rules"  # the shell variable `iptables_lines_probe`'s share


class IptablesLines(Gatherer):
    """The lines of one `iptables-save` that any probe's pattern matches, each probe's then picked by its
    own (an extended regular expression that means the same to grep -E and Python's re)."""

    name = "iptables"

    def command(self, items: list) -> str:
        return "iptables-save | grep -E " + shlex.quote("|".join(f"({pattern})" for pattern in items))

    def answer(self, lines_: list[str], item) -> list[str]:
        pattern = re.compile(item)
        return [line for line in lines_ if pattern.search(line)]


IPTABLES_LINES = IptablesLines()


def iptables_lines_probe(pattern: str) -> GatheredProbe:
    """Prints the lines of `iptables-save` that `grep -E pattern` selects."""
    return GatheredProbe(output_once(IPTABLES_RULES, "iptables-save", f"| grep -E {shlex.quote(pattern)}"),
                         IPTABLES_LINES, pattern)


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


def gathered_section(gatherer: Gatherer) -> str:
    return f"{SECTION_MARK}{gatherer.name}"  # no role's section is named ""


def whole_node_command(sections: dict[str, ProbeList]) -> ProbeList:
    """The sections' probes as one probe list, each name prefixed by its section: each gatherer's one
    command first (a gatherer may keep an output in the shell for the plain probes after it), then
    every other probe, a script two sections share only once."""
    items: dict[Gatherer, list] = {}
    for probes in sections.values():
        for _, script in probes:
            if isinstance(script, GatheredProbe):
                items.setdefault(script.gatherer, [])
                if script.item not in items[script.gatherer]:
                    items[script.gatherer].append(script.item)
    combined = [(gathered_section(gatherer), gatherer.command(asked)) for gatherer, asked in items.items()]
    seen = set()
    for section, probes in sections.items():
        for name, script in probes:
            if not isinstance(script, GatheredProbe) and script not in seen:
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
    first_name: dict[str, str] = {}
    for section, probes in sections.items():
        for name, script in probes:
            first_name.setdefault(script, f"{section}{SECTION_MARK}{name}")
    read: dict[str, tuple] = {}
    for section, probes in sections.items():
        found: dict[str, list[str]] = {}
        for name, script in probes:
            if isinstance(script, GatheredProbe):
                if gathered_section(script.gatherer) in probed:
                    found[name] = script.gatherer.answer(probed[gathered_section(script.gatherer)], script.item)
            elif first_name[script] in probed:
                found[name] = probed[first_name[script]]
        if len(found) == len(probes):
            read[section] = (probes, found)
    return read


def read_node_state(on_host=None) -> None:
    """Run the host's whole-node read now (once per run; nothing when this run declared none)."""
    # The Host itself, not pyinfra's `host` proxy (it has no truth value, and keyed by it the read would
    # be compared through whichever host another greenlet's context holds).
    on_host = ctx_host.get() if on_host is None else on_host
    declared = _sections.get(on_host.inventory)
    if not declared:
        return
    with _reading.setdefault(on_host, Semaphore()):
        if on_host not in _node_state:
            wanted = {name: tuple(build(on_host.name)) for name, build in declared.items()}
            probed = on_host.get_fact(Probes, probes=whole_node_command(wanted))
            _node_state[on_host] = split_sections(probed, wanted)


def node_probed(section: str, probes: ProbeList, on_host=None) -> dict[str, list[str]]:
    """What `probes` printed on the host: from its whole-node read when this run declared one
    (`read_together`) with this section and these very probes, else from a `Probes` command of their own."""
    on_host = ctx_host.get() if on_host is None else on_host
    declared = _sections.get(on_host.inventory)
    if declared and section in declared:
        read_node_state(on_host)
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
