"""Labs for testing a change planned from a Part (netplay.plan.local): a lab of a few
namespaces on links and bridges, and one or two changes of it (hypothesis strategies)."""

import copy
import ipaddress

from hypothesis import strategies as st

SW = "nplsw"  # the switches' namespace


@st.composite
def labs(draw, docker=True):
    """Namespaces (one perhaps a container) in a chain of links and on bridges in a
    switch namespace and in the root namespace, with IPv4 and IPv6 addresses, routes
    through neighbours, MTUs, rates, forwarding and commands."""
    n = draw(st.integers(3, 7))
    names = [f"npl{i}" for i in range(n)]
    nodes = {name: {"interfaces": {}, "routes": []} for name in names}
    nodes[SW] = {"loopback": False}
    if docker and draw(st.booleans()):
        nodes[names[0]]["kind"] = "docker"
    bridges = {"b0": {"namespace": SW}, "b1": {"namespace": SW},
               "nplrb": {"addresses": ["10.90.0.254/24"]} if draw(st.booleans()) else {}}
    links = []
    for i in range(n - 1):  # a chain n0 - n1 - ...
        a, b = names[i], names[i + 1]
        v6 = draw(st.integers(0, 3)) == 0
        addr = (lambda h: f"fd{i:02x}::{h}/64") if v6 else (lambda h: f"10.80.{i}.{h}/24")
        ia = {"addresses": [addr(1)]}
        ib = {"addresses": [addr(2)]}
        if draw(st.integers(0, 4)) == 0:
            ia["mtu"] = 1400
        if draw(st.integers(0, 5)) == 0:
            ib["impair"] = {"rate": "8mbit"}
        nodes[a]["interfaces"][f"r{i}"] = ia
        nodes[b]["interfaces"][f"l{i}"] = ib
        links.append({"endpoints": [f"{a}:r{i}", f"{b}:l{i}"]})
        if not v6 and draw(st.booleans()):
            nodes[a]["routes"].append({"to": f"10.70.{i}.0/24", "via": f"10.80.{i}.2"})
            nodes[b]["forwarding"] = draw(st.booleans())
    for j, name in enumerate(names):  # each on a switch, and some on the root bridge
        bridge = f"b{j % 2}"
        nodes[name]["interfaces"]["s0"] = {"addresses": [f"10.{91 + j % 2}.0.{j + 1}/24"]}
        links.append({"endpoints": [f"{name}:s0", f"{bridge}:p{j}"]})
        if draw(st.integers(0, 2)) == 0:
            nodes[name]["interfaces"]["x0"] = {"addresses": [f"10.90.0.{j + 1}/24"]}
            links.append({"endpoints": [f"{name}:x0", f"nplrb:x{j}"]})
    if draw(st.integers(0, 3)) == 0:
        nodes[names[-1]]["exec"] = [["true"]]
    if draw(st.integers(0, 3)) == 0:
        nodes[names[1]]["role"] = "router"
    return {"name": "nploc", "ipv6_link_local": draw(st.booleans()), "nodes": nodes,
            "bridges": bridges, "links": links}


def _iface(lab, draw):
    owner = draw(st.sampled_from(sorted(n for n in lab["nodes"] if n != SW)))
    ifaces = lab["nodes"][owner]["interfaces"]
    return owner, ifaces[draw(st.sampled_from(sorted(ifaces)))]


def _address(lab, draw):
    _, iface = _iface(lab, draw)
    iface["addresses"] = [draw(st.sampled_from(["10.95.0.1/24", "fd95::1/64", "10.80.0.2/24"]))]


def _route(lab, draw):
    owner = draw(st.sampled_from(sorted(n for n in lab["nodes"] if n != SW)))
    routes = lab["nodes"][owner].setdefault("routes", [])
    if routes and draw(st.booleans()):
        routes.pop()
    else:
        routes.append({"to": "10.99.0.0/24", "via": draw(st.sampled_from(
            ["10.80.0.1", "10.80.0.2", "10.80.1.2", "10.91.0.1"]))})


def _add_host(lab, draw):
    lab["nodes"]["nplnew"] = {"interfaces": {"eth0": {"addresses": ["10.91.0.99/24"]}}}
    lab["links"].append({"endpoints": ["nplnew:eth0", f"{draw(st.sampled_from(['b0', 'b1', 'nplrb']))}:pnew"]})


def _remove_node(lab, draw):
    name = draw(st.sampled_from(sorted(n for n in lab["nodes"] if n != SW)))
    del lab["nodes"][name]
    lab["links"] = [l for l in lab["links"]
                    if not any(e.split(":")[0] == name for e in l["endpoints"])]
    for node in lab["nodes"].values():  # its neighbours' ends of those links go too
        for iface in list(node.get("interfaces", {})):
            if not any(e == f"{n}:{iface}" for l in lab["links"] for e in l["endpoints"]
                       for n in [e.split(":")[0]]):
                node["interfaces"].pop(iface)
        node["routes"] = []


def _remove_link(lab, draw):
    i = draw(st.integers(0, len(lab["links"]) - 1))
    gone = lab["links"].pop(i)
    for end in gone["endpoints"]:
        node, iface = end.split(":")
        if node in lab["nodes"]:
            lab["nodes"][node]["interfaces"].pop(iface, None)
            lab["nodes"][node]["routes"] = []


def _kind(lab, draw):
    owner = draw(st.sampled_from(sorted(n for n in lab["nodes"] if n != SW)))
    node = lab["nodes"][owner]
    node["kind"] = "netns" if node.get("kind") == "docker" else "docker"


def _mtu(lab, draw):
    _, iface = _iface(lab, draw)
    iface["mtu"] = draw(st.sampled_from([1300, 1400, None]))
    if iface["mtu"] is None:
        del iface["mtu"]


def _mac(lab, draw):
    _, iface = _iface(lab, draw)
    iface["mac"] = draw(st.sampled_from(["02:00:00:00:00:01", "02:00:00:00:00:02"]))


def _impair(lab, draw):
    _, iface = _iface(lab, draw)
    if iface.get("impair") and draw(st.booleans()):
        del iface["impair"]
    else:
        iface["impair"] = {"rate": draw(st.sampled_from(["8mbit", "16mbit"]))}


def _down(lab, draw):
    _, iface = _iface(lab, draw)
    iface["up"] = not iface.get("up", True)


def _forwarding(lab, draw):
    owner = draw(st.sampled_from(sorted(n for n in lab["nodes"] if n != SW)))
    lab["nodes"][owner]["forwarding"] = not lab["nodes"][owner].get("forwarding", False)


def _bridge(lab, draw):
    bridge = lab["bridges"][draw(st.sampled_from(sorted(lab["bridges"])))]
    what = draw(st.sampled_from(["up", "v6", "v4"]))
    if what == "up":
        bridge["up"] = not bridge.get("up", True)
    else:
        bridge["addresses"] = ["fd96::1/64" if what == "v6" else "10.96.0.1/24"]


def _exec(lab, draw):
    owner = draw(st.sampled_from(sorted(n for n in lab["nodes"] if n != SW)))
    lab["nodes"][owner]["exec"] = [["echo", draw(st.sampled_from(["a", "b"]))]]


def _link_mtu(lab, draw):
    link = lab["links"][draw(st.integers(0, len(lab["links"]) - 1))]
    link["mtu"] = draw(st.sampled_from([1280, 1450]))


CHANGES = [_address, _route, _add_host, _remove_node, _remove_link, _kind, _mtu, _mac,
           _impair, _down, _forwarding, _bridge, _exec, _link_mtu]
NETNS_CHANGES = [c for c in CHANGES if c is not _kind]  # for a lab without Docker


def changed_lab(lab, draw, changes=CHANGES):
    """lab with one or two changes drawn from changes."""
    out = copy.deepcopy(lab)
    for change in draw(st.lists(st.sampled_from(changes), min_size=1, max_size=2)):
        change(out, draw)
    return out


def routable(lab):
    """lab without the routes the kernel refuses: a gateway not on a subnet of an
    interface of the node that is up (a change may have set it down or moved it)."""
    for node in lab["nodes"].values():
        nets = [ipaddress.ip_interface(a).network for i in node.get("interfaces", {}).values()
                if i.get("up", True) for a in i.get("addresses", [])]
        node["routes"] = [r for r in node.get("routes", [])
                          if any(ipaddress.ip_address(r["via"]) in n for n in nets)]
    return lab
