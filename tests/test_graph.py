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
    """{"kind", "name", "attrs", "nodes": {id: attrs}, "edges": [(a, pa, b, pb, attrs)]}."""
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

    graph_kind = take("id")[1]
    name = take("id")[1]
    take("punct", "{")
    result = {"kind": graph_kind, "name": name, "attrs": {}, "nodes": {}, "edges": []}
    while toks[i] != ("punct", "}"):
        if toks[i][1] in ("graph", "node", "edge") and toks[i + 1] == ("punct", "["):
            which = take()[1]
            if which == "graph":
                result["attrs"].update(attrs())
            else:
                attrs()
        else:
            a = endpoint()
            if toks[i][0] == "edge":
                assert take()[1] == "--", "an undirected graph uses --"
                b = endpoint()
                result["edges"].append((a[0], a[1], b[0], b[1], attrs()))
            else:
                result["nodes"][a[0]] = attrs()
        if toks[i] == ("punct", ";"):
            take()
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

_MERMAID_NODE = re.compile(r'^  (\w+)(\["(.*)"\]|\{\{"(.*)"\}\})$')
_MERMAID_EDGE = re.compile(r'^  (\w+) (---|-\.-)\|"(.*)"\| (\w+)$')


def parse_mermaid(text):
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes, edges = {}, []
    for line in lines[1:]:
        m = _MERMAID_NODE.match(line)
        if m:
            shape = "box" if m.group(3) is not None else "hexagon"
            nodes[m.group(1)] = (shape, (m.group(3) or m.group(4)).split("<br/>"))
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


# --- the command ----------------------------------------------------------------------------


def test_graph_command_prints_dot_and_mermaid(netplay):
    result = netplay("graph", "home")
    assert result.rc == 0 and parse_dot(result.out)["name"] == "home"
    result = netplay("graph", "levels", "--format", "mermaid")
    assert result.rc == 0 and len(parse_mermaid(result.out)[0]) == 4


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
