"""Facts that read a role's whole state in one remote command.

pyinfra's usual facts cost one SSH round trip each; a role that asks ten of them pays ten
round trips on every re-run. `Probes` runs many small shell probes in one command and
returns each one's output, so a role reads everything it needs at once and creates
operations only for what differs.
"""

from __future__ import annotations

import hashlib
import shlex

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


def file_digest_probe(path: str) -> str:
    """Prints the file's sha256, or nothing when it is absent."""
    return f"sha256sum {shlex.quote(path)} | cut -d' ' -f1"


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
