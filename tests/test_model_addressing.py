"""Addresses from subnets (issue 6, item 5): a bridge or a link names a subnet and netplay
gives each interface on it the lowest free address, deterministically."""

import pytest

from conftest import write_topology
from model_net import ping_soon
from netplay.core.errors import InputError
from netplay.load.yamlfile import parse_yaml
from netplay.model.serialize import to_dict
from netplay.model.validate import from_dict

from test_model_routing import ns_json

LAN = """
name: np6addr
nodes:
  np6sw: {loopback: false}
  np6r:
    interfaces: {eth0: {addresses: [10.69.0.1/24]}}
  np6a: {}
  np6b: {interfaces: {eth0: {addresses: [10.69.0.3/24]}}}
  np6c: {}
  np6d: {}
bridges:
  np6br: {namespace: np6sw, subnet: [10.69.0.0/24, "fd00:69::/64"]}
links:
  - endpoints: [np6a:eth0, np6br]
  - endpoints: [np6r:eth0, np6br]
  - endpoints: [np6b:eth0, np6br]
  - endpoints: [np6c:eth0, np6br]
  - endpoints: [np6c:eth1, np6d:eth0]
    subnet: [10.70.0.0/31, "fd00:70::/127"]
"""


def load(text):
    return from_dict(parse_yaml(text, "t.yaml"), "t.yaml")


def addresses(topo):
    return {f"{n.name}:{i.name}": i.addresses for n in topo.nodes.values()
            for i in n.interfaces.values()}


def test_lowest_free_address_in_link_order_keeping_explicit_ones():
    assert addresses(load(LAN)) == {
        "np6r:eth0": ["10.69.0.1/24", "fd00:69::2/64"],
        "np6a:eth0": ["10.69.0.2/24", "fd00:69::1/64"],  # first link, first free address
        "np6b:eth0": ["10.69.0.3/24", "fd00:69::3/64"],  # its own IPv4 kept and reserved
        "np6c:eth0": ["10.69.0.4/24", "fd00:69::4/64"],
        "np6c:eth1": ["10.70.0.0/31", "fd00:70::/127"],  # a /31 and /127: both addresses
        "np6d:eth0": ["10.70.0.1/31", "fd00:70::1/127"],
    }


def test_same_topology_same_addresses_and_the_normalized_form_keeps_them():
    first, second = load(LAN), load(LAN)
    assert addresses(first) == addresses(second)
    data = to_dict(first)
    assert data["bridges"]["np6br"]["subnet"] == ["10.69.0.0/24", "fd00:69::/64"]
    assert to_dict(from_dict(data)) == data
    assert addresses(from_dict(data)) == addresses(first)


def test_small_subnets():
    topo = load("""
name: t
nodes: {a: {}, b: {}}
links:
  - {endpoints: [a:e0, b:e0], subnet: 10.0.0.0/30}
""")
    assert addresses(topo)["a:e0"] == ["10.0.0.1/30"] and addresses(topo)["b:e0"] == ["10.0.0.2/30"]
    with pytest.raises(InputError, match="no free address left for e1"):
        load("name: t\nnodes: {a: {}, b: {}}\n"
             "links: [{endpoints: [a:e1, b:e1], subnet: 10.0.0.8/32}]\n")


BAD = [
    ("bridges: {br: {subnet: 10.0.0.1/24}}", "did you mean 10.0.0.0/24?"),
    ("bridges: {br: {subnet: banana}}", "not a network"),
    ("bridges: {br: {subnet: [10.0.0.0/24, 10.1.0.0/24]}}", "at most one per family"),
    ("nodes: {a: {}}\nbridges: {br: {}}\nlinks: [{endpoints: [a:e0, br], subnet: 10.0.0.0/24}]",
     "put subnet on the bridge"),
    ("nodes: {a: {}, b: {}, c: {}}\nbridges: {br: {subnet: 10.0.0.0/30}}\nlinks: [{endpoints: "
     "[a:e0, br]}, {endpoints: [b:e0, br]}, {endpoints: [c:e0, br]}]", "use a shorter prefix"),
    # issue 13: ranges whose addresses the kernel refuses on an interface, or drops
    ("bridges: {br: {subnet: 127.0.0.0/8}}",
     "bridges.br.subnet: 127.0.0.0/8 overlaps the loopback range 127.0.0.0/8"),
    ("bridges: {br: {subnet: 169.254.0.0/16}}", "overlaps the link-local range 169.254.0.0/16"),
    ("bridges: {br: {subnet: 'fe80::/64'}}", "overlaps the link-local range fe80::/10"),
    ("bridges: {br: {subnet: 224.1.0.0/16}}", "overlaps the multicast range 224.0.0.0/4"),
    ("bridges: {br: {subnet: 'ff02::/64'}}", "overlaps the multicast range ff00::/8"),
    ("bridges: {br: {subnet: 0.0.0.0/24}}", "overlaps the unspecified ('this network') range"),
    ("bridges: {br: {subnet: '::/64'}}", "::/64 overlaps the unspecified address ::"),
    ("nodes: {a: {}, b: {}}\nlinks: [{endpoints: [a:e0, b:e0], subnet: 96.0.0.0/3}]",
     "links[0].subnet: 96.0.0.0/3 overlaps the loopback range"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_bad_subnet_is_one_clear_line(text, message):
    with pytest.raises(InputError) as err:
        load("name: x\n" + text + "\n")
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.root
def test_assigned_addresses_are_on_the_kernel_and_reach_each_other(lab, tmp_path):
    lab(write_topology(tmp_path, LAN), name="np6addr")
    got = {a["ifname"]: sorted(f"{x['local']}/{x['prefixlen']}" for x in a["addr_info"]
                               if x.get("scope") == "global")
           for a in ns_json("np6c", "addr", "show")}
    assert got["eth0"] == ["10.69.0.4/24", "fd00:69::4/64"]
    assert got["eth1"] == ["10.70.0.0/31", "fd00:70::/127"]
    for target in ("10.69.0.1", "10.69.0.2", "10.69.0.3", "fd00:69::1", "fd00:69::2"):
        assert ping_soon("np6c", target), target
    assert ping_soon("np6d", "10.70.0.0") and ping_soon("np6d", "fd00:70::")


@pytest.mark.parametrize("subnet", ["::/64", "::/0", "::/96", "::a00:0/120"])
def test_a_low_ipv6_subnet_hands_out_ipv6_addresses(subnet):
    """An IPv6 subnet whose addresses are small numbers (issue 13): `::/64` gave 0.0.0.1/64
    (a traceback) and `::/0` planned 0.0.0.1/0, IPv4 addresses made from the numbers. Either
    every address is IPv6 and in the subnet, or the subnet is refused in one line."""
    import ipaddress

    text = (f"name: t\nnodes: {{a: {{}}, b: {{}}}}\n"
            f"links: [{{endpoints: [a:e0, b:e0], subnet: '{subnet}'}}]\n")
    try:
        topo = load(text)
    except InputError as err:
        assert "\n" not in str(err) and subnet in str(err)
        return
    net = ipaddress.ip_network(subnet)
    got = addresses(topo)
    assert len(got["a:e0"]) == len(got["b:e0"]) == 1
    for address in got["a:e0"] + got["b:e0"]:
        iface = ipaddress.ip_interface(address)
        assert iface.version == 6 and iface.ip in net and iface.network.prefixlen == net.prefixlen
    assert got["a:e0"] != got["b:e0"]
