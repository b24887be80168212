"""The tunnels of a lab on several hosts: what each end should be, checked against what
each host holds (pure), and which full-size pings prove a tunnel carries its MTU.

A link between hosts is a VXLAN pair. Each end must exist on its host, in its namespace,
as a VXLAN device with the link's VNI, its host's underlay address as local, the other
host's as remote, and the lab's UDP port; every device of a segment a tunnel joins must
have the MTU the plan gave it (frames larger than a tunnel carries vanish silently, so a
mismatch shows only as lost traffic); and a ping of full size with don't-fragment set must
cross each tunnel.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from netplay.check.expect import Check
from netplay.check.routing import Network
from netplay.model.tunnels import cross_links, vnis

IP_HEADERS = {4: 28, 6: 48}  # IP + ICMP headers: `ping -s` gives the payload alone


@dataclass(frozen=True)
class TunnelEnd:
    subject: str  # "r1:eth1 (host a)"
    host: str
    ns: Optional[str]
    ifname: str
    vni: int
    local: Optional[str]
    remote: Optional[str]
    port: int


def expected_ends(topo) -> List[TunnelEnd]:
    """Both ends of every link between hosts, in topology order."""
    ids = vnis(topo)
    out = []
    for i, link in cross_links(topo):
        for end, other in ((link.a, link.b), (link.b, link.a)):
            host, peer = topo.host_of(end.node), topo.host_of(other.node)
            out.append(TunnelEnd(f"{end} (host {host})", host, topo.namespace_of(end.node),
                                 end.iface, ids[i], topo.hosts[host].address,
                                 topo.hosts[peer].address, topo.vxlan_port))
    return out


def _want(end: TunnelEnd) -> str:
    return f"VXLAN id {end.vni} local {end.local} remote {end.remote} port {end.port}"


def check_end(end: TunnelEnd, states) -> Check:
    """One tunnel end against its host's observed namespaces ({ns: NamespaceState})."""
    state = states.get(end.ns)
    link = state.links.get(end.ifname) if state is not None and state.present else None
    if link is None:
        return Check("tunnel", end.subject, False, f"missing; expected {_want(end)}")
    seen = link.vxlan
    if seen is None:
        return Check("tunnel", end.subject, False,
                     f"is a {link.kind or 'device'}, not a VXLAN device; expected {_want(end)}")
    got = (seen.vni, seen.local, seen.remote, seen.port)
    if got != (end.vni, end.local, end.remote, end.port):
        return Check("tunnel", end.subject, False,
                     f"is VXLAN id {seen.vni} local {seen.local} remote {seen.remote} port "
                     f"{seen.port}; expected {_want(end)}")
    return Check("tunnel", end.subject, True, _want(end))


def segment_mtus(topo) -> Dict[Tuple[str, str], int]:
    """{(node or bridge, ifname): MTU} of every device with an MTU of its own on a
    segment that a tunnel joins (the plan sets them all)."""
    if not cross_links(topo):
        return {}
    net = Network(topo)
    joined = {net.segments.find((link.a.node, link.a.iface)) for _, link in cross_links(topo)}
    out = {}
    for key, mtu in topo.end_mtus().items():
        owner, _, ifname = key.partition(":")
        if mtu is not None and net.segments.find((owner, ifname)) in joined:
            out[(owner, ifname)] = mtu
    return out


def check_mtus(topo, states_by_host) -> List[Check]:
    """The MTU of each device of a segment a tunnel joins, against its host's observation."""
    out = []
    for (owner, ifname), mtu in segment_mtus(topo).items():
        host, ns = topo.host_of(owner), topo.namespace_of(owner)
        state = states_by_host.get(host, {}).get(ns)
        link = state.links.get(ifname) if state is not None and state.present else None
        subject = f"{owner}:{ifname} (host {host})"
        if link is None:
            out.append(Check("mtu", subject, False, f"missing; expected MTU {mtu}"))
        else:
            out.append(Check("mtu", subject, link.mtu == mtu,
                             f"MTU {link.mtu}" + ("" if link.mtu == mtu else
                                                  f"; expected {mtu}, as every device of "
                                                  "the segment its tunnel joins")))
    return out


@dataclass(frozen=True)
class FullPing:
    """A don't-fragment ping of a tunnel's whole MTU, from a node across the tunnel."""

    subject: str
    host: str  # where the source runs
    ns: Optional[str]
    address: str
    size: int  # the ICMP payload: MTU less the IP and ICMP headers

    def argv(self) -> List[str]:
        ping = ["ping", "-M", "do", "-s", str(self.size), "-c", "1", "-W", "2", self.address]
        return ["ip", "netns", "exec", self.ns, *ping] if self.ns else ping


def full_pings(topo) -> List[FullPing]:
    """One full-size ping per tunnel: from the end that is a node, to an address on the same
    segment held on the other host; a tunnel with no such pair of addresses has none."""
    net = Network(topo)
    out = []
    for _, link in cross_links(topo):
        src = link.a if link.a.node in topo.nodes else link.b
        if src.node not in topo.nodes:
            continue
        here = topo.host_of(src.node)
        up, addrs = net.stacks[src.node].ifaces.get(src.iface, (False, []))
        seg = net.on_segment.get(net.segments.find((src.node, src.iface)), {})
        mtu = topo.end_mtus().get(str(src))
        for mine in addrs:
            target = next((ip for ip, holders in sorted(seg.items(), key=lambda kv: str(kv[0]))
                           if ip.version == mine.version
                           and any(topo.host_of(s) != here for s, _ in holders)), None)
            if target is None or mtu is None or not up:
                continue
            size = mtu - IP_HEADERS[mine.version]
            out.append(FullPing(f"{src} -> {target} ({size + IP_HEADERS[mine.version]} "
                                f"bytes, don't fragment)", here,
                                topo.namespace_of(src.node), str(target), size))
            break
    return out


def run_full_pings(topo, machines) -> List[Check]:
    """Each full-size ping, sent on its source's host: one Check each."""
    out = []
    for ping in full_pings(topo):
        rc, _, err = machines[ping.host].run(ping.argv())
        reason = "replied" if rc == 0 else \
            (err.strip().splitlines() or ["no reply"])[-1] + \
            "; frames of the segment's MTU do not cross the tunnel"
        out.append(Check("tunnel-mtu", ping.subject, rc == 0, reason))
    return out
