"""verify's pairs judged all at once (netplay.check.routing.Pairs) say what the hop-by-hop
simulation (Network.path) says of every pair, and the ping plan drawn from them is the one
drawn from every pair's full Path; on random topologies (hypothesis) and the built-ins.
Pure: no root."""

import ipaddress
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from netplay.check import pingplan, routing
from netplay.core.errors import InputError
from netplay.load import builtins
from netplay.model.validate import from_dict


def old_plan(topo, sample, limit):
    """ping_plan as it was: every pair's full Path first, then the choice."""
    paths = routing.reachability(topo)
    reach = [p for p in paths if p.reaches]
    total = len(reach)
    if limit is not None and total > limit:
        by_source = {}
        for p in reach:
            by_source.setdefault(p.source, []).append(p)
        queues = [ps[i % len(ps):] + ps[:i % len(ps)] for i, ps in enumerate(by_source.values())]
        reach = pingplan._round_robin(queues, limit)
    net = routing.Network(topo)
    has_address = {name for name, _, _ in net.addresses()}
    holders = net.holders()
    candidates, seen_pairs = {}, set()
    for p in paths:
        if p.reaches or p.source == net.host or p.via_host or (p.source, p.target) in seen_pairs:
            continue
        if p.source not in has_address:
            continue
        if len(holders[ipaddress.ip_address(p.address)]) > 1 or \
                p.answered_by not in (None, p.target):
            continue
        seen_pairs.add((p.source, p.target))
        candidates.setdefault(p.source, []).append(p)
    return reach, pingplan._round_robin(candidates.values(), sample), total


def assert_same(topo):
    old = [(p.source, p.target, p.address, p.reaches, p.via_host, p.answered_by)
           for p in routing.reachability(topo)]
    assert [tuple(v) for v in routing.verdicts(topo)] == old
    for sample, limit in ((6, 5), (20, None), (3, 1000)):
        new = pingplan.ping_plan(topo, sample, limit)
        assert (new.reach, new.isolated, new.reach_total) == old_plan(topo, sample, limit)


# --- random topologies ----------------------------------------------------------------------


@st.composite
def topologies(draw):
    """Nodes joined by veth pairs and perhaps a bridge, each segment on one of a few
    subnets (so that subnets repeat: twins, overlaps), now and then a /32 or a /16 address,
    an interface or the bridge down; routes to those subnets or default through a
    neighbour (or an address nobody holds), by device, onlink; forwarding, masquerading,
    the host's root namespace. Often nothing routes, sometimes packets loop."""
    n = draw(st.integers(2, 6))
    segments = [draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
                for _ in range(draw(st.integers(1, n + 2)))]
    segments += [[i, (i + 1) % n] for i in range(n) if not any(i in m for m in segments)]
    bridged = draw(st.lists(st.integers(0, n - 1), max_size=3, unique=True))
    if bridged:
        segments.append(bridged)
    ifaces = {i: {} for i in range(n)}
    subnets = {}  # node -> [(v4 subnet, v6 subnet or None)]
    links = []
    for k, members in enumerate(segments):
        s4, six = draw(st.integers(0, 2)), draw(st.booleans())
        ends = []
        for h, i in enumerate(members, 1):
            name = f"n{i}e{len(ifaces[i])}"  # unique: names in the root namespace are global
            plen = draw(st.sampled_from([24, 24, 24, 32, 16]))
            addresses = [f"10.0.{s4}.{h}/{plen}"] + ([f"fd00:{s4}::{h}/64"] if six else [])
            ifaces[i][name] = {"addresses": addresses, "up": draw(st.integers(0, 5)) > 0}
            subnets.setdefault(i, []).append((s4, six, name))
            ends.append(f"n{i}:{name}")
        if k == len(segments) - 1 and bridged:
            links += [{"endpoints": [end, "br0"]} for end in ends]
        else:
            links.append({"endpoints": ends})
    nodes = {}
    for i in range(n):
        routes = []
        for _ in range(draw(st.integers(0, 3))):
            s4, six, dev = draw(st.sampled_from(subnets[i]))
            v6 = six and draw(st.booleans())
            host = draw(st.integers(1, 3))
            via = f"fd00:{s4}::{host}" if v6 else f"10.0.{s4}.{host}"
            to = draw(st.sampled_from(["default", "0", "1", "2"]))
            if to != "default":
                to = f"fd00:{to}::/64" if v6 else f"10.0.{to}.0/24"
            route = {"to": to, "via": via}
            if draw(st.booleans()):
                route["dev"] = dev
                route["onlink"] = draw(st.booleans())
            routes.append(route)
        node = {"interfaces": ifaces[i], "routes": routes}
        kind = draw(st.integers(0, 5))
        if i == 0 and kind == 0:
            node["kind"] = "host"
        elif kind == 1:
            node["role"] = "router"
            node["nat"] = {"masquerade": draw(st.sampled_from(sorted(ifaces[i])))}
        else:
            node["forwarding"] = kind > 1
        nodes[f"n{i}"] = node
    bridges = {"br0": {"up": draw(st.integers(0, 5)) > 0}} if bridged else {}
    return {"name": "rand", "nodes": nodes, "bridges": bridges, "links": links}


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(topologies())
def test_pairs_at_once_say_what_every_path_says(data):
    try:
        topo = from_dict(data, source="random")
    except InputError:
        assume(False)
    assert_same(topo)


@pytest.mark.parametrize("name", ["home", "levels", "playground", "linear:12", "tree:2,3",
                                  "leafspine:2,3,2"])
def test_pairs_at_once_agree_on_the_builtins(name):
    assert_same(builtins.load(name))


def test_the_plan_of_a_thousand_hosts_takes_seconds_not_minutes():
    # every pair's full Path made this about 30 s (and it grows as N^2 paths of
    # ipaddress work); judged at once it is a few seconds even on a busy machine
    topo = builtins.load("linear:1000")
    start = time.process_time()
    plan = pingplan.ping_plan(topo, limit=341)
    assert time.process_time() - start < 12
    assert plan.reach_total == 1000 * 999 and len(plan.reach) == 341
    assert len({p.source for p in plan.reach}) == 341  # one per source, spread
