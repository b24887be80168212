"""Pictures of a topology: Graphviz DOT and Mermaid text, rendered by pure functions.

Each node and bridge is a box with one row per interface (its name, addresses, and
"down" when the topology leaves it down), and each link joins the two interface rows it
connects, so the picture reads like the tutorial's diagrams. svg and png come from
Graphviz's `dot`, run on the DOT text (`render`).
"""

import html
import re
import shutil
import subprocess

from netplay.check.expect import route_text
from netplay.core.errors import HostError
from netplay.model.tunnels import vnis

FORMATS = ("dot", "mermaid", "svg", "png")
EXTENSIONS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid",
              ".svg": "svg", ".png": "png"}

COLORS = {"netns": "#dbe9f6", "docker": "#d9f0d3", "host": "#e6e6e6", "bridge": "#fde9c9"}
DOWN = "#9a9a9a"


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _kind_words(node):
    words = [{"host": "root namespace"}.get(node.kind, node.kind)]
    if node.forwarding:
        words.append("forwarding")
    return ", ".join(words)


def _iface_cell(name, addresses, up, port=True):
    text = f"<B>{html.escape(name)}</B>"
    if addresses:
        text += " " + " ".join(html.escape(a) for a in addresses)
    if not up:
        text = f'<FONT COLOR="{DOWN}">{text} (down)</FONT>'
    attr = f' PORT="{html.escape(name)}"' if port else ""
    return f'<TR><TD{attr} ALIGN="LEFT">{text}</TD></TR>'


def _table(title, subtitle, color, rows):
    head = (f'<TR><TD BGCOLOR="{color}"><B>{html.escape(title)}</B><BR/>'
            f'<FONT POINT-SIZE="10">{html.escape(subtitle)}</FONT></TD></TR>')
    return ('<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="4">'
            + head + "".join(rows) + "</TABLE>>")


def _notes(node):
    """The small print under a node's interfaces: its routes and NAT."""
    out = ["route " + route_text(r) for r in node.routes]
    out += [f"masquerade out of {i}" for i in node.nat]
    return out


def _end_up(topo, end):
    if topo.is_bridge(end.node):
        return topo.bridges[end.node].up
    return topo.nodes[end.node].interfaces[end.iface].up


def to_dot(topo):
    """The topology as a Graphviz graph (undirected, left to right)."""
    lines = [f"graph {_quote(topo.name)} {{"]
    label = topo.name + (f": {topo.description}" if topo.description else "")
    lines.append(f"  graph [rankdir=LR, fontname=\"Helvetica\", labelloc=t, "
                 f"label={_quote(label)}];")
    lines.append('  node [shape=plaintext, fontname="Helvetica", fontsize=11];')
    lines.append('  edge [fontname="Helvetica", fontsize=9];')
    boxes = {}
    for node in topo.nodes.values():
        rows = [_iface_cell(i.name, i.addresses, i.up) for i in node.interfaces.values()]
        rows += [f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">'
                 f"{html.escape(text)}</FONT></TD></TR>" for text in _notes(node)]
        table = _table(node.name, _kind_words(node), COLORS.get(node.kind, "#ffffff"), rows)
        boxes[node.name] = f"{_quote(node.name)} [label={table}];"
    for bridge in topo.bridges.values():
        where = f"bridge in {bridge.namespace}" if bridge.namespace else "bridge"
        rows = [_iface_cell(bridge.name, bridge.addresses, bridge.up)] if bridge.addresses \
            else []
        rows += [_iface_cell(p, [], bridge.up) for p in bridge.interfaces]
        table = _table(bridge.name, where + ("" if bridge.up else " (down)"), COLORS["bridge"],
                       rows)
        boxes[bridge.name] = f"{_quote(bridge.name)} [label={table}];"
    lines += _dot_boxes(topo, boxes)
    tunnels = vnis(topo)
    seen_bridges = set()
    for i, link in enumerate(topo.links):
        attrs = ["color=\"#333333\""]
        if not (_end_up(topo, link.a) and _end_up(topo, link.b)):
            attrs = [f'color="{DOWN}"', "style=dashed"]
        if i in tunnels:  # between hosts: a VXLAN tunnel
            attrs += ["style=bold", f"label={_quote(f'VXLAN {tunnels[i]}')}"]
        a, b = link.a, link.b
        if topo.is_bridge(b.node) and b.node in seen_bridges:
            a, b = b, a  # a bridge's first member left of it, the others to its right
        seen_bridges.update(e.node for e in (a, b) if topo.is_bridge(e.node))
        lines.append(f"  {_quote(a.node)}:{_quote(a.iface)} -- "
                     f"{_quote(b.node)}:{_quote(b.iface)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_boxes(topo, boxes):
    """The DOT lines of the nodes' and bridges' boxes: as they are for a lab on one host;
    for a lab on several, each host's inside a cluster named after it."""
    if not topo.hosts:
        return [f"  {box}" for box in boxes.values()]
    lines = []
    for n, host in enumerate(topo.hosts.values()):
        lines.append(f"  subgraph {_quote(f'cluster_{n}')} {{")
        lines.append(f"    label={_quote(f'host {host.name} ({host.ssh})')}; "
                     'style=rounded; color="#7f7f7f";')
        lines += [f"    {box}" for name, box in boxes.items()
                  if topo.host_of(name) == host.name]
        lines.append("  }")
    return lines


def _mermaid_ids(topo):
    """A Mermaid-safe, unique identifier per node and bridge."""
    ids, used = {}, set()
    for name in [*topo.nodes, *topo.bridges]:
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        ident = base
        while ident in used:
            ident += "_"
        used.add(ident)
        ids[name] = ident
    return ids


def _mermaid_text(text):
    return html.escape(text).replace('"', "#quot;")


def to_mermaid(topo):
    """The topology as a Mermaid flowchart (GitHub renders these in Markdown)."""
    ids = _mermaid_ids(topo)
    lines = ["flowchart LR"]
    boxes = {}
    for node in topo.nodes.values():
        parts = [f"<b>{_mermaid_text(node.name)}</b>", _mermaid_text(_kind_words(node))]
        for iface in node.interfaces.values():
            text = " ".join([iface.name, *iface.addresses]) + ("" if iface.up else " (down)")
            parts.append(_mermaid_text(text))
        parts += [_mermaid_text(text) for text in _notes(node)]
        boxes[node.name] = f'{ids[node.name]}["{"<br/>".join(parts)}"]'
    for bridge in topo.bridges.values():
        parts = [f"<b>{_mermaid_text(bridge.name)}</b>", "bridge" + ("" if bridge.up
                                                                     else " (down)")]
        parts += [_mermaid_text(a) for a in bridge.addresses]
        boxes[bridge.name] = f'{ids[bridge.name]}{{{{"{"<br/>".join(parts)}"}}}}'
    if topo.hosts:  # each host's boxes in a subgraph of its own
        for n, host in enumerate(topo.hosts.values()):
            lines.append(f'  subgraph host_{n}["host {_mermaid_text(host.name)}"]')
            lines += [f"    {box}" for name, box in boxes.items()
                      if topo.host_of(name) == host.name]
            lines.append("  end")
    else:
        lines += [f"  {box}" for box in boxes.values()]
    tunnels = vnis(topo)
    for i, link in enumerate(topo.links):
        arrow = "---" if _end_up(topo, link.a) and _end_up(topo, link.b) else "-.-"
        if i in tunnels:
            arrow = "==="
        label = _mermaid_text(f"{link.a.iface} - {link.b.iface}"
                              + (f" (VXLAN {tunnels[i]})" if i in tunnels else ""))
        lines.append(f'  {ids[link.a.node]} {arrow}|"{label}"| {ids[link.b.node]}')
    return "\n".join(lines) + "\n"


def render(dot_text, fmt, dot_program="dot"):
    """svg or png bytes from DOT text, through Graphviz's dot."""
    exe = shutil.which(dot_program)
    if exe is None:
        raise HostError(f"rendering {fmt} needs Graphviz's `dot`, which is not installed; "
                        "install it (apt-get install graphviz) or use --format dot or mermaid")
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                          timeout=60)
    if proc.returncode != 0:
        raise HostError(f"dot could not render the graph: "
                        f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def output(topo, fmt):
    """The picture in fmt, as bytes."""
    if fmt == "dot":
        return to_dot(topo).encode()
    if fmt == "mermaid":
        return to_mermaid(topo).encode()
    return render(to_dot(topo), fmt)
