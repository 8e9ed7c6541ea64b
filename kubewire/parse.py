"""Inventory data into a `ClusterSpec`, or a `SpecError` naming every problem at once.

`parse_cluster(settings, hosts)` takes the cluster keys (group data) and each host's data,
validates them with the spec's models, and turns pydantic's errors into problems that name the
key the user wrote (`hosts.node01.node_ip`, `coredns_upstreams`), the value and the fix: a
wrong type says what to write instead, an unknown key suggests the one meant, and a bad value
set in group data is reported once rather than once per host.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import Problem, SpecError
from .settings import RoleSettings
from .spec import CLUSTER_KEYS, CLUSTER_ROLES, HOST_FIELDS, HOST_KEYS, NODE_ROLES, ClusterSpec, role_of_key

ALL_ROLES: dict[str, type[RoleSettings]] = {**NODE_ROLES, **CLUSTER_ROLES}
# Every key kubewire reads from inventory data.
KNOWN_KEYS = (*CLUSTER_KEYS, *HOST_KEYS, *(key for settings in ALL_ROLES.values() for key in settings.keys()))


@dataclass(frozen=True)
class HostInput:
    """What the inventory says about one host, before validation."""

    host: str
    groups: frozenset[str]
    host_data: dict[str, Any]
    ssh_hostname: str | None = None
    # Node roles' keys as this host sees them (host data over group data over `all`).
    role_data: dict[str, Any] = field(default_factory=dict)


def role_keys(data: dict[str, Any], roles: dict[str, type[RoleSettings]]) -> dict[str, dict[str, Any]]:
    """Split data into the roles' settings: {"hosts": {"hosts_extra_entries": ...}}."""
    split: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        role = role_of_key(key, roles)
        if role is not None:
            split.setdefault(role, {})[key] = value
    return split


def is_known_key(key: str) -> bool:
    return key in CLUSTER_KEYS or key in HOST_KEYS or role_of_key(key, ALL_ROLES) is not None


def misspelt_key_problem(key: str, value: Any, where: str = "") -> Problem | None:
    """A problem for a key kubewire does not read but that looks like one it does (a typo).

    Keys far from every kubewire key are left alone: inventory data also holds pyinfra's own
    keys (ssh_user, _sudo) and the user's."""
    if not isinstance(key, str) or is_known_key(key):
        return None
    close = difflib.get_close_matches(key, KNOWN_KEYS, n=1, cutoff=0.8)
    if not close:
        return None
    return Problem(f"{where}{key}", value, f"is not a key kubewire reads; did you mean {close[0]}?")


def parse_cluster(settings: dict[str, Any], hosts: list[HostInput]) -> ClusterSpec:
    """Validate cluster settings and hosts into a ClusterSpec, or raise SpecError with every problem."""
    typos = [problem for key, value in settings.items() if (problem := misspelt_key_problem(key, value))]
    typos += [problem for item in hosts for key, value in item.host_data.items()
              if (problem := misspelt_key_problem(key, value, f"hosts.{item.host}."))]
    nodes = []
    for item in hosts:
        node = {"host": item.host, "groups": item.groups, **role_keys(item.role_data, NODE_ROLES)}
        node.update({name: item.host_data[key] for key, name in HOST_FIELDS.items() if key in item.host_data})
        node.setdefault("name", item.host)
        if node.get("node_ip") is None:
            node["node_ip"] = item.ssh_hostname if _looks_like_ip(item.ssh_hostname) else None
        nodes.append(node)
    raw = {key: value for key, value in settings.items() if key in CLUSTER_KEYS}
    raw.update(role_keys(settings, CLUSTER_ROLES))
    raw["nodes"] = nodes
    try:
        spec = ClusterSpec.model_validate(raw)
    except ValidationError as error:
        errors = error.errors()
    else:
        if typos:
            raise SpecError(typos)
        return spec
    problems = [_to_problem(item, hosts) for item in errors]

    # Pydantic runs the checks across fields only when every field is valid. To report every
    # problem at once, check again without the invalid fields (their defaults stand in) and
    # without the invalid nodes, keeping only problems that do not read an invalid field.
    invalid = {item["loc"][0] for item in errors if item["loc"][0] != "nodes"}
    bad_nodes = {item["loc"][1] for item in errors if item["loc"][:1] == ("nodes",) and isinstance(item["loc"][1], int)}
    if invalid or bad_nodes:
        invalid |= {"nodes"} if bad_nodes else set()
        kept = [index for index in range(len(hosts)) if index not in bad_nodes]
        retry = {key: value for key, value in raw.items() if key not in invalid}
        retry["nodes"] = [nodes[index] for index in kept]
        try:
            ClusterSpec.model_validate(retry)
        except ValidationError as again:
            for item in again.errors():
                depends = set(filter(None, item.get("ctx", {}).get("depends", "").split(",")))
                problem = _to_problem(item, [hosts[index] for index in kept])
                if not depends & invalid and problem not in problems:
                    problems.append(problem)
    raise SpecError(typos + once_for_group_data(problems, hosts))


def once_for_group_data(problems: list[Problem], hosts: list[HostInput]) -> list[Problem]:
    """A bad node-role value set in group data is one problem, not one per host that inherits it."""
    from_groups = {item.host: {key for key in item.role_data if key not in item.host_data} for item in hosts}
    merged: dict[tuple, list[str]] = defaultdict(list)
    result: list[Problem | tuple] = []
    for problem in problems:
        parts = problem.key.split(".", 2)
        if len(parts) == 3 and parts[0] == "hosts" and parts[2].split(".")[0] in from_groups.get(parts[1], ()):
            group = (parts[2], repr(problem.value), problem.message)
            if group not in merged:
                result.append(group)
            merged[group].append(parts[1])
            continue
        result.append(problem)
    collapsed = []
    for entry in result:
        if isinstance(entry, Problem):
            collapsed.append(entry)
            continue
        key, _, message = entry
        names = merged[entry]
        value = next(problem.value for problem in problems if problem.key == f"hosts.{names[0]}.{key}")
        if len(names) == 1:
            collapsed.append(Problem(f"hosts.{names[0]}.{key}", value, message))
        else:
            scope = "" if len(names) == len(hosts) else f" (hosts {', '.join(names)})"
            collapsed.append(Problem(key, value, message + scope))
    return collapsed


def _looks_like_ip(value: str | None) -> bool:
    if not isinstance(value, str):
        return False
    try:
        IPv4Address(value)
        return True
    except ValueError:
        return False


def _to_problem(error: dict, hosts: list[HostInput]) -> Problem:
    location = list(error["loc"])
    if len(location) > 1 and location[0] == "nodes" and isinstance(location[1], str):
        location = location[1:]  # checks across nodes already name their host
    # Field errors inside a node come as ("nodes", index, field, ...): name the host instead.
    if len(location) >= 2 and location[0] == "nodes" and isinstance(location[1], int):
        host = hosts[location[1]].host
        rest = location[2:]
        if rest and rest[0] == "name":
            rest[0] = "node_name"
        if len(rest) > 1 and rest[0] in NODE_ROLES:
            rest = rest[1:]  # (role, data key): the prefixed data key names itself
        location = ["hosts", host, *rest]
    elif len(location) > 1 and location[0] in CLUSTER_ROLES:
        location = location[1:]
    key = ".".join(str(part) for part in location if part != "")
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = _unknown_key_message(str(location[-1]))
    elif error["type"] in _TYPE_MESSAGES:
        message = _type_message(error, location)
    return Problem(key=key, value=error.get("input"), message=message)


# What to write instead, by pydantic's error type (added to pydantic's own message).
_TYPE_MESSAGES = {
    "bool_parsing": "write True or False (unquoted)",
    "bool_type": "write True or False (unquoted)",
    "int_parsing": "write a whole number, unquoted",
    "int_type": "write a whole number, unquoted",
    "int_from_float": "write a whole number, unquoted",
    "string_type": "write a string, in quotes",
    "list_type": "write a list: [...]",
    "tuple_type": "write a list: [...]",
    "dict_type": "write a dict: {{...}}",
    "greater_than_equal": "write a number of at least {ge}",
    "less_than_equal": "write a number of at most {le}",
}


def _type_message(error: dict, location: list) -> str:
    message = f"{error['msg']}; " + _TYPE_MESSAGES[error["type"]].format(**error.get("ctx", {}))
    key = next((part for part in reversed(location) if isinstance(part, str) and is_known_key(part)), None)
    default = _default_of(key) if key else None
    if default is not None and default not in ([], {}, ()):
        message += f", e.g. {key} = {default!r}"
    return message


def _default_of(key: str) -> Any:
    role = role_of_key(key, ALL_ROLES)
    if role is None:
        info = ClusterSpec.model_fields.get(key)
        return None if info is None or info.is_required() else info.default
    model: type[BaseModel] = ALL_ROLES[role]
    return next((info.default for name, info in model.model_fields.items() if (info.alias or name) == key), None)


def _unknown_key_message(key: str) -> str:
    role = role_of_key(key, ALL_ROLES)
    known = ALL_ROLES[role].keys() if role else list(CLUSTER_KEYS)
    close = difflib.get_close_matches(key, known + list(CLUSTER_KEYS), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"is not a key of {'role ' + role if role else 'the cluster spec'}; {hint}known: {', '.join(known)}"
