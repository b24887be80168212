"""containerlab topologies: the mapping into netplay's model (pure), and labs built from
containerlab files on real namespaces and containers, checked through `ip -j`.

The containerlab files here are written for this suite. Names carry the prefix np9- so
that they do not meet other tests' objects.
"""

import json
import os
import subprocess
import textwrap

import pytest
import yaml

from conftest import TEST_IMAGE, ip_json
from netplay.core.errors import InputError
from netplay.load import clab
from netplay.load.resolve import resolve
from netplay.load.yamlfile import parse_yaml, read_text
from netplay.model.validate import from_dict
from netplay.plan.build import plan


def write(tmp_path, text, name="np9.clab.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def load(tmp_path, text, name="np9.clab.yml"):
    warnings = []
    path = write(tmp_path, text, name)
    topo = clab.load_data(parse_yaml(read_text(path), path), path, warn=warnings.append)
    return topo, warnings


def argvs(topo):
    return [step.argv for step in plan(topo)]


# --- mapping (pure) -----------------------------------------------------------------------------

INHERIT = """
    name: np9-inherit
    topology:
      defaults:
        kind: linux
        env: {A: defaults, B: defaults, FLAG: true}
        exec: ["echo defaults"]
        binds: [shared:/shared, /srv/d:/d:ro]
      kinds:
        linux:
          image: np9-kind-image
          env: {B: kind, C: kind}
          exec: ["echo kind"]
          binds: [/srv/k:/d]
      groups:
        edge:
          image: np9-group-image
          env: {C: group}
          exec: ["echo 'group word'"]
          cmd: sleep 300
      nodes:
        na:
          group: edge
          env: {D: node}
          exec: ["ip link set eth1 up"]
          dns: {servers: [192.0.2.53, "2001:db8::53"]}
        nb:
          image: np9-node-image
          cmd: "sh -c 'sleep 1000'"
      links:
        - endpoints: ["na:eth1", "nb:eth1"]
"""


def test_inheritance_defaults_kinds_groups_node(tmp_path):
    topo, warnings = load(tmp_path, INHERIT)
    a, b = topo.nodes["na"], topo.nodes["nb"]
    assert a.kind == b.kind == "docker"
    # one value: the most specific layer wins (node > group > kind > defaults)
    assert a.image == "np9-group-image" and b.image == "np9-node-image"
    assert a.cmd == ["sleep", "300"] and b.cmd == ["sh", "-c", "sleep 1000"]
    # maps merge, the more specific key winning
    assert a.env == {"A": "defaults", "B": "kind", "C": "group", "D": "node", "FLAG": "true"}
    assert b.env == {"A": "defaults", "B": "kind", "C": "kind", "FLAG": "true"}
    # exec lists concatenate: defaults, kind, group, node; each split into arguments
    assert a.exec == [["echo", "defaults"], ["echo", "kind"], ["echo", "group word"],
                      ["ip", "link", "set", "eth1", "up"]]
    assert b.exec == [["echo", "defaults"], ["echo", "kind"]]
    # binds merge by container path; relative host paths are the topology file's
    assert sorted(a.binds) == sorted([f"{tmp_path}/shared:/shared", "/srv/k:/d"])
    assert a.dns == ["192.0.2.53", "2001:db8::53"] and b.dns == []
    assert warnings == []


def test_kind_from_group_and_default_group(tmp_path):
    topo, _ = load(tmp_path, """
        name: np9-groups
        topology:
          defaults: {group: sw}
          groups:
            sw: {kind: bridge}
            hosts: {kind: linux, image: np9-x}
          nodes:
            np9-br: {}
            h1: {group: hosts}
          links:
            - endpoints: ["h1:eth1", "np9-br:np9-h1"]
    """)
    assert list(topo.bridges) == ["np9-br"] and topo.nodes["h1"].kind == "docker"
    assert topo.nodes["h1"].image == "np9-x"


def test_links_brief_extended_host_dummy_and_addresses(tmp_path):
    topo, warnings = load(tmp_path, """
        name: np9-links
        topology:
          kinds: {linux: {image: np9-img}}
          nodes:
            r1: {kind: linux}
            r2: {kind: linux}
            np9-br: {kind: bridge}
          links:
            - endpoints: ["r1:eth1", "r2:eth1"]
              mtu: 9000
              ipv4: [10.9.0.1/24, 10.9.0.2/24]
              ipv6: ["fd00:9::1/64", "fd00:9::2/64"]
            - type: veth
              mtu: 1400
              endpoints:
                - {node: r1, interface: eth2, mac: "02:00:00:00:09:01", ipv4: 10.9.1.1/24}
                - {node: np9-br, interface: np9-br-r1}
            - endpoints: ["r2:eth2", "host:np9-r2"]
            - type: host
              endpoint: {node: r1, interface: eth3, mac: "02:00:00:00:09:03"}
              host-interface: np9-r1
              mtu: 1500
            - type: dummy
              endpoint: {node: r2, interface: dummy0, mac: "02:00:00:00:09:04"}
              mtu: 1280
    """)
    assert warnings == []
    data = topo.to_dict()
    assert data["links"] == [
        {"endpoints": ["r1:eth1", "r2:eth1"], "mtu": 9000},
        {"endpoints": ["r1:eth2", "np9-br:np9-br-r1"], "mtu": 1400},
        {"endpoints": ["r2:eth2", "host:np9-r2"]},
        {"endpoints": ["r1:eth3", "host:np9-r1"], "mtu": 1500},
    ]
    r1 = data["nodes"]["r1"]["interfaces"]
    assert r1["eth1"]["addresses"] == ["10.9.0.1/24", "fd00:9::1/64"]
    assert r1["eth2"] == {"up": True, "addresses": ["10.9.1.1/24"], "mac": "02:00:00:00:09:01"}
    assert r1["eth3"]["mac"] == "02:00:00:00:09:03"
    assert data["nodes"]["r2"]["interfaces"]["dummy0"] == {
        "up": True, "mac": "02:00:00:00:09:04", "mtu": 1280, "kind": "dummy"}
    assert data["nodes"]["host"] == {"kind": "host", "interfaces": {
        "np9-r2": {"up": True}, "np9-r1": {"up": True}}}
    assert list(data["bridges"]) == ["np9-br"]
    commands = argvs(topo)
    assert ["ip", "link", "add", "eth1", "netns", "r1", "mtu", "9000", "type", "veth", "peer",
            "name", "eth1", "netns", "r2", "mtu", "9000"] in commands
    assert ["ip", "link", "add", "eth2", "netns", "r1", "address", "02:00:00:00:09:01", "mtu",
            "1400", "type", "veth", "peer", "name", "np9-br-r1", "mtu", "1400"] in commands
    assert ["ip", "-n", "r2", "link", "add", "dummy0", "address", "02:00:00:00:09:04",
            "mtu", "1280", "type", "dummy"] in commands


def test_unmodeled_fields_are_one_warning_line_each(tmp_path):
    topo, warnings = load(tmp_path, """
        name: np9-warn
        prefix: ""
        mgmt: {network: np9-mgmt, ipv4-subnet: 172.20.20.0/24}
        topology:
          defaults: {kind: linux, image: np9-img, ports: ["8080:80"]}
          nodes:
            na:
              mgmt-ipv4: 172.20.20.2
              healthcheck: {test: [CMD, "true"]}
              labels: {x: y}
              dns: {servers: [192.0.2.1], search: [lab.example]}
            nb: {}
          links:
            - endpoints: ["na:eth1", "nb:eth1"]
              vars: {x: 1}
            - endpoints: ["na:eth9", "mgmt-net:na-eth9"]
            - type: macvlan
              endpoint: {node: na, interface: eth8}
              host-interface: eth0
    """)
    assert len(topo.links) == 1
    assert all(w.startswith(f"{tmp_path}/np9.clab.yml: ") for w in warnings)
    where = [w.split(": ")[1] for w in warnings]
    assert where == ["mgmt", "topology.defaults.ports", "topology.nodes.na.mgmt-ipv4",
                     "topology.nodes.na.healthcheck", "topology.nodes.na.labels",
                     "topology.nodes.na.dns.search", "topology.links[0].vars",
                     "topology.links[1]", "topology.links[2]"]
    assert all("\n" not in w for w in warnings)


@pytest.mark.parametrize("text, message", [
    ("""
        name: np9-vendor
        topology:
          nodes:
            srl1: {kind: nokia_srlinux, image: ghcr.io/nokia/srlinux}
     """, "topology.nodes.srl1: kind 'nokia_srlinux' is not one netplay can build"),
    ("""
        name: np9-ovs
        topology:
          nodes:
            sw: {kind: ovs-bridge}
     """, "(use kind: bridge"),
    ("""
        name: np9-nokind
        topology:
          nodes:
            a: {image: x}
     """, "topology.nodes.a: no kind; set `kind: linux`"),
    ("""
        name: np9-undefined
        topology:
          nodes:
            a: {kind: linux}
          links:
            - endpoints: ["a:eth1", "b:eth1"]
     """, "topology.links[0].endpoints[1]: node 'b' is not defined"),
    ("""
        name: np9-longif
        topology:
          nodes:
            a: {kind: linux}
            b: {kind: linux}
          links:
            - endpoints: ["a:ethernet-1/1", "b:eth1"]
     """, "topology.links[0].endpoints[0]"),
    ("""
        name: np9-type
        topology:
          nodes:
            a: {kind: linux}
          links:
            - type: tunnel
              endpoint: {node: a, interface: eth1}
     """, "unknown link type 'tunnel'"),
    ("""
        name: np9-mac
        topology:
          nodes:
            a: {kind: linux}
            b: {kind: linux}
          links:
            - type: veth
              endpoints:
                - {node: a, interface: eth1, mac: "01:00:5e:00:00:01"}
                - {node: b, interface: eth1}
     """, "topology.links[0].endpoints[0].mac: '01:00:5e:00:00:01' is a multicast"),
    ("""
        name: np9-group
        topology:
          nodes:
            a: {kind: linux, group: nope}
     """, "topology.nodes.a.group: no group 'nope'"),
])
def test_errors_name_the_place_in_the_containerlab_file(tmp_path, text, message):
    with pytest.raises(InputError) as err:
        load(tmp_path, text)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_resolve_routes_containerlab_files_by_suffix_or_topology_key(tmp_path):
    body = """
        name: np9-route
        topology:
          nodes:
            na: {kind: linux}
    """
    for name in ("np9.clab.yml", "np9.clab.yaml", "plain.yaml"):
        topo = resolve(write(tmp_path, body, name))
        assert topo.name == "np9-route" and topo.nodes["na"].kind == "docker"
    own = write(tmp_path, "name: np9-own\nnodes: {a: {}}\n", "own.yaml")
    assert not clab.is_clab_data(own, parse_yaml(read_text(own), own))
    assert resolve(own).nodes["a"].kind == "netns"


def test_runtime_netns_and_show_output_loads_back_unchanged(tmp_path, netplay):
    path = write(tmp_path, INHERIT)
    shown = netplay("show", path, "--runtime", "netns")
    assert shown.rc == 0, shown
    data = yaml.safe_load(shown.out)
    assert data["nodes"]["na"]["kind"] == "netns"
    assert from_dict(data).to_dict() == data
    as_json = netplay("show", path, "--json")
    assert as_json.rc == 0 and as_json.json()["nodes"]["na"]["kind"] == "docker"
    dry = netplay("run", "--dry-run", "--runtime", "netns", path)
    assert "ip netns exec na ip link set eth1 up" in dry.out
    dry = netplay("run", "--dry-run", "--runtime", "docker", path)
    assert 'nsenter --target "$pid_na" --all ip link set eth1 up' in dry.out
    assert f"-v {tmp_path}/shared:/shared" in dry.out


# --- netplay's own keys that the mapping needs (topology.py) ------------------------------------


def test_model_keys_for_containerlab_are_validated():
    base = {"name": "np9-keys", "nodes": {"a": {}, "b": {}},
            "links": [{"endpoints": ["a:e1", "b:e1"]}]}

    def bad(patch, message):
        data = json.loads(json.dumps(base))
        patch(data)
        with pytest.raises(InputError) as err:
            from_dict(data)
        assert message in str(err.value)

    bad(lambda d: d["nodes"]["a"].update(interfaces={"e1": {"mac": "zz"}}), "not a MAC")
    bad(lambda d: d["nodes"]["a"].update(interfaces={"e1": {"mtu": 67}}), "not an MTU")
    bad(lambda d: d["links"][0].update(mtu="9000"), "not an MTU")
    bad(lambda d: d["nodes"]["a"].update(exec=["ip addr"]), "list of arguments")
    bad(lambda d: d["nodes"]["a"].update(binds=["rel:/x"]), "both paths absolute")
    bad(lambda d: d["nodes"].update(h={"kind": "host", "exec": [["true"]]}), "root namespace")
    bad(lambda d: d["nodes"]["a"].update(interfaces={"e1": {"kind": "dummy"}}),
        "both make interface 'e1'")
    bad(lambda d: d["nodes"].update(h={"kind": "host", "interfaces": {"d": {"kind": "dummy"}}}),
        "netns or docker nodes only")


# --- on the real kernel -------------------------------------------------------------------------

ON_NAMESPACES = """
    name: np9-clabns
    topology:
      defaults: {kind: linux, image: np9-unused}
      nodes:
        np9-r1:
          exec:
            - ip route add 10.9.9.0/24 via 10.9.0.2
            - ip link set eth2 alias set-by-exec
        np9-r2: {}
        np9-br: {kind: bridge}
      links:
        - endpoints: ["np9-r1:eth1", "np9-r2:eth1"]
          ipv4: [10.9.0.1/24, 10.9.0.2/24]
          ipv6: ["fd00:9::1/64", "fd00:9::2/64"]
          mtu: 9000
        - type: veth
          mtu: 1400
          endpoints:
            - {node: np9-r1, interface: eth2, mac: "02:00:00:00:09:01", ipv4: 10.9.1.1/24}
            - {node: np9-br, interface: np9-br-r1}
        - endpoints: ["np9-r2:eth2", "np9-br:np9-br-r2"]
        - type: host
          endpoint: {node: np9-r2, interface: eth3, mac: "02:00:00:00:09:03"}
          host-interface: np9-r2h
"""


def links_of(ns=None):
    return {i["ifname"]: i for i in ip_json(*(["-n", ns] if ns else []), "-d", "addr", "show")}


def addrs(link):
    return sorted(f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                  if a.get("scope") == "global")


@pytest.mark.root
def test_containerlab_lab_on_namespaces(tmp_path, lab):
    result = lab(write(tmp_path, ON_NAMESPACES), "--runtime", "netns", name="np9-clabns")
    assert "np9-clabns is up" in result.out
    r1, r2, root = links_of("np9-r1"), links_of("np9-r2"), links_of()
    # brief link: addresses from the link's ipv4/ipv6, both ends' mtu
    assert addrs(r1["eth1"]) == ["10.9.0.1/24", "fd00:9::1/64"]
    assert addrs(r2["eth1"]) == ["10.9.0.2/24", "fd00:9::2/64"]
    assert r1["eth1"]["mtu"] == r2["eth1"]["mtu"] == 9000
    assert r1["eth1"]["linkinfo"]["info_kind"] == "veth"
    assert r1["eth1"]["link_index"] == r2["eth1"]["ifindex"]
    # extended veth: the endpoint's mac and address, the link's mtu on both ends
    assert r1["eth2"]["address"] == "02:00:00:00:09:01" and r1["eth2"]["mtu"] == 1400
    assert addrs(r1["eth2"]) == ["10.9.1.1/24"]
    # the bridge node: netplay made it, with the two ports named in the file
    assert root["np9-br"]["linkinfo"]["info_kind"] == "bridge"
    assert root["np9-br-r1"]["master"] == "np9-br" and root["np9-br-r1"]["mtu"] == 1400
    assert root["np9-br-r2"]["master"] == "np9-br"
    # host link: one end in the root namespace under host-interface
    assert root["np9-r2h"]["linkinfo"]["info_kind"] == "veth"
    assert r2["eth3"]["address"] == "02:00:00:00:09:03"
    assert all("UP" in i["flags"] for i in (r1["eth1"], r1["eth2"], r2["eth3"],
                                              root["np9-r2h"]))
    # exec ran after the links were up: its route and alias are there
    routes = ip_json("-n", "np9-r1", "route", "show")
    assert {"dst": "10.9.9.0/24", "gateway": "10.9.0.2", "dev": "eth1"}.items() <= \
        next(r for r in routes if r["dst"] == "10.9.9.0/24").items()
    assert r1["eth2"]["ifalias"] == "set-by-exec"
    ping = subprocess.run(["ip", "netns", "exec", "np9-r1", "ping", "-c", "1", "-w", "3",
                           "10.9.0.2"], capture_output=True)
    assert ping.returncode == 0


ON_CONTAINERS = """
    name: np9-clabdk
    topology:
      kinds:
        linux:
          image: {image}
          env: {{NP9_KIND: kind}}
      nodes:
        np9-c1:
          kind: linux
          env: {{NP9_NODE: node}}
          binds: ["{bind}:/np9:ro"]
          dns: {{servers: [192.0.2.53]}}
          exec:
            - ip addr add 10.9.2.1/24 dev eth1
            - ip link set eth1 mtu 1300
        np9-c2:
          kind: linux
          exec: ["ip addr add 10.9.2.2/24 dev eth1"]
      links:
        - type: veth
          endpoints:
            - {{node: np9-c1, interface: eth1, mac: "02:00:00:00:09:11"}}
            - {{node: np9-c2, interface: eth1}}
"""


def inspect(name):
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True)
    return json.loads(out.stdout)[0]


@pytest.mark.root
@pytest.mark.docker
def test_containerlab_lab_on_containers(tmp_path, lab):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("np9\n")
    text = ON_CONTAINERS.format(image=TEST_IMAGE, bind=shared)
    lab(write(tmp_path, text), name="np9-clabdk")
    c1 = inspect("np9-c1")
    assert c1["HostConfig"]["NetworkMode"] == "none"
    assert c1["Config"]["Labels"]["netplay.lab"] == "np9-clabdk"
    assert {"NP9_KIND=kind", "NP9_NODE=node"} <= set(c1["Config"]["Env"])
    assert c1["HostConfig"]["Dns"] == ["192.0.2.53"]
    assert c1["HostConfig"]["Binds"] == [f"{shared}:/np9:ro"]
    assert not c1["HostConfig"]["Privileged"]
    cat = subprocess.run(["docker", "exec", "np9-c1", "cat", "/np9/hello"],
                         capture_output=True, text=True)
    assert cat.stdout == "np9\n"
    # exec (nsenter into the container's namespaces) configured the container's network
    e1, e2 = links_of("np9-c1")["eth1"], links_of("np9-c2")["eth1"]
    assert addrs(e1) == ["10.9.2.1/24"] and addrs(e2) == ["10.9.2.2/24"]
    assert e1["address"] == "02:00:00:00:09:11" and e1["mtu"] == 1300
    ping = subprocess.run(["docker", "exec", "np9-c2", "ping", "-c", "1", "-W", "3",
                           "10.9.2.1"], capture_output=True)
    assert ping.returncode == 0


def dummy_supported():
    if os.path.isdir("/sys/module/dummy"):
        return True
    try:
        with open(f"/lib/modules/{os.uname().release}/modules.dep") as f:
            return "/dummy.ko" in f.read()
    except OSError:
        return False


@pytest.mark.root
@pytest.mark.skipif(not dummy_supported(), reason="this kernel has no dummy driver")
def test_containerlab_dummy_link(tmp_path, lab):
    lab(write(tmp_path, """
        name: np9-clabdum
        topology:
          nodes:
            np9-d1: {kind: linux}
          links:
            - type: dummy
              endpoint: {node: np9-d1, interface: dummy0, mac: "02:00:00:00:09:21"}
              mtu: 1280
    """), "--runtime", "netns", name="np9-clabdum")
    d = links_of("np9-d1")["dummy0"]
    assert d["linkinfo"]["info_kind"] == "dummy" and d["mtu"] == 1280
    assert d["address"] == "02:00:00:00:09:21"


DUMMY_SMOKE = """
    name: np9-clabdum
    topology:
      nodes:
        np9-d1: {kind: linux}
        np9-d2: {kind: linux}
      links:
        - endpoints: ["np9-d1:eth1", "np9-d2:eth1"]
          ipv4: [10.9.3.1/24, 10.9.3.2/24]
        - type: dummy
          endpoint: {node: np9-d1, interface: dummy0, mac: "02:00:00:00:09:21"}
"""


@pytest.mark.root
def test_the_kernel_probe_agrees_with_the_kernels_modules():
    from netplay.observe import kernel
    from netplay.machine.local import LocalMachine

    assert kernel.available(LocalMachine(), "dummy") == dummy_supported()


@pytest.mark.root
@pytest.mark.skipif(dummy_supported(), reason="this kernel has a dummy driver: the link is "
                                              "built instead")
def test_without_a_dummy_driver_a_dummy_link_is_refused_before_any_change(
        tmp_path, netplay, host_unchanged, state_dir):
    """This kernel has no dummy link type: the lab used to fail half built, at the step
    that made the dummy. Now the kernel is probed first and nothing runs."""
    result = netplay("run", write(tmp_path, DUMMY_SMOKE), "--runtime", "netns")
    assert result.rc == 2, result
    lines = result.err.strip().splitlines()
    assert lines == ["netplay: error: np9-clabdum: np9-d1:dummy0 is a dummy interface, but "
                     "this kernel has no dummy link type (CONFIG_DUMMY; try `modprobe "
                     "dummy`); remove the dummy interface (containerlab: the `type: dummy` "
                     "link) or run it on a kernel with dummy"], result
    assert not os.path.exists(f"{state_dir}/labs/np9-clabdum/log.json")  # nothing ran


def test_the_documented_example_converts_as_documented(tmp_path):
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parent.parent / "docs" / "containerlab.md"
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
              if "\ntopology:" in b]
    assert blocks
    topo, warnings = load(tmp_path, blocks[0])
    assert warnings == []
    c1 = topo.nodes["c1"]
    assert c1.env == {"SITE": "lab", "ROLE": "client"}
    assert c1.exec == [["ip", "link", "set", "lo", "up"],
                       ["ip", "route", "add", "default", "via", "10.9.0.1"]]
    assert "sw" in topo.bridges and topo.nodes["host"].kind == "host"
    assert topo.nodes["r1"].interfaces["eth2"].mac == "02:00:00:00:09:01"
