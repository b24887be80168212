"""netplay.plan.local: a change planned from the objects it touches is the whole diff's.

Pure (no root). hypothesis draws a lab and one change of it (an address, a route, a link
added or removed, a node made a container, an MTU, an impairment, forwarding, a bridge
set down, ...), and random pairs of small labs (test_apply's); for each, the change
planned from a Part must be, command for command and in order, what diff() of the two
whole plans gives: the same commands taken back (each from the same old step), the same
commands brought, the same objects made again and removed.
"""

import copy
import dataclasses
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from netplay.core.errors import InputError
from netplay.load.resolve import resolve
from netplay.model.validate import from_dict
from netplay.plan import local
from netplay.model.topology import Topology
from netplay.plan.build import Part, link_key, pid_vars, plan
from netplay.plan.changes import changes
from netplay.plan.diff import diff, key

from labgen import CHANGES, changed_lab, labs
from test_apply import topologies


def whole(a, b):
    old_steps = plan(a)
    return old_steps, diff(old_steps, plan(b))


def shown(old_steps, delta):
    return {"back": [(key(s), s.phase) for s in delta.back],
            "from": [key(old_steps[i]) for i in delta.back_from],
            "forward": [(key(s), s.phase) for s in delta.forward],
            "remade": delta.remade, "removed": delta.removed}


def by_objects(old, new):
    """changed() as it was before it compared normalized forms: the seed from the objects
    themselves (dataclass equality), the oracle that the forms' seed must equal."""
    if old.hosts or new.hosts or old.etc_hosts or new.etc_hosts:
        return None
    if any(getattr(old, f.name) != getattr(new, f.name)
           for f in dataclasses.fields(Topology) if f.name not in local.WHOLE):
        return None
    differ = local._differ
    nodes = differ(old.nodes, new.nodes)
    old_pids, new_pids = pid_vars(old), pid_vars(new)
    nodes |= {n for n in old_pids.keys() | new_pids.keys() if old_pids.get(n) != new_pids.get(n)}
    nodes |= local._gateway_owners(old, new)
    bridges = differ(old.bridges, new.bridges)
    old_links, new_links = ({link_key(k): k for k in t.links} for t in (old, new))
    links = differ(old_links, new_links)
    for topo in (old, new):
        nodes |= {ns for ns in (topo.bridges[b].namespace for b in bridges
                                if b in topo.bridges) if ns}
    ends = nodes | bridges
    for topo in (old, new):
        links |= {link_key(link) for link in topo.links
                  if link.a.node in ends or link.b.node in ends}
    for topo, by_key in ((old, old_links), (new, new_links)):
        for k in links & by_key.keys():
            for end in (by_key[k].a, by_key[k].b):
                (bridges if topo.is_bridge(end.node) else nodes).add(end.node)
    return Part(frozenset(nodes), frozenset(bridges), frozenset(links))


def check_same(a, b):
    """The local change of a to b, if there is one, is the whole diff's, and its +/~/-
    lines those of the whole topologies; True if local. Its Part starts as the objects'
    own comparison would start it, from the forms to_dict gives and from the forms a log
    holds (loaded again)."""
    part = by_objects(a, b)
    assert local.changed(a, b) == part
    form = json.loads(json.dumps(a.to_dict()))  # as a log holds it
    logged = from_dict(copy.deepcopy(form), source="log")
    assert local.changed(logged, b, (form, b.to_dict())) == part
    found = local.change(a, b, max_share=1.0)
    if found is None:
        return False
    old_steps, delta = whole(a, b)
    assert shown(found.old_steps, found.delta) == shown(old_steps, delta)
    assert local.found(a, b, found) == changes(a.to_dict(), b.to_dict(), delta.remade)
    return True


def build(raw):
    try:
        return from_dict(copy.deepcopy(raw), source="test")
    except InputError:
        assume(False)


# --- a lab, and one change of it ---------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.filter_too_much])
@given(lab=labs(), data=st.data())
def test_one_change_of_a_lab_planned_locally_is_the_whole_diff(lab, data):
    a, b = build(lab), build(changed_lab(lab, data.draw))
    check_same(a, b)
    check_same(b, a)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=topologies(), b=topologies())
def test_random_pairs_planned_locally_are_the_whole_diff(a, b):
    check_same(build(a), build(b))


# --- when it is local, and when not ------------------------------------------------------

def linear(n=50, **h1):
    raw = resolve(f"linear:{n}").to_dict()
    raw["nodes"]["h1"]["interfaces"]["eth0"].update(h1)
    return raw


def test_an_address_of_a_big_lab_is_planned_from_its_node_and_link():
    a, b = build(linear()), build(linear(addresses=["10.250.0.1/8"]))
    part = local.changed(a, b)
    assert part == Part(frozenset({"h1"}), frozenset({"s1"}),
                        frozenset({("h1:eth0", "s1:s1-eth1")}))
    assert check_same(a, b)
    old_steps, delta, _ = local.change(a, b)
    assert len(old_steps) < 30
    assert [s.shell() for s in delta.steps] == [
        "ip -n h1 addr del 10.0.0.1/8 dev eth0", "ip -n h1 addr add 10.250.0.1/8 brd + dev eth0"]


def test_a_host_added_to_a_big_lab_is_planned_locally():
    raw = linear()
    bigger = copy.deepcopy(raw)
    bigger["nodes"]["h51"] = {"interfaces": {"eth0": {"addresses": ["10.250.0.2/8"]}}}
    bigger["links"].append({"endpoints": ["h51:eth0", "s50:s50-eth9"]})
    assert check_same(build(raw), build(bigger))
    assert check_same(build(bigger), build(raw))  # and removed


def test_the_switch_namespace_made_again_is_planned_whole():
    raw = linear(20)
    changed = copy.deepcopy(raw)
    changed["nodes"]["switches"]["kind"] = "docker"  # every bridge and port goes with it
    assert local.change(build(raw), build(changed)) is None


@pytest.mark.parametrize("field,value", [("image", "debian"), ("ipv6_link_local", True),
                                         ("etc_hosts", True), ("description", "other")])
def test_a_change_of_the_lab_s_own_settings_is_planned_whole(field, value):
    raw = linear(10)
    changed = dict(copy.deepcopy(raw), **{field: value})
    assert local.changed(build(raw), build(changed)) is None


def test_an_unchanged_lab_is_planned_whole():  # for drift, which reads the whole plan
    a = build(linear(10))
    assert local.change(a, build(linear(10))) is None


def test_a_gateway_s_owner_is_part_of_the_change():
    raw = linear(10)
    changed = copy.deepcopy(raw)
    changed["nodes"]["h2"]["routes"] = [{"to": "10.99.0.0/24", "via": "10.0.0.3"}]
    part = local.changed(build(raw), build(changed))
    assert {"h2", "h3"} <= set(part.nodes)  # h3's forwarding settings read the gateway
