"""Generated topologies, run by name with parameters: `linear:5`, `tree:2,3`, `leafspine:2,4,2`.

Each generator returns plain topology data (what a YAML file would hold), validated by
netplay.model.validate.from_dict like any file, so a generated lab is planned, logged,
replayed and exported exactly as a written one.

linear and tree have Mininet's shapes (`mn --topo linear,N` and `--topo tree,D,F`): hosts
h1..hN with Mininet's default addresses 10.0.0.i/8, switches s1..sM as Linux bridges with
Mininet's port names (s2-eth1, ...). The bridges all live inside one extra namespace node,
`switches`: a lab namespace is torn down at once by the kernel (measured for linear:100: 0.03 s,
against 5.8 s for root-namespace bridges), and its frames never meet the host's firewall.
All addresses are inside the lab's namespaces, so 10.0.0.0/8 never touches the host's own
routes.
Both are IPv4 labs with `ipv6_link_local: false`: no device makes an IPv6 link-local
address, whose announcements every bridge floods (in linear:1000 they kept the kernel busy
for 400 s of a 441 s build; without them the build takes seconds).

leafspine is a routed data-center fabric: SPINES spine routers, LEAVES leaf routers each
linked to every spine by a point-to-point /31 (and an IPv6 /64), and HOSTS_PER_LEAF hosts
on each leaf's own bridge and subnet, given their addresses by the bridge's `subnet`.
Every host reaches every other host, over IPv4 and IPv6.
"""

import ipaddress
import re

from netplay.core import cidr
from netplay.core.errors import InputError

SWITCHES = "switches"  # the namespace node holding linear's and tree's bridges
MAX_NODES = 10000  # hosts plus switches or routers in one generated lab
_NUMBER = re.compile(r"[0-9]{1,9}\Z")


def _mininet_ip(i):
    """Mininet's ipAdd(i): 10.0.0.0/8 plus i, so h256 is 10.0.1.0."""
    return f"{ipaddress.ip_address(0x0A000000 + i)}/8"


class _Ports:
    """Mininet's port numbering: each switch's ports s1-eth1, s1-eth2, ... in link order."""

    def __init__(self):
        self.count = {}

    def __call__(self, switch):
        self.count[switch] = self.count.get(switch, 0) + 1
        return f"{switch}:{switch}-eth{self.count[switch]}"


def linear(n):
    """Mininet's LinearTopo(k=n): switch si with host hi, and si linked to s(i-1)."""
    nodes = {SWITCHES: {"loopback": False}}
    bridges, links, port = {}, [], _Ports()
    for i in range(1, n + 1):
        switch, host = f"s{i}", f"h{i}"
        bridges[switch] = {"namespace": SWITCHES}
        nodes[host] = {"interfaces": {"eth0": {"addresses": [_mininet_ip(i)]}}}
        links.append({"endpoints": [f"{host}:eth0", port(switch)]})
        if i > 1:
            links.append({"endpoints": [port(switch), port(f"s{i - 1}")]})
    return {"name": f"linear-{n}",
            "description": f"Mininet's linear,{n}: hosts h1..h{n}, each on its own switch "
                           f"(bridges s1..s{n} in namespace {SWITCHES}), switches in a chain; "
                           "10.0.0.i/8",
            "ipv6_link_local": False,
            "nodes": nodes, "bridges": bridges, "links": links}


def tree(depth, fanout):
    """Mininet's TreeTopo(depth, fanout): switches numbered depth first, hosts left to right."""
    nodes = {SWITCHES: {"loopback": False}}
    bridges, links, port = {}, [], _Ports()
    count = {"h": 0, "s": 0}

    def add(level):
        if level == 0:
            count["h"] += 1
            host = f"h{count['h']}"
            nodes[host] = {"interfaces": {"eth0": {"addresses": [_mininet_ip(count["h"])]}}}
            return f"{host}:eth0"
        count["s"] += 1
        switch = f"s{count['s']}"
        bridges[switch] = {"namespace": SWITCHES}
        for _ in range(fanout):
            child = add(level - 1)
            if not child.startswith("h"):
                child = port(child)
            links.append({"endpoints": [port(switch), child]})
        return switch

    add(depth)
    return {"name": f"tree-{depth}-{fanout}",
            "description": f"Mininet's tree,{depth},{fanout}: {count['h']} hosts under a tree "
                           f"of {count['s']} switches (bridges in namespace {SWITCHES}); "
                           "10.0.0.i/8",
            "ipv6_link_local": False,
            "nodes": nodes, "bridges": bridges, "links": links}


def _fabric_link(spine, leaf, leaves):
    """Addresses of the link spine--leaf: a /31 from 10.0.0.0/16 and a /64 from fd00:0::/32."""
    base = 0x0A000000 + 2 * ((spine - 1) * leaves + (leaf - 1))
    v6 = f"fd00:0:{spine:x}:{leaf:x}::"
    return (f"{cidr.text(4, base)}/31", f"{cidr.text(4, base + 1)}/31", f"{v6}1/64",
            f"{v6}2/64")


def leafspine(spines, leaves, hosts):
    """A routed leaf-spine fabric; leaf l sends what is not its own through spine
    ((l-1) mod SPINES)+1, and every spine knows every leaf's subnet."""
    nodes, bridges, links = {}, {}, []
    for s in range(1, spines + 1):
        nodes[f"spine{s}"] = {"role": "router", "interfaces": {}, "routes": []}
    for l in range(1, leaves + 1):
        nodes[f"leaf{l}"] = {"role": "router", "interfaces": {}, "routes": []}
    for l in range(1, leaves + 1):
        leaf = nodes[f"leaf{l}"]
        for s in range(1, spines + 1):
            spine = nodes[f"spine{s}"]
            s4, l4, s6, l6 = _fabric_link(s, l, leaves)
            spine["interfaces"][f"down{l}"] = {"addresses": [s4, s6]}
            leaf["interfaces"][f"up{s}"] = {"addresses": [l4, l6]}
            links.append({"endpoints": [f"spine{s}:down{l}", f"leaf{l}:up{s}"]})
            spine["routes"] += [{"to": f"10.1.{l}.0/24", "via": l4.split("/")[0]},
                                {"to": f"fd00:1:{l:x}::/64", "via": l6.split("/")[0]}]
        s4, _, s6, _ = _fabric_link((l - 1) % spines + 1, l, leaves)
        leaf["routes"] = [{"to": "default", "via": s4.split("/")[0]},
                          {"to": "default", "via": s6.split("/")[0]}]
        lan = f"lan{l}"
        bridges[lan] = {"namespace": f"leaf{l}",
                        "addresses": [f"10.1.{l}.1/24", f"fd00:1:{l:x}::1/64"],
                        "subnet": [f"10.1.{l}.0/24", f"fd00:1:{l:x}::/64"]}
        for j in range(1, hosts + 1):
            host = f"h{(l - 1) * hosts + j}"
            nodes[host] = {"interfaces": {"eth0": {}},
                           "routes": [{"to": "default", "via": f"10.1.{l}.1"},
                                      {"to": "default", "via": f"fd00:1:{l:x}::1"}]}
            links.append({"endpoints": [f"{host}:eth0", lan]})
    return {"name": f"leafspine-{spines}-{leaves}-{hosts}",
            "description": f"a routed leaf-spine fabric: {spines} spines, {leaves} leaves, "
                           f"{hosts} hosts per leaf on 10.1.LEAF.0/24 and fd00:1:LEAF::/64",
            "nodes": nodes, "bridges": bridges, "links": links}


def _tree_size(depth, fanout):
    hosts = fanout ** depth
    switches = sum(fanout ** k for k in range(depth))
    return hosts + switches


# name -> (function, parameter names, defaults, bounds per parameter, size, summary)
GENERATORS = {
    "linear": (linear, ("N",), (2,), ((1, MAX_NODES // 2),), lambda n: 2 * n,
               "linear:N - Mininet's linear,N: hosts h1..hN, one per switch s1..sN "
               "(Linux bridges), switches in a chain; 10.0.0.i/8 (default N=2)"),
    "tree": (tree, ("DEPTH", "FANOUT"), (1, 2), ((1, 20), (1, 100)), _tree_size,
             "tree:DEPTH,FANOUT - Mininet's tree,DEPTH,FANOUT: hosts at the leaves of a tree "
             "of switches (Linux bridges); 10.0.0.i/8 (default 1,2)"),
    "leafspine": (leafspine, ("SPINES", "LEAVES", "HOSTS_PER_LEAF"), (2, 2, 2),
                  ((1, 64), (1, 255), (1, 250)), lambda s, l, h: s + l + l * h,
                  "leafspine:SPINES,LEAVES,HOSTS_PER_LEAF - a routed data-center fabric: "
                  "every host reaches every other, IPv4 and IPv6 (default 2,2,2)"),
}


def usage(name):
    params = ",".join(GENERATORS[name][1])
    return f"{name}:{params}"


def parse(spec):
    """'tree:2,3' -> (generator name, (2, 3)), checked; InputError in one line if not."""
    name, sep, text = spec.partition(":")
    func, params, defaults, bounds, size, _ = GENERATORS[name]
    values = list(defaults)
    if sep:
        given = text.split(",")
        if len(given) > len(params):
            raise InputError(f"{spec}: {name} takes at most {len(params)} parameter"
                             f"{'s' if len(params) > 1 else ''} ({usage(name)}), "
                             f"got {len(given)}")
        for i, word in enumerate(given):
            low, high = bounds[i]
            word = word.strip()
            # ASCII digits only: str.isdigit() also takes '²' and '٣', which int() refuses
            # or reads; a bounded length keeps int() clear of its 4300-digit limit
            if not _NUMBER.match(word) or not low <= int(word) <= high:
                raise InputError(f"{spec}: {params[i]} must be a whole number from {low} to "
                                 f"{high}, got {word!r}; use {usage(name)}, e.g. "
                                 f"{name}:{','.join(str(d) for d in defaults)}")
            values[i] = int(word)
    if size(*values) > MAX_NODES:
        raise InputError(f"{spec}: that makes {size(*values)} nodes; netplay generates at most "
                         f"{MAX_NODES}; choose smaller parameters")
    return name, tuple(values)


def generate(spec):
    """The topology data of a generator spec such as 'linear:5'."""
    name, values = parse(spec)
    return GENERATORS[name][0](*values)
