"""Each role's data keys, validated with the rest of the cluster spec.

A role's keys are prefixed with its name (`hosts_extra_entries`, `coredns_pods`, …) and set in
group or host data. Here every key has its type, its default and a comment; the role module
passes `Settings.defaults()` to `@deploy(data_defaults=...)` and reads the validated values
from the spec (`spec.node(host.name).hosts.extra_entries`).

Node roles (scope "node") may differ per group or host and hang off each `NodeSpec`; cluster
roles (scope "cluster") have one value for the whole cluster and hang off the `ClusterSpec`.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError


def _is_hostname(value: str) -> bool:
    from .spec import is_dns_subdomain

    return is_dns_subdomain(value)


def prefixed(role: str) -> ConfigDict:
    """Model config whose field `name` is read from the data key `<role>_<name>`."""
    return ConfigDict(frozen=True, extra="forbid", populate_by_name=True,
                      alias_generator=lambda name: f"{role}_{name}")


class RoleSettings(BaseModel):
    role: ClassVar[str]
    scope: ClassVar[str]  # "node" or "cluster"

    @classmethod
    def keys(cls) -> list[str]:
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The data keys and their defaults, for `@deploy(data_defaults=...)`."""
        return cls().model_dump(by_alias=True)


class HostsSettings(RoleSettings):
    """Role `hosts`: hostname and /etc/hosts."""

    role: ClassVar[str] = "hosts"
    scope: ClassVar[str] = "node"
    model_config = prefixed("hosts")

    # Set the node's hostname to its node name (`node_name`, default: the inventory name).
    set_hostname: bool = True
    # Extra /etc/hosts entries on every node: {"192.168.56.2": ["registry.lab"]}.
    extra_entries: dict[str, list[str]] = {}

    @field_validator("extra_entries")
    @classmethod
    def _valid_entries(cls, entries: dict[str, list[str]]) -> dict[str, list[str]]:
        for address, names in entries.items():
            try:
                IPv4Address(address)
            except ValueError:
                raise PydanticCustomError(
                    "spec", "has '{address}', which is not an IPv4 address; map addresses to lists of names",
                    {"address": address},
                ) from None
            bad = [name for name in names if not _is_hostname(name)]
            if not names or bad:
                raise PydanticCustomError(
                    "spec", "gives {address} the names {bad}; use one or more valid DNS names",
                    {"address": address, "bad": bad or names},
                )
        return entries
