"""Routing, the router role, /32 point-to-point links, NAT and IPv6 (issue 6, items 1, 2, 4).

Pure tests check the model and the commands; root tests build a home router that
masquerades out of a /32 point-to-point link to an ISP router, and check on the real
kernel that packets are forwarded over IPv4 and IPv6 and that the far side sees the
router's address, not the client's.
"""

import json
import subprocess

import pytest

from conftest import write_topology
from model_net import connect, ping, ping_soon
from netplay.core.errors import InputError
from netplay.load.yamlfile import parse_yaml
from netplay.model.serialize import to_dict
from netplay.model.validate import from_dict
from netplay.plan.build import plan


def load(text):
    return from_dict(parse_yaml(text, "t.yaml"), "t.yaml")


def shell(topo):
    return [s.shell() for s in plan(topo)]


# np6c (client) -- np6gw (home router, NAT out of wan) == /32 p2p == np6isp -- np6srv
ROUTED = """
name: np6route
nodes:
  np6c:
    interfaces: {eth0: {addresses: [192.168.66.2/24, "fd00:66:1::2/64"]}}
    routes:
      - {to: default, via: 192.168.66.1}
      - {to: default, via: "fd00:66:1::1"}
  np6gw:
    role: router
    nat: {masquerade: wan}
    interfaces:
      lan: {addresses: [192.168.66.1/24, "fd00:66:1::1/64"]}
      wan: {addresses: [10.66.0.2/32, "fd00:66:2::2/128"]}
    routes:
      - {to: default, via: 10.66.0.1}
      - {to: default, via: "fd00:66:2::1"}
      - {to: 10.66.0.1/32, dev: wan}
      - {to: "fd00:66:2::1/128", dev: wan}
  np6isp:
    role: router
    interfaces:
      eth0: {addresses: [10.66.0.1/32, "fd00:66:2::1/128"]}
      eth1: {addresses: [10.77.0.1/24, "fd00:77::1/64"]}
    routes:
      - {to: 10.66.0.2/32, dev: eth0}
      - {to: "fd00:66:2::2/128", dev: eth0}
  np6srv:
    interfaces: {eth0: {addresses: [10.77.0.2/24, "fd00:77::2/64"]}}
    routes:
      - {to: default, via: 10.77.0.1}
      - {to: default, via: "fd00:77::1"}
links:
  - endpoints: [np6c:eth0, np6gw:lan]
  - endpoints: [np6gw:wan, np6isp:eth0]
  - endpoints: [np6isp:eth1, np6srv:eth0]
"""


# --- the model -----------------------------------------------------------------------------


def test_router_role_forwards_both_families_and_turns_off_reverse_path_filtering():
    topo = load(ROUTED)
    gw = topo.nodes["np6gw"]
    assert gw.role == "router" and gw.forwarding and gw.nat == ["wan"]
    lines = shell(topo)
    settings = ("ip netns exec np6gw sysctl -w net.ipv4.conf.all.rp_filter=0 "
                "net.ipv4.conf.default.rp_filter=0 net.ipv6.conf.all.accept_dad=0 "
                "net.ipv6.conf.default.accept_dad=0")
    assert settings in lines
    # set before any of its devices exists, so each inherits it
    assert lines.index(settings) < next(i for i, l in enumerate(lines) if "type veth" in l)
    assert "ip netns exec np6gw sysctl -w net.ipv4.ip_forward=1" in lines
    assert "ip netns exec np6gw sysctl -w net.ipv6.conf.all.forwarding=1" in lines
    assert not any("np6srv sysctl -w net.ipv4" in l for l in lines)  # a plain host


def test_nat_masquerades_inside_the_node_for_each_family_of_its_interface():
    lines = shell(load(ROUTED))
    assert "ip netns exec np6gw iptables -t nat -A POSTROUTING -o wan -j MASQUERADE" in lines
    assert "ip netns exec np6gw ip6tables -t nat -A POSTROUTING -o wan -j MASQUERADE" in lines
    steps = [s for s in plan(load(ROUTED)) if "MASQUERADE" in s.argv]
    assert all(s.undo is None for s in steps)  # gone with the namespace


def test_device_routes_come_first_so_gateways_behind_them_resolve():
    lines = [l for l in shell(load(ROUTED)) if l.startswith("ip -n np6gw") and " route " in l]
    assert lines == [
        "ip -n np6gw route add 10.66.0.1/32 dev wan",
        "ip -n np6gw -6 route add fd00:66:2::1/128 dev wan",
        "ip -n np6gw route add default via 10.66.0.1",
        "ip -n np6gw -6 route add default via fd00:66:2::1",
    ]


def test_onlink_route():
    topo = load("""
name: np6onlink
nodes:
  a:
    interfaces: {eth0: {addresses: [10.0.0.1/32]}}
    routes: [{to: default, via: 10.9.9.9, dev: eth0, onlink: true}]
  b: {}
links: [{endpoints: [a:eth0, b:eth0]}]
""")
    assert "ip -n a route add default via 10.9.9.9 dev eth0 onlink" in shell(topo)
    assert to_dict(topo)["nodes"]["a"]["routes"] == [
        {"to": "default", "via": "10.9.9.9", "dev": "eth0", "onlink": True}]
    assert "onlink" not in json.dumps(to_dict(load(ROUTED)))  # false is the default, left out


def test_normalized_form_round_trips_with_roles_and_nat():
    topo = load(ROUTED)
    assert to_dict(from_dict(to_dict(topo))) == to_dict(topo)
    node = to_dict(topo)["nodes"]["np6gw"]
    assert node["role"] == "router" and node["nat"] == {"masquerade": ["wan"]}


BAD = [
    ("nodes: {a: {role: switch}}", "unknown role 'switch'"),
    ("nodes: {a: {role: router, forwarding: false}}", "remove one of them"),
    ("nodes: {a: {kind: host, role: router}}", "use a netns node as the router"),
    ("nodes: {a: {nat: {masquerade: eth0}}}", "must forward packets"),
    ("nodes: {a: {role: router, nat: {masquerade: eth9}}}", "has no interface 'eth9'"),
    ("nodes: {a: {role: router, nat: {snat: eth0}}}", "unknown key 'snat'"),
    ("nodes: {a: {kind: host, nat: {masquerade: eth0}}}", "does not change the host's own NAT"),
    ("nodes: {a: {interfaces: {e0: {addresses: [10.0.0.1/24]}},"
     " routes: [{to: default, via: 10.1.0.1}]}, b: {}}\nlinks: [{endpoints: [a:e0, b:e0]}]",
     "gateway 10.1.0.1 is on none of a's links"),
    ("nodes: {a: {interfaces: {e0: {addresses: [10.0.0.1/32]}},"
     " routes: [{to: default, via: 10.0.0.9}]}, b: {}}\nlinks: [{endpoints: [a:e0, b:e0]}]",
     "add a route {to: 10.0.0.9/32, dev: IFACE} before it, or onlink: true"),
    ("nodes: {a: {interfaces: {e0: {}}, routes: [{to: default, via: 'fe80::1'}]}, b: {}}\n"
     "links: [{endpoints: [a:e0, b:e0]}]", "needs 'dev'"),
    ("nodes: {a: {routes: [{to: default, via: 10.0.0.1, onlink: true}]}}", "onlink needs both"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_bad_routing_is_one_clear_line(text, message):
    with pytest.raises(InputError) as err:
        load("name: x\n" + text + "\n")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_gateway_through_a_device_route_or_link_local_with_dev_is_accepted():
    load("""
name: ok
nodes:
  a:
    interfaces: {e0: {addresses: [10.0.0.1/32]}}
    routes:
      - {to: default, via: 10.0.0.9}
      - {to: 10.0.0.9/32, dev: e0}
      - {to: "::/0", via: "fe80::1", dev: e0}
  b: {}
links: [{endpoints: [a:e0, b:e0]}]
""")


# --- on the kernel -------------------------------------------------------------------------


def ns_json(ns, *args):
    out = subprocess.run(["ip", "-j", "-n", ns, *args], capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def sysctl(ns, key):
    return subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-n", key], capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.root
def test_routed_nat_over_point_to_point_32_links_on_ipv4_and_ipv6(lab, tmp_path):
    lab(write_topology(tmp_path, ROUTED), name="np6route")
    for ns in ("np6gw", "np6isp"):
        assert sysctl(ns, "net.ipv4.ip_forward") == "1"
        assert sysctl(ns, "net.ipv6.conf.all.forwarding") == "1"
        assert sysctl(ns, "net.ipv4.conf.all.rp_filter") == "0"
    # the gateway behind a /32 device route, as the kernel sees it
    routes = {r["dst"]: r for r in ns_json("np6gw", "route", "show")}
    assert routes["10.66.0.1"]["dev"] == "wan" and routes["10.66.0.1"]["scope"] == "link"
    assert routes["default"]["gateway"] == "10.66.0.1"
    rules = subprocess.run(["ip", "netns", "exec", "np6gw", "iptables", "-t", "nat", "-S",
                            "POSTROUTING"], capture_output=True, text=True).stdout
    assert "-A POSTROUTING -o wan -j MASQUERADE" in rules
    # the client reaches the server over both families
    assert ping_soon("np6c", "10.77.0.2")
    assert ping_soon("np6c", "fd00:77::2")
    # the server sees the router's WAN address: the masquerade, verified by its effect
    assert connect("np6c", "np6srv", "10.77.0.2")[0] == "10.66.0.2"
    assert connect("np6c", "np6srv", "fd00:77::2", port=5202)[0] == "fd00:66:2::2"
    # and has no way back to the private network behind it
    assert not ping("np6srv", "192.168.66.2", wait=1)
    assert not ping("np6srv", "fd00:66:1::2", wait=1)


# np6br1 holds bridge np6lan, which carries no address of the subnet its route names:
# the route leaves by the bridge itself (`dev: np6lan`), as a router's LAN bridge is used.
BRIDGE_ROUTE = """
name: np6brroute
nodes:
  np6br1:
    routes: [{to: 10.79.0.0/24, dev: np6lan}]
  np6h:
    interfaces: {eth0: {addresses: [10.79.0.2/24]}}
    routes: [{to: 10.78.0.0/24, dev: eth0}]
bridges:
  np6lan: {namespace: np6br1, addresses: [10.78.0.1/24]}
links:
  - endpoints: [np6h:eth0, np6lan]
"""


def test_a_route_may_leave_by_a_bridge_in_the_nodes_own_namespace():
    topo = load(BRIDGE_ROUTE)
    assert "ip -n np6br1 route add 10.79.0.0/24 dev np6lan" in shell(topo)
    # a bridge in another namespace is not the node's device
    other = BRIDGE_ROUTE.replace("np6br1:\n    routes: [{to: 10.79.0.0/24, dev: np6lan}]",
                                 "np6br1: {}\n  np6x:\n    routes: [{to: 10.79.0.0/24, "
                                 "dev: np6lan}]")
    with pytest.raises(InputError, match="np6x has no interface 'np6lan'"):
        load(other)


@pytest.mark.root
def test_a_route_by_a_bridge_carries_traffic_and_verify_agrees(lab, netplay, tmp_path):
    lab(write_topology(tmp_path, BRIDGE_ROUTE), name="np6brroute")
    routes = {r["dst"]: r for r in ns_json("np6br1", "route", "show")}
    assert routes["10.79.0.0/24"]["dev"] == "np6lan"
    assert ping_soon("np6br1", "10.79.0.2")  # out by the route, back by np6h's own
    result = netplay("verify", "np6brroute", "--json")
    assert result.rc == 0, result
    reach = {c["subject"] for c in result.json()["checks"] if c["check"] == "reach"}
    assert "np6br1 -> np6h 10.79.0.2" in reach


def test_verify_routes_by_an_addressless_bridge_in_the_node():
    import ipaddress

    from netplay.check.routing import Network

    topo = load("""
name: x
nodes:
  r: {routes: [{to: 10.81.0.0/24, dev: br}]}
  h: {interfaces: {eth0: {addresses: [10.81.0.2/24]}}}
bridges:
  br: {namespace: r}
links: [{endpoints: [h:eth0, br]}]
""")
    reached, hops, _, why = Network(topo).deliver("r", ipaddress.ip_address("10.81.0.2"))
    assert reached is not None and reached.name == "h", why


# np6m has two links and no role: it must not forward, whatever the host's default (here a
# new namespace inherits ip_forward=1 from the host, where Docker turned it on).
NOT_A_ROUTER = """
name: np6nofw
nodes:
  np6l:
    interfaces: {eth0: {addresses: [10.247.1.2/24, "fd00:247:1::2/64"]}}
    routes: [{to: 10.247.2.0/24, via: 10.247.1.1}, {to: "fd00:247:2::/64", via: "fd00:247:1::1"}]
  np6m:
    interfaces:
      e0: {addresses: [10.247.1.1/24, "fd00:247:1::1/64"]}
      e1: {addresses: [10.247.2.1/24, "fd00:247:2::1/64"]}
  np6r:
    interfaces: {eth0: {addresses: [10.247.2.2/24, "fd00:247:2::2/64"]}}
    routes: [{to: 10.247.1.0/24, via: 10.247.2.1}, {to: "fd00:247:1::/64", via: "fd00:247:2::1"}]
links:
  - endpoints: [np6l:eth0, np6m:e0]
  - endpoints: [np6m:e1, np6r:eth0]
"""


def test_a_node_that_does_not_forward_has_forwarding_turned_off():
    lines = shell(load(NOT_A_ROUTER))
    assert "ip netns exec np6m sysctl -w net.ipv6.conf.all.accept_dad=0 " \
           "net.ipv6.conf.default.accept_dad=0 net.ipv4.ip_forward=0 " \
           "net.ipv6.conf.all.forwarding=0" in lines
    # one settings process per node, before its devices: not one more
    assert len([line for line in lines if " sysctl " in line]) == 3
    assert lines.index("ip netns exec np6m sysctl -w net.ipv6.conf.all.accept_dad=0 "
                       "net.ipv6.conf.default.accept_dad=0 net.ipv4.ip_forward=0 "
                       "net.ipv6.conf.all.forwarding=0") < \
        next(i for i, line in enumerate(lines) if line.startswith("ip link add"))


@pytest.mark.root
def test_a_node_without_role_router_does_not_forward_on_the_kernel(lab, netplay, tmp_path):
    lab(write_topology(tmp_path, NOT_A_ROUTER), name="np6nofw")
    for ns in ("np6l", "np6m", "np6r"):
        assert sysctl(ns, "net.ipv4.ip_forward") == "0"
        assert sysctl(ns, "net.ipv6.conf.all.forwarding") == "0"
    assert ping_soon("np6l", "10.247.1.1") and ping_soon("np6r", "fd00:247:2::1")
    assert not ping("np6l", "10.247.2.2", wait=1)  # np6m drops what is not its own
    assert not ping("np6l", "fd00:247:2::2", wait=1)
    result = netplay("verify", "np6nofw", "--json")
    assert result.rc == 0, result
    checks = {c["subject"]: c for c in result.json()["checks"]}
    assert checks["np6m: net.ipv4.ip_forward"]["reason"] == "off"


def test_forwarding_is_turned_off_where_the_lab_could_make_a_node_forward():
    from netplay.load import builtins
    from netplay.plan.build import forwarding_off

    # one interface each and no route through them, bridges with no address or route:
    # nothing a linear lab sends is ever forwarded, so no process is spent on it
    assert forwarding_off(builtins.load("linear:50")) == {}
    gateway = load("""
name: x
nodes:
  a: {interfaces: {e0: {addresses: [10.0.0.1/24]}}, routes: [{to: 10.9.0.0/16, via: 10.0.0.2}]}
  b: {interfaces: {e0: {addresses: [10.0.0.2/24]}}}
  c: {interfaces: {e0: {addresses: [10.0.1.2/24]}}}
  d: {interfaces: {e0: {addresses: [10.0.1.3/24]}}}
links: [{endpoints: [a:e0, b:e0]}, {endpoints: [c:e0, d:e0]}]
""")
    # b is a's gateway: with the host's ip_forward=1 it would pass a's packets on
    assert forwarding_off(gateway) == {"b": ["net.ipv4.ip_forward=0"]}
