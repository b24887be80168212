"""netplay graph: DOT and Mermaid checked by parsing them (a small DOT parser below, HTML
labels read as XML), svg and png through Graphviz when it is installed."""

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from conftest import write_topology
from netplay.load import builtins
from netplay.render import graph

HAS_DOT = shutil.which("dot") is not None


# --- a small DOT parser: enough for what graph.to_dot writes --------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+|//[^\n]*|\#[^\n]*)
  | (?P<edge>--|->)
  | (?P<punct>[{}\[\];,=:])
  | (?P<quoted>"(?:[^"\\]|\\.)*")
  | (?P<id>[A-Za-z0-9_.]+)
  | (?P<html><)
""", re.VERBOSE)


def tokenize(text):
    pos, out = 0, []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        assert m, f"cannot tokenize DOT at {text[pos:pos + 30]!r}"
        kind = m.lastgroup
        if kind == "html":  # <...> with balanced angle brackets
            depth, end = 0, pos
            while True:
                ch = text[end]
                depth += ch == "<"
                depth -= ch == ">"
                end += 1
                if depth == 0:
                    break
            out.append(("html", text[pos + 1:end - 1]))
            pos = end
            continue
        if kind == "quoted":
            out.append(("id", re.sub(r"\\(.)", r"\1", m.group()[1:-1])))
        elif kind == "id":
            out.append(("id", m.group()))
        elif kind != "ws":
            out.append((kind, m.group()))
        pos = m.end()
    return out


def parse_dot(text):
    """{"kind", "name", "attrs", "nodes": {id: attrs}, "edges": [(a, pa, b, pb, attrs)],
    "clusters": {name: {"attrs", "members"}}, "ranks": [[ids of a rank=same subgraph]]}."""
    toks = tokenize(text)
    i = 0

    def take(kind=None, value=None):
        nonlocal i
        tok = toks[i]
        assert kind is None or tok[0] == kind, (tok, kind)
        assert value is None or tok[1] == value, (tok, value)
        i += 1
        return tok

    def attrs():
        out = {}
        if i < len(toks) and toks[i] == ("punct", "["):
            take()
            while toks[i] != ("punct", "]"):
                key = take("id")[1]
                take("punct", "=")
                out[key] = take()[1]
                if toks[i] in (("punct", ","), ("punct", ";")):
                    take()
            take("punct", "]")
        return out

    def endpoint():
        name, port = take("id")[1], None
        if toks[i] == ("punct", ":"):
            take()
            port = take("id")[1]
        return name, port

    def subgraph():
        name = None
        if toks[i] == ("id", "subgraph"):
            take()
            if toks[i][0] == "id":
                name = take()[1]
        take("punct", "{")
        group = {"attrs": {}, "members": []}
        statements(group)
        take("punct", "}")
        if name and name.startswith("cluster"):
            result["clusters"][name] = group
        if group["attrs"].get("rank") == "same":
            result["ranks"].append(group["members"])
        return group["members"]

    def statements(group):
        while toks[i] != ("punct", "}"):
            if toks[i] in (("id", "subgraph"), ("punct", "{")):
                group["members"] += subgraph()
            elif toks[i][1] in ("graph", "node", "edge") and toks[i + 1] == ("punct", "["):
                which = take()[1]
                if which == "graph":
                    result["attrs"].update(attrs())
                else:
                    attrs()
            elif toks[i + 1] == ("punct", "="):  # key=value of a subgraph
                key = take("id")[1]
                take()
                group["attrs"][key] = take()[1]
            else:
                a = endpoint()
                if toks[i][0] == "edge":
                    assert take()[1] == "--", "an undirected graph uses --"
                    b = endpoint()
                    result["edges"].append((a[0], a[1], b[0], b[1], attrs()))
                else:
                    result["nodes"].setdefault(a[0], {}).update(attrs())
                    group["members"].append(a[0])
            if toks[i] == ("punct", ";"):
                take()

    graph_kind = take("id")[1]
    name = take("id")[1]
    take("punct", "{")
    result = {"kind": graph_kind, "name": name, "attrs": {}, "nodes": {}, "edges": [],
              "clusters": {}, "ranks": []}
    statements({"attrs": {}, "members": []})
    take("punct", "}")
    assert i == len(toks), "text after the graph"
    return result


def label_rows(html_label):
    """An HTML-like label as XML: (the heading texts, {PORT: cell text})."""
    table = ET.fromstring(html_label)
    assert table.tag == "TABLE"
    cells = table.findall("./TR/TD")
    heading = " ".join(" ".join(cells[0].itertext()).split())
    ports = {td.get("PORT"): " ".join(" ".join(td.itertext()).split())
             for td in cells if td.get("PORT")}
    others = [" ".join(" ".join(td.itertext()).split()) for td in cells[1:] if not td.get("PORT")]
    return heading, ports, others


# --- DOT (pure) -----------------------------------------------------------------------------


def edge_set(parsed):
    return {frozenset([(a, pa), (b, pb)]) for a, pa, b, pb, _ in parsed["edges"]}


@pytest.mark.parametrize("name", ["levels", "home"])
def test_dot_has_every_node_bridge_and_link_on_its_interfaces(name):
    topo = builtins.load(name)
    parsed = parse_dot(graph.to_dot(topo))
    assert parsed["kind"] == "graph" and parsed["name"] == name
    assert set(parsed["nodes"]) == set(topo.nodes) | set(topo.bridges)
    assert edge_set(parsed) == {frozenset([(l.a.node, l.a.iface), (l.b.node, l.b.iface)])
                                for l in topo.links}
    for node in topo.nodes.values():
        heading, ports, _ = label_rows(parsed["nodes"][node.name]["label"])
        assert heading.startswith(node.name)
        assert set(ports) == set(node.interfaces)
        for iface in node.interfaces.values():
            for address in iface.addresses:
                assert address in ports[iface.name]
            assert ports[iface.name].endswith("(down)") == (not iface.up)
    for bridge in topo.bridges.values():
        heading, ports, _ = label_rows(parsed["nodes"][bridge.name]["label"])
        assert "bridge" in heading and set(ports) == set(bridge.interfaces)


def test_dot_of_levels_marks_down_links_dashed():
    parsed = parse_dot(graph.to_dot(builtins.load("levels")))
    styles = {frozenset([a, b]): attrs.get("style") for a, _, b, _, attrs in parsed["edges"]}
    # every levels link has a down end
    assert set(styles.values()) == {"dashed"}
    heading, _, _ = label_rows(parsed["nodes"]["host"]["label"])
    assert heading == "host root namespace"


def test_dot_of_home_shows_kinds_forwarding_and_routes():
    parsed = parse_dot(graph.to_dot(builtins.load("home")))
    heading, _, others = label_rows(parsed["nodes"]["router"]["label"])
    assert heading == "router docker, forwarding"
    _, _, others = label_rows(parsed["nodes"]["laptop"]["label"])
    assert others == ["route default via 10.200.1.1"]
    assert all(attrs.get("style") is None for *_, attrs in parsed["edges"])
    assert parsed["attrs"]["rankdir"] == "LR"


def test_dot_quotes_names_that_need_it(tmp_path):
    from netplay.load.resolve import resolve

    path = write_topology(tmp_path, """
name: odd.names
nodes:
  node-1.a: {interfaces: {e.0: {addresses: [10.9.0.1/24]}}}
  n2: {interfaces: {e-1: {addresses: [10.9.0.2/24]}}}
links:
  - endpoints: [node-1.a:e.0, n2:e-1]
""")
    parsed = parse_dot(graph.to_dot(resolve(path)))
    assert set(parsed["nodes"]) == {"node-1.a", "n2"}
    assert edge_set(parsed) == {frozenset([("node-1.a", "e.0"), ("n2", "e-1")])}


# --- Mermaid (pure) -------------------------------------------------------------------------

_MERMAID_NODE = re.compile(r'^ +(\w+)(\["(.*)"\]|\{\{"(.*)"\}\})$')
_MERMAID_EDGE = re.compile(r'^  (\w+) (---|-\.-)\|"(.*)"\| (\w+)$')
_MERMAID_SUBGRAPH = re.compile(r'^ +subgraph (\w+)\["(.*)"\]$')


def parse_mermaid(text, direction="LR", subgraphs=None):
    """(nodes {id: (shape, lines)}, edges [(a, arrow, label, b)]); subgraphs, if a dict, gets
    {id: (title, [its nodes])}."""
    lines = text.splitlines()
    assert lines[0] == f"flowchart {direction}"
    nodes, edges, open_ = {}, [], []
    for line in lines[1:]:
        m = _MERMAID_NODE.match(line)
        if m:
            shape = "box" if m.group(3) is not None else "hexagon"
            nodes[m.group(1)] = (shape, (m.group(3) or m.group(4)).split("<br/>"))
            for sub in open_:
                subgraphs[sub][1].append(m.group(1))
            continue
        m = _MERMAID_SUBGRAPH.match(line)
        if m and subgraphs is not None:
            subgraphs[m.group(1)] = (m.group(2), [])
            open_.append(m.group(1))
            continue
        if line.strip() == "end" and open_:
            open_.pop()
            continue
        m = _MERMAID_EDGE.match(line)
        assert m, f"not a node or edge line: {line!r}"
        edges.append((m.group(1), m.group(2), m.group(3), m.group(4)))
    return nodes, edges


def test_mermaid_of_home_has_boxes_a_hexagon_bridge_and_labelled_links():
    nodes, edges = parse_mermaid(graph.to_mermaid(builtins.load("home")))
    assert set(nodes) == {"n_laptop", "n_router", "n_verizon", "n_home"}
    assert nodes["n_home"][0] == "hexagon" and nodes["n_laptop"][0] == "box"
    assert nodes["n_router"][1] == ["<b>router</b>", "docker, forwarding",
                                    "eth0 198.51.100.2/30", "eth1 10.200.1.1/24"]
    assert sorted((a, label, b) for a, _, label, b in edges) == [
        ("n_laptop", "eth1 - laptop_eth1", "n_home"),
        ("n_router", "eth0 - eth1", "n_verizon"),
        ("n_router", "eth1 - router_eth1", "n_home")]


def test_mermaid_of_levels_draws_down_links_dotted():
    nodes, edges = parse_mermaid(graph.to_mermaid(builtins.load("levels")))
    assert len(nodes) == 4 and {arrow for _, arrow, _, _ in edges} == {"-.-"}
    assert "veth0a (down)" in nodes["n_host"][1]


# --- bridges inside nodes, tiers, --compact (pure, except the coordinates dot computes) ------


def real_edges(parsed):
    """The links and namespace lines, not the invisible ones that hold the rows in place."""
    return [e for e in parsed["edges"] if e[4].get("style") != "invis"]


def test_bridges_inside_a_node_are_drawn_in_its_frame_joined_to_it():
    topo = builtins.load("leafspine:2,2,2")
    parsed = parse_dot(graph.to_dot(topo))
    frames = {g["attrs"]["label"]: set(g["members"]) for g in parsed["clusters"].values()}
    assert frames == {"namespace leaf1": {"leaf1", "lan1"},
                      "namespace leaf2": {"leaf2", "lan2"}}
    dotted = {frozenset([a, b]) for a, _, b, _, attrs in real_edges(parsed)
              if attrs.get("style") == "dotted"}
    assert dotted == {frozenset(["leaf1", "lan1"]), frozenset(["leaf2", "lan2"])}
    nodes, _ = parse_mermaid(graph.to_mermaid(topo), "TB", subs := {})
    assert sorted(subs.values()) == [("namespace leaf1", ["n_leaf1", "n_lan1"]),
                                     ("namespace leaf2", ["n_leaf2", "n_lan2"])]


def test_a_namespace_holding_only_bridges_is_left_out():
    topo = builtins.load("linear:3")
    assert "switches" in topo.nodes and graph.holders(topo) == {"switches"}
    for layout in ("tiers", "flat"):
        parsed = parse_dot(graph.to_dot(topo, layout))
        assert set(parsed["nodes"]) == set(topo.nodes) - {"switches"} | set(topo.bridges)
        assert parsed["clusters"] == {}
        nodes, edges = parse_mermaid(graph.to_mermaid(topo, layout),
                                     "TB" if layout == "tiers" else "LR")
        assert "n_switches" not in nodes and len(edges) == len(topo.links)
    # tiers: each link from its upper end, its label naming the ends in that order
    _, edges = parse_mermaid(graph.to_mermaid(topo, "tiers"), "TB")
    assert ("n_s1", "---", "s1-eth1 - eth0", "n_h1") in edges


@pytest.mark.parametrize("spec", ["linear:3", "tree:2,3", "leafspine:2,3,2"])
def test_tiers_keep_every_link_with_its_interface_names(spec):
    topo = builtins.load(spec)
    parsed = parse_dot(graph.to_dot(topo))
    assert parsed["attrs"]["rankdir"] == "TB"
    links = [(a, attrs["taillabel"], b, attrs["headlabel"])
             for a, _, b, _, attrs in real_edges(parsed) if "taillabel" in attrs]
    assert len(links) == len(topo.links)
    assert {frozenset([(a, pa), (b, pb)]) for a, pa, b, pb in links} == \
        {frozenset([(l.a.node, l.a.iface), (l.b.node, l.b.iface)]) for l in topo.links}


def test_tiers_come_from_the_structure_not_the_names(tmp_path):
    """A leaf-spine drawn by names that say nothing: routers without a bridge over routers
    with one, over the bridge, over the hosts."""
    from netplay.load.resolve import resolve

    path = write_topology(tmp_path, """
name: anon
nodes:
  zeta: {role: router, interfaces: {a: {addresses: [10.7.0.0/31]}}}
  alpha:
    role: router
    interfaces: {b: {addresses: [10.7.0.1/31]}}
  mu: {interfaces: {e0: {addresses: [10.7.1.2/24]}}}
  beta: {interfaces: {e0: {addresses: [10.7.1.3/24]}}}
bridges:
  omega: {namespace: alpha, addresses: [10.7.1.1/24]}
links:
  - endpoints: [zeta:a, alpha:b]
  - endpoints: [mu:e0, omega]
  - endpoints: [beta:e0, omega]
""")
    topo = resolve(path)
    assert graph.choose_layout(topo) == "tiers"  # a bridge inside a node
    assert parse_dot(graph.to_dot(topo))["ranks"] == [["zeta"], ["alpha"], ["omega"],
                                                      ["mu", "beta"]]


def test_leafspine_tiers_are_spines_leaves_bridges_hosts():
    topo = builtins.load("leafspine:2,3,2")
    ranks = parse_dot(graph.to_dot(topo))["ranks"]
    assert ranks == [["spine1", "spine2"], ["leaf1", "leaf2", "leaf3"], ["lan1", "lan2", "lan3"],
                     [f"h{i}" for i in range(1, 7)]]


def test_a_long_chain_is_wrapped_into_rows_each_with_its_hosts_below():
    topo = builtins.load("linear:12")
    ranks = parse_dot(graph.to_dot(topo))["ranks"]
    assert [len(r) for r in ranks] == [5, 5, 5, 5, 2, 2]
    for switches, hosts in zip(ranks[::2], ranks[1::2]):  # each host under its own switch
        assert [h.replace("h", "s") for h in hosts] == switches
    chain = [u for r in ranks[::2] for u in r]
    # a snake: every other row runs back, so consecutive switches stay side by side
    assert chain == ["s1", "s2", "s3", "s4", "s5", "s10", "s9", "s8", "s7", "s6", "s11", "s12"]


def test_hand_written_topologies_stay_left_to_right_unless_asked():
    for name in ("home", "levels", "playground"):
        topo = builtins.load(name)
        assert graph.choose_layout(topo) == "flat"
        assert graph.to_dot(topo) == graph.to_dot(topo, "flat")
        assert graph.to_mermaid(topo) == graph.to_mermaid(topo, "flat")
    parsed = parse_dot(graph.to_dot(builtins.load("playground"), "tiers"))
    assert parsed["ranks"][-1] == ["h1", "h2", "h3", "h4", "ftp", "mail", "www"]


def test_compact_drops_addresses_routes_and_nat():
    for name in ("leafspine:2,2,2", "playground"):
        topo = builtins.load(name)
        addresses = {a.split("/")[0] for n in topo.nodes.values()
                     for i in n.interfaces.values() for a in i.addresses}
        addresses |= {a.split("/")[0] for b in topo.bridges.values() for a in b.addresses}
        assert addresses
        for draw in (graph.to_dot, graph.to_mermaid):
            full, compact = draw(topo), draw(topo, compact=True)
            assert all(a in full for a in addresses)
            assert not [a for a in addresses if a in compact], name
            assert "route " not in compact and "masquerade" not in compact
            assert all(i in compact for n in topo.nodes.values() for i in n.interfaces)


def dot_places(dot_text):
    """{box: (x, y)} and the drawing's (width, height) in inches, as Graphviz lays it out."""
    places, size = {}, None
    for line in graph.render(dot_text, "plain").decode().splitlines():
        words = line.split()
        if words[0] == "graph":
            size = (float(words[2]), float(words[3]))
        elif words[0] == "node":
            places[words[1].strip('"')] = (float(words[2]), float(words[3]))
    return places, size


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_tiers_as_graphviz_draws_them():
    # a tree: every box under the one it hangs from, the root on top
    topo = builtins.load("tree:3,2")
    places, _ = dot_places(graph.to_dot(topo))
    for link in topo.links:
        upper, lower = sorted((link.a.node, link.b.node), key=lambda u: -places[u][1])
        assert places[upper][1] > places[lower][1]
    assert max(places, key=lambda u: places[u][1]) == "s1"
    # leaf-spine: spines over leaves over their bridges over hosts
    places, _ = dot_places(graph.to_dot(builtins.load("leafspine:2,3,2")))
    y = {kind: {places[u][1] for u in places if u.rstrip("0123456789") == kind}
         for kind in ("spine", "leaf", "lan", "h")}
    assert min(y["spine"]) > max(y["leaf"]) and min(y["leaf"]) > max(y["lan"]) \
        and min(y["lan"]) > max(y["h"])
    # linear:30 fits a page's width (flat, it is one line of 60 boxes, over 60 inches)
    tiers = dot_places(graph.to_dot(builtins.load("linear:30")))[1]
    flat = dot_places(graph.to_dot(builtins.load("linear:30"), "flat"))[1]
    assert tiers[0] < 12.5 and tiers[0] < tiers[1] and flat[0] > 4 * tiers[0], (tiers, flat)


# --- the command ----------------------------------------------------------------------------


def test_graph_command_prints_dot_and_mermaid(netplay):
    result = netplay("graph", "home")
    assert result.rc == 0 and parse_dot(result.out)["name"] == "home"
    result = netplay("graph", "levels", "--format", "mermaid")
    assert result.rc == 0 and len(parse_mermaid(result.out)[0]) == 4


def test_graph_command_takes_layout_and_compact(netplay):
    parsed = parse_dot(netplay("graph", "linear:3").out)
    assert parsed["attrs"]["rankdir"] == "TB" and "switches" not in parsed["nodes"]
    assert parse_dot(netplay("graph", "linear:3", "--layout", "flat").out)["attrs"]["rankdir"] \
        == "LR"
    assert parse_dot(netplay("graph", "home", "--layout", "tiers").out)["ranks"]
    full, compact = (netplay("graph", "leafspine:2,2,2", *extra).out
                     for extra in ([], ["--compact"]))
    assert "10.1.1.2/24 fd00:1:1::2/64" in full
    assert "10.1.1.2" not in compact and "fd00:1:1::2" not in compact
    assert set(parse_dot(compact)["nodes"]) == set(parse_dot(full)["nodes"])


def test_graph_command_reads_a_topology_file(netplay, tmp_path):
    path = write_topology(tmp_path, """
name: pair
nodes:
  a: {interfaces: {e0: {addresses: [10.8.0.1/24]}}}
  b: {interfaces: {e0: {addresses: [10.8.0.2/24]}}}
links:
  - endpoints: [a:e0, b:e0]
""")
    parsed = parse_dot(netplay("graph", path).out)
    assert set(parsed["nodes"]) == {"a", "b"}


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_graph_command_renders_svg_and_png(netplay, tmp_path):
    svg = tmp_path / "home.svg"
    result = netplay("graph", "home", "-o", str(svg))
    assert result.rc == 0, result
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    texts = {t.text for t in root.iter() if t.tag.endswith("text") and t.text}
    assert {"laptop", "router", "verizon", "home", "10.200.1.2/24"} <= \
        {w for t in texts for w in [t, *t.split()]}
    png = tmp_path / "levels.png"
    assert netplay("graph", "levels", "--format", "png", "-o", str(png)).rc == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_graph_without_graphviz_says_so_in_one_line(netplay, tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    result = netplay("graph", "home", "--format", "svg", env={"PATH": str(empty)})
    assert result.rc == 2
    assert result.err.count("\n") == 1 and "apt-get install graphviz" in result.err
    # DOT itself needs no Graphviz
    assert netplay("graph", "home", env={"PATH": str(empty)}).rc == 0


def test_graph_input_errors_are_one_line(netplay, tmp_path):
    result = netplay("graph", "no-such-thing")
    assert result.rc == 2 and result.err.count("\n") == 1
    assert "neither a lab on this host, a built-in topology" in result.err
    result = netplay("graph", "home", "-o", str(tmp_path / "x.txt"))
    assert result.rc == 2 and "--format" in result.err
    result = netplay("graph", str(tmp_path / "missing.yaml"))
    assert result.rc == 2 and "no such topology file" in result.err


@pytest.mark.root
def test_graph_of_a_lab_draws_what_was_built(lab, netplay):
    lab("home", "--runtime", "netns")
    parsed = parse_dot(netplay("graph", "home").out)
    heading, _, _ = label_rows(parsed["nodes"]["router"]["label"])
    assert heading == "router netns, forwarding"  # the lab's runtime, not the file's docker
