"""`netplay clean`: leftovers found by ownership marks, look-alikes never touched."""

import shutil
import subprocess

import pytest

from conftest import DOCKER, TEST_IMAGE, snapshot

pytestmark = pytest.mark.root


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


@pytest.fixture
def foreign():
    """Objects that look like netplay's but are not: they must survive any clean."""
    made = []
    sh("ip", "netns", "add", "npt-levela")
    made.append(("ip", "netns", "delete", "npt-levela"))
    sh("ip", "-n", "npt-levela", "link", "set", "lo", "alias", "netplay-ish:levels")
    sh("ip", "link", "add", "npt-home", "type", "bridge")
    made.append(("ip", "link", "delete", "npt-home"))
    sh("ip", "link", "add", "npt-lap_eth1", "type", "veth", "peer", "name", "npt-lap_eth2")
    made.append(("ip", "link", "delete", "npt-lap_eth1"))
    sh("ip", "link", "set", "npt-lap_eth1", "alias", "netplay")
    rule = ["FORWARD", "-i", "npt-home", "-o", "npt-home", "-m", "comment", "--comment",
            "netplayer:home", "-j", "ACCEPT"]
    sh("iptables", "-I", *rule)
    made.append(("iptables", "-D", *rule))
    if DOCKER:
        sh("docker", "run", "-d", "--net=none", "--name=npt-router", "--label", "netplay.other=x",
           TEST_IMAGE, "sleep", "600")
        made.append(("docker", "rm", "-f", "npt-router"))
    yield snapshot()
    for argv in reversed(made):
        sh(*argv, check=False)


def test_clean_finds_only_marked_objects_and_removes_them(netplay, state_dir, foreign):
    before = foreign
    assert netplay("run", "levels").rc == 0
    assert netplay("run", "home", "--runtime", "netns").rc == 0
    shutil.rmtree(f"{state_dir}/labs")  # the logs are lost: only the marks remain
    try:
        listed = netplay("clean", "--json")
        assert listed.rc == 0, listed
        # (other labs on this machine are not this test's business)
        found = {(row["kind"], row["name"], row["lab"]) for row in listed.json()
                 if row["lab"] in ("levels", "home")}
        assert found == {
            ("namespace", "levela", "levels"), ("namespace", "levelb", "levels"),
            ("namespace", "levelc", "levels"), ("interface", "veth0a", "levels"),
            ("namespace", "laptop", "home"), ("namespace", "router", "home"),
            ("namespace", "verizon", "home"), ("bridge", "home", "home"),
            ("interface", "laptop_eth1", "home"), ("interface", "router_eth1", "home"),
            ("firewall rule", "-i home -o home -m comment --comment netplay:home -j ACCEPT",
             "home"),
            ("firewall rule", "IPv6 -i home -o home -m comment --comment netplay:home -j ACCEPT",
             "home"),
        }
        assert snapshot()["netns"] != before["netns"], "listing alone removes nothing"
        for lab in ("levels", "home"):
            removed = netplay("clean", lab, "--yes")
            assert removed.rc == 0, removed
    finally:
        netplay("clean", "levels", "--yes")
        netplay("clean", "home", "--yes")
    assert snapshot() == before, "exactly netplay's objects are gone; the look-alikes stay"


def test_clean_of_one_lab_leaves_the_others(netplay, state_dir, host_unchanged):
    assert netplay("run", "levels").rc == 0
    assert netplay("run", "home", "--runtime", "netns").rc == 0
    try:
        assert netplay("clean", "home", "--yes").rc == 0
        left = {row["lab"] for row in netplay("clean", "--json").json()}
        assert "levels" in left and "home" not in left
        # the cleaned lab's log now says down: a second down has nothing to do
        assert "nothing to do" in netplay("down", "home").out
    finally:
        netplay("down", "levels")
        netplay("clean", "home", "--yes")


@pytest.mark.docker
def test_clean_removes_labelled_containers(netplay, state_dir, foreign):
    assert netplay("run", "home", "--image", TEST_IMAGE).rc == 0
    shutil.rmtree(f"{state_dir}/labs")
    try:
        rows = netplay("clean", "home", "--json").json()
        assert {r["name"] for r in rows if r["kind"] == "container"} == \
            {"laptop", "router", "verizon"}
        assert netplay("clean", "home", "--yes").rc == 0
    finally:
        netplay("clean", "home", "--yes")
    assert snapshot() == foreign
