"""netplay verify: the pure parts (expected state, routing simulation, evaluation) without
root, then the real thing: fresh labs pass, and each kind of breakage by hand fails on
exactly the check that names it."""

import subprocess

import pytest

from conftest import TEST_IMAGE, write_topology
from netplay.check import expect, pingplan, routing
from netplay.load import builtins
from netplay.load.yamlfile import parse_yaml
from netplay.model.validate import from_dict
from netplay.observe import ip as observe

PING_KINDS = ("reach", "isolated")


def topo_of(text):
    return from_dict(parse_yaml(text, "test"), source="test")


# --- expected state (pure) ------------------------------------------------------------------


def test_expected_state_of_levels_follows_the_tutorial():
    exp = {(e.kind, e.subject): e for e in expect.expected_state(builtins.load("levels"))}
    assert exp[("interface", "host:veth0a")].up is False
    assert exp[("interface", "host:veth0a")].ns is None
    assert exp[("interface", "levela:veth1a")].up is True
    assert exp[("interface", "levela:veth0b")].up is False
    assert ("address", "levelb:veth1b 10.1.1.1/24") in exp
    assert exp[("peer", "levela:veth0b -- levelb:veth1b")].peer == ("levelb", "veth1b")
    assert {s for k, s in exp if k == "namespace"} == {"levela", "levelb", "levelc"}
    # loopback: false means lo is left alone, so nothing is expected of it
    assert not any(s.endswith(":lo") for k, s in exp)
    assert not any(k in ("container", "route", "member") for k, s in exp)
    # no node forwards: the two that could (two interfaces each) have it turned off,
    # whatever the host's default; levelc has one interface and no route goes through it
    assert {s: e.want for (k, s), e in exp.items() if k == "forwarding"} == {
        f"level{x}: net.ipv4.ip_forward": "0" for x in "ab"}


def test_expected_state_of_home_has_containers_ports_routes_forwarding():
    exp = {(e.kind, e.subject): e for e in expect.expected_state(builtins.load("home"))}
    assert {s for k, s in exp if k == "container"} == {"laptop", "router", "verizon"}
    assert {s for k, s in exp if k == "member"} == {"home:laptop_eth1", "home:router_eth1"}
    assert exp[("member", "home:laptop_eth1")].ns is None
    assert ("route", "laptop: default via 10.200.1.1") in exp
    assert ("route", "verizon: 10.200.1.0/24 via 198.51.100.2") in exp
    assert exp[("forwarding", "router: net.ipv4.ip_forward")].want == "1"
    assert ("forwarding", "laptop: net.ipv4.ip_forward") not in exp  # one interface
    assert exp[("interface", "laptop:lo")].up is True
    assert exp[("interface", "home (bridge)")].up is True


# --- reachability (pure) --------------------------------------------------------------------


def reaching(topo):
    return {(p.source, p.address) for p in routing.reachability(topo) if p.reaches}


def test_home_reachability_follows_routes_through_the_router():
    assert reaching(builtins.load("home")) == {
        ("laptop", "10.200.1.1"), ("laptop", "198.51.100.2"), ("laptop", "198.51.100.1"),
        ("router", "10.200.1.2"), ("router", "198.51.100.1"),
        ("verizon", "198.51.100.2"), ("verizon", "10.200.1.1"), ("verizon", "10.200.1.2"),
    }
    paths = {(p.source, p.address): p for p in routing.reachability(builtins.load("home"))}
    assert paths[("laptop", "198.51.100.1")].hops == ["laptop", "router", "verizon"]


def test_levels_reaches_nothing_and_samples_isolated_pairs_not_from_the_host():
    topo = builtins.load("levels")
    assert reaching(topo) == set()
    reach, isolated, total = pingplan.ping_plan(topo)
    assert reach == [] and total == 0
    pairs = {(p.source, p.address) for p in isolated}
    assert ("levela", "10.1.1.1") in pairs
    assert all(p.source != "host" for p in isolated)
    assert len(isolated) == len({(p.source, p.target) for p in isolated}) <= 6
    assert all("no route" in p.reason for p in isolated)


HOME = builtins.load("home").to_dict()


def home_variant(**changes):
    """home (plain namespaces) with some nodes' fields changed."""
    import copy

    data = copy.deepcopy(HOME)
    for node, fields in changes.items():
        for key, value in fields.items():
            if value is None:
                data["nodes"][node].pop(key, None)
            else:
                data["nodes"][node][key] = value
    return from_dict(data)


def test_without_forwarding_the_router_stops_traffic():
    topo = home_variant(router={"forwarding": None})
    got = reaching(topo)
    assert ("laptop", "198.51.100.1") not in got and ("verizon", "10.200.1.2") not in got
    assert ("laptop", "10.200.1.1") in got
    # the router's other address is local to it: reached without forwarding
    assert ("laptop", "198.51.100.2") in got
    why = {(p.source, p.address): p.reason for p in routing.reachability(topo)}
    assert why[("laptop", "198.51.100.1")] == "router does not forward"


def test_without_a_route_back_the_reply_is_lost():
    topo = home_variant(verizon={"routes": None})
    paths = {(p.source, p.address): p for p in routing.reachability(topo)}
    lost = paths[("laptop", "198.51.100.1")]
    assert not lost.reaches and "reply" in lost.reason and "verizon has no route" in lost.reason
    assert ("laptop", "198.51.100.2") in reaching(topo)  # the router answers from its own


def test_a_down_interface_or_bridge_cuts_the_segment():
    data = builtins.load("home").to_dict()
    data["nodes"]["laptop"]["interfaces"]["eth1"]["up"] = False
    assert not any(s == "laptop" or a == "10.200.1.2" for s, a in reaching(from_dict(data)))
    data = builtins.load("home").to_dict()
    data["bridges"]["home"]["up"] = False
    got = reaching(from_dict(data))
    # the router still answers for its LAN address from the other side (weak host model)
    assert got == {("router", "198.51.100.1"), ("verizon", "198.51.100.2"),
                   ("verizon", "10.200.1.1")}


def test_longest_prefix_wins_and_loops_are_bounded():
    topo = topo_of("""
name: lpm
nodes:
  a:
    interfaces: {e0: {addresses: [10.0.0.1/24]}, e1: {addresses: [10.0.1.1/24]}}
    routes: [{to: 10.9.0.0/16, via: 10.0.0.2}, {to: 10.9.9.0/24, via: 10.0.1.2},
             {to: 10.1.0.0/24, via: 10.0.0.2}]
  b:
    forwarding: true
    interfaces: {e0: {addresses: [10.0.0.2/24]}, e1: {addresses: [10.1.0.1/24]}}
    routes: [{to: 10.0.1.0/24, via: 10.0.0.1}]
  c:
    forwarding: true
    interfaces: {e0: {addresses: [10.0.1.2/24]}, e1: {addresses: [10.9.9.9/24]}}
    routes: [{to: 10.0.0.0/24, via: 10.0.1.1}]
  d:
    interfaces: {e0: {addresses: [10.1.0.2/24]}}
    routes: [{to: default, via: 10.1.0.1}]
  z:
    interfaces: {e0: {addresses: [10.9.9.10/24]}}
  x:
    forwarding: true
    interfaces: {e0: {addresses: [10.5.0.1/24]}}
    routes: [{to: 10.7.0.0/16, via: 10.5.0.2}]
  y:
    forwarding: true
    interfaces: {e0: {addresses: [10.5.0.2/24]}}
    routes: [{to: 10.7.0.0/16, via: 10.5.0.1}]
links:
  - endpoints: [a:e0, b:e0]
  - endpoints: [a:e1, c:e0]
  - endpoints: [b:e1, d:e0]
  - endpoints: [c:e1, z:e0]
  - endpoints: [x:e0, y:e0]
""")
    net = routing.Network(topo)
    import ipaddress

    # 10.9.9.9 matches both routes; the /24 through c wins
    assert net.lookup(net.stacks["a"], ipaddress.ip_address("10.9.9.9")) == \
        ("e1", ipaddress.ip_address("10.0.1.2"))
    paths = {(p.source, p.address): p for p in routing.reachability(topo)}
    assert paths[("a", "10.9.9.9")].reaches and paths[("a", "10.9.9.9")].hops == ["a", "c"]
    assert paths[("d", "10.0.0.1")].reaches  # through b, and a's route back via b's subnet
    reached, hops, _, why = net.deliver("x", ipaddress.ip_address("10.7.1.1"))
    assert reached is None and "loop" in why and len(hops) <= routing.MAX_HOPS + 1


def test_ipv6_is_simulated_like_ipv4():
    topo = topo_of("""
name: six
nodes:
  a: {interfaces: {e0: {addresses: ["fd00:1::1/64"]}}, routes: [{to: default, via: "fd00:1::2"}]}
  r:
    forwarding: true
    interfaces: {e0: {addresses: ["fd00:1::2/64"]}, e1: {addresses: ["fd00:2::1/64"]}}
  b:
    interfaces: {e0: {addresses: ["fd00:2::2/64"]}}
    routes: [{to: "fd00:1::/64", via: "fd00:2::1"}]
links:
  - endpoints: [a:e0, r:e0]
  - endpoints: [r:e1, b:e0]
""")
    got = reaching(topo)
    assert ("a", "fd00:2::2") in got and ("b", "fd00:1::1") in got


NAT = """
name: nat
nodes:
  h1: {interfaces: {e0: {addresses: [192.168.1.11/24]}}, routes: [{to: default, via: 192.168.1.1}]}
  h2: {interfaces: {e0: {addresses: [192.168.1.11/24]}}, routes: [{to: default, via: 192.168.1.1}]}
  modem1:
    role: router
    nat: {masquerade: wan}
    interfaces: {lan: {addresses: [192.168.1.1/24]}, wan: {addresses: [10.25.1.65/16]}}
    routes: [{to: default, via: 10.25.1.1}]
  modem2:
    role: router
    nat: {masquerade: wan}
    interfaces: {lan: {addresses: [192.168.1.1/24]}, wan: {addresses: [10.25.1.66/32]}}
    routes: [{to: 10.25.1.1/32, dev: wan}, {to: default, via: 10.25.1.1}]
  isp:
    forwarding: true
    interfaces: {a: {addresses: [10.25.1.1/16]}, b: {addresses: [10.25.1.1/32]}}
    routes: [{to: 10.25.1.66/32, dev: b}]
links:
  - endpoints: [h1:e0, modem1:lan]
  - endpoints: [h2:e0, modem2:lan]
  - endpoints: [modem1:wan, isp:a]
  - endpoints: [modem2:wan, isp:b]
"""


def test_masquerade_brings_replies_back_and_private_twins_are_not_sampled():
    topo = topo_of(NAT)
    paths = {(p.source, p.target, p.address): p for p in routing.reachability(topo)}
    out = paths[("h1", "isp", "10.25.1.1")]
    assert out.reaches and out.reason == "h1 > modem1 > isp (masqueraded by modem1)"
    # a /32 point-to-point address, its gateway reached by a device route
    assert paths[("h2", "isp", "10.25.1.1")].reaches
    # modem1 thinks all of 10.25.0.0/16 is on its wire, and the isp does no proxy ARP
    back = paths[("h2", "modem1", "10.25.1.65")]
    assert not back.reaches and back.answered_by == "modem1"
    assert back.reason == ("the reply to 10.25.1.66 is lost: nothing answers for 10.25.1.66 "
                           "on modem1:wan")
    assert not paths[("isp", "h1", "192.168.1.11")].reaches  # nobody routes private space in
    twin = paths[("h1", "modem2", "192.168.1.1")]
    assert not twin.reaches and twin.answered_by == "modem1"
    plan = pingplan.ping_plan(topo, sample=20)
    sampled = {(p.source, p.address) for p in plan.isolated}
    assert ("isp", "192.168.1.11") not in sampled  # two nodes hold it
    assert all(p.address not in ("192.168.1.1", "192.168.1.11") for p in plan.isolated)


def test_onlink_gateway_outside_every_subnet():
    topo = topo_of("""
name: onl
nodes:
  a: {interfaces: {e0: {addresses: [10.0.0.1/32]}},
      routes: [{to: default, via: 10.9.9.9, dev: e0, onlink: true}]}
  b: {interfaces: {e0: {addresses: [10.9.9.9/32]}}, routes: [{to: 10.0.0.1/32, dev: e0}]}
links:
  - endpoints: [a:e0, b:e0]
""")
    assert reaching(topo) == {("a", "10.9.9.9"), ("b", "10.0.0.1")}


def test_a_large_lab_pings_a_spread_sample_of_its_pairs():
    nodes = {f"n{i}": {"interfaces": {"e0": {"addresses": [f"10.3.0.{i}/24"]}}}
             for i in range(1, 31)}
    links = [{"endpoints": [f"n{i}:e0", "br"]} for i in range(1, 31)]
    topo = from_dict({"name": "many", "nodes": nodes, "bridges": {"br": {}}, "links": links})
    plan = pingplan.ping_plan(topo, limit=60)
    assert plan.reach_total == 30 * 29 and len(plan.reach) == 60
    assert {p.source for p in plan.reach} == set(nodes)
    assert len({p.target for p in plan.reach}) >= 25
    assert len(pingplan.ping_plan(topo, limit=None).reach) == 30 * 29


# --- evaluation against an observed host (pure) ---------------------------------------------


def perfect_host(topo):
    """What the host would hold if the lab were exactly as its topology says."""
    states = {}

    def state(ns):
        if ns not in states:
            states[ns] = observe.NamespaceState(ns)
        return states[ns]

    index = {}

    def add(ns, name, up, addresses=(), kind="veth", master=None):
        st = state(ns)
        link = observe.LinkState(name, len(st.links) + 1, up, "UP" if up else "DOWN", kind,
                                 list(addresses), master)
        st.links[name] = link
        index[(ns, name)] = link
        return link

    for node in topo.nodes.values():
        if node.loopback and node.namespace:
            add(node.namespace, "lo", True, kind="loopback")
        for iface in node.interfaces.values():
            add(node.namespace, iface.name, iface.up, iface.addresses)
        for route in node.routes:
            state(node.namespace).routes.append(observe.RouteState(
                route.family, route.to, route.via, route.dev or "eth1"))
    for bridge in topo.bridges.values():
        add(bridge.namespace, bridge.name, bridge.up, bridge.addresses, kind="bridge")
        for port in bridge.interfaces:
            add(bridge.namespace, port, bridge.up, master=bridge.name)
    for link in topo.links:
        a = (topo.namespace_of(link.a.node), link.a.iface)
        b = (topo.namespace_of(link.b.node), link.b.iface)
        index[a].peer, index[b].peer = b, a
    containers = {n.name: "running" for n in topo.nodes.values() if n.kind == "docker"}
    sysctls = {(n.namespace, key): "1" if n.forwarding else "0" for n in topo.nodes.values()
               if n.namespace
               for key in ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")}
    return expect.Observed(states, containers, sysctls)


def failures(topo, observed):
    return {(c.kind, c.subject): c.reason for c in expect.evaluate(topo, observed) if not c.ok}


@pytest.mark.parametrize("name", ["levels", "home"])
def test_a_perfect_host_passes(name):
    topo = builtins.load(name)
    checks = expect.evaluate(topo, perfect_host(topo))
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_each_breakage_is_named_exactly():
    topo = builtins.load("home")

    host = perfect_host(topo)
    host.namespaces["laptop"].links["eth1"].up = False
    host.namespaces["laptop"].routes.clear()  # the kernel drops them with the device
    got = failures(topo, host)
    assert got[("interface", "laptop:eth1")] == "eth1 is down, expected up"
    assert "because eth1 is down" in got[("route", "laptop: default via 10.200.1.1")]
    assert set(got) == {("interface", "laptop:eth1"), ("route", "laptop: default via 10.200.1.1")}

    host = perfect_host(topo)
    host.namespaces["router"].links["eth1"].addresses.clear()
    assert failures(topo, host) == {("address", "router:eth1 10.200.1.1/24"):
                                    "10.200.1.1/24 is missing from eth1 (it has no address)"}

    host = perfect_host(topo)
    host.namespaces[None].links["laptop_eth1"].master = None
    assert set(failures(topo, host)) == {("member", "home:laptop_eth1")}

    host = perfect_host(topo)
    host.containers["laptop"] = "exited"
    assert failures(topo, host) == {("container", "laptop"):
                                    "container laptop is exited, expected running"}

    host = perfect_host(topo)
    host.sysctls[("router", "net.ipv4.ip_forward")] = "0"
    assert set(failures(topo, host)) == {("forwarding", "router: net.ipv4.ip_forward")}

    levels = builtins.load("levels")
    host = perfect_host(levels)  # a namespace that inherited the host's forwarding
    host.sysctls[("levela", "net.ipv4.ip_forward")] = "1"
    assert failures(levels, host) == {("forwarding", "levela: net.ipv4.ip_forward"):
                                      "net.ipv4.ip_forward is 1, expected 0"}

    host = perfect_host(topo)
    del host.namespaces["router"]
    got = failures(topo, host)
    assert got[("namespace", "router")].startswith("namespace router is missing")


def test_a_crossed_veth_is_reported_with_both_ends():
    topo = builtins.load("levels")
    host = perfect_host(topo)
    host.namespaces["levela"].links["veth0b"].peer = ("levelc", "veth1c")
    got = failures(topo, host)
    assert got == {("peer", "levela:veth0b -- levelb:veth1b"):
                   "its peer is levelc:veth1c, expected levelb:veth1b"}


# --- parsing ip -j (pure) -------------------------------------------------------------------

ADDR_JSON = [
    {"ifindex": 1, "ifname": "lo", "flags": ["LOOPBACK"], "operstate": "DOWN",
     "link_type": "loopback", "addr_info": []},
    {"ifindex": 2, "link_index": 19, "ifname": "veth1a",
     "flags": ["NO-CARRIER", "BROADCAST", "MULTICAST", "UP"], "operstate": "DOWN",
     "link_netnsid": 1, "linkinfo": {"info_kind": "veth"},
     "addr_info": [{"family": "inet", "local": "172.16.1.0", "prefixlen": 24,
                    "scope": "global"},
                   {"family": "inet6", "local": "fe80::1", "prefixlen": 64, "scope": "link"}]},
    {"ifindex": 3, "ifname": "laptop_eth1", "flags": ["UP", "LOWER_UP"], "operstate": "UP",
     "master": "home", "link_index": 2, "linkinfo": {"info_kind": "veth"}, "addr_info": []},
]


def test_parse_links_reads_admin_state_addresses_master_and_peer():
    links = observe.parse_links(ADDR_JSON)
    assert links["lo"].kind == "loopback" and not links["lo"].up
    veth = links["veth1a"]
    assert veth.up and veth.operstate == "DOWN" and veth.state.startswith("UP (no carrier")
    assert veth.addresses == ["172.16.1.0/24"]  # link-local left out
    assert (veth.peer_index, veth.peer_nsid) == (19, 1)
    assert links["laptop_eth1"].master == "home" and links["laptop_eth1"].peer_nsid is None


def test_parse_routes_normalizes_host_routes_and_defaults():
    routes = observe.parse_routes([
        {"dst": "default", "gateway": "10.200.1.1", "dev": "eth1", "flags": []},
        {"dst": "10.9.9.9", "dev": "eth1", "flags": []},
        {"dst": "10.200.1.0/24", "dev": "eth1", "protocol": "kernel", "flags": ["linkdown"]},
    ], 4)
    assert [(r.dst, r.gateway) for r in routes] == [
        ("default", "10.200.1.1"), ("10.9.9.9/32", None), ("10.200.1.0/24", None)]
    assert observe.parse_routes([{"dst": "fd00::5", "dev": "e0"}], 6)[0].dst == "fd00::5/128"


def test_resolve_peers_of_a_pair_inside_one_namespace():
    sw = observe.NamespaceState("sw", links=observe.parse_links([
        {"ifindex": 3, "link": "s2-eth2", "ifname": "s1-eth2", "flags": ["UP"],
         "linkinfo": {"info_kind": "veth"}},
        {"ifindex": 4, "link": "s1-eth2", "ifname": "s2-eth2", "flags": ["UP"],
         "linkinfo": {"info_kind": "veth"}}]))
    states = observe.resolve_peers({"sw": sw})
    assert states["sw"].links["s1-eth2"].peer == ("sw", "s2-eth2")


def test_resolve_peers_across_named_namespaces_and_the_root_one():
    root = observe.NamespaceState(None, links=observe.parse_links([
        {"ifindex": 21, "ifname": "laptop_eth1", "flags": ["UP"], "link_index": 2,
         "link_netnsid": 0, "linkinfo": {"info_kind": "veth"}}]),
        nsids={0: "laptop"})
    laptop = observe.NamespaceState("laptop", links=observe.parse_links([
        {"ifindex": 2, "ifname": "eth1", "flags": ["UP"], "link_index": 21,
         "link_netnsid": 0, "linkinfo": {"info_kind": "veth"}}]),
        nsids={0: None})
    states = observe.resolve_peers({None: root, "laptop": laptop})
    assert states["laptop"].links["eth1"].peer == (None, "laptop_eth1")
    assert states[None].links["laptop_eth1"].peer == ("laptop", "eth1")


# --- the real thing -------------------------------------------------------------------------


def verify_json(netplay, lab_name, *options):
    result = netplay("verify", lab_name, "--json", *options)
    assert result.rc in (0, 1), result
    data = result.json()
    assert data["ok"] == (result.rc == 0)
    return data


def state_failures(data):
    return {(c["check"], c["subject"]): c["reason"] for c in data["checks"]
            if c["result"] == "FAIL" and c["check"] not in PING_KINDS}


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


@pytest.mark.root
def test_verify_passes_on_fresh_levels(lab, netplay):
    lab("levels")
    data = verify_json(netplay, "levels")
    assert data["ok"], [c for c in data["checks"] if c["result"] == "FAIL"]
    kinds = {c["check"] for c in data["checks"]}
    assert {"namespace", "interface", "address", "peer", "isolated"} <= kinds
    assert "reach" not in kinds  # nothing in levels reaches anything
    text = netplay("verify", "levels")
    assert text.rc == 0 and "all" in text.out.splitlines()[-1] and "PASS" in text.out


@pytest.mark.root
def test_verify_fails_on_levels_when_a_down_interface_is_set_up(lab, netplay):
    lab("levels")
    sh("ip", "-n", "levela", "link", "set", "veth0b", "up")
    result = netplay("verify", "levels", "--json")
    assert result.rc == 1
    assert state_failures(result.json()) == {
        ("interface", "levela:veth0b"): "veth0b is up, expected down"}


@pytest.mark.root
def test_verify_passes_on_fresh_home_with_pings_through_the_router(lab, netplay):
    lab("home", "--runtime", "netns")
    data = verify_json(netplay, "home")
    assert data["ok"], [c for c in data["checks"] if c["result"] == "FAIL"]
    reach = {c["subject"] for c in data["checks"] if c["check"] == "reach"}
    assert "laptop -> verizon 198.51.100.1" in reach
    assert "verizon -> laptop 10.200.1.2" in reach
    assert len(reach) == 8


# (breakage, the state checks that must fail and a word each reason must hold)
BREAKAGES = {
    "interface down": (["ip", "-n", "laptop", "link", "set", "eth1", "down"],
                       {("interface", "laptop:eth1"): "down, expected up",
                        ("route", "laptop: default via 10.200.1.1"): "because eth1 is down"}),
    "address removed": (["ip", "-n", "router", "addr", "del", "10.200.1.1/24", "dev", "eth1"],
                        {("address", "router:eth1 10.200.1.1/24"): "missing from eth1"}),
    "route deleted": (["ip", "-n", "verizon", "route", "del", "10.200.1.0/24"],
                      {("route", "verizon: 10.200.1.0/24 via 198.51.100.2"): "missing"}),
    "bridge member detached": (["ip", "link", "set", "laptop_eth1", "nomaster"],
                               {("member", "home:laptop_eth1"): "detached from bridge home"}),
}


@pytest.mark.root
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_verify_names_exactly_what_broke(lab, netplay, breakage):
    argv, expected = BREAKAGES[breakage]
    lab("home", "--runtime", "netns")
    sh(*argv)
    result = netplay("verify", "home", "--json")
    assert result.rc == 1, result
    data = result.json()
    got = state_failures(data)
    assert set(got) == set(expected), got
    for key, word in expected.items():
        assert word in got[key], (key, got[key])
    # every one of these cuts laptop off from verizon, and the pings show it
    failed_pings = {c["subject"] for c in data["checks"]
                    if c["check"] == "reach" and c["result"] == "FAIL"}
    assert "laptop -> verizon 198.51.100.1" in failed_pings
    text = netplay("verify", "home")
    assert text.rc == 1
    summary = text.out.strip().splitlines()[-1]
    for subject in {s for _, s in expected}:
        assert subject in summary


@pytest.mark.root
@pytest.mark.docker
def test_verify_on_containers_passes_then_names_a_stopped_container(lab, netplay):
    lab("home", "--image", TEST_IMAGE)
    data = verify_json(netplay, "home")
    assert data["ok"], [c for c in data["checks"] if c["result"] == "FAIL"]
    assert {c["subject"] for c in data["checks"] if c["check"] == "container"} == \
        {"laptop", "router", "verizon"}
    sh("docker", "stop", "-t", "1", "laptop")
    result = netplay("verify", "home", "--json")
    assert result.rc == 1
    assert state_failures(result.json()) == {
        ("container", "laptop"): "container laptop is exited, expected running"}


@pytest.mark.root
@pytest.mark.docker
def test_verify_on_containers_names_a_detached_port(lab, netplay):
    lab("home", "--image", TEST_IMAGE)
    sh("ip", "link", "set", "router_eth1", "nomaster")
    result = netplay("verify", "home", "--json")
    assert result.rc == 1
    assert set(state_failures(result.json())) == {("member", "home:router_eth1")}


@pytest.mark.root
def test_verify_a_file_topology_with_a_namespaced_bridge(lab, netplay, tmp_path):
    path = write_topology(tmp_path, """
name: vbr
nodes:
  sw: {}
  a: {interfaces: {e0: {addresses: [10.77.0.1/24]}}}
  b: {interfaces: {e0: {addresses: [10.77.0.2/24]}}}
  c: {interfaces: {e0: {addresses: [10.78.0.1/24]}}}
  d: {interfaces: {e0: {addresses: [10.78.0.2/24]}}}
bridges:
  br0: {namespace: sw}
links:
  - endpoints: [a:e0, br0]
  - endpoints: [b:e0, br0]
  - endpoints: [c:e0, d:e0]
""", name="vbr.yaml")
    lab(path)
    data = verify_json(netplay, "vbr")
    assert data["ok"], [c for c in data["checks"] if c["result"] == "FAIL"]
    reach = {c["subject"] for c in data["checks"] if c["check"] == "reach"}
    assert reach == {"a -> b 10.77.0.2", "b -> a 10.77.0.1", "c -> d 10.78.0.2",
                     "d -> c 10.78.0.1"}
    isolated = {c["subject"] for c in data["checks"] if c["check"] == "isolated"}
    assert "a -> c 10.78.0.1" in isolated
    sh("ip", "-n", "sw", "link", "set", "a_e0", "nomaster")
    assert set(state_failures(verify_json(netplay, "vbr"))) == {("member", "br0:a_e0")}


@pytest.mark.root
def test_verify_refuses_an_unknown_lab_in_one_line(netplay):
    result = netplay("verify", "no-such-lab")
    assert result.rc == 2
    assert result.err.count("\n") == 1 and "no lab named 'no-such-lab'" in result.err
    assert "Traceback" not in result.err


def test_verify_says_why_pings_past_the_kernels_neighbour_table_fail():
    from types import SimpleNamespace

    from netplay.cli.commands.verify import _neighbour_hint
    from netplay.machine.fake import FakeMachine

    fake = FakeMachine(files={"/proc/sys/net/ipv4/neigh/default/gc_thresh3": "1024\n"})
    hint = _neighbour_hint(SimpleNamespace(reach=[None] * 2450), fake)
    assert "2450 pairs were pinged" in hint and "at most 1024 neighbour entries" in hint
    assert "gc_thresh3=4900" in hint
    assert _neighbour_hint(SimpleNamespace(reach=[None] * 1000), fake) is None
    assert _neighbour_hint(None, fake) is None
