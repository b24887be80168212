"""Which pairs verify pings (pure): every pair that reaches, capped and spread over all
sources, and a sample of pairs that must not reach; and which address `netplay ping`
sends to for a node's name (`resolve_targets`)."""

import ipaddress
from typing import List, NamedTuple

from netplay.check.routing import Network, Pairs, Path
from netplay.core.errors import InputError

ISOLATION_SAMPLE = 6  # pairs that must not reach, pinged to show they do not
MAX_REACH_PINGS = 2000  # pairs that reach, pinged at most (spread over every node)


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


def _spread(by_source, limit):
    """(source, pair) chosen as _round_robin chooses from each source's pairs rotated by the
    source's rank (so that targets vary too), without building the rotated lists: round r
    takes the r-th of each."""
    queues = list(by_source.items())
    out, r = [], 0
    while len(out) < limit and any(len(q) > r for _, q in queues):
        for i, (source, q) in enumerate(queues):
            if len(q) > r and len(out) < limit:
                out.append((source, q[(i % len(q) + r) % len(q)]))
        r += 1
    return out


def ping_plan(topo, sample=ISOLATION_SAMPLE, limit=MAX_REACH_PINGS):
    """Which pairs to ping: every pair that reaches (at most `limit`, spread over all
    sources and targets when there are more; None: no limit), and at most `sample` that
    must not, one per pair of nodes, sources in turn.

    None of the pairs that must not reach starts in the root namespace or crosses it (its
    own routes and forwarding, which Docker turns on, are not the topology's), comes from
    a node with no address at all, or aims at an address another node holds too.

    Which pairs reach is decided for all at once (routing.verdicts); the full Path, hops
    and reason, is simulated for the chosen pairs only.
    """
    pairs = Pairs(topo)
    net = pairs.net
    has_address = {name for name, _, _ in net.addresses()}
    holders = net.holders()
    shared = {str(ip) for ip, names in holders.items() if len(names) > 1}
    by_source, candidates, seen_pairs, total = {}, {}, set(), 0
    for source, reach, others in pairs.by_source():
        if reach:
            by_source[source] = reach
            total += len(reach)
        for v in others:
            if v.source == net.host or v.via_host or (v.source, v.target) in seen_pairs:
                continue
            if v.source not in has_address:
                continue  # a node with no address at all proves nothing by failing
            if v.address in shared or v.answered_by not in (None, v.target):
                continue  # another node holds the address too, and may well answer
            seen_pairs.add((v.source, v.target))
            queue = candidates.setdefault(v.source, [])
            if len(queue) < sample:  # round robin takes no more than sample from one
                queue.append(v)
    if limit is not None and total > limit:
        chosen = _spread(by_source, limit)
    else:
        chosen = [(source, pair) for source, ps in by_source.items() for pair in ps]
    isolated = _round_robin(candidates.values(), sample)
    return PingPlan([net.path(source, target, address) for source, (target, address) in chosen],
                    [net.path(v.source, v.target, v.address) for v in isolated], total)


class Target(NamedTuple):
    """One address `netplay ping` sends to: the node (or NODE:IFACE, or the address as
    given) a person named, and the address chosen for it."""

    label: str
    address: str


def _literal(spec):
    try:
        return ipaddress.ip_address(spec)
    except ValueError:
        return None


def resolve_targets(topo, source, spec, family=None):
    """The addresses `netplay ping` sends to from node source for spec: a node (one address
    per IP version both ends have, or of `family` (4 or 6) alone), NODE:IFACE (that
    interface's), or a literal address. Of a node's addresses, the first on a segment
    source is on too, else the first the topology's routing says source reaches, else the
    first. InputError (one line) for a node, interface or family that is not there."""
    if source not in topo.nodes:
        raise InputError(f"lab {topo.name!r} has no node {source!r}; its nodes are "
                         f"{', '.join(topo.nodes) or 'none'}")
    literal = _literal(spec)
    if literal is not None:
        if family and literal.version != family:
            raise InputError(f"{spec} is not an IPv{family} address; drop -{family}")
        return [Target(spec, str(literal))]
    net = Network(topo)
    node, _, ifname = spec.partition(":")
    held = _held(net, topo, node, ifname, spec)
    mine = {a.version for n, _, a in net.addresses() if n == source}
    versions = [family] if family else \
        [v for v in (4, 6) if any(a.version == v for _, a in held) and (v in mine or not mine)]
    out = []
    for version in versions:
        candidates = [(i, a) for i, a in held if a.version == version]
        if not candidates:
            raise InputError(f"{spec} has no IPv{version} address in lab {topo.name}"
                             + (f"; try -{10 - version}" if held else ""))
        out.append(Target(spec, _best(net, source, node, candidates)))
    if not out:
        raise InputError(f"{spec} has no address {source} shares an IP version with "
                         f"in lab {topo.name}")
    return out


def _held(net, topo, node, ifname, spec):
    """[(ifname, ip_interface)] of node's addresses (of ifname alone when given)."""
    if node not in topo.nodes:
        raise InputError(f"{spec!r}: lab {topo.name!r} has no node {node!r} and it is not "
                         f"an IP address; its nodes are {', '.join(topo.nodes) or 'none'}")
    held = [(i, a) for n, i, a in net.addresses() if n == node]
    if ifname:
        names = list(net.stacks[node].ifaces)
        if ifname not in names:
            raise InputError(f"{spec!r}: node {node} has no interface {ifname!r}; its "
                             f"interfaces are {', '.join(names) or 'none'}")
        held = [(i, a) for i, a in held if i == ifname]
    if not held:
        raise InputError(f"{spec!r}: it has no address in lab {topo.name}")
    return held


def _best(net, source, target, candidates):
    """The address of target source reaches most plainly: on a shared segment, else by the
    topology's routes, else the first."""
    stack = net.stacks[source]
    shared = {net.segments.find(stack.ends[i]) for i in stack.ifaces}
    tstack = net.stacks[target]
    for ifname, addr in candidates:
        if net.segments.find(tstack.ends[ifname]) in shared:
            return str(addr.ip)
    for _, addr in candidates:
        if net.path(source, target, str(addr.ip)).reaches:
            return str(addr.ip)
    return str(candidates[0][1].ip)
