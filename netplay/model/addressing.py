"""Addresses of a topology: the subnets of links and bridges handed out to the interfaces
without one, and no address twice on one layer-2 segment."""

import ipaddress
from typing import Dict, Hashable, List, Set, Tuple, Union

from netplay.core import cidr
from netplay.core.errors import InputError
from netplay.model.topology import Interface, Topology

Used = Dict[int, Set[int]]  # version -> the addresses (as integers) taken
Device = Tuple[str, str]  # (owner, ifname): a node's interface, or a bridge (name, name)


def _usable(net: Union[ipaddress.IPv4Network, ipaddress.IPv6Network]) -> Tuple[int, int]:
    """The addresses of net that interfaces may hold, lowest first (a /31 or /127 has two,
    a /32 or /128 one; otherwise IPv4 skips the network and broadcast addresses and
    IPv6 the subnet-router anycast address)."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.max_prefixlen - net.prefixlen >= 2:
        first += 1
        if net.version == 4:
            last -= 1
    return first, last


def addresses_given(topo: Topology) -> Tuple[Used, bool]:
    """The addresses the topology gives to interfaces and bridges, {version: {ip}}, and
    whether any address is given twice."""
    used: Used = {4: set(), 6: set()}
    count = 0
    lists = [i.addresses for n in topo.nodes.values() for i in n.interfaces.values()]
    lists += [b.addresses for b in topo.bridges.values()]
    for addresses in lists:
        for a in addresses:
            parsed = cidr.interface(a)
            used[parsed.version].add(parsed.ip)
            count += 1
    return used, count > len(used[4]) + len(used[6])


def assign_addresses(topo: Topology, source: str, used: Used) -> None:
    """Addresses from subnets: every node interface on a bridge (or link) with a subnet
    gets the lowest free address of each subnet it has none of, in the order of the
    topology's links, so the same topology always gets the same addresses. used:
    {version: {ip}} of the addresses already given, which it adds its own to."""
    jobs: List[Tuple[str, str, List[Interface]]] = []  # (where, subnet, ifaces), in order
    members: Dict[str, List[Interface]] = {name: [] for name in topo.bridges}
    for link in topo.links:
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if other.node in topo.bridges and end.node in topo.nodes:
                members[other.node].append(topo.nodes[end.node].interfaces[end.iface])
    for bridge in topo.bridges.values():
        for subnet_text in bridge.subnets:
            jobs.append((f"bridges.{bridge.name}.subnet", subnet_text, members[bridge.name]))
    for i, link in enumerate(topo.links):
        for subnet_text in link.subnets:
            jobs.append((f"links[{i}].subnet", subnet_text, [topo.interface_at(link.a),
                                                     topo.interface_at(link.b)]))
    for where, text, ifaces in jobs:
        net = ipaddress.ip_network(text)
        subnet, version = cidr.network(text), net.version
        first, last = _usable(net)
        cursor = first
        for iface in ifaces:
            # Cidr.__contains__ takes a (version, ip); mypy sees the NamedTuple's ints
            if any(cidr.interface(a)[:2] in subnet  # type: ignore[comparison-overlap]
                   for a in iface.addresses):
                continue
            while cursor <= last and cursor in used[version]:
                cursor += 1
            if cursor > last:
                raise InputError(f"{source}: {where}: {net} has no free address left for "
                                 f"{iface.name} ({len(ifaces)} interfaces share it); use a "
                                 "shorter prefix")
            used[version].add(cursor)
            iface.addresses.append(f"{cidr.text(version, cursor)}/{net.prefixlen}")


def _segments(topo: Topology) -> Dict[Device, Tuple[str, Hashable]]:
    """The layer-2 segment of every device that holds addresses: {(owner, ifname): key}.
    A link joins its two ends; a bridge joins itself, its ports and, through links between
    bridges, other bridges. A device on no link (a dummy) is a segment of its own."""
    parent = {name: name for name in topo.bridges}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for link in topo.links:
        if link.a.node in topo.bridges and link.b.node in topo.bridges:
            parent[find(link.a.node)] = find(link.b.node)
    out: Dict[Device, Tuple[str, Hashable]] = {(name, name): ("bridge", find(name))
                                               for name in topo.bridges}
    for i, link in enumerate(topo.links):
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if end.node in topo.nodes:
                out[(end.node, end.iface)] = ("bridge", find(other.node)) \
                    if other.node in topo.bridges else ("link", i)
    return out


def check_unique_addresses(topo: Topology, source: str) -> None:
    """No address twice on one layer-2 segment: the kernel takes both, and then whichever
    answers ARP or neighbour discovery first gets the other's traffic."""
    devices: List[Tuple[Device, List[str]]] = [
        ((n.name, i.name), i.addresses) for n in topo.nodes.values()
        for i in n.interfaces.values() if i.addresses]
    devices += [((b.name, b.name), b.addresses) for b in topo.bridges.values() if b.addresses]
    segments = _segments(topo)
    seen: Dict[Tuple[Hashable, int, int], Device] = {}  # (segment, version, ip) -> holder
    for device, addresses in devices:
        segment: Hashable = segments.get(device, device)
        for a in addresses:
            key = (segment, *cidr.interface(a)[:2])
            first = seen.get(key)
            if first is None:
                seen[key] = device
                continue
            ip = a.split("/")[0]
            label = _device_label(topo, device)
            if first == device:
                raise InputError(f"{source}: {label} has address {ip} twice; give it once")
            raise InputError(f"{source}: {_device_label(topo, first)} and {label} both have "
                             f"address {ip} on one layer-2 segment (a link, or bridges and "
                             "what they join); give each its own address")


def _device_label(topo: Topology, device: Device) -> str:
    owner, ifname = device
    return f"bridge {owner}" if owner in topo.bridges else f"{owner}:{ifname}"
