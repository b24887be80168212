"""The tunnels of a lab on several hosts: which links cross hosts, their VNIs and MTUs.

A link whose ends live on different hosts is a point-to-point pair of kernel VXLAN
devices, one on each host, each the end the link would have had. Every tunnel has a VNI
of its own (the kernel refuses a second device with the same VNI and port in one
namespace): the lab's `vxlan.vni_base` plus the tunnel's index, the base by default taken
from the lab's name so that two labs on the same hosts seldom meet (preflight checks).
A tunnel carries frames up to its underlay's MTU less the VXLAN headers; larger ones
vanish silently, so every device of a segment a tunnel joins gets that MTU explicitly.
"""

import ipaddress
import zlib
from typing import Dict, List, Optional, Tuple

from netplay.core.errors import InputError
from netplay.model.topology import Link, Topology

MAX_VNI = (1 << 24) - 1
VNI_SPAN = 100  # the default bases of two lab names are this far apart at least
VXLAN_OVERHEAD = {4: 50, 6: 70}  # outer IP + UDP + VXLAN + inner Ethernet headers


def cross_links(topo: Topology) -> List[Tuple[int, Link]]:
    """(index in topo.links, link) of every link whose ends live on different hosts."""
    if not topo.hosts:
        return []
    return [(i, link) for i, link in enumerate(topo.links)
            if topo.host_of(link.a.node) != topo.host_of(link.b.node)]


def vni_base(topo: Topology) -> int:
    if topo.vni_base is not None:
        return topo.vni_base
    return 1 + (zlib.crc32(topo.name.encode()) % ((MAX_VNI - VNI_SPAN) // VNI_SPAN)) * VNI_SPAN


def vnis(topo: Topology) -> Dict[int, int]:
    """{link index: VNI} of the lab's tunnels, in topology order."""
    base = vni_base(topo)
    return {i: base + n for n, (i, _) in enumerate(cross_links(topo))}


def tunnel_mtu(topo: Topology, link: Link) -> int:
    """What a tunnel between its ends' hosts carries: the smaller underlay MTU less the
    headers of the underlay's family."""
    hosts = [topo.hosts[topo.host_of(e.node)] for e in (link.a, link.b)]
    family = 6 if any(h.address and ipaddress.ip_address(h.address).version == 6
                      for h in hosts) else 4
    return min(h.mtu for h in hosts) - VXLAN_OVERHEAD[family]


def _segments(topo: Topology) -> Dict[int, int]:
    """{link index: its segment's first link index}: links joined by a bridge are one
    segment."""
    parent = list(range(len(topo.links)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: Dict[str, int] = {}
    for i, link in enumerate(topo.links):
        for end in (link.a, link.b):
            if end.node in topo.bridges:
                j = first.setdefault(end.node, i)
                parent[find(i)] = find(j)
    return {i: find(i) for i in range(len(topo.links))}


def set_tunnel_mtus(topo: Topology, source: str) -> None:
    """Give every link of a segment a tunnel joins the smallest MTU its tunnels carry (a
    link's own smaller MTU stays); an interface whose own MTU is larger is refused."""
    crossing = cross_links(topo)
    if not crossing:
        return
    segment = _segments(topo)
    limit: Dict[int, int] = {}
    for i, link in crossing:
        seg = segment[i]
        limit[seg] = min(limit.get(seg, 1 << 30), tunnel_mtu(topo, link))
    for i, link in enumerate(topo.links):
        mtu: Optional[int] = limit.get(segment[i])
        if mtu is None:
            continue
        link.mtu = min(link.mtu or mtu, mtu)
        for end in (link.a, link.b):
            own = topo.interface_at(end).mtu
            if own is not None and own > link.mtu:
                raise InputError(f"{source}: {end}: MTU {own} is more than the {link.mtu} "
                                 "that the tunnel between hosts on its segment carries; "
                                 f"give it {link.mtu} or less")
