"""A change of a few objects of a big lab, planned from those objects alone. Pure.

diff() compares two whole plans: at 1000 nodes, planning both topologies and matching
their 40,000 steps takes a tenth of a second or more, for a change of one address. Almost
every step belongs to one node, bridge or link, and build.plan(topo, part) plans only the
steps of a Part. So a change is planned here from a Part of both topologies:

1. the objects that differ, and the objects whose steps read them (a node's links read its
   interfaces; a node's settings read the bridges in its namespace and the lab's gateways);
2. widened, until it holds every step the change's commands reach: for each object the
   change deletes, every step that names it; for each namespace it acts in or puts routes
   back in, the node that owns it (the routes are the node's); for each device it sets
   down, the steps that give it addresses.

The steps outside the Part are then the same in both plans, and nothing of the change
stands on them, so the whole diff would keep every one of them: the change is the whole
diff's, command for command (tests/test_local.py holds it to that for generated pairs).
What may reach further is planned whole: a change of the lab's own settings, a lab with
hosts files (each lists every node) or on several hosts, and a change whose Part grows
past a quarter of the lab (and past MIN_LIMIT objects).
"""

from dataclasses import fields
from typing import (Any, Dict, FrozenSet, Iterable, List, Mapping, NamedTuple, Optional, Set,
                    Tuple, TypeVar)

from netplay.core import cidr
from netplay.model.serialize import objects_dict
from netplay.model.topology import Topology
from netplay.plan.build import LinkKey, Part, end_node, link_key, plan, pid_vars
from netplay.plan.changes import Change, changes
from netplay.plan.diff import Delta, diff
from netplay.plan.objects import CTR, NS
from netplay.plan.steps import Step

WHOLE = ("nodes", "bridges", "links")  # a topology's objects; its other fields are the lab's
MAX_SHARE = 0.25  # of the lab's objects: past it, planning the whole is as quick
MIN_LIMIT = 64  # objects a Part may always have: a small lab's changes are planned here
# too (as quick either way), so that every test of apply on a small lab tries this path
MAX_ROUNDS = 8


class Local(NamedTuple):
    """A change planned from a Part: the old plan's steps of the Part, the diff, the Part."""

    old_steps: List[Step]
    delta: Delta
    part: Part


Form = Dict[str, Any]  # a topology's normalized form (Topology.to_dict)


def change(old: Topology, new: Topology, max_share: float = MAX_SHARE,
           forms: Optional[Tuple[Form, Form]] = None) -> Optional[Local]:
    """The change from old to new when a Part of at most max_share of the lab's objects
    plans it; None when it must be planned whole (or nothing changed). forms: their
    normalized forms, when at hand (see changed)."""
    part = changed(old, new, forms)
    if part is None or not part:
        return None
    owners = [Owners(old), Owners(new)]
    limit = max(MIN_LIMIT, max_share * max(len(t.nodes) + len(t.bridges) + len(t.links)
                                           for t in (old, new)))
    for _ in range(MAX_ROUNDS):
        if len(part) > limit:
            return None
        old_steps = plan(old, part)
        delta = diff(old_steps, plan(new, part))
        wider = part | reached(delta, owners)
        if len(wider) == len(part):
            return Local(old_steps, delta, part)
        part = wider
    return None


def changed(old: Topology, new: Topology, forms: Optional[Tuple[Form, Form]] = None
            ) -> Optional[Part]:
    """The objects whose steps may differ between old's plan and new's; None when the lab's
    own settings differ, or it writes hosts files or spans hosts. The objects are compared
    by their normalized forms (forms, or to_dict's): plain data compared in C, where
    4000 dataclasses of a 1000-node lab took 10 ms to compare. A form leaves out only a
    bridge's ports, which links make: a link in one topology alone adds its bridges."""
    if old.hosts or new.hosts or old.etc_hosts or new.etc_hosts:
        return None
    if any(getattr(old, f.name) != getattr(new, f.name)
           for f in fields(Topology) if f.name not in WHOLE):
        return None
    old_form, new_form = forms or (old.to_dict(), new.to_dict())
    nodes = _differ(old_form["nodes"], new_form["nodes"])
    old_pids, new_pids = pid_vars(old), pid_vars(new)
    nodes |= {n for n in old_pids.keys() | new_pids.keys() if old_pids.get(n) != new_pids.get(n)}
    nodes |= _gateway_owners(old, new)
    bridges = _differ(old_form.get("bridges") or {}, new_form.get("bridges") or {})
    old_links, new_links = _links(old_form), _links(new_form)
    links = _differ(old_links, new_links)
    for topo, by_key, other in ((old, old_links, new_links), (new, new_links, old_links)):
        bridges |= {end_node(end) for k in by_key.keys() - other.keys() for end in k
                    if topo.is_bridge(end_node(end))}  # its ports came or went
    for topo in (old, new):  # a node's settings read the bridges in it (IPv6, forwarding)
        nodes |= {ns for ns in (topo.bridges[b].namespace for b in bridges
                                if b in topo.bridges) if ns}
    ends = nodes | bridges  # a link's steps read its ends' interfaces and namespaces
    for topo, by_key in ((old, old_links), (new, new_links)):
        links |= {by_key.keys_of[i] for i, link in enumerate(topo.links)
                  if link.a.node in ends or link.b.node in ends}
    # and an end's impairment reads its link's MTU
    for topo, by_key in ((old, old_links), (new, new_links)):
        for k in links & by_key.keys():
            for end in k:
                node = end_node(end)
                (bridges if topo.is_bridge(node) else nodes).add(node)
    return Part(frozenset(nodes), frozenset(bridges), frozenset(links))


def found(old: Topology, new: Topology, planned: Local) -> List[Change]:
    """changes() of a local change, from the Part's objects alone: every object that
    differs is in it (changed() starts from them; the lab's own settings are the same),
    and so is every object the diff makes again (its steps are the Part's)."""
    part = planned.part
    return changes(objects_dict(old, part.nodes, part.bridges, part.links),
                   objects_dict(new, part.nodes, part.bridges, part.links),
                   planned.delta.remade)


K = TypeVar("K")


def _differ(old: Mapping[K, Any], new: Mapping[K, Any]) -> Set[K]:
    """The keys whose values differ (or are in one only)."""
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


class _Links(Dict[LinkKey, Form]):
    """A topology's links' forms by key (link_key's), and the keys in its order."""

    keys_of: List[LinkKey]


def _links(form: Form) -> _Links:
    out = _Links()
    out.keys_of = [(link["endpoints"][0], link["endpoints"][1]) for link in form["links"]]
    out.update(zip(out.keys_of, form["links"]))
    return out


def _gateway_owners(old: Topology, new: Topology) -> Set[str]:
    """The nodes whose forwarding settings (build.forwarding_off) may differ because a
    gateway of the lab's routes came or went: those with that address."""
    gone = _gateways(old) ^ _gateways(new)
    if not gone:
        return set()
    return {node.name for topo in (old, new) for node in topo.nodes.values()
            if any(cidr.interface(a)[:2] in gone
                   for i in node.interfaces.values() for a in i.addresses)}


def _gateways(topo: Topology) -> Set[Tuple[int, int]]:
    return {cidr.address(r.via) for n in topo.nodes.values() for r in n.routes if r.via}


class Owners:
    """Which nodes, bridges and links of a topology have steps in each namespace, and on
    each device (by namespace and name). Indexed when first asked: a change of an address
    asks only for the node of a namespace."""

    def __init__(self, topo: Topology) -> None:
        self.topo = topo
        self._root: Optional[FrozenSet[str]] = None
        self._indexed = False
        self.bridges: Dict[Optional[str], Set[str]] = {}
        self.links: Dict[Optional[str], Set[LinkKey]] = {}
        self.device_bridges: Dict[Tuple[Optional[str], str], Set[str]] = {}
        self.device_links: Dict[Tuple[Optional[str], str], Set[LinkKey]] = {}

    def node_of(self, ns: Optional[str]) -> Part:
        """The node whose namespace ns is (None: the root namespace's host nodes)."""
        if ns is None:
            if self._root is None:
                self._root = frozenset(n.name for n in self.topo.nodes.values()
                                       if n.namespace is None)
            return Part(nodes=self._root)
        node = self.topo.nodes.get(ns)
        return Part(nodes=frozenset([ns] if node and node.namespace == ns else []))

    def of_namespace(self, ns: Optional[str]) -> Part:
        self._index()
        return Part(self.node_of(ns).nodes, frozenset(self.bridges.get(ns, ())),
                    frozenset(self.links.get(ns, ())))

    def of_device(self, ns: Optional[str], name: str) -> Part:
        self._index()
        return Part(self.node_of(ns).nodes, frozenset(self.device_bridges.get((ns, name), ())),
                    frozenset(self.device_links.get((ns, name), ())))

    def _index(self) -> None:
        if self._indexed:
            return
        self._indexed = True
        topo = self.topo
        for bridge in topo.bridges.values():
            self.bridges.setdefault(bridge.namespace, set()).add(bridge.name)
            for dev in [bridge.name, *bridge.interfaces]:
                self.device_bridges.setdefault((bridge.namespace, dev), set()).add(bridge.name)
        for link in topo.links:
            k = link_key(link)
            for end in (link.a, link.b):
                ns = topo.namespace_of(end.node)
                self.links.setdefault(ns, set()).add(k)
                self.device_links.setdefault((ns, end.iface), set()).add(k)
                if topo.is_bridge(end.node):  # a port stands on its bridge
                    self.device_links.setdefault((ns, end.node), set()).add(k)


def reached(delta: Delta, owners: Iterable[Owners]) -> Part:
    """The objects with steps the change's commands reach (see the module's text)."""
    out = Part()
    for o in owners:
        for obj in delta.lost:
            if obj.kind == NS:
                out |= o.of_namespace(obj.name)
            elif obj.kind == CTR:
                out |= Part(nodes=frozenset([obj.name]))
            else:
                out |= o.of_device(obj.ns, obj.name)
        for _, ns in delta.touched | delta.spaces:
            out |= o.node_of(ns)
        for dev in delta.downed:
            out |= o.of_device(dev.ns, dev.name)
    return out
