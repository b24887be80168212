"""Routes of a topology checked against its addressing: every gateway reachable on a
segment the node is on."""

from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

from netplay.core import cidr
from netplay.core.errors import InputError
from netplay.model.topology import Bridge, Node, Route, Topology


def check_routing(topo: Topology, source: str) -> None:
    """NAT names a real interface; every gateway is on a link the node can reach (an
    address's subnet or a route with `dev` only), as the kernel requires."""
    # namespace -> its bridges, so each node looks at its own only
    bridges_in: Dict[Optional[str], List[Bridge]] = {}
    for bridge in topo.bridges.values():
        bridges_in.setdefault(bridge.namespace, []).append(bridge)
    for node in topo.nodes.values():
        where = f"{source}: nodes.{node.name}"
        for ifname in node.nat:
            if ifname not in node.interfaces:
                raise InputError(f"{where}.nat.masquerade: {node.name} has no interface "
                                 f"{ifname!r}")
        if node.kind == "host":
            continue  # the host's own routes may cover its gateways
        for i, r, via in _unreachable_gateways(node, bridges_in.get(node.name, ())):
            version, ip = cidr.address(via)
            if cidr.is_link_local(version, ip):
                raise InputError(f"{where}.routes[{i}]: the link-local gateway {r.via} needs "
                                 "'dev' (which link it is on)")
            raise InputError(
                f"{where}.routes[{i}].via: gateway {r.via} is on none of {node.name}'s links "
                f"(no address's subnet and no 'dev' route holds it); add a route "
                f"{{to: {r.via}/{cidr.BITS[version]}, dev: IFACE}} before it, or onlink: true")


def _unreachable_gateways(node: Node,
                          bridges: Iterable[Bridge]) -> Iterator[Tuple[int, Route, str]]:
    """(index, route, gateway) of each route whose gateway the node cannot reach:
    on no connected subnet and no device route, or link-local without `dev`. The node's
    networks are indexed by (version, prefix length), so each gateway costs one lookup
    per prefix length the node uses, not one per network."""
    nets: Dict[int, Dict[int, Set[int]]] = {4: {}, 6: {}}  # version -> {netmask: {network}}
    addresses = [a for i in node.interfaces.values() for a in i.addresses]
    addresses += [a for b in bridges for a in b.addresses]
    connected = [cidr.interface(a) for a in addresses]
    connected += [cidr.interface(r.to) if r.to != "default" else cidr.Cidr(r.family, 0, 0)
                  for r in node.routes if r.via is None]
    for c in connected:
        nets[c.version].setdefault(cidr.mask(c.version, c.prefixlen), set()).add(c.network)
    for i, r in enumerate(node.routes):
        if r.via is None or r.onlink:
            continue
        version, ip = cidr.address(r.via)
        if cidr.is_link_local(version, ip):
            if r.dev is None:
                yield i, r, r.via
            continue
        if not any(ip & netmask in networks for netmask, networks in nets[version].items()):
            yield i, r, r.via
