"""Names, addresses and durations as the components accept them: predicates and pydantic types.

Shared by the cluster spec (kubewire/spec.py) and the roles' settings (kubewire/settings.py).
Every pattern must match the *whole* value (`fullmatch`): with `re.match` and `$`, a value
ending in a newline ("node01\\n") would pass and break the file or command it lands in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network, ip_address
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

# RFC 1123 label: node names, namespaces, DNS labels (k8s.io/apimachinery validation.IsDNS1123Label).
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# RFC 1035 label: Service names start with a letter.
DNS_1035_LABEL = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
# A CNI network name, by the CNI spec (SPEC.md, "Configuration format", name): "Must start with
# an alphanumeric character, optionally followed by any combination of one or more alphanumeric
# characters, underscore, dot (.) or hyphen (-)."
CNI_NETWORK_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
# A Linux interface name: at most IFNAMSIZ-1 = 15 bytes.
INTERFACE_NAME = re.compile(r"[a-zA-Z0-9_.-]{1,15}")
# A sysctl value: one line of printable characters ("1", "32768 60999").
SYSCTL_VALUE = re.compile(r"[^\x00-\x1f\x7f]+")
# A Go duration as kube-proxy parses it (time.ParseDuration, without a sign): 30s, 1m, 500ms, 1m30s.
GO_DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def matches(pattern: re.Pattern, value: Any) -> bool:
    """The whole string `value` matches `pattern` (never just a prefix of it)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_dns_label(value: Any) -> bool:
    return matches(DNS_LABEL, value)


def is_dns_subdomain(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 253 and all(is_dns_label(part) for part in value.split("."))


def duration_seconds(value: str) -> float:
    """'1m30s' -> 90.0 (value must match GO_DURATION)."""
    return sum(float(number) * _GO_UNITS[unit] for number, _, unit in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)",
                                                                                   value))


def spec_error(template: str, **context: Any) -> PydanticCustomError:
    """A validation error whose message says what is wrong and what to write instead."""
    return PydanticCustomError("spec", template, context)


def problem_at(loc: tuple, value: Any, message: str, depends: tuple[str, ...] = ()) -> InitErrorDetails:
    """A problem found by a check across fields or entries, at `loc`. The message goes in as
    context (user values may hold braces); `depends` names the spec fields the check reads, so
    it is not reported when one of them is itself invalid (see kubewire/parse.py)."""
    error = PydanticCustomError("spec", "{message}", {"message": message, "depends": ",".join(depends)})
    return InitErrorDetails(type=error, loc=loc, input=value)


def _checked(check: Callable[[Any], Any]) -> BeforeValidator:
    return BeforeValidator(check)


def network(value: Any, example: str) -> IPv4Network:
    if not isinstance(value, str):
        raise spec_error("must be a CIDR string such as {hint}", hint=example)
    try:
        return IPv4Network(value, strict=True)
    except ValueError as error:
        if "has host bits set" in str(error):
            raise spec_error("has host bits set; the network is {fixed}",
                             fixed=str(IPv4Network(value, strict=False))) from None
        raise spec_error("is not a valid IPv4 CIDR (like {hint})", hint=example) from None


def address(value: Any) -> IPv4Address:
    try:
        return IPv4Address(value) if isinstance(value, str) else IPv4Address("x")
    except ValueError:
        raise spec_error("is not a valid IPv4 address (like 192.168.56.10)") from None


def Cidr(example: str) -> Any:  # noqa: N802 (a type factory)
    """An IPv4 network written as a string; `example` appears in the error message."""
    return Annotated[IPv4Network, _checked(lambda value: network(value, example))]


def OptionalCidr(example: str) -> Any:  # noqa: N802
    return Annotated[IPv4Network | None, _checked(lambda value: None if value is None else network(value, example))]


Ipv4 = Annotated[IPv4Address, _checked(address)]
OptionalIpv4 = Annotated[IPv4Address | None, _checked(lambda value: None if value is None else address(value))]


def Pattern(pattern: re.Pattern, message: str) -> Any:  # noqa: N802
    """A string matching `pattern` as a whole; `message` says what a valid one looks like."""

    def check(value: Any) -> str:
        if not matches(pattern, value):
            raise spec_error("{message}", message=message)
        return value

    return Annotated[str, _checked(check)]


def DnsLabel(message: str) -> Any:  # noqa: N802
    return Pattern(DNS_LABEL, message)


def DnsSubdomain(message: str) -> Any:  # noqa: N802
    def check(value: Any) -> str:
        if not is_dns_subdomain(value):
            raise spec_error("{message}", message=message)
        return value

    return Annotated[str, _checked(check)]


def Choice(choices: tuple[str, ...], what: str, removed: dict[str, str] | None = None) -> Any:  # noqa: N802
    """One of `choices` (the enumeration written once, as a tuple); `removed` explains old values."""

    def check(value: Any) -> str:
        valid = ", ".join(choices)
        if removed and isinstance(value, str) and value in removed:
            raise spec_error("{why}; use one of: {valid}", why=removed[value], valid=valid)
        if value not in choices:
            raise spec_error("is not {what}; use one of: {valid}", what=what, valid=valid)
        return value

    return Annotated[Literal[choices], _checked(check)]


def is_server_address(value: Any, port_required: bool = False) -> bool:
    """An IP address, optionally with a port ('10.0.0.1', '10.0.0.1:53', '[fd00::1]:53')."""
    if not isinstance(value, str):
        return False
    host, port = split_host_port(value)
    if port is None and port_required or port is not None and not 0 < port < 65536:
        return False
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def split_host_port(value: str) -> tuple[str, int | None]:
    """'10.0.0.1:53' -> ('10.0.0.1', 53); '[fd00::1]:53' -> ('fd00::1', 53); no port -> None."""
    if value.startswith("["):
        host, _, port = value[1:].partition("]:")
        return host, int(port) if port.isascii() and port.isdigit() else -1
    if value.count(":") == 1:
        host, _, port = value.partition(":")
        return host, int(port) if port.isascii() and port.isdigit() else -1
    return value, None
