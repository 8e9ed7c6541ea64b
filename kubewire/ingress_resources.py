"""Ingresses from inventory data (`ingress_resources`): parsed and checked as the API server would.

Each ingress is a dict with name, namespace, rules (kubectl's "host/path=service:port" strings
or {host, paths} dicts), tls, default_backend and annotations; see the README. Every bad
ingress, rule and field is reported at once, named by the ingress (or its index).
"""

from __future__ import annotations

import re
from ipaddress import ip_address
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from .names import DNS_1035_LABEL, is_dns_label, is_dns_subdomain, matches, problem_at

PATH_TYPES = ("Prefix", "Exact", "ImplementationSpecific")
# kubectl create ingress --rule="host/path=service:port[,tls[=secret]]"; a path ending in * is a Prefix.
_KUBECTL_RULE = re.compile(r"(?P<host>[^/=]*)(?P<path>/[^=]*)=(?P<service>[^:,=]+):(?P<port>[^,]+)"
                           r"(?P<tls>,tls(=(?P<secret>[^,]*))?)?")
# Paths Kubernetes and ingress-nginx (strict path validation, the default since 1.12) accept for
# Exact and Prefix: no regex characters, no empty, . or .. segments.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")
# A Service port name (IANA_SVC_NAME): at most 15 characters, a letter among them, no '--'.
_PORT_NAME = re.compile(r"(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?")
_ANNOTATION_KEY = re.compile(r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


class IngressBackend(BaseModel):
    model_config = ConfigDict(frozen=True)

    service: str
    port: int | str  # a number or the Service port's name


class IngressPath(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str
    path_type: str
    backend: IngressBackend


class IngressRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    host: str | None
    paths: tuple[IngressPath, ...]


class IngressTls(BaseModel):
    model_config = ConfigDict(frozen=True)

    hosts: tuple[str, ...]
    secret: str | None  # None: the controller's default certificate


class IngressResource(BaseModel):
    """One Ingress from `ingress_resources`, validated."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str = "default"
    rules: tuple[IngressRule, ...] = ()
    tls: tuple[IngressTls, ...] = ()
    default_backend: IngressBackend | None = None
    annotations: dict[str, str] = {}


def parse_ingresses(entries: Any) -> tuple[IngressResource, ...]:
    """`ingress_resources` into Ingresses, or a ValidationError naming every bad ingress, rule and field."""
    if isinstance(entries, tuple) and all(isinstance(entry, IngressResource) for entry in entries):
        return entries
    if not isinstance(entries, list | tuple):
        raise PydanticCustomError("spec", "must be a list of ingresses (dicts with name, rules, …)")
    problems: list[InitErrorDetails] = []
    parsed = [_parse_ingress(index, entry, problems) for index, entry in enumerate(entries)]
    seen: set[tuple[str, str]] = set()
    for ingress in parsed:
        if ingress and (ingress.namespace, ingress.name) in seen:
            problems.append(problem_at((ingress.name, "name"), ingress.name,
                            f"names another ingress in namespace {ingress.namespace} too; names must be unique"))
        elif ingress:
            seen.add((ingress.namespace, ingress.name))
    if problems:
        raise ValidationError.from_exception_data("ingress_resources", problems)
    return tuple(parsed)


_INGRESS_KEYS = ("name", "namespace", "rules", "tls", "default_backend", "annotations")


def _parse_ingress(index: int, entry: Any, problems: list) -> IngressResource | None:
    if not isinstance(entry, dict):
        problems.append(problem_at((str(index),), entry, "must be a dict with name and rules"))
        return None
    name = entry.get("name")
    # Problems are keyed by the ingress's name when it has a valid one, else by its index.
    label = name if isinstance(name, str) and is_dns_subdomain(name) else str(index)
    before = len(problems)

    def report(loc: tuple, value: Any, message: str) -> None:
        problems.append(problem_at((label, *loc), value, message))

    unknown = sorted(set(entry) - set(_INGRESS_KEYS))
    if unknown:
        report((unknown[0],), entry[unknown[0]], f"is not an ingress key; known: {', '.join(_INGRESS_KEYS)}")
    if label != name:
        report(("name",), name, "is not an Ingress name (a DNS subdomain such as shop or shop.web)")
    namespace = entry.get("namespace", "default")
    if not isinstance(namespace, str) or not is_dns_label(namespace):
        report(("namespace",), namespace, "is not a namespace name (an RFC 1123 label)")
    rules, tls = _parse_rules(entry.get("rules", []), report)
    tls += _parse_tls(entry.get("tls", []), report)
    default_backend = None
    if entry.get("default_backend") is not None:
        default_backend = _parse_backend(entry["default_backend"], ("default_backend",), report)
    if not rules and default_backend is None:
        report(("rules",), entry.get("rules"), "is empty and there is no default_backend; the ingress routes nothing")
    annotations = entry.get("annotations", {})
    if not isinstance(annotations, dict) or not all(
            isinstance(key, str) and matches(_ANNOTATION_KEY, key) and isinstance(value, str)
            for key, value in annotations.items()):
        report(("annotations",), annotations, "must map annotation names to strings")
    if len(problems) > before:
        return None
    return IngressResource(name=name, namespace=namespace, rules=rules, tls=tuple(tls),
                           default_backend=default_backend, annotations=annotations)


def _parse_rules(rules: Any, report) -> tuple[tuple[IngressRule, ...], list[IngressTls]]:
    """Rules by host (kubectl strings for one host are merged into one rule), and the TLS their strings ask for."""
    if not isinstance(rules, list | tuple):
        report(("rules",), rules, "must be a list of 'host/path=service:port' strings or {host, paths} dicts")
        return (), []
    by_host: dict[str | None, list[IngressPath]] = {}
    tls: list[IngressTls] = []
    for number, rule in enumerate(rules):
        loc = (f"rules[{number}]",)
        if isinstance(rule, str):
            host, path, rule_tls = _parse_kubectl_rule(rule, loc, report)
            paths = [path] if path else []
            tls += rule_tls
        elif isinstance(rule, dict):
            host, paths = _parse_rule_dict(rule, loc, report)
        else:
            report(loc, rule, "must be a 'host/path=service:port' string or a {host, paths} dict")
            continue
        if host is not None and (problem := host_problem(host)):
            report((*loc, "host"), host, problem)
        by_host.setdefault(host, []).extend(paths)
    return tuple(IngressRule(host=host, paths=tuple(paths)) for host, paths in by_host.items()), tls


def _parse_kubectl_rule(rule: str, loc: tuple, report) -> tuple[str | None, IngressPath | None, list[IngressTls]]:
    match = _KUBECTL_RULE.fullmatch(rule)
    if not match:
        report(loc, rule, "is not a rule like 'shop.example.com/=shop:80' or "
               "'shop.example.com/api*=api:http,tls=shop-tls'")
        return None, None, []
    host = match["host"] or None
    path, path_type = (match["path"][:-1], "Prefix") if match["path"].endswith("*") else (match["path"], "Exact")
    backend = _parse_backend(f"{match['service']}:{match['port']}", loc, report)
    ingress_path = _checked_path(path, path_type, backend, loc, report)
    tls = [IngressTls(hosts=(host,) if host else (), secret=match["secret"] or None)] if match["tls"] else []
    for entry in tls:
        if entry.secret is not None and not is_dns_subdomain(entry.secret):
            report((*loc, "tls"), entry.secret, "is not a Secret name (a DNS subdomain)")
    return host, ingress_path, tls


def _parse_rule_dict(rule: dict, loc: tuple, report) -> tuple[str | None, list[IngressPath]]:
    host, paths = rule.get("host"), rule.get("paths")
    if set(rule) - {"host", "paths"}:
        report(loc, sorted(rule), "may have only host and paths")
    if not isinstance(paths, list | tuple) or not paths:
        report((*loc, "paths"), paths, "must list paths: [{'path': '/', 'path_type': 'Prefix', 'service': 'shop', "
               "'port': 80}]")
        return host, []
    parsed = []
    for number, entry in enumerate(paths):
        path_loc = (*loc, f"paths[{number}]")
        if not isinstance(entry, dict) or set(entry) - {"path", "path_type", "service", "port"}:
            report(path_loc, entry, "must be a dict with path, path_type, service and port")
            continue
        backend = _parse_backend({"service": entry.get("service"), "port": entry.get("port")}, path_loc, report)
        path = _checked_path(entry.get("path", "/"), entry.get("path_type", "Prefix"), backend, path_loc, report)
        if path:
            parsed.append(path)
    return host, parsed


def _checked_path(path: Any, path_type: Any, backend: IngressBackend | None, loc: tuple, report) -> IngressPath | None:
    if path_type not in PATH_TYPES:
        report((*loc, "path_type"), path_type, f"is not a path type; use one of: {', '.join(PATH_TYPES)}")
        return None
    if problem := path_problem(path, path_type):
        report((*loc, "path"), path, problem)
        return None
    return IngressPath(path=path, path_type=path_type, backend=backend) if backend else None


def _parse_backend(value: Any, loc: tuple, report) -> IngressBackend | None:
    """'service:port' or {service, port}; a port of digits is a number, anything else a port name."""
    if isinstance(value, str):
        service, _, port = value.partition(":")
        value = {"service": service, "port": int(port) if port.isdigit() else port}
    if not isinstance(value, dict):
        report(loc, value, "must be 'service:port' or {'service': ..., 'port': ...}")
        return None
    service, port = value.get("service"), value.get("port")
    if not isinstance(service, str) or not matches(DNS_1035_LABEL, service):
        report((*loc, "service"), service, "is not a Service name (an RFC 1035 label: starts with a letter)")
        return None
    if problem := port_problem(port):
        report((*loc, "port"), port, problem)
        return None
    return IngressBackend(service=service, port=port)


def _parse_tls(entries: Any, report) -> list[IngressTls]:
    if not isinstance(entries, list | tuple):
        report(("tls",), entries, "must be a list of {'hosts': [...], 'secret': NAME}")
        return []
    parsed = []
    for number, entry in enumerate(entries):
        loc = (f"tls[{number}]",)
        hosts, secret = (entry.get("hosts", []), entry.get("secret")) if isinstance(entry, dict) else (None, None)
        if not isinstance(hosts, list | tuple) or not isinstance(secret, str | None):
            report(loc, entry, "must be {'hosts': [...], 'secret': NAME}")
            continue
        bad = [host for host in hosts if host_problem(host)]
        if bad:
            report((*loc, "hosts"), bad, "are not host names (DNS names, a wildcard only as the first label)")
        if secret is not None and not is_dns_subdomain(secret):
            report((*loc, "secret"), secret, "is not a Secret name (a DNS subdomain)")
        if not bad and (secret is None or is_dns_subdomain(secret)):
            parsed.append(IngressTls(hosts=tuple(hosts), secret=secret))
    return parsed


def host_problem(host: Any) -> str | None:
    """Why Kubernetes refuses `host` in an Ingress rule, if it does."""
    if not isinstance(host, str):
        return "must be a host name"
    name = host[2:] if host.startswith("*.") else host
    try:
        ip_address(host)
        return "is an IP address; Ingress hosts are DNS names"
    except ValueError:
        pass
    if "*" in name or not is_dns_subdomain(name):
        return "is not a host name (a DNS subdomain, lower case; a wildcard only as the first label: *.example.com)"
    return None


def path_problem(path: Any, path_type: str) -> str | None:
    """Why Kubernetes (or ingress-nginx's strict path validation) refuses `path`, if it does."""
    if not isinstance(path, str) or not path.startswith("/"):
        return "must start with /"
    if path_type == "ImplementationSpecific":
        return None
    segments = path[1:].split("/")
    if path.endswith("/"):
        segments.pop()  # a trailing / is fine
    if not matches(_PLAIN_PATH, path) or any(segment in ("", ".", "..") for segment in segments):
        return (f"is not a plain path, which {path_type} needs (letters, digits, / . _ ~ -; no empty, . or .. "
                "segments); use ImplementationSpecific for regular expressions")
    return None


def port_problem(port: Any) -> str | None:
    if isinstance(port, bool) or not isinstance(port, int | str):
        return "must be a port number or name"
    if isinstance(port, int):
        return None if 1 <= port <= 65535 else "must be 1-65535"
    if not matches(_PORT_NAME, port) or "--" in port:
        return "is not a port name (IANA_SVC_NAME: up to 15 of a-z, 0-9, '-', with a letter)"
    return None
