"""A picture of the cluster's network, drawn from the spec by Graphviz (`kubewire diagram`).

The node network with every node (name, role, node_ip, its pod subnet and CNI bridge, or the
overlay), the pod routes every node holds, the service range with the API and DNS service
addresses and kube-proxy's mode, and the ports each role opens. With `live`, what each node
really has (addresses, kubewire's pod routes, bridges: read in one command per node) is set
beside the spec, and every difference is marked in red.
"""

from __future__ import annotations

import html
import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import graphviz

from .ports import CNI_PORTS, CONTROLPLANE_PORTS, WORKER_PORTS
from .spec import ClusterSpec, NodeSpec

FORMATS = ("svg", "png")
NODES_PER_ROW = 5  # keeps a 20-node lab legible: rows of nodes under the node network
MISSING, UNEXPECTED, PENDING = "#c62828", "#6a1b9a", "#757575"
FONT = "Helvetica"


@dataclass
class LiveNode:
    """What one node really has, as read by `live_state`."""

    addresses: set[str] = field(default_factory=set)
    routes: dict[str, str] = field(default_factory=dict)  # subnet -> via, kubewire's routes only
    bridges: set[str] = field(default_factory=set)
    error: str = ""


def pod_routes(spec: ClusterSpec, node: NodeSpec) -> dict[str, str]:
    """The routes the cni role gives `node` (bridge CNI): every other node's pod subnet via that node."""
    return spec.pod_routes(node.host) if spec.cni_plugin == "bridge" else {}


def _cell(text: str, bold: bool = False, color: str = "", align: str = "LEFT") -> str:
    body = html.escape(text)
    if bold:
        body = f"<B>{body}</B>"
    if color:
        body = f'<FONT COLOR="{color}">{body}</FONT>'
    return f'<TR><TD ALIGN="{align}">{body}</TD></TR>'


def _table(rows: list[str], fill: str) -> str:
    return (f'<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" BGCOLOR="{fill}">'
            + "".join(rows) + "</TABLE>>")


def _node_label(spec: ClusterSpec, node: NodeSpec, live: LiveNode | None) -> str:
    roles = ", ".join(sorted(node.groups & {"controlplane", "workers"}))
    rows = [_cell(node.name, bold=True, align="CENTER"), _cell(roles, align="CENTER"), _cell(f"node_ip {node.node_ip}")]
    if spec.cni_plugin == "bridge":
        subnet = spec.pod_cidr_for(node.host)
        rows.append(_cell(f"pods {subnet} on bridge {node.cni.bridge} (gateway {subnet.network_address + 1})"))
    else:
        rows.append(_cell(f"pods on the {spec.cni_plugin} overlay (bridge {spec.cni_plugin})"))
    if live is not None:
        rows += _live_rows(spec, node, live)
    return _table(rows, "#e3f2fd" if node.is_controlplane else "#f1f8e9")


def _live_rows(spec: ClusterSpec, node: NodeSpec, live: LiveNode) -> list[str]:
    if live.error:
        return [_cell(f"live: unreachable ({live.error})", color=MISSING)]
    rows = []
    if str(node.node_ip) not in live.addresses:
        rows.append(_cell(f"live: node_ip {node.node_ip} missing", color=MISSING))
    bridge = node.cni.bridge if spec.cni_plugin == "bridge" else spec.cni_plugin
    if bridge not in live.bridges:  # not a fault: the CNI makes it for the node's first pod
        rows.append(_cell(f"live: no bridge {bridge} yet (made with the first pod)", color=PENDING))
    wanted = pod_routes(spec, node)
    for subnet, via in wanted.items():
        if live.routes.get(subnet) != via:
            rows.append(_cell(f"live: missing route {subnet} via {via}", color=MISSING))
    for subnet, via in live.routes.items():
        if wanted.get(subnet) != via:
            rows.append(_cell(f"live: unexpected route {subnet} via {via}", color=UNEXPECTED))
    differs = any(color in row for row in rows for color in (MISSING, UNEXPECTED))
    return rows if differs else [_cell("live: as in the spec"), *rows]


def _routes_label(spec: ClusterSpec) -> str:
    if spec.cni_plugin != "bridge":
        ports = ", ".join(str(rule) for rule in CNI_PORTS[spec.cni_plugin])
        return _table([_cell(f"{spec.cni_plugin} overlay", bold=True, align="CENTER"),
                       _cell(f"pod range {spec.pod_cidr} across all nodes"),
                       _cell(f"between nodes: {ports}")], "#fff8e1")
    rows = [_cell("pod routes (on every other node)", bold=True, align="CENTER")]
    rows += [_cell(f"{spec.pod_cidr_for(node.host)} via {node.node_ip} ({node.name})") for node in spec.nodes]
    rows.append(_cell(f"pod range {spec.pod_cidr}: pod to pod without NAT"))
    return _table(rows, "#fff8e1")


def _services_label(spec: ClusterSpec) -> str:
    return _table([
        _cell("Services", bold=True, align="CENTER"),
        _cell(f"service range {spec.service_cidr}"),
        _cell(f"kubernetes API {spec.api_service_ip}:443"),
        _cell(f"cluster DNS {spec.cluster_dns_ip} ({spec.cluster_domain})"),
        _cell(f"kube-proxy mode {spec.kube_proxy_mode} on every node"),
    ], "#fce4ec")


def _ports_label(spec: ClusterSpec) -> str:
    rows = [_cell("ports each role opens", bold=True, align="CENTER")]
    for role, rules in (("controlplane", CONTROLPLANE_PORTS), ("workers", WORKER_PORTS),
                        (spec.cni_plugin, CNI_PORTS[spec.cni_plugin])):
        for rule in rules:
            source = "" if rule.source == "any" else f" from {rule.source}"
            rows.append(_cell(f"{role}: {rule}{source}  {rule.purpose}"))
    return _table(rows, "#ede7f6")


def diagram(spec: ClusterSpec, live: dict[str, LiveNode] | None = None) -> graphviz.Graph:
    graph = graphviz.Graph("kubewire", graph_attr={
        "label": f"cluster {spec.cluster_name}: Kubernetes {spec.kubernetes_version}, CNI {spec.cni_plugin}, "
                 f"kube-proxy {spec.kube_proxy_mode}" + (" (live: red marks differ from the spec)" if live else ""),
        "labelloc": "t", "fontname": FONT, "fontsize": "16", "rankdir": "TB", "nodesep": "0.3", "ranksep": "0.4",
        "newrank": "true"})
    graph.attr("node", shape="plain", fontname=FONT, fontsize="11")
    graph.attr("edge", style="invis")  # edges only place things: containment shows the network
    with graph.subgraph(name="legend") as top:
        top.attr(rank="same")
        for name, label in (("routes", _routes_label(spec)), ("services", _services_label(spec)),
                            ("ports", _ports_label(spec))):
            top.node(name, label=label)
        top.edge("routes", "services")
        top.edge("services", "ports")
    rows = [spec.nodes[start:start + NODES_PER_ROW] for start in range(0, len(spec.nodes), NODES_PER_ROW)]
    with graph.subgraph(name="cluster_nodes") as network:
        network.attr(label=f"node network {spec.node_network}", labeljust="l", style="rounded,filled",
                     fillcolor="#fafafa", color="#9e9e9e", fontsize="13")
        for number, row in enumerate(rows):
            with network.subgraph(name=f"row{number}") as rank:
                rank.attr(rank="same")
                for node in row:
                    seen = None if live is None else live[node.host]
                    rank.node(f"node-{node.host}", label=_node_label(spec, node, seen))
                for left, right in zip(row, row[1:], strict=False):  # keeps the inventory's order in a row
                    rank.edge(f"node-{left.host}", f"node-{right.host}")
    for above, below in zip(rows, rows[1:], strict=False):  # a grid: each node above the next row's
        for upper, lower in zip(above, below, strict=False):
            graph.edge(f"node-{upper.host}", f"node-{lower.host}", weight="10")
    graph.edge("services", f"node-{rows[0][0].host}")
    return graph


def live_command() -> str:
    """One command per node: its IPv4 addresses, kubewire's pod routes and its bridges."""
    from .roles.cni import ROUTE_PROTO  # kubewire's pod routes carry it

    return (f"echo '@@addresses'; ip -4 -o addr show | awk '{{print $4}}'; "
            f"echo '@@routes'; ip -4 route show proto {shlex.quote(str(ROUTE_PROTO))}; "
            "echo '@@bridges'; ip -o link show type bridge | awk -F': ' '{print $2}'")


def parse_live(output: str) -> LiveNode:
    live, section = LiveNode(), ""
    for line in output.splitlines():
        line = line.strip()
        if line.startswith("@@"):
            section = line[2:]
        elif not line:
            continue
        elif section == "addresses":
            live.addresses.add(line.split("/")[0])
        elif section == "routes":
            words = line.split()
            if "via" in words:
                live.routes[words[0]] = words[words.index("via") + 1]
        elif section == "bridges":
            live.bridges.add(line.split("@")[0])
    return live


def live_state(targets: dict) -> dict[str, LiveNode]:
    """Read every node (kubewire.ssh targets) in parallel, one SSH command each."""
    from .ssh import connect

    def read(target) -> LiveNode:
        try:
            client = connect(target)
        except Exception as error:  # reported in the picture, not fatal: it shows the rest
            return LiveNode(error=type(error).__name__)
        try:
            _, stdout, _ = client.exec_command(live_command(), timeout=20)
            return parse_live(stdout.read().decode())
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=min(32, len(targets) or 1)) as pool:
        return dict(zip(targets, pool.map(read, targets.values()), strict=True))


def write_diagram(graph: graphviz.Graph, out: Path) -> Path:
    """Render to `out`; its extension (.svg or .png) is the format."""
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{out}: the file name must end in .svg or .png")
    out.write_bytes(graph.pipe(format=fmt))
    return out
