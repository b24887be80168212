"""Loading and validation: pure, no root."""

import pytest

from netplay import builtins
from netplay.errors import InputError
from netplay.topology import from_dict, parse_yaml, to_dict, with_runtime

MINIMAL = """
name: t1
nodes:
  a: {interfaces: {eth0: {addresses: [10.0.0.1/24]}}}
  b: {interfaces: {eth0: {addresses: [10.0.0.2/24, "fd00:1::2/64"]}}}
links:
  - endpoints: [a:eth0, b:eth0]
"""


def load(text):
    return from_dict(parse_yaml(text, "t.yaml"), "t.yaml")


def test_minimal_topology_loads_into_typed_objects():
    topo = load(MINIMAL)
    assert list(topo.nodes) == ["a", "b"]
    assert topo.nodes["b"].interfaces["eth0"].addresses == ["10.0.0.2/24", "fd00:1::2/64"]
    assert str(topo.links[0].a) == "a:eth0" and str(topo.links[0].b) == "b:eth0"


def test_normalized_form_round_trips():
    for name in builtins.names():
        topo = builtins.load(name)
        assert to_dict(from_dict(to_dict(topo))) == to_dict(topo)
    linear = to_dict(builtins.load("linear:2"))
    assert linear["ipv6_link_local"] is False  # kept, or a replayed plan would differ
    assert from_dict(linear).ipv6_link_local is False


def test_levels_places_veth0a_in_the_root_namespace():
    topo = builtins.load("levels")
    assert topo.nodes["host"].kind == "host"
    assert topo.namespace_of("host") is None
    assert topo.nodes["host"].interfaces["veth0a"].up is False
    assert topo.nodes["levela"].interfaces["veth1a"].addresses == ["172.16.1.0/24"]
    assert topo.nodes["levela"].interfaces["veth0b"].up is False


def test_bridge_port_is_named_like_the_tutorial():
    topo = builtins.load("home")
    ends = {str(link.b) for link in topo.links}
    assert "home:laptop_eth1" in ends and "home:router_eth1" in ends


def test_with_runtime_switches_container_nodes_and_image():
    topo = builtins.load("home")
    assert {n.kind for n in topo.nodes.values()} == {"docker"}
    netns = with_runtime(topo, "netns")
    assert {n.kind for n in netns.nodes.values()} == {"netns"}
    other = with_runtime(topo, None, "netplay-busybox")
    assert other.image == "netplay-busybox"
    assert {n.kind for n in other.nodes.values()} == {"docker"}


BAD = [
    ("name: x\nnodes: {a: {kind: netns}\n", "malformed YAML at line"),
    ("name: x\nnodes:\n  a: {}\n  a: {}\n", "duplicate key 'a'"),
    ("name: x\nnodes:\n  a: {adresses: []}\n", "unknown key 'adresses'"),
    ("name: x\nfoo: 1\n", "unknown key 'foo'"),
    ("nodes: {}\n", "missing required key 'name'"),
    ("name: x\nnodes: {a: {}}\nlinks: [{endpoints: [a:averyveryverylongname, a:b]}]\n",
     "limit is 15"),
    ("name: x\nnodes: {'a;rm': {}}\n", "may use only letters"),
    ("name: x\nnodes: {'-a': {}}\n", "must not start with '-'"),
    ("name: x\nnodes: {a: {}, b: {}}\nlinks: [{endpoints: [a:e0, c:e0]}]\n",
     "names node 'c', which is not defined"),
    ("name: x\nnodes: {a: {interfaces: {e0: {addresses: [10.0.0.300/24]}}}, b: {}}\n"
     "links: [{endpoints: [a:e0, b:e0]}]\n", "not a valid IPv4 or IPv6 CIDR"),
    ("name: x\nnodes: {a: {interfaces: {e0: {addresses: [10.0.0.3]}}}, b: {}}\n"
     "links: [{endpoints: [a:e0, b:e0]}]\n", "not an address with a prefix"),
    ("name: x\nnodes: {a: {interfaces: {e9: {}}}}\n", "no link creates this interface"),
    ("name: x\nnodes: {a: {}, b: {}}\nlinks: [{endpoints: [a:e0, b:e0]}, {endpoints: [a:e0, b:e1]}]\n",
     "both make interface 'e0'"),
    ("name: x\nnodes: {a: {kind: vm}}\n", "unknown kind 'vm'"),
    ("name: x\nnodes: {a: {routes: [{to: default, via: 10.0.0.1, dev: nope}]}}\n",
     "has no interface 'nope'"),
    ("name: x\nnodes: {a: {routes: [{to: 10.9.0.0/33, via: 10.0.0.1}]}}\n", "not 'default' or a CIDR"),
    ("name: x\nnodes: {h1: {kind: host}, h2: {kind: host}}\n", "keep one host node"),
    ("name: x\nnodes: {a: {}}\nbridges: {a: {}}\n", "a node has that name already"),
    ("name: x\nnodes: {averyveryverylongnode: {}}\nbridges: {br: {}}\n"
     "links: [{endpoints: [averyveryverylongnode:eth1, br]}]\n", "name it: 'br:PORT'"),
    ("name: x\nnodes: {ab: {kind: docker, image: 'UB;UNTU'}}\n", "not a valid image reference"),
    ("name: x\nnodes: {ab: {kind: docker, env: {'A B': x}}}\n", "not a valid variable name"),
    ("- just\n- a list\n", "expected a mapping"),
    ("name: x\nnodes: {c: {kind: docker}}\n", "two characters or more"),
    ("name: x\nnodes: {a: {}, b: {}}\nlinks: [{endpoints: [a:up, b:e0]}]\n",
     "is a keyword of `ip link`"),
    ("name: x\nipv6_link_local: 'no'\n", "t.yaml: ipv6_link_local: expected true or false"),
    ("{{}}\n", "t.yaml: line 1: a key must be a name, not a mapping"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_bad_input_is_one_clear_line(text, message):
    with pytest.raises(InputError) as err:
        load(text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_validation_takes_linear_time_on_a_574_node_fabric():
    """Every command that loads a lab validates it: leafspine:64,255,1 (33,000 interfaces,
    34,000 routes) took 14 s when the gateway checks compared every route with every
    network of its node; under 1 s now. The bound leaves room for a busy machine."""
    import time

    start = time.process_time()
    topo = builtins.load("leafspine:64,255,1")
    assert time.process_time() - start < 3
    assert len(topo.nodes) == 574 and sum(len(n.routes) for n in topo.nodes.values()) == 33660
