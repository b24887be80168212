"""netplay ping and netplay link --down/--up on the real kernel: names resolved to the
addresses a node can reach, replies (IPv4 and IPv6) and their absence in the exit code, an
interface set down and up again through the lab's log."""

import json

import pytest

from conftest import ip_json, write_topology

# h2's first interface faces h3, so that h1 -> h2 must choose h2's address on h1's network
TOPOLOGY = """
name: np18p
nodes:
  h1: {interfaces: {eth0: {addresses: [10.201.0.1/24, fd0b:2::1/64]}}}
  h2:
    interfaces:
      eth0: {addresses: [10.202.0.1/24]}
      eth1: {addresses: [10.201.0.2/24, fd0b:2::2/64]}
  h3: {interfaces: {eth0: {addresses: [10.202.0.2/24]}}}
links:
  - endpoints: [h2:eth0, h3:eth0]
  - endpoints: [h1:eth0, h2:eth1]
"""


@pytest.fixture
def np18p(lab, tmp_path):
    lab(write_topology(tmp_path, TOPOLOGY, name="np18p.yaml"))
    return "np18p"


def _link_up(ns, ifname):
    link = ip_json("-n", ns, "link", "show", "dev", ifname)[0]
    return "UP" in link["flags"]


@pytest.mark.root
def test_ping_by_name_both_families(np18p, netplay):
    result = netplay("ping", np18p, "h1", "h2")
    assert (result.rc, result.out) == (0, "h1 -> h2 (10.201.0.2): reply\n"
                                          "h1 -> h2 (fd0b:2::2): reply\n"), result
    result = netplay("ping", np18p, "h1", "h2", "-6", "-c", "2", "--json")
    assert result.rc == 0, result
    assert result.json()["targets"] == [{"target": "h2", "address": "fd0b:2::2", "sent": 2,
                                         "replies": 2, "reason": "replied"}]
    result = netplay("ping", np18p, "h3", "h2", "-4")  # h3 shares only h2's eth0
    assert (result.rc, result.out) == (0, "h3 -> h2 (10.202.0.1): reply\n"), result
    result = netplay("ping", np18p, "h2", "h1:eth0", "-4")
    assert (result.rc, result.out) == (0, "h2 -> h1:eth0 (10.201.0.1): reply\n"), result
    result = netplay("ping", np18p, "h2", "10.202.0.2")
    assert (result.rc, result.out) == (0, "h2 -> 10.202.0.2: reply\n"), result


@pytest.mark.root
def test_ping_with_no_route_exits_1(np18p, netplay):
    # h1 has no route to 10.202.0.0/24: the request cannot leave, a real negative
    result = netplay("ping", np18p, "h1", "h3")
    assert result.rc == 1, result
    assert result.out.startswith("h1 -> h3 (10.202.0.2): no reply ("), result


@pytest.mark.root
def test_ping_bad_input_is_one_line_exit_2(np18p, netplay):
    for argv, words in [(("nolab", "h1", "h2"), "no lab named 'nolab'"),
                        ((np18p, "nobody", "h2"), "has no node 'nobody'"),
                        ((np18p, "h1", "nobody"), "has no node 'nobody'"),
                        ((np18p, "h1", "h2:eth9"), "no interface 'eth9'"),
                        ((np18p, "h1", "h3", "-6"), "no IPv6 address"),
                        ((np18p, "h1", "10.201.0.2", "-6"), "not an IPv6 address"),
                        ((np18p, "h1", "h2", "-c", "0"), "at least 1")]:
        result = netplay("ping", *argv)
        assert result.rc == 2 and result.out == "", (argv, result)
        assert result.err.count("\n") == 1 and words in result.err, (argv, result)


@pytest.mark.root
def test_link_down_and_up(np18p, netplay, state_dir):
    result = netplay("link", np18p, "h2:eth1", "--down")
    assert (result.rc, result.out) == (0, "np18p h2:eth1: down\n"), result
    assert not _link_up("h2", "eth1")
    result = netplay("ping", np18p, "h1", "h2", "-4")
    assert result.rc == 1 and "no reply" in result.out, result
    verify = netplay("verify", np18p)
    assert verify.rc == 1 and "h2:eth1" in verify.out, verify
    with open(f"{state_dir}/labs/{np18p}/log.json") as f:
        change = json.load(f)["changes"][-1]
    assert change["command"] == "link" and change["endpoint"] == "h2:eth1"
    assert change["state"] == "down" and change["applied"] is True
    assert change["argv"] == ["ip", "-n", "h2", "link", "set", "eth1", "down"]
    assert change["undo"] == ["ip", "-n", "h2", "link", "set", "eth1", "up"]
    assert change["result"]["rc"] == 0
    # the impairments listed are untouched by a state change
    assert netplay("link", np18p).out == "lab np18p: no impairments\n"

    result = netplay("link", np18p, "h2:eth1", "--up")
    assert (result.rc, result.out) == (0, "np18p h2:eth1: up\n"), result
    assert _link_up("h2", "eth1")
    assert netplay("ping", np18p, "h1", "h2", "-4").rc == 0
    # as by hand, the kernel dropped eth1's IPv6 address when it went down
    # (keep_addr_on_down is 0): verify says so, and `up` does not bring it back
    verify = netplay("verify", np18p)
    assert verify.rc == 1 and "fd0b:2::2/64" in verify.out, verify


@pytest.mark.root
def test_link_state_refusals_change_nothing(np18p, netplay):
    for argv, words in [(("h2:eth1", "--down", "--delay", "20ms"), "command of its own"),
                        (("h2:eth1", "--up", "--clear"), "command of its own"),
                        (("--down",), "say which end"),
                        (("h2:eth7", "--down"), "no such end")]:
        result = netplay("link", np18p, *argv)
        assert result.rc == 2 and result.err.count("\n") == 1 and words in result.err, \
            (argv, result)
    result = netplay("link", np18p, "h2:eth1", "--down", "--up")
    assert result.rc == 2, result
    assert _link_up("h2", "eth1")
    result = netplay("link", np18p, "h2:eth1", "--down", "--dry-run")
    assert (result.rc, result.out) == (0, "ip -n h2 link set eth1 down\n"), result
    assert _link_up("h2", "eth1")
