"""Labs on several hosts, the pure parts: `hosts:` and `host:` checked, placement, VNIs,
tunnel MTUs, the planned VXLAN steps on each host, hosts files, and logs that name hosts.
No root, no ssh: tests/test_multihost.py builds such labs for real."""

import json

import pytest
import yaml

from netplay.core.errors import InputError
from netplay.model.hosts import default_address, fill_addresses, with_hosts
from netplay.model.tunnels import cross_links, vni_base, vnis
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.run import logcheck

TWO = """
name: two
hosts:
  h1: {ssh: root@198.51.100.11}
  h2: {ssh: sim2, address: 198.51.100.12}
nodes:
  a: {host: h1, interfaces: {eth0: {addresses: [10.9.0.1/24]}}}
  b: {host: h2, interfaces: {eth0: {addresses: [10.9.0.2/24]}}}
links:
  - endpoints: [a:eth0, b:eth0]
"""

BRIDGED = """
name: br3
hosts:
  h1: {ssh: h1, address: 198.51.100.11}
  h2: {ssh: h2, address: 198.51.100.12}
  h3: {ssh: h3, address: 198.51.100.13, mtu: 9000}
nodes:
  n1: {host: h1, interfaces: {eth0: {addresses: [10.8.0.1/24]}}}
  n2: {host: h2, interfaces: {eth0: {addresses: [10.8.0.2/24]}}}
  n3: {host: h3, interfaces: {eth0: {addresses: [10.8.0.3/24]}}}
  n4: {host: h1, interfaces: {eth0: {addresses: [10.8.0.4/24]}}}
bridges:
  lan: {host: h1}
links:
  - endpoints: [n1:eth0, lan]
  - endpoints: [n2:eth0, lan]
  - endpoints: [n3:eth0, lan]
  - endpoints: [n4:eth0, lan]
"""


def load(text):
    return from_dict(yaml.safe_load(text), "t.yaml")


def refused(text, *words):
    with pytest.raises(InputError) as err:
        load(text)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_a_link_between_hosts_is_a_vxlan_pair_made_on_each_host():
    topo = fill_addresses(load(TWO), {"h1": default_address(load(TWO).hosts["h1"])})
    steps = plan(topo)
    vni = vnis(topo)[0]
    made = [(s.host, s.argv) for s in steps if "vxlan" in s.argv]
    assert made == [
        ("h1", ["ip", "link", "add", "eth0", "netns", "a", "mtu", "1450", "type", "vxlan",
                "id", str(vni), "local", "198.51.100.11", "remote", "198.51.100.12",
                "dstport", "4789"]),
        ("h2", ["ip", "link", "add", "eth0", "netns", "b", "mtu", "1450", "type", "vxlan",
                "id", str(vni), "local", "198.51.100.12", "remote", "198.51.100.11",
                "dstport", "4789"])]
    assert {s.host for s in steps if s.argv[:3] == ["ip", "netns", "add"]} == {"h1", "h2"}
    assert [s.host for s in steps if s.argv[0] == "mkdir"] == ["h1", "h2"]
    assert all(s.host == "h1" for s in steps if s.argv[:3] == ["ip", "-n", "a"])
    assert not any("veth" in s.argv for s in steps)


def test_a_bridge_lives_on_one_host_and_members_elsewhere_join_by_vxlan_ports():
    topo = load(BRIDGED)
    steps = plan(topo)
    ports = [(s.host, s.argv[3]) for s in steps
             if "vxlan" in s.argv and "netns" not in s.argv]
    assert ports == [("h1", "n2_eth0"), ("h1", "n3_eth0")]  # in the root namespace of h1
    joined = [s for s in steps if s.argv[:2] == ["brctl", "addif"]]
    assert [(s.host, s.argv[3]) for s in joined] == \
        [("h1", "n1_eth0"), ("h1", "n2_eth0"), ("h1", "n3_eth0"), ("h1", "n4_eth0")]
    # every device of the segment gets the smallest MTU its tunnels carry
    assert {link.mtu for link in topo.links} == {1450}
    undo = [s.undo for s in steps if s.argv[:4] == ["ip", "link", "add", "n2_eth0"]]
    assert undo == [["ip", "link", "delete", "n2_eth0"]]
    ids = vnis(topo)
    assert len(set(ids.values())) == 2 and sorted(ids) == [1, 2]


def test_vnis_are_deterministic_from_the_lab_name_or_the_given_base():
    a, b = load(BRIDGED), load(BRIDGED)
    assert vnis(a) == vnis(b)
    assert vni_base(load(TWO)) != vni_base(a)
    based = load(TWO.replace("name: two", "name: two\nvxlan: {vni_base: 5000, port: 4790}"))
    steps = plan(fill_addresses(based, {"h1": "198.51.100.11"}))
    line = next(s.argv for s in steps if "vxlan" in s.argv)
    assert line[line.index("id") + 1] == "5000" and line[-1] == "4790"


def test_an_interface_mtu_above_what_its_tunnel_carries_is_refused():
    text = TWO.replace("{eth0: {addresses: [10.9.0.1/24]}}",
                       "{eth0: {addresses: [10.9.0.1/24], mtu: 1500}}")
    refused(text, "a:eth0", "1450", "tunnel")
    smaller = load(TWO.replace("- endpoints: [a:eth0, b:eth0]",
                               "- {endpoints: [a:eth0, b:eth0], mtu: 1400}"))
    assert smaller.links[0].mtu == 1400


def test_an_ipv6_underlay_leaves_20_bytes_less():
    topo = load(TWO.replace("198.51.100.12", "2001:db8::12"))
    topo = fill_addresses(topo, {"h1": "2001:db8::11"})
    assert topo.links[0].mtu == 1430


@pytest.mark.parametrize("change, words", [
    (("ssh: sim2,", "ssh: -oProxyCommand=x,"), ["hosts.h2.ssh", "starts with '-'"]),
    (("{ssh: sim2, address: 198.51.100.12}", "{address: 198.51.100.12}"),
     ["hosts.h2", "needs `ssh:`"]),
    (("h2: {ssh", "local: {ssh"), ["hosts.local", "choose another"]),
    (("b: {host: h2,", "b: {host: h9,"), ["nodes.b.host", "'h9' is not a host"]),
    (("b: {host: h2,", "b: {"), ["nodes.b", "no host", "placement: auto"]),
    (("address: 198.51.100.12", "address: 224.0.0.1"), ["hosts.h2.address", "unicast"]),
    (("ssh: sim2,", "ssh: 'a b',"), ["hosts.h2.ssh"]),
    (("name: two", "name: two\nvxlan: {port: 0}"), ["vxlan.port"]),
    (("name: two", "name: two\nplacement: random"), ["placement", "auto"]),
    (("h2: {ssh: sim2,", "h2: {ssh: sim2, mtu: 100,"), ["hosts.h2.mtu", "1280"]),
])
def test_bad_hosts_are_one_line_naming_where(change, words):
    refused(TWO.replace(*change), *words)


def test_host_without_hosts_section_is_refused():
    text = "name: x\nnodes:\n  a: {host: h1}\n"
    refused(text, "nodes.a.host", "no `hosts:`")


def test_container_nodes_on_hosts_are_refused_in_one_line():
    from netplay.model.runtime import with_runtime

    text = TWO.replace("b: {host: h2,", "bb: {kind: docker, host: h2,").replace(
        "b:eth0]", "bb:eth0]")
    topo = load(text)  # loads (show prints it): refused when planned
    with pytest.raises(InputError, match="nodes.bb: container nodes on hosts .* --runtime "
                                         "netns"):
        plan(topo)
    assert {s.host for s in plan(with_runtime(topo, "netns"))} == {"h1", "h2"}


def test_placement_auto_keeps_bridges_whole_chains_contiguous_and_balances_weight():
    text = """
name: auto
placement: auto
hosts: {x: {ssh: x, address: 198.51.100.1}, y: {ssh: y, address: 198.51.100.2}}
nodes:
  h1: {interfaces: {eth0: {}}}
  h2: {interfaces: {eth0: {}}}
  h3: {interfaces: {eth0: {}}}
  h4: {interfaces: {eth0: {}}}
  h5: {weight: 2, interfaces: {eth0: {}}}
bridges: {s1: {}, s2: {}}
links:
  - endpoints: [h1:eth0, s1]
  - endpoints: [h2:eth0, s1]
  - endpoints: [h3:eth0, s2]
  - endpoints: [h4:eth0, s2]
  - {endpoints: [h5:eth0, h4:eth1]}
"""
    text = text.replace("h4: {interfaces: {eth0: {}}}", "h4: {interfaces: {eth0: {}, eth1: {}}}")
    topo = load(text)
    where = {n: topo.host_of(n) for n in list(topo.nodes) + list(topo.bridges)}
    assert where["h1"] == where["h2"] == where["s1"] == "x"
    assert where["h3"] == where["h4"] == where["s2"] == "y"
    assert where["h5"] == "y"  # 6 in all: x takes s1's group (2), y the rest (4)
    again = load(text)
    assert {n: again.host_of(n) for n in where} == where
    # the normalized form pins the placement: it loads back to the same hosts
    pinned = from_dict(topo.to_dict(), "log")
    assert {n: pinned.host_of(n) for n in where} == where
    assert "placement" not in topo.to_dict()


def test_placement_auto_counts_pinned_nodes():
    text = """
name: pin
placement: auto
hosts: {x: {ssh: x, address: 198.51.100.1}, y: {ssh: y, address: 198.51.100.2}}
nodes:
  a: {host: x}
  b: {host: x}
  c: {}
  d: {}
"""
    topo = load(text)
    assert (topo.host_of("c"), topo.host_of("d")) == ("y", "y")


def test_round_trip_keeps_hosts_and_tunnels():
    topo = load(BRIDGED)
    again = from_dict(json.loads(json.dumps(topo.to_dict())), "log")
    assert again.to_dict() == topo.to_dict()
    assert [s.to_dict() for s in plan(again)] == [s.to_dict() for s in plan(topo)]
    assert topo.to_dict()["hosts"]["h3"] == {"ssh": "h3", "address": "198.51.100.13",
                                              "mtu": 9000}


def test_a_lab_without_hosts_plans_every_step_locally():
    topo = load("name: one\nnodes:\n  a: {interfaces: {eth0: {}}}\n  b: {interfaces: {eth0: {}}}\n"
                "links:\n  - endpoints: [a:eth0, b:eth0]\n")
    assert {s.host for s in plan(topo)} == {"local"}
    assert cross_links(topo) == []
    assert "hosts" not in topo.to_dict()


def test_a_hosts_file_moves_the_lab_onto_other_machines():
    topo = load(BRIDGED)
    moved = with_hosts(topo, {"hosts": {"h1": {"ssh": "other"}}}, "hosts.yaml")
    assert moved.hosts["h1"].ssh == "other" and moved.hosts["h1"].address is None
    assert moved.hosts["h2"] == topo.hosts["h2"]
    with pytest.raises(InputError, match="hosts.yaml: hosts.h9: .* no host 'h9'"):
        with_hosts(topo, {"hosts": {"h9": {"ssh": "x"}}}, "hosts.yaml")
    with pytest.raises(InputError, match="starts with '-'"):
        with_hosts(topo, {"hosts": {"h1": {"ssh": "-F/etc/passwd"}}}, "hosts.yaml")
    one = load("name: one\nnodes: {a: {}}\n")
    with pytest.raises(InputError, match="no `hosts:`"):
        with_hosts(one, {"hosts": {}}, "hosts.yaml")


def test_default_address_is_the_ip_literal_of_the_destination():
    topo = load(TWO)
    assert default_address(topo.hosts["h1"]) == "198.51.100.11"
    assert default_address(topo.hosts["h2"]) is None


def _log(topo):
    return {"format": "netplay-log", "version": 1, "lab": topo.name,
            "topology": topo.to_dict(), "steps": [s.to_dict() for s in plan(topo)]}


def test_a_log_on_several_hosts_passes_its_checks_and_a_step_moved_to_another_host_does_not():
    topo = load(BRIDGED)
    checked = logcheck.check(_log(topo), "log.json")
    assert [s.host for s in checked.steps] == [s.host for s in plan(topo)]
    moved = _log(topo)
    moved["steps"][3]["host"] = "h2"
    with pytest.raises(InputError, match=r"steps\[3\].*should run on host 'h1'"):
        logcheck.check(moved, "log.json")
    foreign = _log(topo)
    foreign["steps"][0]["host"] = "elsewhere"
    with pytest.raises(InputError, match="not one of the log's hosts"):
        logcheck.check(foreign, "log.json")


VXLAN_CLAB = """
name: vx
topology:
  nodes:
    n1: {kind: linux, image: alpine}
  links:
    - type: vxlan
      endpoint: {node: n1, interface: eth1, mac: "02:00:00:00:00:04"}
      remote: 198.51.100.12
      vni: 100
      udp-port: 4790
"""


def test_a_containerlab_vxlan_link_is_a_vxlan_interface_to_its_remote(tmp_path):
    from netplay.load.resolve import resolve

    path = tmp_path / "vx.clab.yml"
    path.write_text(VXLAN_CLAB)
    topo = resolve(str(path))
    iface = topo.nodes["n1"].interfaces["eth1"]
    assert (iface.kind, iface.tunnel.vni, iface.tunnel.remote, iface.tunnel.port) == \
        ("vxlan", 100, "198.51.100.12", 4790)
    steps = plan(topo)
    made = [s.argv for s in steps if "vxlan" in s.argv]
    assert made == [["ip", "link", "add", "eth1", "netns", "n1", "address", "02:00:00:00:00:04",
                     "type", "vxlan", "id", "100", "remote", "198.51.100.12", "dstport",
                     "4790"]]
    assert from_dict(topo.to_dict(), "log").to_dict() == topo.to_dict()
    without = VXLAN_CLAB.replace("      vni: 100\n", "")
    path.write_text(without)
    with pytest.raises(InputError, match=r"links\[0\]: a vxlan link needs `vni`"):
        resolve(str(path))


@pytest.mark.parametrize("vxlan, words", [
    ("{id: 100}", "remote"),
    ("{id: -1, remote: 198.51.100.1}", "vxlan.id"),
    ("{id: 1, remote: 127.0.0.1}", "vxlan.remote"),
    ("{id: 1, remote: 198.51.100.1, port: 70000}", "vxlan.port"),
])
def test_bad_vxlan_interfaces_are_one_line(vxlan, words):
    refused(f"name: x\nnodes:\n  a: {{interfaces: {{t0: {{kind: vxlan, vxlan: {vxlan}}}}}}}\n",
            words)
    refused("name: x\nnodes:\n  a: {interfaces: {t0: {vxlan: {id: 1, remote: 198.51.100.1}}}}\n",
            "kind vxlan")


def test_a_hosts_file_places_a_lab_without_hosts_on_its_machines(tmp_path):
    from netplay.load.resolve import on_hosts

    one = on_hosts(load("name: one\nnodes:\n  a: {interfaces: {eth0: {}}}\n"
                        "  b: {interfaces: {eth0: {}}}\nlinks:\n  - endpoints: [a:eth0, b:eth0]\n"),
                   {"hosts": {"far": {"ssh": "root@198.51.100.40"}}}, "hosts.yaml")
    assert {one.host_of(n) for n in one.nodes} == {"far"}
    assert {s.host for s in plan(fill_addresses(one, {"far": "198.51.100.40"}))} == {"far"}
    with pytest.raises(InputError, match="hosts.yaml: a hosts file is"):
        on_hosts(load("name: one\nnodes: {a: {}}\n"), {"nodes": {}}, "hosts.yaml")


def test_graphs_draw_each_host_as_a_cluster_and_tunnels_as_vxlan_edges():
    from netplay.render.graph import to_dot, to_mermaid

    topo = load(BRIDGED)
    dot = to_dot(topo)
    assert dot.count("subgraph ") == 3 and 'label="host h1 (h1)"' in dot
    cluster = dot[dot.index('label="host h2 (h2)"'):]
    assert cluster.index('"n2" [label=') < cluster.index("}")  # n2 inside h2's cluster
    assert dot.count("VXLAN ") == 2 and "style=bold" in dot
    mermaid = to_mermaid(topo)
    assert 'subgraph host_2["host h3"]' in mermaid and mermaid.count(" === ") == 0
    assert mermaid.count("===|") == 2
    one = load("name: one\nnodes:\n  a: {interfaces: {eth0: {}}}\n  b: {interfaces: {eth0: {}}}\n"
               "links:\n  - endpoints: [a:eth0, b:eth0]\n")
    assert "subgraph" not in to_dot(one) and "subgraph" not in to_mermaid(one)


def test_replay_dry_run_shows_each_host_and_the_hosts_a_hosts_file_gives(netplay, tmp_path):
    log = tmp_path / "log.json"
    log.write_text(json.dumps(_log(fill_addresses(load(TWO), {}))))
    shown = netplay("replay", "--dry-run", str(log))
    assert shown.rc == 0, shown
    assert "# host h1 (ssh root@198.51.100.11)" in shown.out
    assert "# host h2 (ssh sim2)" in shown.out
    moved = tmp_path / "hosts.yaml"
    moved.write_text("hosts:\n  h1: {ssh: root@198.51.100.21}\n")
    remapped = netplay("replay", "--dry-run", str(log), "--hosts", str(moved))
    assert remapped.rc == 0, remapped
    assert "# host h1 (ssh root@198.51.100.21)" in remapped.out
    assert "local 198.51.100.21 remote 198.51.100.12" in remapped.out
    assert "198.51.100.11" not in remapped.out
