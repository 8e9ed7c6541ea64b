"""Probes of systemd units for a whole-node read: one `systemctl list-units` per read, enablement
read from the links themselves."""

from __future__ import annotations

import shlex

from .facts import GatheredProbe, Gatherer, shared_output

# A systemctl call costs a node 6 to 10 ms of CPU (it links libsystemd-shared and talks D-Bus to the
# manager). Every active-state question of a read shares one `systemctl list-units` (what is loaded
# and its active state). Enablement is read from disk as `systemctl is-enabled` defines it: "enabled:
# Enabled via .wants/, .requires/ or Alias= symlinks (permanently in /etc/systemd/system/ ...)",
# "masked: Completely disabled ... (permanently in /etc/systemd/system/ or transiently in
# /run/systemd/system/)" (systemctl(1)); `systemctl enable` makes those links from the unit's
# WantedBy=/RequiredBy= (systemd.unit(5), [Install]). Not `systemctl show -P UnitFileState`: the
# manager caches that for a loaded unit, and a link removed by hand still reads "enabled" until a
# daemon-reload.
ASKED_UNITS = ("containerd.service", "firewalld.service", "ssh.socket", "sshd.socket",
               "kubewire-firewall.service", "kubewire-pod-routes.service", "kubewire-pod-masquerade.service")
SWAP_UNITS = "*.swap"
# "UNIT ACTIVE LOAD" per loaded unit (a mark some versions put before a failed unit's name is dropped:
# a unit name always holds a dot).
LOADED_UNITS = "kubewire_loaded_units"
READ_LOADED_UNITS = shared_output(
    LOADED_UNITS,
    f"systemctl list-units --all --plain --no-legend --full {' '.join(ASKED_UNITS)} {shlex.quote(SWAP_UNITS)} "
    "| awk '{ i = ($1 ~ /[.]/) ? 1 : 2; print $i, $(i + 2), $(i + 1) }'")
SYSTEM_CONFIG_DIR, RUNTIME_CONFIG_DIR = "/etc/systemd/system", "/run/systemd/system"


class LoadedUnits(Gatherer):
    """Every active-state question of a read from one `systemctl list-units`. Its output stays in the
    shell too, for a probe that acts on it there (`when_unit_active`)."""

    name = "loaded units"

    def command(self, items: list) -> str:
        return f"{READ_LOADED_UNITS}; printf '%s\\n' \"${LOADED_UNITS}\""

    def answer(self, lines_: list[str], item) -> list[str]:
        rows = [(line.split() + ["", "", ""])[:3] for line in lines_ if line.strip()]
        if item == SWAP_UNITS:
            return [name for name, _, load in rows if name.endswith(".swap") and load != "masked"]
        state = "inactive"
        for name, active, _ in rows:
            if name == item:
                state = active
        return [state]


LOADED_UNITS_GATHERER = LoadedUnits()


def _asked(unit: str) -> str:
    if unit not in ASKED_UNITS:
        raise ValueError(f"{unit} is not in ASKED_UNITS: add it there, so that every read asks systemd the same")
    return unit


def _active_state(unit: str) -> str:
    return (f"printf '%s\\n' \"${LOADED_UNITS}\" | {{ state=inactive; while read -r name active _; do "
            f"[ \"$name\" = {_asked(unit)} ] && state=$active; done; echo \"$state\"; }}")


def unit_active_probe(unit: str) -> GatheredProbe:
    """Prints the unit's active state as `systemctl is-active` does ("active", "failed", …; "inactive"
    for a unit systemd has not loaded)."""
    return GatheredProbe(f"{READ_LOADED_UNITS}; {_active_state(unit)}", LOADED_UNITS_GATHERER, _asked(unit))


def when_unit_active(unit: str, then: str) -> str:
    """Runs the shell snippet `then` when the unit is active (`systemctl is-active -q UNIT && then`),
    matching the shared output with the shell's own `case` (no subshell). For a probe that runs it in a
    subshell, put `READ_LOADED_UNITS` before the subshell."""
    return (f"{READ_LOADED_UNITS}; case \"\n${LOADED_UNITS}\n\" in "
            f"*\"\n{_asked(unit)} active \"*) {then.strip().rstrip(';')} ;; esac")


def unit_enabled_probe(unit: str) -> str:
    """Prints "enabled" when a .wants/ or .requires/ link in /etc/systemd/system names the unit (what
    `systemctl enable` makes), "masked" when the unit is linked to /dev/null there or in /run, else
    "disabled". Without a process: the shell's own globbing and `test`."""
    name = shlex.quote(unit)
    return (f"state=disabled; for link in {SYSTEM_CONFIG_DIR}/*.wants/{name} {SYSTEM_CONFIG_DIR}/*.requires/{name}; "
            'do [ -L "$link" ] && state=enabled; done; '
            f"for link in {SYSTEM_CONFIG_DIR}/{name} {RUNTIME_CONFIG_DIR}/{name}; do "
            '[ "$link" -ef /dev/null ] && state=masked; done; echo "$state"')


def swap_units_probe() -> GatheredProbe:
    """Prints every swap unit systemd has loaded that is not masked (what could turn swap on)."""
    return GatheredProbe(f"{READ_LOADED_UNITS}; printf '%s\\n' \"${LOADED_UNITS}\" | while read -r name _ load; do "
                         'case $name in *.swap) [ "$load" = masked ] || echo "$name" ;; esac; done',
                         LOADED_UNITS_GATHERER, SWAP_UNITS)
