"""A lab under another name, and with its host-visible names prefixed by that name, so that
labs made from one topology run side by side (`netplay run TOPOLOGY --name NAME --prefix`).

Pure: the normalized topology (Topology.to_dict) is rewritten and validated again by
netplay.model.validate.from_dict, so the result is checked like any topology.

With a prefix, LAB being the lab's (final) name:

- every node is named LAB-NODE: its namespace, its container;
- every device in the root namespace (a root bridge, its ports, a `kind: host` node's
  interfaces) is named LAB-NAME when that fits the kernel's 15 characters, else
  short_name(): the lab's first 3 characters, 5 hex digits of the SHA-256 of "LAB-NAME",
  a dash and the start of NAME (`lab1-laptop_eth1` -> `labXXXXX-laptop`), the same in
  every process; a name that would repeat one the lab already uses hashes "LAB-NAME#1",
  "#2"... instead, so no two are equal;
- names inside a lab namespace (a node's interfaces, a bridge inside a node) stay as they
  are: the namespace is the lab's own;
- every reference follows: link endpoints, a bridge's `namespace`, a host node's routes'
  `dev`; `nat` and `exec` stay (they name devices inside the node);
- the topology's `prefix` records LAB, so node_name() maps a user's short node name.

Firewall rules and marks carry the lab's name (owner_mark) already.
"""

from itertools import count
from typing import Any, Dict, Iterator, List, Optional, Set

from netplay.core.errors import InputError
from netplay.core.names import IFNAMSIZ, check_name
from netplay.model.topology import Topology
from netplay.model.validate import from_dict

LAB_CHARS = 3  # of the lab's name, in a shortened device name
HASH_CHARS = 5  # hex digits of SHA-256 in a shortened device name


def named(topo: Topology, name: Optional[str] = None, prefix: bool = False) -> Topology:
    """A new, validated Topology: topo as lab `name` (None: its own name), and with
    prefix every host-visible name prefixed with it (see the module's docstring)."""
    data = topo.to_dict()
    if name is not None:
        data["name"] = check_name(name, "lab name", "--name", limit=32)
    lab = data["name"]
    if prefix and topo.prefix and topo.prefix != lab:
        raise InputError(f"lab {topo.name}: its names are prefixed with {topo.prefix!r} "
                         "already (`prefix:`); prefix it from the topology it was made from")
    if prefix and not topo.prefix:
        _check_lengths(data, lab)
        _prefix(data, lab)
    return from_dict(data, source=lab)


def node_name(topo: Topology, name: str) -> str:
    """The lab's name for node (or bridge) `name` as a user gives it: in a prefixed lab a
    short name, "h1", is the lab's "LAB-h1"; a name of the lab, or one that is no short
    name of a node (an address, say), is returned unchanged."""
    if not topo.prefix or name in topo.nodes or name in topo.bridges:
        return name
    full = f"{topo.prefix}-{name}"
    return full if full in topo.nodes or full in topo.bridges else name


def short_name(lab: str, name: str, attempt: int = 0) -> str:
    """A root-namespace device name of at most 15 characters for `name` in lab `lab`: the
    lab's first characters, a hash of LAB-NAME (of LAB-NAME#attempt after the first), a
    dash, the start of name."""
    import hashlib  # here: importing it (OpenSSL's) took 4 ms of every command

    text = f"{lab}-{name}" + (f"#{attempt}" if attempt else "")
    digest = hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]
    head = lab[:LAB_CHARS] + digest + "-"
    return head + name[:IFNAMSIZ - len(head)]


def _candidates(lab: str, name: str) -> Iterator[str]:
    full = f"{lab}-{name}"
    if len(full) <= IFNAMSIZ:
        yield full
    for attempt in count():
        yield short_name(lab, name, attempt)


def device_names(lab: str, names: List[str], used: Set[str]) -> Dict[str, str]:
    """{name: its prefixed name} for root-namespace devices, in order, none equal to
    another or to one in used (which gets them all)."""
    out: Dict[str, str] = {}
    for name in names:
        if name in out:
            continue
        new = next(c for c in _candidates(lab, name) if c not in used)
        used.add(new)
        out[name] = new
    return out


def _check_lengths(data: Dict[str, Any], lab: str) -> None:
    """A prefixed node name fits a namespace's and a container's 63 characters."""
    for node in data["nodes"]:
        if len(f"{lab}-{node}") > 63:
            raise InputError(f"--prefix: node {node!r} would be named {lab}-{node}, over the "
                             "63 characters of a namespace's name; choose a shorter --name")


def _root_devices(data: Dict[str, Any]) -> List[str]:
    """The root namespace's devices of normalized topology data, in order: root bridges,
    their ports, host nodes' interfaces."""
    bridges = data.get("bridges", {})
    roots = [b for b, raw in bridges.items() if not raw.get("namespace")]
    ports = [end.partition(":")[2] for link in data["links"] for end in link["endpoints"]
             if end.partition(":")[0] in roots]
    ifaces = [i for node in data["nodes"].values() if node["kind"] == "host"
              for i in node.get("interfaces", {})]
    return roots + ports + ifaces


def _prefix(data: Dict[str, Any], lab: str) -> None:
    """Rewrite normalized topology data in place: every host-visible name prefixed."""
    nodes: Dict[str, str] = {n: f"{lab}-{n}" for n in data["nodes"]}
    bridges = data.get("bridges", {})
    used = set(nodes.values()) | {b for b, raw in bridges.items() if raw.get("namespace")}
    devs = device_names(lab, _root_devices(data), used)
    data["prefix"] = lab
    data["nodes"] = {nodes[n]: _node(raw, devs) for n, raw in data["nodes"].items()}
    if bridges:
        data["bridges"] = {b if raw.get("namespace") else devs[b]: _bridge(raw, nodes, devs)
                           for b, raw in bridges.items()}
    for link in data["links"]:
        link["endpoints"] = [_end(end, data, nodes, devs, bridges)
                             for end in link["endpoints"]]


def _node(raw: Dict[str, Any], devs: Dict[str, str]) -> Dict[str, Any]:
    if raw["kind"] != "host":  # its devices are inside its own namespace
        return raw
    raw["interfaces"] = {devs[i]: v for i, v in raw.get("interfaces", {}).items()}
    for route in raw.get("routes", []):
        if route.get("dev") in devs:
            route["dev"] = devs[route["dev"]]
    return raw


def _bridge(raw: Dict[str, Any], nodes: Dict[str, str], devs: Dict[str, str]
            ) -> Dict[str, Any]:
    if raw.get("namespace"):
        raw["namespace"] = nodes.get(raw["namespace"], raw["namespace"])
    elif raw.get("ports"):
        raw["ports"] = {devs.get(p, p): v for p, v in raw["ports"].items()}
    return raw


def _end(end: str, data: Dict[str, Any], nodes: Dict[str, str], devs: Dict[str, str],
         bridges: Dict[str, Any]) -> str:
    owner, _, iface = end.partition(":")
    if owner in nodes:
        root = data["nodes"][nodes[owner]]["kind"] == "host"
        return f"{nodes[owner]}:{devs[iface] if root else iface}"
    if bridges[owner].get("namespace"):
        return end
    return f"{devs[owner]}:{devs[iface]}"
