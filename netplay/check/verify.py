"""netplay verify: the host compared with the topology's intent.

Layers, each testable on its own:

- `expected_state(topo)` (pure): what the host should hold, one Expect per fact:
  namespaces, containers, interfaces and their up/down state, addresses, veth peers,
  bridge ports, routes, forwarding.
- `reachability(topo)` and `ping_plan(topo)` (pure): which node reaches which address,
  found by simulating IP routing over the topology hop by hop (longest-prefix match over
  each node's connected subnets and routes, forwarding only through `forwarding: true`
  nodes, replies routed back the same way), and which pairs must not reach.
- `evaluate(topo, observed)` (pure): each Expect against an observed host, one Check each.
- `observe_lab`, `run_pings`, `verify_lab`: the observations (`ip -j`, the Docker SDK, and
  pings sent all at once from raw ICMP sockets inside each source's namespace, by the
  machine's ping: `netplay.pinger` on this host). Nothing here changes the host or is logged.
"""

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, NamedTuple, Optional, Tuple

from netplay.observe import containers as dockerstate, ip as observe
from netplay.plan import build as planner
from netplay.machine import pinger
from netplay.model.topology import Route

MAX_HOPS = 32
ISOLATION_SAMPLE = 6  # pairs that must not reach, pinged to show they do not
MAX_REACH_PINGS = 2000  # pairs that reach, pinged at most (spread over every node)


def default_ping_limit(machine):
    """Pairs to ping at most: a third of the kernel's neighbour table (each ping may add an
    entry at both ends, and the table is shared by every namespace), within 100..2000."""
    return max(100, min(MAX_REACH_PINGS, observe.neighbour_capacity(machine) // 3))


# --- what the topology says the host holds --------------------------------------------------


@dataclass
class Expect:
    kind: str  # namespace container interface address peer member route forwarding
    subject: str  # what a person reads: "laptop:eth1", "home (bridge)"
    ns: Optional[str] = None  # the namespace to look in (None: root)
    ifname: str = ""
    up: Optional[bool] = None
    address: str = ""
    bridge: str = ""
    peer: Optional[Tuple[Optional[str], str]] = None  # (namespace, ifname)
    route: Optional[Route] = None
    node: str = ""
    key: str = ""  # forwarding: the sysctl
    want: str = ""  # forwarding: its value, "1" (a forwarding node) or "0" (any other)


@dataclass
class Check:
    kind: str
    subject: str
    ok: bool
    reason: str

    @property
    def result(self):
        return "PASS" if self.ok else "FAIL"

    def to_dict(self):
        return {"check": self.kind, "subject": self.subject, "result": self.result,
                "reason": self.reason}


def endpoint_labels(topo):
    """(namespace, ifname) -> how the topology names that device: "laptop:eth1"."""
    out = {}
    for node in topo.nodes.values():
        for ifname in node.interfaces:
            out[(node.namespace, ifname)] = f"{node.name}:{ifname}"
    for bridge in topo.bridges.values():
        out[(bridge.namespace, bridge.name)] = f"{bridge.name} (bridge)"
        for port in bridge.interfaces:
            out[(bridge.namespace, port)] = f"{bridge.name}:{port}"
    return out


def route_text(route):
    text = route.to
    if route.via:
        text += f" via {route.via}"
    if route.dev:
        text += f" dev {route.dev}"
    if getattr(route, "onlink", False):
        text += " onlink"
    return text


def _forwarding_keys(topo):
    """{node: [(sysctl, value)]} that `run` sets for forwarding: 1 on a forwarding node, 0
    on the others that could forward (plan.forwarding_off). The planner decides, verify
    reads."""
    off = planner.forwarding_off(topo)
    settings = {n.name: planner.forwarding_on(n) if n.forwarding else off.get(n.name, [])
                for n in topo.nodes.values()}
    return {name: [tuple(kv.split("=", 1)) for kv in kvs] for name, kvs in settings.items()}


def expected_state(topo):
    """Every fact the topology promises about the host, in the order they were built."""
    out = []
    for node in topo.nodes.values():
        if node.kind in ("netns", "docker"):
            out.append(Expect("namespace", node.name, ns=node.name, node=node.name))
        if node.kind == "docker":
            out.append(Expect("container", node.name, node=node.name))
    for node in topo.nodes.values():
        ns = node.namespace
        if node.loopback and ns:
            out.append(Expect("interface", f"{node.name}:lo", ns, "lo", up=True, node=node.name))
        for iface in node.interfaces.values():
            subject = f"{node.name}:{iface.name}"
            out.append(Expect("interface", subject, ns, iface.name, up=iface.up, node=node.name))
            out += [Expect("address", f"{subject} {a}", ns, iface.name, address=a,
                           node=node.name) for a in iface.addresses]
    for bridge in topo.bridges.values():
        ns = bridge.namespace
        subject = f"{bridge.name} (bridge)"
        out.append(Expect("interface", subject, ns, bridge.name, up=bridge.up,
                          bridge=bridge.name))
        out += [Expect("address", f"{subject} {a}", ns, bridge.name, address=a,
                       bridge=bridge.name) for a in bridge.addresses]
        for port in bridge.interfaces:
            out.append(Expect("interface", f"{bridge.name}:{port}", ns, port, up=bridge.up,
                              bridge=bridge.name))
            out.append(Expect("member", f"{bridge.name}:{port}", ns, port,
                              bridge=bridge.name))
    for link in topo.links:
        ns_a, ns_b = topo.namespace_of(link.a.node), topo.namespace_of(link.b.node)
        out.append(Expect("peer", f"{link.a} -- {link.b}", ns_a, link.a.iface,
                          peer=(ns_b, link.b.iface)))
    forwarding = _forwarding_keys(topo)
    for node in topo.nodes.values():
        for route in node.routes:
            out.append(Expect("route", f"{node.name}: {route_text(route)}", node.namespace,
                              route.dev or "", route=route, node=node.name))
        out += [Expect("forwarding", f"{node.name}: {key}", node.namespace, key=key,
                       node=node.name, want=want) for key, want in forwarding[node.name]]
    return out


# --- comparing with what was observed -------------------------------------------------------


@dataclass
class Observed:
    """The host as verify saw it; built by observe_lab, or by hand in tests."""

    namespaces: Dict[Optional[str], observe.NamespaceState] = field(default_factory=dict)
    containers: Optional[Dict[str, str]] = None  # name -> docker status; None: no daemon
    sysctls: Dict[Tuple[Optional[str], str], Optional[str]] = field(default_factory=dict)


def _where(ns):
    return f"namespace {ns}" if ns else "the root namespace"


def _link(observed, exp):
    """(LinkState, None) or (None, why it cannot be looked at)."""
    state = observed.namespaces.get(exp.ns)
    if state is None or not state.present:
        return None, f"{_where(exp.ns)} is missing"
    link = state.links.get(exp.ifname)
    if link is None:
        return None, f"interface {exp.ifname} is missing from {_where(exp.ns)}"
    return link, None


def _check_namespace(exp, observed, labels):
    state = observed.namespaces.get(exp.ns)
    if state is None or not state.present:
        return False, f"namespace {exp.ns} is missing (not in `ip netns list`)"
    return True, "present"


def _check_container(exp, observed, labels):
    if observed.containers is None:
        return False, "no Docker daemon answers, so the container cannot be seen"
    status = observed.containers.get(exp.node)
    if status is None:
        return False, f"container {exp.node} is gone"
    if status != "running":
        return False, f"container {exp.node} is {status}, expected running"
    return True, "running"


def _check_interface(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    want = "up" if exp.up else "down"
    have = "up" if link.up else "down"
    if want != have:
        return False, f"{exp.ifname} is {have}, expected {want}"
    if link.up and link.operstate not in ("UP", "UNKNOWN"):
        return True, f"up (no carrier: {link.operstate.lower()}, its peer is down)"
    return True, have


def _check_address(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    if exp.address in link.addresses:
        return True, "present"
    has = ", ".join(link.addresses) or "no address"
    return False, f"{exp.address} is missing from {exp.ifname} (it has {has})"


def _check_peer(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    want = labels.get(exp.peer, f"{exp.peer[1]} in {_where(exp.peer[0])}")
    if link.kind and link.kind != "veth":
        return False, f"{exp.ifname} is a {link.kind}, not one end of a veth pair"
    if link.peer is None:
        peer_state = observed.namespaces.get(exp.peer[0])
        if peer_state is None or not peer_state.present:
            return False, f"its peer should be {want}, but {_where(exp.peer[0])} is missing"
        return False, f"its peer should be {want}, which is not there"
    if link.peer != exp.peer:
        have = labels.get(link.peer, f"{link.peer[1]} in {_where(link.peer[0])}")
        return False, f"its peer is {have}, expected {want}"
    return True, "connected"


def _check_member(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    if link.master == exp.bridge:
        return True, f"a port of {exp.bridge}"
    if link.master is None:
        return False, f"{exp.ifname} is detached from bridge {exp.bridge} (it has no master)"
    return False, f"{exp.ifname} is a port of {link.master}, expected {exp.bridge}"


def _route_matches(route, seen):
    if seen.family != route.family or seen.dst != route.to:
        return False
    if route.via and seen.gateway != route.via:
        return False
    return not route.dev or seen.dev == route.dev


def _route_device(node_interfaces, route):
    """The interface a route leaves by: its dev, or the one whose subnet holds its gateway."""
    if route.dev:
        return route.dev
    via = ipaddress.ip_address(route.via)
    for iface in node_interfaces.values():
        for addr in iface.addresses:
            net = ipaddress.ip_interface(addr).network
            if net.version == via.version and via in net:
                return iface.name
    return None


def _check_route(exp, observed, labels, topo=None):
    state = observed.namespaces.get(exp.ns)
    if state is None or not state.present:
        return False, f"{_where(exp.ns)} is missing"
    route = exp.route
    if any(_route_matches(route, seen) for seen in state.routes):
        return True, "present"
    why = "missing"
    node = topo.nodes.get(exp.node) if topo else None
    dev = _route_device(node.interfaces, route) if node else route.dev
    link = state.links.get(dev) if dev else None
    if dev and link is None:
        why += f", and so is its interface {dev}"
    elif link is not None and not link.up:
        why += f" because {dev} is down (the kernel drops a device's routes with it)"
    elif link is not None and route.via:
        via = ipaddress.ip_address(route.via)
        if not any(via in ipaddress.ip_interface(a).network for a in link.addresses
                   if ipaddress.ip_interface(a).version == via.version):
            why += f" because no address on {dev} holds the gateway {route.via}"
    others = [s for s in state.routes if s.family == route.family and s.dst == route.to]
    if others:
        have = others[0]
        why += f" (the table has {have.dst}" + (f" via {have.gateway}" if have.gateway else "")
        why += f" dev {have.dev})" if have.dev else ")"
    return False, why


def _check_forwarding(exp, observed, labels):
    value = observed.sysctls.get((exp.ns, exp.key))
    if value is None:
        return False, f"{exp.key} cannot be read in {_where(exp.ns)}"
    if value != exp.want:
        return False, f"{exp.key} is {value}, expected {exp.want}"
    return True, "on" if exp.want == "1" else "off"


_CHECKERS = {"namespace": _check_namespace, "container": _check_container,
             "interface": _check_interface, "address": _check_address,
             "peer": _check_peer, "member": _check_member, "route": _check_route,
             "forwarding": _check_forwarding}


def evaluate(topo, observed, expects=None):
    """Each expected fact against the observed host: one Check each, in order."""
    labels = endpoint_labels(topo)
    checks = []
    for exp in expects if expects is not None else expected_state(topo):
        if exp.kind == "route":
            ok, reason = _check_route(exp, observed, labels, topo)
        else:
            ok, reason = _CHECKERS[exp.kind](exp, observed, labels)
        checks.append(Check(exp.kind, exp.subject, ok, reason))
    return checks


# --- who reaches whom: routing simulated over the topology ----------------------------------


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
                                            list(getattr(node, "nat", []) or []))
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
            if via is not None and getattr(route, "onlink", False):
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


class PingPlan(NamedTuple):
    reach: List[Path]  # pinged, must get a reply
    isolated: List[Path]  # pinged, must not
    reach_total: int  # how many pairs reach in all (more than len(reach) when capped)


def _round_robin(queues, limit):
    out = []
    queues = [list(q) for q in queues]
    while len(out) < limit and any(queues):
        for queue in queues:
            if queue and len(out) < limit:
                out.append(queue.pop(0))
    return out


def ping_plan(topo, sample=ISOLATION_SAMPLE, limit=MAX_REACH_PINGS):
    """Which pairs to ping: every pair that reaches (at most `limit`, spread over all
    sources and targets when there are more; None: no limit), and at most `sample` that
    must not, one per pair of nodes, sources in turn.

    None of the pairs that must not reach starts in the root namespace or crosses it (its
    own routes and forwarding, which Docker turns on, are not the topology's), comes from
    a node with no address at all, or aims at an address another node holds too.
    """
    paths = reachability(topo)
    reach = [p for p in paths if p.reaches]
    total = len(reach)
    if limit is not None and total > limit:
        by_source = {}
        for p in reach:
            by_source.setdefault(p.source, []).append(p)
        queues = [ps[i % len(ps):] + ps[:i % len(ps)]  # rotated, so targets vary too
                  for i, ps in enumerate(by_source.values())]
        reach = _round_robin(queues, limit)
    net = Network(topo)
    has_address = {name for name, _, _ in net.addresses()}
    holders = net.holders()
    candidates, seen_pairs = {}, set()
    for p in paths:
        if p.reaches or p.source == net.host or p.via_host or (p.source, p.target) in seen_pairs:
            continue
        if p.source not in has_address:
            continue  # a node with no address at all proves nothing by failing
        if len(holders[ipaddress.ip_address(p.address)]) > 1 or \
                p.answered_by not in (None, p.target):
            continue  # another node holds the address too, and may well answer
        seen_pairs.add((p.source, p.target))
        candidates.setdefault(p.source, []).append(p)
    return PingPlan(reach, _round_robin(candidates.values(), sample), total)


# --- observing the host ---------------------------------------------------------------------


def lab_namespaces(topo):
    """The namespaces a lab lives in; the root one always (bridge ports, host ends)."""
    out = [None]
    out += [n.namespace for n in topo.nodes.values() if n.namespace]
    out += [b.namespace for b in topo.bridges.values() if b.namespace]
    return list(dict.fromkeys(out))


def observe_lab(topo, machine, cli=None):
    """Observed state of everything the lab's expectations look at."""
    observed = Observed(namespaces=observe.host_state(machine, lab_namespaces(topo)))
    if any(n.kind == "docker" for n in topo.nodes.values()):
        if cli is not None:
            observed.containers = {c.name: c.status
                                   for c in dockerstate.lab_containers(cli, topo.name)}
    forwarding = _forwarding_keys(topo)
    for node in topo.nodes.values():
        keys = forwarding[node.name]
        if not keys:
            continue
        seen = observe.forwarding(machine, node.namespace)  # both families, one process
        for key, _ in keys:
            observed.sysctls[(node.namespace, key)] = seen[key] if key in seen else \
                observe.sysctl(machine, node.namespace, key)
    return observed


def _ping_check(path, should, reply):
    """A ping's Check: `reach` must get a reply, `isolated` must not."""
    subject = f"{path.source} -> {path.target} {path.address}"
    if should:
        reason = f"replied ({path.reason})" if reply.replied else \
            f"{reply.reason}; expected a reply along {path.reason}"
        return Check("reach", subject, reply.replied, reason)
    reason = (f"no reply, as the topology says: {path.reason}" if not reply.replied else
              f"replied, but the topology isolates them: {path.reason}")
    return Check("isolated", subject, not reply.replied, reason)


def run_pings(topo, machine, reach, isolated, deadline=pinger.PING_DEADLINE):
    """Ping every planned pair at once from its source's namespace on the machine: one
    Check per ping."""
    jobs = [(p, True) for p in reach] + [(p, False) for p in isolated]
    replies = machine.ping([(topo.nodes[p.source].namespace, p.address) for p, _ in jobs],
                           deadline)
    return [_ping_check(path, should, reply) for (path, should), reply in zip(jobs, replies)]


def verify_lab(topo, machine, cli=None, pings=True, sample=ISOLATION_SAMPLE,
               limit=MAX_REACH_PINGS):
    """Every check of a lab, its state then its reachability, and the ping plan (None
    without pings)."""
    checks = evaluate(topo, observe_lab(topo, machine, cli))
    plan = None
    if pings:
        plan = ping_plan(topo, sample, limit)
        checks += run_pings(topo, machine, plan.reach, plan.isolated)
    return checks, plan
