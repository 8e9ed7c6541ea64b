"""The node distributions kubewire supports, decided from each node's os-release file.

Supported means tested: `make test` converges lab nodes of Debian 12 (bookworm) and Debian 13
(trixie) in one lab, re-runs with zero changes, runs `kubewire verify` and the CRI proof on
both. Nothing else is: Ubuntu and other Debian derivatives (`ID_LIKE=debian`), Debian's testing
and unstable (no `VERSION_ID`) and older releases differ in what the roles rely on (package
names and versions of containerd, runc and nftables, systemd's behaviour, default files such as
/etc/sysctl.conf), and none of them runs in any test here. They may work, but a run that fails
halfway on a node does harm, so they are refused before any change instead.
"""

from __future__ import annotations

import re

# (ID, VERSION_ID) as os-release(5) defines them; Debian's VERSION_ID is its major release
# ("12"), point releases do not change it (https://www.debian.org/releases/).
SUPPORTED = {("debian", "12"): "Debian 12 (bookworm)", ("debian", "13"): "Debian 13 (trixie)"}

# os-release(5): /etc/os-release wins; /usr/lib/os-release only when it is absent.
OS_RELEASE_PROBE = ("os-release", "cat /etc/os-release || cat /usr/lib/os-release")
_OS_RELEASE_LINE = re.compile(r"^(?P<name>[a-zA-Z0-9_]+)=(?P<quote>[\"']?)(?P<value>.*)(?P=quote)$")
_OS_RELEASE_ESCAPE = re.compile(r"\\([\\$\"'`])")


def parse_os_release(lines: list[str] | tuple[str, ...]) -> dict[str, str]:
    """os-release(5): `KEY=value` lines, the value optionally quoted, with `\\`, `$`, quotes and
    backticks escaped by a backslash; other lines (comments, blanks) carry nothing. Read as
    CPython's platform.freedesktop_os_release() reads it (Lib/platform.py, _parse_os_release)."""
    fields = {}
    for line in lines:
        match = _OS_RELEASE_LINE.match(line.strip())
        if match:
            fields[match.group("name")] = _OS_RELEASE_ESCAPE.sub(r"\1", match.group("value"))
    return fields


def unsupported_distribution(host: str, os_release: list[str] | tuple[str, ...]) -> str | None:
    """Why `host` is refused (what it runs, what is supported, what to do), or None when it is supported."""
    fields = parse_os_release(os_release)
    distribution_id, version_id = fields.get("ID", ""), fields.get("VERSION_ID", "")
    if (distribution_id, version_id) in SUPPORTED:
        return None
    if fields:
        name = fields.get("PRETTY_NAME") or fields.get("NAME") or distribution_id or "an unnamed system"
        found = f"runs {name} (ID={distribution_id or '(none)'}, VERSION_ID={version_id or '(none)'})"
    else:
        found = "has no /etc/os-release (nor /usr/lib/os-release), so its distribution is unknown"
    supported = " and ".join(SUPPORTED.values())
    return (f"{host} {found}; kubewire supports {supported}, the releases its tests run on: "
            f"install one of them on {host}, or take {host} out of the inventory")
