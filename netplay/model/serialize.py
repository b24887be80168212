"""A Topology's normalized form: every default filled in, plain data that the step log
stores and that netplay.model.validate.from_dict loads back unchanged."""

from typing import TYPE_CHECKING, AbstractSet, Any, Dict, Tuple

from netplay.core.consts import UNDERLAY_MTU, VXLAN_PORT

if TYPE_CHECKING:  # for annotations only: Topology.to_dict calls to_dict
    from netplay.model.topology import Bridge, Host, Interface, Link, Node, Topology


def _iface_dict(iface: "Interface") -> Dict[str, Any]:
    out: Dict[str, Any] = {"up": iface.up}
    if iface.addresses:
        out["addresses"] = list(iface.addresses)
    for key in ("mac", "mtu"):
        if getattr(iface, key) is not None:
            out[key] = getattr(iface, key)
    if iface.kind != "veth":
        out["kind"] = iface.kind
    if iface.impair:
        out["impair"] = iface.impair.to_dict()
    if iface.tunnel:
        out["vxlan"] = {"id": iface.tunnel.vni, "remote": iface.tunnel.remote,
                        "port": iface.tunnel.port}
    return out


def _node_dict(node: "Node") -> Dict[str, Any]:
    out: Dict[str, Any] = {"kind": node.kind}
    if node.interfaces:
        out["interfaces"] = {i.name: _iface_dict(i) for i in node.interfaces.values()}
    if node.routes:
        out["routes"] = [{k: v for k, v in vars(r).items() if v is not None and v is not False}
                         for r in node.routes]
    if node.role:
        out["role"] = node.role
    if node.forwarding:
        out["forwarding"] = True
    if node.host is not None:
        out["host"] = node.host
    if node.weight != 1:
        out["weight"] = node.weight
    if node.nat:
        out["nat"] = {"masquerade": list(node.nat)}
    if not node.loopback:
        out["loopback"] = False
    for key in ("image", "cmd", "dns", "env", "exec", "binds"):
        if getattr(node, key):
            out[key] = getattr(node, key)
    return out


def _bridge_dict(bridge: "Bridge") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    if bridge.namespace:
        out["namespace"] = bridge.namespace
    if bridge.host is not None and not bridge.namespace:
        out["host"] = bridge.host
    if not bridge.up:
        out["up"] = False
    if bridge.addresses:
        out["addresses"] = list(bridge.addresses)
    if bridge.subnets:
        out["subnet"] = list(bridge.subnets)
    ports = {p.name: {"impair": p.impair.to_dict()} for p in bridge.interfaces.values()
             if p.impair}
    if ports:
        out["ports"] = ports
    return out


def host_to_dict(host: "Host") -> Dict[str, Any]:
    out: Dict[str, Any] = {"ssh": host.ssh}
    if host.address is not None:
        out["address"] = host.address
    if host.sudo:
        out["sudo"] = True
    if host.mtu != UNDERLAY_MTU:
        out["mtu"] = host.mtu
    return out


def _link_dict(link: "Link") -> Dict[str, Any]:
    out: Dict[str, Any] = {"endpoints": [str(link.a), str(link.b)]}
    if link.mtu is not None:
        out["mtu"] = link.mtu
    if link.impair:
        out["impair"] = link.impair.to_dict()
    if link.subnets:
        out["subnet"] = list(link.subnets)
    return out


def to_dict(topo: "Topology") -> Dict[str, Any]:
    """The normalized topology: every default filled in, loadable by from_dict."""
    out: Dict[str, Any] = {"name": topo.name}
    if topo.prefix:  # only a prefixed lab's: every other topology's form is as it was
        out["prefix"] = topo.prefix
    if topo.description:
        out["description"] = topo.description
    out["image"] = topo.image
    if not topo.ipv6_link_local:
        out["ipv6_link_local"] = False
    if topo.etc_hosts:
        out["etc_hosts"] = True
    if topo.hosts:  # placed: the normalized form pins every node's host
        out["hosts"] = {h.name: host_to_dict(h) for h in topo.hosts.values()}
    vxlan = {k: v for k, v in (("port", topo.vxlan_port), ("vni_base", topo.vni_base))
             if v is not None and (k != "port" or v != VXLAN_PORT)}
    if vxlan:
        out["vxlan"] = vxlan
    out["nodes"] = {n.name: _node_dict(n) for n in topo.nodes.values()}
    if topo.bridges:
        out["bridges"] = {b.name: _bridge_dict(b) for b in topo.bridges.values()}
    out["links"] = [_link_dict(link) for link in topo.links]
    return out


def objects_dict(topo: "Topology", nodes: AbstractSet[str], bridges: AbstractSet[str],
                 links: AbstractSet[Tuple[str, str]]) -> Dict[str, Any]:
    """Some of topo's objects as to_dict writes them, in its order: nodes and bridges by
    name, links by their ends ("h1:eth0", "s1:s1-eth1"). A small change of a big lab is
    told from the objects it touches (netplay.plan.local), not from two whole forms."""
    return {"name": topo.name,
            "nodes": {n.name: _node_dict(n) for n in topo.nodes.values() if n.name in nodes},
            "bridges": {b.name: _bridge_dict(b) for b in topo.bridges.values()
                        if b.name in bridges},
            "links": [_link_dict(link) for link in topo.links
                      if (str(link.a), str(link.b)) in links]}
