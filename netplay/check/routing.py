"""Who reaches whom: IP routing simulated over a topology, hop by hop (pure).

Longest-prefix match over each node's connected subnets and routes, forwarding only
through `forwarding: true` nodes, replies routed back the same way. `reachability(topo)`
gives a Path for every (node, address held by another node)."""

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from netplay.model.topology import Route

MAX_HOPS = 32


@dataclass
class _Stack:
    """One IP stack (a namespace) as the topology configures it."""

    name: str
    forwarding: bool
    ifaces: Dict[str, Tuple[bool, list]]  # ifname -> (up, [ip_interface])
    routes: List[Route]
    ends: Dict[str, Tuple[str, str]]  # ifname -> its L2 endpoint key
    nat: List[str] = field(default_factory=list)  # interfaces it masquerades out of


@dataclass
class Path:
    source: str
    target: str  # the node that holds the address
    address: str
    reaches: bool
    hops: List[str]  # the stacks the request crossed, source first
    reason: str  # why it does not reach, or the path it takes
    via_host: bool = False  # the request or its reply touched the root namespace
    answered_by: Optional[str] = None  # the stack the request was delivered to


class _UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, x):
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        self.parent[self.find(a)] = self.find(b)


def _rank(candidate):
    """Longer prefixes win; on a tie the connected route; then the first found."""
    return candidate[0], candidate[1]


def _default(version):
    return ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")


class Network:
    """The topology's L2 segments and L3 stacks, for routing packets on paper."""

    def __init__(self, topo):
        self.topo = topo
        self.segments = _UnionFind()
        self.stacks = {}
        self.host = next((n.name for n in topo.nodes.values() if n.kind == "host"), None)

        def end_up(end):
            if topo.is_bridge(end.node):
                return topo.bridges[end.node].up
            return topo.nodes[end.node].interfaces[end.iface].up

        for link in topo.links:
            if end_up(link.a) and end_up(link.b):
                self.segments.union((link.a.node, link.a.iface), (link.b.node, link.b.iface))
        for bridge in topo.bridges.values():
            if bridge.up:
                for port in bridge.interfaces:
                    self.segments.union((bridge.name, port), (bridge.name, bridge.name))
        for node in topo.nodes.values():
            ifaces = {i.name: (i.up, [ipaddress.ip_interface(a) for a in i.addresses])
                      for i in node.interfaces.values()}
            ends = {i: (node.name, i) for i in node.interfaces}
            self.stacks[node.name] = _Stack(node.name, node.forwarding, ifaces,
                                            list(node.routes), ends,
                                            list(node.nat))
        for bridge in topo.bridges.values():
            owner = bridge.namespace if bridge.namespace else self.host
            if owner is None or not (bridge.addresses or bridge.namespace):
                # a root bridge without addresses is no stack's; one in a node is that
                # node's, and its routes may leave by it (`dev: BRIDGE`)
                continue
            stack = self.stacks[owner]
            stack.ifaces[bridge.name] = (bridge.up, [ipaddress.ip_interface(a)
                                                     for a in bridge.addresses])
            stack.ends[bridge.name] = (bridge.name, bridge.name)
        # segment -> address -> [(stack, ifname)] for the up interfaces on it
        self.on_segment = {}
        for stack in self.stacks.values():
            for ifname, (up, addrs) in stack.ifaces.items():
                if up:
                    seg = self.on_segment.setdefault(self.segments.find(stack.ends[ifname]), {})
                    for addr in addrs:
                        seg.setdefault(addr.ip, []).append((stack.name, ifname))

    def addresses(self):
        """(node, ifname, address) for every address a node or bridge holds."""
        return [(stack.name, ifname, addr) for stack in self.stacks.values()
                for ifname, (_, addrs) in stack.ifaces.items() for addr in addrs]

    def holders(self):
        """address -> the stacks holding it (a private range may be used in several places)."""
        out = {}
        for name, _, addr in self.addresses():
            out.setdefault(addr.ip, set()).add(name)
        return out

    @staticmethod
    def _local(stack, dst):
        return any(up and any(a.ip == dst for a in addrs)
                   for up, addrs in stack.ifaces.values())

    @staticmethod
    def _up(stack, ifname):
        return stack.ifaces.get(ifname, (False, []))[0]

    def _onlink(self, stack, gateway):
        """Interfaces a gateway is reachable on directly: a connected subnet holds it, or a
        device route with no gateway of its own covers it (`ip route add 10.1.1.1/32 dev
        eth0`, the book's point-to-point style)."""
        out = [i for i, (up, addrs) in stack.ifaces.items()
               if up and any(gateway in a.network for a in addrs if a.version == gateway.version)]
        for route in stack.routes:
            if route.dev and not route.via and route.family == gateway.version \
                    and self._up(stack, route.dev) and route.dev not in out:
                net = _default(gateway.version) if route.to == "default" \
                    else ipaddress.ip_network(route.to)
                if gateway in net:
                    out.append(route.dev)
        return out

    def lookup(self, stack, dst):
        """Longest-prefix match: (out interface, gateway or None), or None."""
        best = None
        for ifname, (up, addrs) in stack.ifaces.items():
            for addr in addrs:
                if up and addr.version == dst.version and dst in addr.network:
                    cand = (addr.network.prefixlen, 1, ifname, None)
                    best = max(best, cand, key=_rank) if best else cand
        for route in stack.routes:
            if route.family != dst.version:
                continue
            net = _default(dst.version) if route.to == "default" else \
                ipaddress.ip_network(route.to)
            if dst not in net:
                continue
            dev = route.dev
            via = ipaddress.ip_address(route.via) if route.via else None
            if via is not None and route.onlink:
                pass  # `onlink`: the gateway is on dev's link, whatever the subnets say
            elif via is not None:
                onlink = self._onlink(stack, via)
                if dev is None:
                    dev = onlink[0] if onlink else None
                elif dev not in onlink:
                    dev = None
            if dev is None or not self._up(stack, dev):
                continue
            cand = (net.prefixlen, 0, dev, via)
            best = max(best, cand, key=_rank) if best else cand
        return (best[2], best[3]) if best else None

    def _neighbour(self, stack, ifname, nexthop):
        """The stack on the same L2 segment as stack:ifname that holds nexthop, or None."""
        seg = self.on_segment.get(self.segments.find(stack.ends[ifname]), {})
        for name, oif in seg.get(nexthop, []):
            if (name, oif) != (stack.name, ifname):
                return self.stacks[name]
        return None

    @staticmethod
    def _address_on(stack, ifname, version):
        up, addrs = stack.ifaces.get(ifname, (False, []))
        return next((a.ip for a in addrs if a.version == version), None)

    def source_address(self, stack, ifname, dst):
        """The address the kernel would send from: one on the out interface, else any."""
        for iface in [ifname] + [i for i in stack.ifaces if i != ifname]:
            up, addrs = stack.ifaces[iface]
            for addr in addrs:
                if up and addr.version == dst.version:
                    return addr.ip
        return None

    def deliver(self, source, dst, limit=MAX_HOPS):
        """Route a packet from stack `source` to address dst.

        Returns (the stack it is delivered to or None, the stacks it crossed, the
        (stack, out interface) of each hop, why it is lost)."""
        at, hops, egress, seen = self.stacks[source], [source], [], set()
        for _ in range(limit):
            if self._local(at, dst):
                return at, hops, egress, None
            if at.name != source and not at.forwarding:
                return None, hops, egress, f"{at.name} does not forward"
            if at.name in seen:
                return None, hops, egress, f"routing loop at {at.name}"
            seen.add(at.name)
            hop = self.lookup(at, dst)
            if hop is None:
                return None, hops, egress, f"{at.name} has no route to {dst}"
            ifname, gateway = hop
            egress.append((at.name, ifname))
            nexthop = gateway or dst
            nxt = self._neighbour(at, ifname, nexthop)
            if nxt is None:
                return None, hops, egress, f"nothing answers for {nexthop} on {at.name}:{ifname}"
            at = nxt
            hops.append(at.name)
        return None, hops, egress, f"more than {limit} hops"

    def path(self, source, target, address):
        """Does a ping from node source to address (held by node target) get its reply?

        The reply goes back to the address the request was sent from, or, when a node on
        the way masquerades out of the interface the request left by, to that node, which
        sends it on to the original source (as conntrack does)."""
        dst = ipaddress.ip_address(address)
        stack = self.stacks[source]
        reached, hops, egress, why = self.deliver(source, dst)
        touched = set(hops[1:])
        answered = reached.name if reached else None

        def result(ok, reason):
            via_host = self.host is not None and self.host in touched
            return Path(source, target, address, ok, hops, reason, via_host, answered)

        if reached is None:
            return result(False, why)
        if reached.name != target:
            return result(False, f"{address} is answered by {reached.name}, not {target}")
        src = self.source_address(stack, egress[0][1], dst) if egress else None
        if src is None:
            return result(False, f"{source} has no IPv{dst.version} address to send from")
        # (stack that rewrote the source, the source before it) for each masquerade
        natted = []
        for name, ifname in egress[1:]:
            hop_stack = self.stacks[name]
            if ifname in hop_stack.nat:
                new = self._address_on(hop_stack, ifname, dst.version)
                if new is not None:
                    natted.append((name, src))
                    src = new
        back_from, legs = target, []
        for name, original in reversed(natted):
            legs.append((src, name))
            src = original
        legs.append((src, source))
        for leg_dst, want in legs:
            back, back_hops, _, why = self.deliver(back_from, leg_dst)
            touched.update(back_hops[1:])
            if back is None or back.name != want:
                return result(False, f"the reply to {leg_dst} is lost: "
                                     f"{why or 'it reaches ' + back.name}")
            back_from = want
        text = " > ".join(hops)
        if natted:
            text += " (masqueraded by " + ", ".join(n for n, _ in natted) + ")"
        return result(True, text)


def reachability(topo):
    """A Path for every (node, address held by another node): does the ping get through?"""
    net = Network(topo)
    targets = list(dict.fromkeys((target, str(addr.ip)) for target, _, addr in net.addresses()))
    return [net.path(source, target, address) for source in topo.nodes
            for target, address in targets if target != source]
