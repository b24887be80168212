"""Pictures of a topology: Graphviz DOT and Mermaid text, rendered by pure functions.

Each node and bridge is a box with one row per interface (its name, addresses, and
"down" when the topology leaves it down), and each link joins the two interface rows it
connects, so the picture reads like the tutorial's diagrams. svg and png come from
Graphviz's `dot`, run on the DOT text (`render`); html is that svg in a page of its own
that pans and zooms (netplay.render.html).

A bridge inside a node's namespace is drawn in a frame with that node (a DOT cluster, a
Mermaid subgraph), joined to it by a dotted line; a namespace that holds bridges and
nothing else (linear's and tree's `switches`) is left out, its bridges drawn on their own.

Two layouts: `flat`, left to right, as Graphviz places it; and `tiers`, top to bottom by
the lab's structure: the nodes that do not forward (its hosts) on the bottom row, what they
hang from above them, and so on up (a tree's root on top; a leaf-spine's spines over its
leaves over its hosts). A tier whose members are linked to each other (a chain of
switches) is wrapped into rows of ROW, each with what hangs from it below, every other one
running back so that the chain's link between two rows stays short.
"""

import html
import re
import shutil
import subprocess
import textwrap
from typing import Dict, List, Set

from netplay.check.expect import route_text
from netplay.core.errors import HostError
from netplay.model.topology import Topology
from netplay.model.tunnels import vnis
from netplay.render import html as page

FORMATS = ("dot", "mermaid", "svg", "png", "html")
EXTENSIONS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid",
              ".svg": "svg", ".png": "png", ".html": "html", ".htm": "html"}
LAYOUTS = ("auto", "tiers", "flat")
ROW = 5  # boxes in a row of a wrapped chain: five hosts' boxes fit a page's width
TITLE = 80  # characters in a line of a tiers picture's title
BIG = 16  # auto: more boxes than this are drawn by tiers (one line of them is too wide)

COLORS = {"netns": "#dbe9f6", "docker": "#d9f0d3", "host": "#e6e6e6", "bridge": "#fde9c9"}
DOWN = "#9a9a9a"
FRAME = "#7f7f7f"


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


# --- what the picture holds: namespaces that are left out, frames, tiers ---------------------


def holders(topo: Topology) -> Set[str]:
    """The nodes that hold bridges and nothing else (no interface of their own), like
    linear's and tree's `switches`: left out of the picture, their bridges drawn alone."""
    inside = {b.namespace for b in topo.bridges.values() if b.namespace}
    return {n for n in inside if n in topo.nodes and not topo.nodes[n].interfaces}


def frames(topo: Topology) -> Dict[str, List[str]]:
    """{node: the bridges inside its namespace}, for every node drawn with bridges in a frame."""
    skip = holders(topo)
    out: Dict[str, List[str]] = {}
    for bridge in topo.bridges.values():
        if bridge.namespace in topo.nodes and bridge.namespace not in skip:
            out.setdefault(bridge.namespace, []).append(bridge.name)
    return out


def units(topo: Topology) -> List[str]:
    """The boxes of the picture, nodes then bridges, in the topology's order."""
    skip = holders(topo)
    return [n for n in topo.nodes if n not in skip] + list(topo.bridges)


def choose_layout(topo: Topology, layout: str = "auto") -> str:
    """auto: tiers for a lab with bridges inside nodes (a generated one: linear, tree,
    leafspine) or with more than BIG boxes; flat (left to right) for the rest."""
    if layout != "auto":
        return layout
    inside = any(b.namespace for b in topo.bridges.values())
    return "tiers" if inside or len(units(topo)) > BIG else "flat"


def _neighbours(topo, boxes):
    """{box: the boxes it is joined to, by a link or as a bridge inside it}, in order."""
    adj: Dict[str, List[str]] = {u: [] for u in boxes}

    def join(a, b):
        if a != b and a in adj and b in adj and b not in adj[a]:
            adj[a].append(b)
            adj[b].append(a)

    for link in topo.links:
        join(link.a.node, link.b.node)
    for bridge in topo.bridges.values():
        if bridge.namespace:
            join(bridge.namespace, bridge.name)
    return adj


def _spread(adj, starts, depth):
    """Breadth-first distances from starts into depth (boxes already there are kept)."""
    todo = [s for s in starts if s not in depth]
    for s in todo:
        depth[s] = 0
    while todo:
        nxt = []
        for u in todo:
            for v in adj[u]:
                if v not in depth:
                    depth[v] = depth[u] + 1
                    nxt.append(v)
        todo = nxt


def _tiers(topo, adj):
    """The boxes by tier, top first: a box's tier is its distance from the nearest node that
    does not forward (a host, at the bottom); a part of the lab without one counts from its
    first box."""
    depth: Dict[str, int] = {}
    _spread(adj, [u for u in adj if u in topo.nodes and not topo.nodes[u].forwarding], depth)
    for u in adj:
        _spread(adj, [u], depth)
    top = max(depth.values(), default=0)
    tiers: List[List[str]] = [[] for _ in range(top + 1)]
    for u in adj:
        tiers[top - depth[u]].append(u)
    return [t for t in tiers if t]


def _chain_order(tier, adj):
    """A tier's boxes, each run of boxes linked to each other (a chain) walked from its first
    end in the topology's order, depth first."""
    index = {u: k for k, u in enumerate(tier)}
    flat = {u: [v for v in adj[u] if v in index] for u in tier}
    seen: Set[str] = set()
    out: List[str] = []
    for first in tier:
        if first in seen:
            continue
        comp, stack = {first}, [first]
        while stack:  # the run (component) first belongs to
            for v in flat[stack.pop()]:
                if v not in comp:
                    comp.add(v)
                    stack.append(v)
        ends = [u for u in sorted(comp, key=index.__getitem__) if len(flat[u]) <= 1]
        stack = [ends[0] if ends else first]
        while stack:
            u = stack.pop()
            if u not in seen:
                seen.add(u)
                out.append(u)
                stack += reversed([v for v in flat[u] if v not in seen])
    return out


def _ordered(tiers, adj):
    """Each tier left to right: the top one along its chains, each one below under the
    boxes it hangs from (the mean of their places), ties in the topology's order."""
    place: Dict[str, float] = {}
    out = []
    for tier in tiers:
        index = {u: k for k, u in enumerate(tier)}

        def key(u, index=index):
            ups = [place[v] for v in adj[u] if v in place]
            return (sum(ups) / len(ups) if ups else float("inf"), index[u])

        row = _chain_order(tier, adj) if not place else sorted(tier, key=key)
        place.update({u: (k + 0.5) / len(row) for k, u in enumerate(row)})
        out.append(row)
    return out


def _flat_links(tier, adj):
    members = set(tier)
    return any(v in members for u in tier for v in adj[u])


def _wrapped(tiers, adj, width):
    """Rows top to bottom: the tiers, except that the first tier wider than width whose boxes
    are linked to each other is cut into bands of width, each band followed by the boxes
    below it that hang from it; every other band runs right to left (a snake). Also the
    index of the first wrapped row (None: nothing is wrapped)."""
    for t, tier in enumerate(tiers):
        if len(tier) > width and _flat_links(tier, adj):
            break
    else:
        return tiers, None
    band = {u: k // width for k, u in enumerate(tiers[t])}
    for tier in tiers[t + 1:]:
        for u in tier:
            band[u] = min([band[v] for v in adj[u] if v in band], default=0)
    rows = list(tiers[:t])
    for b in range(max(band.values()) + 1):
        for tier in tiers[t:]:
            row = [u for u in tier if band[u] == b]
            rows += [row[::-1] if b % 2 else row] if row else []
    return rows, t


def _layout(topo, width=ROW):
    adj = _neighbours(topo, units(topo))
    return _wrapped(_ordered(_tiers(topo, adj), adj), adj, width)


def rows(topo: Topology, width: int = ROW) -> List[List[str]]:
    """The tiers layout: the picture's boxes in rows, top to bottom, each left to right."""
    return _layout(topo, width)[0]


def _places(grid):
    return {u: (r, c) for r, row in enumerate(grid) for c, u in enumerate(row)}


# --- DOT ------------------------------------------------------------------------------------


def _node_box(node, compact):
    rows = [_iface_cell(i.name, [] if compact else i.addresses, i.up)
            for i in node.interfaces.values()]
    rows += [] if compact else [f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9">'
                                f"{html.escape(text)}</FONT></TD></TR>" for text in _notes(node)]
    table = _table(node.name, _kind_words(node), COLORS.get(node.kind, "#ffffff"), rows)
    return f"{_quote(node.name)} [label={table}];"


def _bridge_box(bridge, compact, tiers):
    """A bridge's box: its own addresses' row, then a row per port (in tiers, no port rows:
    the links meet the box itself, each end labelled with its interface)."""
    where = f"bridge in {bridge.namespace}" if bridge.namespace else "bridge"
    own = bridge.addresses and not compact
    rows = [_iface_cell(bridge.name, bridge.addresses, bridge.up, port=not tiers)] if own \
        else []
    rows += [] if tiers else [_iface_cell(p, [], bridge.up) for p in bridge.interfaces]
    table = _table(bridge.name, where + ("" if bridge.up else " (down)"), COLORS["bridge"],
                   rows)
    return f"{_quote(bridge.name)} [label={table}];"


def _dot_blocks(topo, boxes):
    """[(the box's name, its lines)]: a box alone, or a node in a frame with the bridges
    inside its namespace (a cluster of its own)."""
    framed = frames(topo)
    inside = {b for bs in framed.values() for b in bs}
    blocks = []
    for name, box in boxes.items():
        if name in inside:
            continue
        if name not in framed:
            blocks.append((name, [box]))
            continue
        lines = [f"subgraph {_quote(f'cluster_ns_{len(blocks)}')} {{",
                 f"  label={_quote(f'namespace {name}')}; style=\"rounded,dashed\"; "
                 f"color={_quote(FRAME)}; fontsize=10;",
                 f"  {box}"]
        lines += [f"  {boxes[b]}" for b in framed[name]]
        blocks.append((name, lines + ["}"]))
    return blocks


def _dot_boxes(topo, boxes):
    """The DOT lines of the nodes' and bridges' boxes: as they are for a lab on one host;
    for a lab on several, each host's inside a cluster named after it."""
    blocks = _dot_blocks(topo, boxes)
    if not topo.hosts:
        return [f"  {line}" for _, lines in blocks for line in lines]
    lines = []
    for n, host in enumerate(topo.hosts.values()):
        lines.append(f"  subgraph {_quote(f'cluster_{n}')} {{")
        lines.append(f"    label={_quote(f'host {host.name} ({host.ssh})')}; "
                     'style=rounded; color="#7f7f7f";')
        lines += [f"    {line}" for name, block in blocks
                  if topo.host_of(name) == host.name for line in block]
        lines.append("  }")
    return lines


def _dot_links(topo, place):
    """The links' lines; place (tiers) orients each from its upper (or left) end, so that
    Graphviz ranks it as drawn; without it, a bridge's first member is left of it."""
    tunnels = vnis(topo)
    seen_bridges = set()
    lines = []
    for i, link in enumerate(topo.links):
        attrs = ["color=\"#333333\""]
        if not (_end_up(topo, link.a) and _end_up(topo, link.b)):
            attrs = [f'color="{DOWN}"', "style=dashed"]
        if i in tunnels:  # between hosts: a VXLAN tunnel
            attrs += ["style=bold", f"label={_quote(f'VXLAN {tunnels[i]}')}"]
        a, b = link.a, link.b
        if place is not None:  # box to box, each end named by a label beside it
            a, b = (b, a) if place[b.node] < place[a.node] else (a, b)
            attrs += [f"taillabel={_quote(a.iface)}", f"headlabel={_quote(b.iface)}"]
            lines.append(f"  {_quote(a.node)} -- {_quote(b.node)} [{', '.join(attrs)}];")
            continue
        if topo.is_bridge(b.node) and b.node in seen_bridges:
            a, b = b, a  # a bridge's first member left of it, the others to its right
        seen_bridges.update(e.node for e in (a, b) if topo.is_bridge(e.node))
        lines.append(f"  {_quote(a.node)}:{_quote(a.iface)} -- "
                     f"{_quote(b.node)}:{_quote(b.iface)} [{', '.join(attrs)}];")
    for node, bridges in frames(topo).items():  # a bridge inside a node: joined to it
        for b in bridges:
            a, b = (b, node) if place is not None and place[b] < place[node] else (node, b)
            lines.append(f"  {_quote(a)} -- {_quote(b)} "
                         f"[style=dotted, color={_quote(FRAME)}];")
    return lines


def _dot_rows(grid, wrapped):
    """The tiers layout's constraints: each row one rank, its boxes kept in order by
    invisible links, and each row's first box over the next row's (weight 0: ordering the
    rows without pulling a tree's root over its first child). Wrapped rows of one length
    are a grid: each box held over the one below it, or the rows drift sideways."""
    lines = []
    for row in grid:
        lines.append("  {rank=same; " + " ".join(f"{_quote(u)};" for u in row) + "}")
        lines += [f"  {_quote(a)} -- {_quote(b)} [style=invis, weight=0];"
                  for a, b in zip(row, row[1:])]
    for r, (up, down) in enumerate(zip(grid, grid[1:])):
        if wrapped is not None and r >= wrapped and len(up) == len(down):
            lines += [f"  {_quote(a)} -- {_quote(b)} [style=invis, weight=10];"
                      for a, b in zip(up, down)]
        else:
            lines.append(f"  {_quote(up[0])} -- {_quote(down[0])} [style=invis, weight=0];")
    return lines


def to_dot(topo: Topology, layout: str = "auto", compact: bool = False) -> str:
    """The topology as a Graphviz graph (undirected): left to right (flat), or top to
    bottom by tiers; compact: no addresses, routes or NAT in the boxes."""
    tiers = choose_layout(topo, layout) == "tiers"
    lines = [f"graph {_quote(topo.name)} {{"]
    label = topo.name + (f": {topo.description}" if topo.description else "")
    direction, title = "rankdir=LR", _quote(label)
    if tiers:  # room between boxes for the links' end labels; a title as wide as a row
        direction = "rankdir=TB, newrank=true, nodesep=0.5"
        title = '"' + "\\n".join(_quote(line)[1:-1] for line in textwrap.wrap(label, TITLE)) + '"'
    lines.append(f"  graph [{direction}, fontname=\"Helvetica\", labelloc=t, "
                 f"label={title}];")
    lines.append('  node [shape=plaintext, fontname="Helvetica", fontsize=11];')
    lines.append('  edge [fontname="Helvetica", fontsize=9' + (
        ', labelfontsize=8, labelfontcolor="#555555"];' if tiers else "];"))
    skip = holders(topo)
    boxes = {n.name: _node_box(n, compact) for n in topo.nodes.values() if n.name not in skip}
    boxes.update({b.name: _bridge_box(b, compact, tiers) for b in topo.bridges.values()})
    lines += _dot_boxes(topo, boxes)
    grid, wrapped = _layout(topo) if tiers else (None, None)
    lines += _dot_links(topo, _places(grid) if grid else None)
    lines += _dot_rows(grid, wrapped) if grid else []
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid --------------------------------------------------------------------------------


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


def _mermaid_boxes(topo, ids, compact):
    skip = holders(topo)
    boxes = {}
    for node in topo.nodes.values():
        if node.name in skip:
            continue
        parts = [f"<b>{_mermaid_text(node.name)}</b>", _mermaid_text(_kind_words(node))]
        for iface in node.interfaces.values():
            words = [iface.name] + ([] if compact else iface.addresses)
            parts.append(_mermaid_text(" ".join(words) + ("" if iface.up else " (down)")))
        parts += [] if compact else [_mermaid_text(text) for text in _notes(node)]
        boxes[node.name] = f'{ids[node.name]}["{"<br/>".join(parts)}"]'
    for bridge in topo.bridges.values():
        parts = [f"<b>{_mermaid_text(bridge.name)}</b>", "bridge" + ("" if bridge.up
                                                                     else " (down)")]
        parts += [] if compact else [_mermaid_text(a) for a in bridge.addresses]
        boxes[bridge.name] = f'{ids[bridge.name]}{{{{"{"<br/>".join(parts)}"}}}}'
    blocks = []
    framed = frames(topo)
    inside = {b for bs in framed.values() for b in bs}
    for name, box in boxes.items():
        if name in framed:
            blocks.append((name, [f'subgraph ns_{len(blocks)}["namespace '
                                  f'{_mermaid_text(name)}"]', f"  {box}",
                                  *[f"  {boxes[b]}" for b in framed[name]], "end"]))
        elif name not in inside:
            blocks.append((name, [box]))
    return blocks


def to_mermaid(topo: Topology, layout: str = "auto", compact: bool = False) -> str:
    """The topology as a Mermaid flowchart (GitHub renders these in Markdown): left to right,
    or top to bottom by tiers, each link drawn from its upper end (Mermaid has no rows)."""
    ids = _mermaid_ids(topo)
    tiers = choose_layout(topo, layout) == "tiers"
    lines = ["flowchart TB" if tiers else "flowchart LR"]
    blocks = _mermaid_boxes(topo, ids, compact)
    if topo.hosts:  # each host's boxes in a subgraph of its own
        for n, host in enumerate(topo.hosts.values()):
            lines.append(f'  subgraph host_{n}["host {_mermaid_text(host.name)}"]')
            lines += [f"    {line}" for name, block in blocks
                      if topo.host_of(name) == host.name for line in block]
            lines.append("  end")
    else:
        lines += [f"  {line}" for _, block in blocks for line in block]
    place = _places(rows(topo)) if tiers else None
    tunnels = vnis(topo)
    for i, link in enumerate(topo.links):
        arrow = "---" if _end_up(topo, link.a) and _end_up(topo, link.b) else "-.-"
        if i in tunnels:
            arrow = "==="
        a, b = link.a, link.b
        if place is not None and place[b.node] < place[a.node]:
            a, b = b, a  # from its upper end; the label names the ends in the same order
        label = _mermaid_text(f"{a.iface} - {b.iface}"
                              + (f" (VXLAN {tunnels[i]})" if i in tunnels else ""))
        lines.append(f'  {ids[a.node]} {arrow}|"{label}"| {ids[b.node]}')
    for node, bridges in frames(topo).items():
        for b in bridges:
            a, b = (b, node) if place is not None and place[b] < place[node] else (node, b)
            lines.append(f'  {ids[a]} -.-|"namespace"| {ids[b]}')
    return "\n".join(lines) + "\n"


# --- rendering ------------------------------------------------------------------------------


def render(dot_text: str, fmt: str, dot_program: str = "dot", wanted: str = "") -> bytes:
    """svg or png bytes from DOT text, through Graphviz's dot (for the format wanted)."""
    exe = shutil.which(dot_program)
    if exe is None:
        raise HostError(f"rendering {wanted or fmt} needs Graphviz's `dot`, which is not "
                        "installed; install it (apt-get install graphviz) or use --format dot "
                        "or mermaid")
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                          timeout=60)
    if proc.returncode != 0:
        raise HostError(f"dot could not render the graph: "
                        f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def output(topo: Topology, fmt: str, layout: str = "auto", compact: bool = False) -> bytes:
    """The picture in fmt, as bytes."""
    if fmt == "dot":
        return to_dot(topo, layout, compact).encode()
    if fmt == "mermaid":
        return to_mermaid(topo, layout, compact).encode()
    if fmt == "html":
        svg = render(to_dot(topo, layout, compact), "svg", wanted="html").decode()
        return page.page(svg, topo.name).encode()
    return render(to_dot(topo, layout, compact), fmt)
