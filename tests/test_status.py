"""netplay status: the labs on this host and one lab node by node, checked as parsed
JSON and as table structure rather than as whole-text snapshots."""

import os
import subprocess

import pytest

from conftest import TEST_IMAGE
from netplay.lab import status
from netplay.model.validate import from_dict
from netplay.run import log as steplog


def write_log(root, lab, topology, state="up"):
    path = os.path.join(root, "labs", lab)
    os.makedirs(path, exist_ok=True)
    log = steplog.StepLog.create(os.path.join(path, "log.json"), lab, topology, [])
    log.set_status(state)
    return os.path.join(path, "log.json")


TOPO = {"name": "two", "nodes": {"aa": {"kind": "docker", "interfaces": {"e0": {"up": True}}},
                                 "b": {"kind": "netns", "interfaces": {"e0": {"up": True}}}},
        "links": [{"endpoints": ["aa:e0", "b:e0"]}]}


def test_runtime_of_reads_node_kinds():
    assert status.runtime_of({"nodes": {"a": {"kind": "netns"}, "h": {"kind": "host"}}}) == "netns"
    assert status.runtime_of(TOPO) == "mixed"
    assert status.runtime_of({"nodes": {}}) == "-"


def test_status_lists_labs_from_their_logs(netplay, state_dir):
    assert netplay("status", "--json").json() == []
    assert "no labs" in netplay("status").out
    two = write_log(state_dir, "two", from_dict(TOPO).to_dict())
    levels = write_log(state_dir, "levels", {"name": "levels", "nodes": {
        "x": {"kind": "netns"}}, "links": []}, state="down")
    rows = {r["lab"]: r for r in netplay("status", "--json").json()}
    assert set(rows) == {"two", "levels"}
    assert rows["two"]["nodes"] == 2 and rows["two"]["runtime"] == "mixed"
    assert rows["two"]["status"] == "up" and rows["two"]["log"] == two
    assert rows["levels"]["status"] == "down" and rows["levels"]["log"] == levels
    assert rows["two"]["created"]
    table = netplay("status").out.splitlines()
    assert table[0].split() == ["LAB", "STATUS", "NODES", "RUNTIME", "CREATED", "LOG"]
    body = {line.split()[0]: line.split() for line in table[2:]}
    assert body["two"][:4] == ["two", "up", "2", "mixed"] and body["two"][-1] == two


@pytest.mark.root
def test_status_of_an_unknown_lab_is_one_line(netplay):
    result = netplay("status", "nothing-here")
    assert result.rc == 2 and result.err.count("\n") == 1
    assert "no lab named 'nothing-here'" in result.err


@pytest.mark.root
def test_down_of_an_unknown_lab_is_one_line_and_leaves_no_state(netplay, state_dir):
    result = netplay("down", "nothing-here")
    assert result.rc == 2 and result.err.count("\n") == 1
    assert "no lab named 'nothing-here'" in result.err
    assert not os.path.exists(os.path.join(state_dir, "labs", "nothing-here"))


def by_name(result):
    return {n["name"]: {i["name"]: i for i in n["interfaces"]} | {"_": n}
            for n in result["nodes"]}


@pytest.mark.root
def test_status_of_levels_shows_states_addresses_and_peers(lab, netplay, state_dir):
    lab("levels")
    listing = netplay("status", "--json").json()
    assert [(r["lab"], r["status"], r["nodes"], r["runtime"]) for r in listing] == \
        [("levels", "up", 4, "netns")]
    data = netplay("status", "levels", "--json").json()
    assert data["lab"] == "levels" and data["status"] == "up"
    assert data["log"] == f"{state_dir}/labs/levels/log.json"
    nodes = by_name(data)
    assert set(nodes) == {"host", "levela", "levelb", "levelc"}
    assert nodes["levela"]["_"]["kind"] == "netns"
    veth1a = nodes["levela"]["veth1a"]
    assert veth1a["up"] is True and veth1a["operstate"] == "DOWN"  # its peer is down
    assert veth1a["addresses"] == ["172.16.1.0/24"] and veth1a["peer"] == "host:veth0a"
    assert nodes["levela"]["veth0b"]["up"] is False
    assert nodes["levela"]["veth0b"]["peer"] == "levelb:veth1b"
    assert nodes["levelb"]["veth0c"]["peer"] == "levelc:veth1c"
    assert nodes["levela"]["lo"]["type"] == "loopback"
    # the host node shows the lab's devices only, not the whole root namespace
    assert set(nodes["host"]) == {"_", "veth0a"}
    assert nodes["host"]["veth0a"]["peer"] == "levela:veth1a"
    assert nodes["host"]["veth0a"]["state"] == "DOWN"


@pytest.mark.root
def test_status_of_home_shows_bridge_ports_and_missing_devices(lab, netplay):
    lab("home", "--runtime", "netns")
    nodes = by_name(netplay("status", "home", "--json").json())
    assert nodes["home"]["_"]["kind"] == "bridge"
    assert nodes["home"]["home"]["ports"] == ["laptop_eth1", "router_eth1"]
    assert nodes["home"]["laptop_eth1"]["bridge"] == "home"
    assert nodes["home"]["laptop_eth1"]["peer"] == "laptop:eth1"
    assert nodes["laptop"]["eth1"]["peer"] == "home:laptop_eth1"
    assert nodes["router"]["eth0"]["peer"] == "verizon:eth1"
    assert nodes["router"]["_"]["forwarding"] is True
    assert nodes["verizon"]["eth1"]["addresses"] == ["198.51.100.1/30"]
    # the text form: a heading per node, then a table with these columns
    text = netplay("status", "home").out.splitlines()
    heading = text.index("router (netns, forwarding)")
    assert text[heading + 1].split() == ["INTERFACE", "TYPE", "STATE", "ADDRESSES", "PEER",
                                         "BRIDGE"]
    subprocess.run(["ip", "-n", "laptop", "link", "delete", "eth1"], check=True)
    nodes = by_name(netplay("status", "home", "--json").json())
    assert nodes["laptop"]["eth1"]["state"] == "MISSING"
    assert nodes["home"]["laptop_eth1"]["state"] == "MISSING"  # the pair went together


@pytest.mark.root
@pytest.mark.docker
def test_status_of_containers_shows_their_state(lab, netplay):
    lab("home", "--image", TEST_IMAGE)
    assert netplay("status", "--json").json()[0]["runtime"] == "docker"
    nodes = by_name(netplay("status", "home", "--json").json())
    assert {n: nodes[n]["_"]["container"] for n in ("laptop", "router", "verizon")} == \
        {"laptop": "running", "router": "running", "verizon": "running"}
    assert nodes["laptop"]["eth1"]["peer"] == "home:laptop_eth1"
    subprocess.run(["docker", "stop", "-t", "1", "verizon"], check=True, capture_output=True)
    nodes = by_name(netplay("status", "home", "--json").json())
    assert nodes["verizon"]["_"]["container"] == "exited"
