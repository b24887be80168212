"""Which pairs verify pings (pure): every pair that reaches, capped and spread over all
sources, and a sample of pairs that must not reach."""

import ipaddress
from typing import List, NamedTuple

from netplay.check.routing import Network, Path, reachability

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
