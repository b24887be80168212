"""Generated topologies (issue 6, item 6): Mininet's linear and tree shapes, and a routed
leaf-spine fabric in which every host reaches every other host."""

import itertools
import time

import pytest

from conftest import TEST_IMAGE, ip_json
from model_net import ping, ping_soon
from netplay.core.errors import InputError
from netplay.load import builtins
from netplay.plan.build import plan


def links(topo):
    return [(str(link.a), str(link.b)) for link in topo.links]


def test_linear_is_mininets_linear_shape():
    topo = builtins.load("linear:3")
    assert topo.name == "linear-3"
    assert sorted(n for n in topo.nodes if n != "switches") == ["h1", "h2", "h3"]
    assert list(topo.bridges) == ["s1", "s2", "s3"]
    assert {b.namespace for b in topo.bridges.values()} == {"switches"}
    # Mininet's LinearTopo: addLink(hi, si), then addLink(si, s(i-1)), ports in that order
    assert links(topo) == [
        ("h1:eth0", "s1:s1-eth1"),
        ("h2:eth0", "s2:s2-eth1"), ("s2:s2-eth2", "s1:s1-eth2"),
        ("h3:eth0", "s3:s3-eth1"), ("s3:s3-eth2", "s2:s2-eth3"),
    ]
    assert [topo.nodes[f"h{i}"].interfaces["eth0"].addresses for i in (1, 2, 3)] == \
        [["10.0.0.1/8"], ["10.0.0.2/8"], ["10.0.0.3/8"]]
    assert builtins.load("linear:300").nodes["h256"].interfaces["eth0"].addresses == \
        ["10.0.1.0/8"]  # Mininet's ipAdd


def test_tree_is_mininets_tree_shape():
    topo = builtins.load("tree:2,2")
    assert topo.name == "tree-2-2"
    # Mininet's TreeTopo: switches depth first, a child's own ports before its uplink
    assert links(topo) == [
        ("s2:s2-eth1", "h1:eth0"), ("s2:s2-eth2", "h2:eth0"), ("s1:s1-eth1", "s2:s2-eth3"),
        ("s3:s3-eth1", "h3:eth0"), ("s3:s3-eth2", "h4:eth0"), ("s1:s1-eth2", "s3:s3-eth3"),
    ]
    big = builtins.load("tree:3,3")
    assert len([n for n in big.nodes if n.startswith("h")]) == 27 and len(big.bridges) == 13


def test_leafspine_is_a_full_mesh_of_leaves_and_spines_with_hosts_on_leaf_bridges():
    topo = builtins.load("leafspine:2,3,2")
    assert topo.name == "leafspine-2-3-2"
    fabric = [(a, b) for a, b in links(topo) if a.startswith("spine")]
    assert len(fabric) == 6 and {(a.split(":")[0], b.split(":")[0]) for a, b in fabric} == \
        {(f"spine{s}", f"leaf{l}") for s in (1, 2) for l in (1, 2, 3)}
    assert all(topo.nodes[n].role == "router" for n in topo.nodes if n[:4] in ("spin", "leaf"))
    assert topo.bridges["lan3"].namespace == "leaf3"
    assert topo.nodes["h6"].interfaces["eth0"].addresses == ["10.1.3.3/24", "fd00:1:3::3/64"]
    assert topo.nodes["spine2"].interfaces["down3"].addresses == ["10.0.0.10/31",
                                                                 "fd00:0:2:3::1/64"]


def test_generator_names_are_listed_and_run_with_defaults():
    assert {"linear", "tree", "leafspine", "playground"} <= set(builtins.names())
    assert builtins.load("linear").name == "linear-2"
    assert builtins.load("tree").name == "tree-1-2"
    assert builtins.load("leafspine").name == "leafspine-2-2-2"
    assert builtins.describe("tree").startswith("tree:DEPTH,FANOUT")


BAD = [
    ("linear:0", "N must be a whole number from 1 to 5000, got '0'"),
    ("linear:-3", "N must be a whole number"),
    ("linear:five", "got 'five'; use linear:N, e.g. linear:2"),
    ("linear:3,4", "linear takes at most 1 parameter (linear:N), got 2"),
    ("tree:2,x", "FANOUT must be a whole number"),
    ("tree:6,10", "that makes 1111111 nodes"),
    ("leafspine:2,2,2,2", "at most 3 parameters"),
    ("leafspine:2,2,251", "HOSTS_PER_LEAF must be a whole number from 1 to 250"),
    ("ring:4", "unknown built-in topology 'ring:4'"),
]


@pytest.mark.parametrize("spec,message", BAD, ids=[s for s, _ in BAD])
def test_bad_parameters_are_one_clear_line(spec, message):
    with pytest.raises(InputError) as err:
        builtins.load(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_thousand_hosts_load_and_plan_quickly():
    start = time.monotonic()
    topo = builtins.load("linear:1000")
    steps = plan(topo)
    assert time.monotonic() - start < 2.0
    assert len(topo.nodes) == 1001 and len(topo.bridges) == 1000 and len(topo.links) == 1999
    # every port name fits the kernel's 15 characters and every device is in a lab namespace
    assert all(step.argv[:2] != ["brctl", "addbr"] for step in steps)
    assert max(len(p) for b in topo.bridges.values() for p in b.interfaces) <= 15


def test_dry_run_of_a_generated_topology_needs_no_root(netplay):
    result = netplay("run", "--dry-run", "linear:2")
    assert result.rc == 0
    assert "ip netns add switches" in result.out  # the bridges' own namespace
    assert "ip link add eth0 netns h1 type veth peer name s1-eth1 netns switches" in result.out
    bad = netplay("run", "--dry-run", "linear:0")
    assert bad.rc == 2 and bad.err.count("\n") == 1


# --- on the kernel -------------------------------------------------------------------------


def pingall(hosts, addresses):
    failed = [(a, b) for a, b in itertools.permutations(hosts, 2)
              for addr in addresses[b] if not ping(a, addr, wait=2)]
    return failed


@pytest.mark.root
def test_linear_5_just_works(lab):
    lab("linear:5", name="linear-5")
    hosts = [f"h{i}" for i in range(1, 6)]
    assert ping_soon("h1", "10.0.0.5")
    assert pingall(hosts, {h: [f"10.0.0.{h[1:]}"] for h in hosts}) == []


@pytest.mark.root
def test_tree_pingall(lab):
    lab("tree:2,2", name="tree-2-2")
    hosts = [f"h{i}" for i in range(1, 5)]
    assert ping_soon("h1", "10.0.0.4")
    assert pingall(hosts, {h: [f"10.0.0.{h[1:]}"] for h in hosts}) == []


def leafspine_addresses(topo):
    return {n.name: [a.split("/")[0] for a in n.interfaces["eth0"].addresses]
            for n in topo.nodes.values() if n.name.startswith("h")}


@pytest.mark.root
def test_leafspine_every_host_reaches_every_other_over_ipv4_and_ipv6(lab):
    lab("leafspine:2,3,2", name="leafspine-2-3-2")
    addresses = leafspine_addresses(builtins.load("leafspine:2,3,2"))
    assert ping_soon("h1", addresses["h6"][0]) and ping_soon("h1", addresses["h6"][1])
    assert pingall(sorted(addresses), addresses) == []


@pytest.mark.root
@pytest.mark.docker
def test_leafspine_on_containers(lab):
    lab("leafspine:2,2,1", "--runtime", "docker", "--image", TEST_IMAGE,
        name="leafspine-2-2-1")
    addresses = leafspine_addresses(builtins.load("leafspine:2,2,1"))
    assert ping_soon("h1", addresses["h2"][0]) and ping_soon("h1", addresses["h2"][1])
    assert pingall(sorted(addresses), addresses) == []


@pytest.mark.root
def test_linear_devices_make_no_ipv6_link_local_address_and_hosts_still_reach(lab):
    lab("linear:3", name="linear-3")
    assert ping_soon("h1", "10.0.0.3")
    time.sleep(0.2)  # a link-local address would be there at once (no DAD wait to see it)
    for ns in ("h1", "h2", "h3", "switches"):
        devices = ip_json("-n", ns, "addr", "show")
        assert [d["ifname"] for d in devices if d["ifname"] != "lo"], ns
        for dev in devices:
            assert dev.get("addr_info") is not None
            assert not [a for a in dev["addr_info"] if a["local"].startswith("fe80:")], \
                (ns, dev["ifname"], dev["addr_info"])
    assert pingall(["h1", "h2", "h3"], {f"h{i}": [f"10.0.0.{i}"] for i in (1, 2, 3)}) == []


@pytest.mark.root
def test_a_written_lab_keeps_its_link_local_addresses(lab):
    lab("home", "--runtime", "netns")
    deadline = time.monotonic() + 3  # the kernel adds it as the link comes up
    while True:
        devices = ip_json("-n", "laptop", "addr", "show", "dev", "eth1")
        if [a for a in devices[0]["addr_info"] if a["local"].startswith("fe80:")]:
            break
        assert time.monotonic() < deadline, devices
        time.sleep(0.1)
