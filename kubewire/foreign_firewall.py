"""Another firewall on a node: which of kubewire's ports it would drop, read from its rules.

netfilter runs every base chain of a hook, and a packet that any of them drops is gone,
whatever kubewire's own table accepts (nft(8), "Base chain": "a drop verdict ... will
immediately terminate the evaluation"). So before any change the main job reads every input
and forward chain that is not kubewire's -- nftables (`nft -j list table`, which also shows
ufw/firewalld and iptables-nft rules) and legacy iptables (`iptables-legacy-save`) -- and works
out each kubewire port's verdict: a rule counts when it matches only on protocol and destination
port (or accepts a port under other conditions, such as a source); jumps and gotos are followed;
the chain's policy decides the rest. Rules on other conditions cannot be judged from here and
are passed over.

Forward chains carry the pods' traffic: between nodes, and on a node's own bridge too, since
the prereqs role sets net.bridge.bridge-nf-call-iptables (bridged packets then traverse the
forward hook). A forward chain that drops what it cannot judge cuts pods off each other. Docker
is the common case: when it turns on IP forwarding it sets the FORWARD policy to DROP
(moby/libnetwork#1526), which is why flannel adds its own accept rules for the pod network.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from .nft_probes import hooked_tables_except
from .unit_probes import when_unit_active

# Printed by the probe, one section per source (see `FOREIGN_FIREWALL_PROBES`).
FOREIGN_FIREWALL_PROBES = (
    ("firewall services", "[ -e /etc/ufw/ufw.conf ] && grep -qi '^ENABLED=yes' /etc/ufw/ufw.conf && echo ufw; "
                          + when_unit_active("firewalld.service", "echo firewalld")),
    # Each nftables table that has an input or forward base chain, as JSON, except kubewire's
    # own and kube-proxy's nftables-mode tables (large maps; its chains only reject traffic to
    # Services without endpoints).
    ("nft filter tables", hooked_tables_except(("inet kubewire", "ip kube-proxy", "ip6 kube-proxy"))
                          + ' | while read -r family name; do nft -j list table "$family" "$name"; done'),
    # Legacy iptables only where its filter table exists (listing it would otherwise create it).
    ("iptables legacy", "[ -e /proc/net/ip_tables_names ] && while read -r table; do [ \"$table\" = filter ] "
                        "&& iptables-legacy-save -t filter; done < /proc/net/ip_tables_names"),
)
MAX_DEPTH = 16


@dataclass(frozen=True)
class Rule:
    verdict: str  # accept, drop, jump, goto, return, or "" (no verdict: counter, log...)
    target: str = ""  # the chain of a jump or goto
    protocols: frozenset[str] | None = None  # None: any protocol
    ports: tuple[tuple[int, int], ...] | None = None  # destination port ranges; None: any port
    conditional: bool = False  # matches on something else too (source, interface, state...)

    def applies(self, protocol: str, port: int) -> bool:
        if self.protocols is not None and protocol not in self.protocols:
            return False
        return self.ports is None or any(first <= port <= last for first, last in self.ports)


@dataclass
class Chain:
    name: str
    rules: list[Rule] = field(default_factory=list)
    policy: str = ""  # base chains: accept or drop


@dataclass
class Table:
    """One table's chains; `base` are its input base chains and `forward` its forward base
    chains, by name."""
    label: str
    chains: dict[str, Chain] = field(default_factory=dict)
    base: list[str] = field(default_factory=list)
    forward: list[str] = field(default_factory=list)


def verdict(table: Table, chain_name: str, protocol: str, port: int, depth: int = 0) -> str | None:
    """accept/drop for a new connection to `port`, or None when the chain returns without one."""
    chain = table.chains.get(chain_name)
    if chain is None or depth > MAX_DEPTH:
        return None
    for rule in chain.rules:
        if not rule.applies(protocol, port):
            continue
        if rule.verdict in ("jump", "goto"):
            result = verdict(table, rule.target, protocol, port, depth + 1)
            if result is not None:
                return result
            if rule.verdict == "goto" and not rule.conditional:
                return None
        elif rule.conditional:
            # A conditional accept of this very port counts (e.g. from a source); other
            # conditional verdicts (ct state, interfaces, martians) are passed over.
            if rule.verdict == "accept" and rule.ports is not None:
                return "accept"
        elif rule.verdict in ("accept", "drop"):
            return rule.verdict
        elif rule.verdict == "return":
            return None
    return chain.policy or None


def blocked_ports(tables: list[Table], ports: list[tuple[str, int, int, str]]) -> dict[str, list[str]]:
    """{chain label: ["6443/tcp", ...]} for each input base chain that would drop one of `ports`
    (protocol, first, last, label); base chains with policy drop are listed even when empty."""
    found: dict[str, list[str]] = {}
    for table in tables:
        for name in table.base:
            chain = table.chains[name]
            label = f"{table.label}, chain {name} (policy {chain.policy or 'accept'})"
            dropped = [port_label for protocol, first, last, port_label in ports
                       if any(verdict(table, name, protocol, port) == "drop" for port in {first, last})]
            if dropped or chain.policy == "drop":
                found[label] = dropped
    return found


def forward_drops(tables: list[Table]) -> list[str]:
    """The forward base chains that drop a packet no port rule speaks for: pod traffic."""
    found = []
    for table in tables:
        for name in table.forward:
            # Port -1 matches no port rule: what is left is what a pod's packet meets.
            if any(verdict(table, name, protocol, -1) == "drop" for protocol in ("tcp", "udp")):
                found.append(f"{table.label}, chain {name} (policy {table.chains[name].policy or 'accept'})")
    return found


# nftables JSON (libnftables-json(5)) -------------------------------------------------------

_COUNTING = {"counter", "log", "limit", "quota", "notrack", "set", "meter"}


def _port_ranges(value) -> tuple[tuple[int, int], ...] | None:
    if isinstance(value, int):
        return ((value, value),)
    if isinstance(value, dict) and "range" in value:
        first, last = value["range"]
        return ((int(first), int(last)),) if isinstance(first, int) and isinstance(last, int) else None
    if isinstance(value, dict) and "set" in value:
        ranges: list[tuple[int, int]] = []
        for element in value["set"]:
            part = _port_ranges(element)
            if part is None:
                return None
            ranges += part
        return tuple(ranges)
    return None


def _nft_rule(expressions: list[dict]) -> Rule:
    protocols: frozenset[str] | None = None
    ports = None
    conditional = False
    verdict_name, target = "", ""
    for expression in expressions:
        (kind, value), = expression.items()
        if kind == "match" and value.get("op") in ("==", "in"):
            left, right = value.get("left", {}), value.get("right")
            payload = left.get("payload", {}) if isinstance(left, dict) else {}
            meta = left.get("meta", {}) if isinstance(left, dict) else {}
            if payload.get("field") == "dport" and _port_ranges(right) is not None:
                ports = _port_ranges(right)
                if payload.get("protocol") in ("tcp", "udp"):
                    protocols = frozenset({payload["protocol"]})
            elif meta.get("key") == "l4proto" and isinstance(right, str | dict):
                names = right["set"] if isinstance(right, dict) else [right]
                protocols = frozenset(str(name) for name in names)
            else:
                conditional = True
        elif kind in ("accept", "drop", "return"):
            verdict_name = kind
        elif kind == "reject":
            verdict_name = "drop"
        elif kind in ("jump", "goto"):
            verdict_name, target = kind, value.get("target", "")
        elif kind not in _COUNTING:
            conditional = True
    return Rule(verdict_name, target, protocols, ports, conditional)


def parse_nft_tables(lines: list[str]) -> list[Table]:
    """Tables from `nft -j list table` outputs, one JSON document per line."""
    tables: list[Table] = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            items = json.loads(line).get("nftables", [])
        except ValueError:
            continue
        table: Table | None = None
        for item in items:
            if "table" in item:
                table = Table(f"nftables table {item['table']['family']} {item['table']['name']}")
                tables.append(table)
            elif "chain" in item and table is not None:
                chain = item["chain"]
                policy = chain.get("policy", "") if "hook" in chain else ""
                table.chains[chain["name"]] = Chain(chain["name"], policy=policy)
                if chain.get("type", "filter") == "filter" and chain.get("hook") in ("input", "forward"):
                    (table.base if chain["hook"] == "input" else table.forward).append(chain["name"])
            elif "rule" in item and table is not None:
                rule = item["rule"]
                if rule["chain"] in table.chains:
                    table.chains[rule["chain"]].rules.append(_nft_rule(rule.get("expr", [])))
    return tables


# iptables-save (legacy) --------------------------------------------------------------------

_IPTABLES_PLAIN = {"-p", "--protocol", "--dport", "--destination-port", "--dports", "-j", "-g", "-m", "--comment"}


def parse_iptables_save(lines: list[str]) -> list[Table]:
    """The filter table of `iptables-legacy-save -t filter`."""
    table = Table("iptables (legacy) table filter")
    for line in lines:
        line = line.strip()
        if line.startswith(":"):
            name, policy = (line[1:].split() + ["-"])[:2]
            table.chains[name] = Chain(name, policy={"DROP": "drop", "ACCEPT": "accept"}.get(policy, ""))
            if name in ("INPUT", "FORWARD"):
                (table.base if name == "INPUT" else table.forward).append(name)
        elif line.startswith("-A "):
            words = shlex.split(line)
            chain = table.chains.setdefault(words[1], Chain(words[1]))
            chain.rules.append(_iptables_rule(words[2:]))
    return [table] if table.chains else []


def _iptables_rule(words: list[str]) -> Rule:
    options: dict[str, str] = {}
    conditional = False
    index = 0
    while index < len(words):
        word = words[index]
        value = words[index + 1] if index + 1 < len(words) else ""
        if word == "-m" and value not in ("tcp", "udp", "multiport", "comment"):
            conditional = True
        elif word not in _IPTABLES_PLAIN:
            conditional = True
            index += 1
            continue
        options[word] = value
        index += 2
    protocol = options.get("-p") or options.get("--protocol")
    port_text = options.get("--dport") or options.get("--destination-port") or options.get("--dports")
    ports = None
    if port_text:
        ports = tuple((int(a), int(b or a)) for a, _, b in (part.partition(":") for part in port_text.split(",")))
    target = options.get("-j") or options.get("-g") or ""
    verdicts = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", "RETURN": "return"}
    kind = verdicts.get(target) or ("goto" if "-g" in options else "jump" if target else "")
    return Rule(kind, "" if target in verdicts else target, frozenset({protocol}) if protocol else None, ports,
                conditional)
