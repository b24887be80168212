"""A topology from the normalized form that netplay itself wrote, built without checking it
again.

A running lab's topology is in its log in the state directory (netplay.run.log), put
there by netplay in the form netplay.model.serialize writes, after
netplay.model.validate.from_dict had checked it. The state directory is root's, and
`netplay down` runs that log's commands as they are: the form is as trusted as they are.
Checking it again took 22 ms of every `netplay apply` to a lab of 1000 nodes, where
building its objects takes 9.

from_form builds the Topology that from_dict builds from such a form (tests/test_form.py
holds it to that, for generated and built-in topologies). What it does not know, it
leaves to from_dict, which checks it and says what is wrong in one line: a lab on several
hosts (loading one places its nodes and works out its tunnels' MTUs), or data that is not
as serialize writes it. Its caller (netplay.lab.apply.current) gives it a form only
while the log's LOG.end says the file is as netplay wrote it: a log edited by hand is
checked. Logs from elsewhere are never read here: `replay` and `export` check them whole
(netplay.run.logcheck)."""

from typing import Any, Dict

from netplay.model.impairment import Impairment
from netplay.model.topology import (Bridge, Endpoint, Interface, Link, Node, Route, Topology,
                                    Tunnel)
from netplay.model.validate import TOP_KEYS, from_dict, gc_paused

Form = Dict[str, Any]

# the keys serialize.to_dict writes for a lab on one machine
_TOP = frozenset(TOP_KEYS) - {"hosts", "placement"}


def from_form(form: Any, source: str) -> Topology:
    """The Topology of a form netplay wrote (a lab's log's); from_dict's, checked, for
    anything else."""
    if not isinstance(form, dict) or not form.keys() <= _TOP:
        return from_dict(form, source)
    try:
        with gc_paused():
            return _topology(form)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return from_dict(form, source)  # not as netplay writes it


def _topology(form: Form) -> Topology:
    topo = Topology(form["name"], image=form["image"],
                    description=form.get("description", ""),
                    ipv6_link_local=form.get("ipv6_link_local", True),
                    etc_hosts=form.get("etc_hosts", False), prefix=form.get("prefix", ""))
    vxlan = form.get("vxlan", {})
    if vxlan:
        topo.vxlan_port = vxlan.get("port", topo.vxlan_port)
        topo.vni_base = vxlan.get("vni_base")
    topo.nodes = {name: _node(name, raw) for name, raw in form["nodes"].items()}
    topo.bridges = {name: _bridge(name, raw) for name, raw in form.get("bridges", {}).items()}
    topo.links = [_link(raw) for raw in form["links"]]
    for link in topo.links:  # a bridge's ports are its links' ends, in the links' order
        for end in (link.a, link.b):
            if end.node in topo.bridges:
                topo.bridges[end.node].interfaces[end.iface] = Interface(end.iface)
    for name, raw in form.get("bridges", {}).items():
        for port, praw in raw.get("ports", {}).items():
            topo.bridges[name].interfaces[port].impair = Impairment(**praw["impair"])
    return topo  # (an end's impairment in the form has its link's merged in already)


def _interface(name: str, raw: Form) -> Interface:
    iface = Interface(name, list(raw.get("addresses", ())), raw["up"], raw.get("mac"),
                      raw.get("mtu"), raw.get("kind", "veth"))
    if "impair" in raw:
        iface.impair = Impairment(**raw["impair"])
    if "vxlan" in raw:
        tunnel = raw["vxlan"]
        iface.tunnel = Tunnel(tunnel["id"], tunnel["remote"], tunnel["port"])
    return iface


def _node(name: str, raw: Form) -> Node:
    node = Node(name, raw["kind"])
    node.interfaces = {i: _interface(i, iraw) for i, iraw in raw.get("interfaces", {}).items()}
    node.routes = [Route(r["to"], r.get("via"), r.get("dev"), r.get("onlink", False))
                   for r in raw.get("routes", ())]
    node.role = raw.get("role")
    node.forwarding = raw.get("forwarding", False)
    node.host = raw.get("host")
    node.weight = raw.get("weight", 1)
    node.nat = list(raw["nat"]["masquerade"]) if "nat" in raw else []
    node.loopback = raw.get("loopback", True)
    node.image = raw.get("image")
    node.cmd = list(raw["cmd"]) if "cmd" in raw else None
    node.dns = list(raw.get("dns", ()))
    node.env = dict(raw.get("env", {}))
    node.exec = [list(argv) for argv in raw.get("exec", ())]
    node.binds = list(raw.get("binds", ()))
    return node


def _bridge(name: str, raw: Form) -> Bridge:
    return Bridge(name, raw.get("namespace"), up=raw.get("up", True),
                  addresses=list(raw.get("addresses", ())),
                  subnets=list(raw.get("subnet", ())), host=raw.get("host"))


def _link(raw: Form) -> Link:
    a, b = (Endpoint(*end.split(":")) for end in raw["endpoints"])
    link = Link(a, b, raw.get("mtu"), subnets=list(raw.get("subnet", ())))
    if "impair" in raw:
        link.impair = Impairment(**raw["impair"])
    return link
