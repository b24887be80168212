"""Who reaches whom: IP routing simulated over a topology, hop by hop (pure).

Longest-prefix match over each node's connected subnets and routes, forwarding only
through `forwarding: true` nodes, replies routed back the same way. `reachability(topo)`
gives a Path for every (node, address held by another node)."""

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, NamedTuple, Optional, Tuple

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


@lru_cache(maxsize=None)
def _default(version):
    return ipaddress.ip_network("0.0.0.0/0" if version == 4 else "::/0")


@lru_cache(maxsize=None)
def _network(text):
    """A route's destination, parsed once: the simulation asks for each route many times."""
    return ipaddress.ip_network(text)


@lru_cache(maxsize=None)
def _address(text):
    return ipaddress.ip_address(text)


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
        # int() of an interface is its address: no new address object for each comparison
        want = int(dst)
        return any(up and any(int(a) == want and a.version == dst.version for a in addrs)
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
                    else _network(route.to)
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
            net = _default(dst.version) if route.to == "default" else _network(route.to)
            if dst not in net:
                continue
            dev = route.dev
            via = _address(route.via) if route.via else None
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


# --- every pair at once ---------------------------------------------------------------------
#
# `reachability` routes each (source, address) on its own, hop by hop: on linear:1000 that
# is a million walks, each doing its longest-prefix match with ipaddress objects. Verify
# needs the full Path (hops, reason) only of the pairs it pings; of the others it needs
# whether they reach, and the few facts the choice of pairs looks at. `Verdict` is that;
# `verdicts(topo)` gives one per pair, in reachability's order, equal to what `Path` says
# (tests/test_reach_fast.py checks that on random topologies): each source's packets to
# all addresses are routed together, as sets of addresses that take the same way, split
# where their longest-prefix matches differ, and replies are looked up in the table of
# the replying stack's own deliveries.


class Verdict(NamedTuple):
    source: str
    target: str
    address: str
    reaches: bool
    via_host: bool
    answered_by: Optional[str]


class _Batched:
    """Network.deliver for one stack to every address at once (addresses as strings)."""

    def __init__(self, net, limit=MAX_HOPS):
        self.net, self.limit = net, limit
        self.ips = {}
        for _, _, addr in net.addresses():
            self.ips.setdefault(str(addr.ip), addr.ip)
        self.universe = frozenset(self.ips)
        self.local = {name: frozenset(str(a.ip) for up, addrs in st.ifaces.values() if up
                                      for a in addrs) for name, st in net.stacks.items()}
        self.on_segment = {seg: {str(ip): holders for ip, holders in held.items()}
                           for seg, held in net.on_segment.items()}
        self.ints = {4: [], 6: []}
        for text, ip in self.ips.items():
            self.ints[ip.version].append((text, int(ip)))
        self._buckets = {}  # (version, prefixlen) -> {network as int: {address}}
        self._candidates = {}
        self._first = {}  # segment -> {address: first holder}

    def members(self, network):
        """The addresses (of all) that network holds."""
        key = (network.version, network.prefixlen)
        if key not in self._buckets:
            mask = int(network.netmask)
            bucket = {}
            for text, value in self.ints[network.version]:
                bucket.setdefault(value & mask, set()).add(text)
            self._buckets[key] = bucket
        return self._buckets[key].get(int(network.network_address), frozenset())

    def candidates(self, stack):
        """What Network.lookup chooses among, best first: [(network, out interface,
        gateway)]; the first whose network holds an address is lookup's answer for it."""
        if stack.name in self._candidates:
            return self._candidates[stack.name]
        found = []
        for ifname, (up, addrs) in stack.ifaces.items():
            if up:
                found += [(a.network.prefixlen, 1, len(found), a.network, ifname, None)
                          for a in addrs]
        for route in stack.routes:
            net = _default(route.family) if route.to == "default" else \
                ipaddress.ip_network(route.to)
            if net.version != route.family:
                continue  # lookup skips it for every address
            dev = route.dev
            via = _address(route.via) if route.via else None
            if via is not None and not route.onlink:
                onlink = self.net._onlink(stack, via)
                if dev is None:
                    dev = onlink[0] if onlink else None
                elif dev not in onlink:
                    dev = None
            if dev is None or not self.net._up(stack, dev):
                continue
            found.append((net.prefixlen, 0, len(found), net, dev, via))
        found.sort(key=lambda c: (-c[0], -c[1], c[2]))
        self._candidates[stack.name] = [(c[3], c[4], c[5]) for c in found]
        return self._candidates[stack.name]

    def deliver_all(self, source):
        """{address: (the stack it is delivered to or None, the (stack, out interface) of
        each hop, whether the request touched the host's root namespace)} for every
        address, as Network.deliver(source, address) routes it."""
        net, host, out = self.net, self.net.host, {}
        work = [(source, (), frozenset(), False, 0, self.universe)]
        while work:
            at, egress, seen, touched, i, group = work.pop()
            if i >= self.limit:
                out.update(dict.fromkeys(group, (None, egress, touched)))
                continue
            here = group & self.local[at]
            if here:
                out.update(dict.fromkeys(here, (at, egress, touched)))
                group = group - here
            stack = net.stacks[at]
            if not group:
                continue
            if (at != source and not stack.forwarding) or at in seen:
                out.update(dict.fromkeys(group, (None, egress, touched)))
                continue
            seen = seen | {at}
            for network, ifname, gateway in self.candidates(stack):
                sub = group & self.members(network)
                if not sub:
                    continue
                group = group - sub
                hop = egress + ((at, ifname),)
                if gateway is not None:
                    nxt = net._neighbour(stack, ifname, gateway)
                    if nxt is None:
                        out.update(dict.fromkeys(sub, (None, hop, touched)))
                    else:
                        work.append((nxt.name, hop, seen, touched or nxt.name == host, i + 1,
                                     sub))
                    continue
                self._direct(at, ifname, hop, seen, touched, i, sub, work, out)
                if not group:
                    break
            out.update(dict.fromkeys(group, (None, egress, touched)))  # no route
        return out

    def _direct(self, at, ifname, hop, seen, touched, i, sub, work, out):
        """Addresses on the out interface's own segment: each goes to the first stack
        holding it there (never `at`: what it holds on an up interface was delivered
        already), where it is delivered at the next hop, unless that is past the limit."""
        stack, host = self.net.stacks[at], self.net.host
        first = self._first_holders(self.net.segments.find(stack.ends[ifname]))
        found = sub & first.keys()
        if len(found) < len(sub):
            out.update(dict.fromkeys(sub - found, (None, hop, touched)))  # nothing answers
        if i + 1 < self.limit:
            out.update({a: (first[a], hop, touched or first[a] == host) for a in found})
            return
        onward = {}
        for address in found:
            onward.setdefault(first[address], set()).add(address)
        for nxt, addresses in onward.items():
            work.append((nxt, hop, seen, touched or nxt == host, i + 1, frozenset(addresses)))

    def _first_holders(self, segment):
        """{address: the first stack holding it on segment (on an up interface)}."""
        if segment not in self._first:
            held = self.on_segment.get(segment, {})
            self._first[segment] = {a: holders[0][0] for a, holders in held.items()}
        return self._first[segment]


class Pairs:
    """Every (node, address held by another node) judged at once: for each source, the
    pairs that reach and the Verdicts of the others (`by_source`), or a Verdict of each
    (`verdicts`). Built once per topology; cheap per pair, so that linear:1000's million
    pairs take seconds."""

    def __init__(self, topo):
        self.topo = topo
        self.net = net = Network(topo)
        self.batched = _Batched(net)
        self.table = {name: self.batched.deliver_all(name) for name in net.stacks}
        self.targets = list(dict.fromkeys((t, str(a.ip)) for t, _, a in net.addresses()))
        self.nat = any(stack.nat for stack in net.stacks.values())

    def by_source(self, full=False):
        """(source, [(target, address) that reaches], [Verdict of each pair that does not,
        or with full of every pair]) per node, in reachability's order."""
        for source in self.topo.nodes:
            yield (source,) + self._judge(source, full)

    def _judge(self, source, full):
        net, table, ips = self.net, self.table, self.batched.ips
        delivered, reach, others = table[source], [], []
        sources = {}  # (out interface, version) -> (address to send from, as text)
        for pair in self.targets:
            target, address = pair
            reached, egress, touched = delivered[address]
            if reached != target or target == source:
                if target != source:
                    others.append(Verdict(source, target, address, False, touched, reached))
                continue
            key = (egress[0][1], ips[address].version)
            if key not in sources:
                src = net.source_address(net.stacks[source], egress[0][1], ips[address])
                sources[key] = (src, None if src is None else str(src))
            src, text = sources[key]
            if src is None:
                verdict = Verdict(source, target, address, False, touched, reached)
            elif self.nat:
                verdict = _replied(net, table, source, target, address, egress, touched, src)
            else:  # the reply goes straight back to the address it came from
                back = table[target].get(text) or _deliver(net, target, src)
                if back[0] == source and not full:
                    reach.append(pair)
                    continue
                verdict = Verdict(source, target, address, back[0] == source,
                                  touched or back[2], reached)
            if verdict.reaches:
                reach.append(pair)
                if not full:
                    continue
            others.append(verdict)
        return reach, others

    def verdicts(self):
        """A Verdict for every pair, in reachability's order."""
        for _, _, verdicts in self.by_source(full=True):
            yield from verdicts


def verdicts(topo):
    """A Verdict for every (node, address held by another node), in reachability's order:
    what Network.path says of it (reaches, via_host, answered_by), without its hops."""
    return list(Pairs(topo).verdicts())


def _deliver(net, source, dst):
    """One entry of a deliveries table, for an address it does not hold."""
    stack, hops, egress, _ = net.deliver(source, dst)
    return (stack.name if stack else None, tuple(egress),
            net.host is not None and net.host in hops[1:])


def _replied(net, table, source, target, address, egress, touched, src):
    """The Verdict of a request delivered to target with source address src, when nodes
    on the way may masquerade it: Network.path's legs of the reply, looked up."""
    version = src.version
    natted = []
    for name, ifname in egress[1:]:
        hop_stack = net.stacks[name]
        if ifname in hop_stack.nat:
            new = net._address_on(hop_stack, ifname, version)
            if new is not None:
                natted.append((name, src))
                src = new
    legs, back_from = [], target
    for name, original in reversed(natted):
        legs.append((src, name))
        src = original
    legs.append((src, source))
    for leg_dst, want in legs:
        back = table[back_from].get(str(leg_dst)) or _deliver(net, back_from, leg_dst)
        touched = touched or back[2]
        if back[0] != want:
            return Verdict(source, target, address, False, touched, target)
        back_from = want
    return Verdict(source, target, address, True, touched, target)
