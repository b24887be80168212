"""A topology's graph, checked and wired: one host node, bridges in real namespaces, each
link end given its Interface (no two devices of one name in a namespace), and the
impairments of links and bridge ports placed on the ends they shape."""

from typing import Dict, Optional, Tuple, Union

from netplay.core.errors import InputError
from netplay.model import impairment as impairments
from netplay.model.impairment import Impairment
from netplay.model.topology import Endpoint, Interface, Topology


def check_graph(topo: Topology, source: str) -> None:
    """Cross-references: one host node, bridges placed in real namespaces, names unique."""
    hosts = [n.name for n in topo.nodes.values() if n.kind == "host"]
    if len(hosts) > 1:
        raise InputError(f"{source}: nodes {', '.join(hosts)} are all of kind host; "
                         "there is one root namespace, so keep one host node")
    for bridge in topo.bridges.values():
        ns = bridge.namespace
        if ns is not None and (ns not in topo.nodes or topo.nodes[ns].kind == "host"):
            raise InputError(f"{source}: bridges.{bridge.name}.namespace: {ns!r} is not a "
                             "netns or docker node of this topology")
    place_interfaces(topo, source)
    own_bridges = {(b.namespace, b.name) for b in topo.bridges.values() if b.namespace}
    for node in topo.nodes.values():
        for i, route in enumerate(node.routes):
            # a route may leave by one of the node's interfaces or a bridge in its namespace
            if route.dev and route.dev not in node.interfaces and \
                    (node.name, route.dev) not in own_bridges:
                raise InputError(f"{source}: nodes.{node.name}.routes[{i}].dev: {node.name} "
                                 f"has no interface {route.dev!r}")


def place_interfaces(topo: Topology, source: str) -> None:
    """Give every link end its Interface and refuse two devices of one name in a namespace."""
    declared = {n.name: dict(n.interfaces) for n in topo.nodes.values()}
    # (namespace, ifname) -> what made it: a bridge's name, (node, ifname, kind) of an
    # interface made alone, or a link's index and end; said in words only in an error (a
    # lab of 1000 nodes has 4000 link ends)
    owner: Dict[Tuple[Optional[str], str], Maker] = {}

    def claim(ns: Optional[str], ifname: str, what: Maker) -> None:
        key = (ns, ifname)
        if key in owner:
            where = f"namespace {ns}" if ns else "the root namespace"
            raise InputError(f"{source}: {_maker(what)} and {_maker(owner[key])} both make "
                             f"interface {ifname!r} in {where}; rename one")
        owner[key] = what

    for bridge in topo.bridges.values():
        claim(bridge.namespace, bridge.name, bridge.name)
    for node in topo.nodes.values():
        for ifname, iface in list(declared[node.name].items()):
            if iface.kind in ("dummy", "vxlan"):  # made alone, not by a link
                if node.kind == "host":
                    raise InputError(f"{source}: nodes.{node.name}.interfaces.{ifname}: "
                                     f"{iface.kind} interfaces are made in netns or docker "
                                     "nodes only")
                claim(node.namespace, ifname, (node.name, ifname, iface.kind))
                del declared[node.name][ifname]
    # topo.namespace_of, looked up once a node or bridge rather than once a link end
    namespace = {n.name: n.namespace for n in topo.nodes.values()}
    namespace.update((b.name, b.namespace) for b in topo.bridges.values())
    for i, link in enumerate(topo.links):
        for end in (link.a, link.b):
            claim(namespace[end.node], end.iface, (i, end))
            if end.node in topo.bridges:
                topo.bridges[end.node].interfaces[end.iface] = Interface(end.iface)
            else:
                mine = declared[end.node]
                iface = mine.pop(end.iface) if end.iface in mine else Interface(end.iface)
                topo.nodes[end.node].interfaces[end.iface] = iface
    for nname, rest in declared.items():
        for ifname in rest:
            raise InputError(f"{source}: nodes.{nname}.interfaces.{ifname}: no link creates "
                             f"this interface; add a link with endpoint '{nname}:{ifname}'")


Maker = Union[str, Tuple[str, str, str], Tuple[int, Endpoint]]


def _maker(what: Maker) -> str:
    """What made an interface, in words: `bridge s1`, `dummy interface r1:d0`,
    `links[3] (h1:eth0)`."""
    if isinstance(what, str):
        return f"bridge {what}"
    if len(what) == 3:
        node, ifname, kind = what
        return f"{kind} interface {node}:{ifname}"
    index, end = what
    return f"links[{index}] ({end})"


def place_impairments(topo: Topology, ports: Dict[str, Dict[str, Optional[Impairment]]],
                      source: str) -> None:
    """Bridge ports' own impairments, then each link's on both its ends (an end's own
    settings win key by key), each checked whole."""
    for bname, declared in ports.items():
        bridge = topo.bridges[bname]
        for port, imp in declared.items():
            if port not in bridge.interfaces:
                raise InputError(f"{source}: bridges.{bname}.ports.{port}: no link makes this "
                                 f"port; add a link with endpoint '{bname}:{port}'")
            bridge.interfaces[port].impair = imp
    for i, link in enumerate(topo.links):
        if link.impair:
            impairments.check_complete(link.impair, f"{source}: links[{i}].impair")
            for end in (link.a, link.b):
                iface = topo.interface_at(end)
                iface.impair = link.impair.merged(iface.impair)
    for node in list(topo.nodes.values()) + list(topo.bridges.values()):
        kind = "bridges" if node.name in topo.bridges else "nodes"
        for iface in node.interfaces.values():
            if iface.impair is None:  # most of a big lab's 4000 ends: nothing to check
                continue
            if not iface.impair:
                iface.impair = None  # an empty mapping: no impairment
            impairments.check_complete(
                iface.impair, f"{source}: {kind}.{node.name}.interfaces.{iface.name}.impair")
