"""Problems found before anything changes, and the one way kubewire reports them and exits.

A `Problem` names where (a spec key such as `hosts.node01.node_ip`, or a rendered object and
field), the offending value and what to do instead. A `KubewireError` carries every problem
found, so the user fixes them all in one go; each kind of error has its own exit status.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

# Exit statuses, each defined once: a render that fails validation, a spec with errors.
MANIFEST_ERROR_EXIT = 1
SPEC_ERROR_EXIT = 2

# Longer values are shortened in messages: a whole ingress list helps nobody find a typo.
VALUE_WIDTH = 80


class _NoValue:
    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Any = _NoValue()


def shortened(value: Any, width: int = VALUE_WIDTH) -> str:
    """repr(value), cut to `width` characters with an ellipsis."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where, the value found there (if any), and the fix."""

    key: str
    value: Any
    message: str

    @classmethod
    def in_object(cls, obj: str, field: str, message: str) -> Problem:
        """A problem in a rendered object: 'Service kube-system/kube-dns', 'spec.clusterIP'."""
        return cls(f"{obj}: {field}", NO_VALUE, message)

    def __str__(self) -> str:
        if self.value is NO_VALUE:
            return f"{self.key}: {self.message}"
        return f"{self.key} = {shortened(self.value)}: {self.message}"


class KubewireError(Exception):
    """Every problem found, reported together; nothing was changed."""

    subject: ClassVar[str] = "the input has"
    noun: ClassVar[str] = "error"
    outcome: ClassVar[str] = "nothing was changed"
    exit_code: ClassVar[int] = 1

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__(self.report())

    def report(self) -> str:
        count = len(self.problems)
        lines = [f"{self.subject} {count} {self.noun}{'s' if count != 1 else ''}; {self.outcome}:"]
        lines += [f"  - {problem}" for problem in self.problems]
        return "\n".join(lines)


class SpecError(KubewireError):
    """The cluster spec (inventory data) is not valid."""

    subject = "the cluster spec has"
    exit_code = SPEC_ERROR_EXIT


class ManifestError(KubewireError):
    """Rendered manifests that must not be applied."""

    subject = "the rendered manifests have"
    noun = "problem"
    outcome = "nothing was applied"
    exit_code = MANIFEST_ERROR_EXIT


def exit_with(error: KubewireError) -> NoReturn:
    """Print every problem to stderr and exit with the error's status."""
    print(f"kubewire: {error.report()}", file=sys.stderr)
    raise SystemExit(error.exit_code) from None
