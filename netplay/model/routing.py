"""Routes of a topology checked against its addressing: every gateway reachable on a
segment the node is on."""

import ipaddress
from typing import Dict, Iterable, Iterator, List, Optional, Set, Tuple

from netplay.core import cidr
from netplay.core.errors import InputError
from netplay.model.topology import Bridge, Node, Route, Topology


def lab_networks(topo: Topology) -> List["ipaddress.IPv4Network | ipaddress.IPv6Network"]:
    """Every network the lab's own addresses and subnets span."""
    texts = [a for n in topo.nodes.values() for i in n.interfaces.values() for a in i.addresses]
    texts += [a for b in topo.bridges.values() for a in b.addresses]
    nets = [ipaddress.ip_interface(a).network for a in texts]
    nets += [ipaddress.ip_network(s) for b in topo.bridges.values() for s in b.subnets]
    nets += [ipaddress.ip_network(s) for link in topo.links for s in link.subnets]
    return nets


def check_root_routes(topo: Topology, source: str) -> None:
    """A route the lab adds to the root namespace (a host node's) leads only into the
    lab's own networks: the root namespace's table is the host's, and a wider route (a
    default, or 0.0.0.0/1) would send the host's own traffic into the lab. Checked at load,
    so run, its dry run, show, replay and export (a log from elsewhere) all refuse it."""
    nets = None
    for node in topo.nodes.values():
        if node.kind != "host":
            continue
        for i, route in enumerate(node.routes):
            where = f"{source}: nodes.{node.name}.routes[{i}]"
            if route.to == "default":
                raise InputError(f"{where}: a default route in the root namespace would send "
                                 "the host's own traffic into the lab; route only the lab's "
                                 "subnets through it")
            nets = lab_networks(topo) if nets is None else nets
            dst = ipaddress.ip_network(route.to)
            if not any(dst.version == n.version and dst.subnet_of(n) for n in nets):  # type: ignore[arg-type]
                raise InputError(f"{where}: {route.to} is not inside any network of lab "
                                 f"{topo.name!r}, and a route in the root namespace leads only "
                                 "into the lab; route each lab subnet instead")


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
            continue  # the host's own routes may cover its gateways (see check_root_routes)
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
    if all(r.via is None or r.onlink for r in node.routes):
        return  # no gateway to look for (most nodes): their addresses stay unparsed
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
