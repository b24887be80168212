"""`levels` on the real kernel, checked field by field against the tutorial's listings."""

import pytest

from conftest import ip_json

pytestmark = pytest.mark.root

# The tutorial's `ip netns exec levelX ip addr list` and `ip route list`, as data:
# interface -> (admin up?, carrier?, [(address, prefix, broadcast)])
TUTORIAL = {
    "levela": {"lo": (False, None, []),
               "veth1a": (True, False, [("172.16.1.0", 24, "172.16.1.255")]),
               "veth0b": (False, None, [])},
    "levelb": {"lo": (False, None, []),
               "veth1b": (True, False, [("10.1.1.1", 24, "10.1.1.255")]),
               "veth0c": (False, None, [])},
    "levelc": {"lo": (False, None, []),
               "veth1c": (True, False, [("192.168.1.1", 24, "192.168.1.255")])},
}
ROUTES = {
    "levela": [("172.16.1.0/24", "veth1a", "172.16.1.0")],
    "levelb": [("10.1.1.0/24", "veth1b", "10.1.1.1")],
    "levelc": [("192.168.1.0/24", "veth1c", "192.168.1.1")],
}


def test_levels_matches_the_tutorial(lab):
    lab("levels")
    for ns, expected in TUTORIAL.items():
        addrs = {i["ifname"]: i for i in ip_json("-n", ns, "addr", "show")}
        assert set(addrs) == set(expected), ns
        for ifname, (up, carrier, inet) in expected.items():
            iface = addrs[ifname]
            assert ("UP" in iface["flags"]) == up, (ns, ifname)
            if carrier is False:
                assert "NO-CARRIER" in iface["flags"], (ns, ifname)
            got = [(a["local"], a["prefixlen"], a.get("broadcast"))
                   for a in iface.get("addr_info", []) if a["family"] == "inet"]
            assert got == inet, (ns, ifname)
            for a in iface.get("addr_info", []):
                if a["family"] == "inet":
                    assert a["scope"] == "global"
        routes = [(r["dst"], r["dev"], r.get("prefsrc"))
                  for r in ip_json("-n", ns, "route", "show")]
        assert routes == ROUTES[ns], ns
        for r in ip_json("-n", ns, "route", "show"):
            assert r["protocol"] == "kernel" and r["scope"] == "link"


def test_levels_veth_pairs_are_wired_as_the_tutorial(lab):
    lab("levels")
    root = {i["ifname"]: i for i in ip_json("-d", "link", "show")}
    assert "veth0a" in root, "veth0a remains in the root namespace"
    assert "UP" not in root["veth0a"]["flags"]
    assert root["veth0a"]["linkinfo"]["info_kind"] == "veth"
    detail = {i["ifname"]: i for i in ip_json("-d", "-n", "levela", "link", "show")}
    assert detail["veth1a"]["linkinfo"]["info_kind"] == "veth"
    # veth0b (in levela) and veth1b (in levelb) are peers: each names the other's index
    b = {i["ifname"]: i for i in ip_json("-n", "levelb", "link", "show")}
    assert detail["veth0b"]["link_index"] == b["veth1b"]["ifindex"]
    assert b["veth1b"]["link_index"] == detail["veth0b"]["ifindex"]


def test_down_removes_everything_and_a_second_down_is_a_no_op(netplay, host_unchanged):
    assert netplay("run", "levels").rc == 0
    first = netplay("down", "levels")
    assert first.rc == 0, first
    second = netplay("down", "levels")
    assert second.rc == 0 and "nothing to do" in second.out
