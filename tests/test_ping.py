"""netplay ping and netplay link --down/--up on the real kernel: names resolved to the
addresses a node can reach, replies (IPv4 and IPv6) and their absence in the exit code, an
interface set down and up again through the lab's log."""

import json

import pytest

from conftest import ip_json, write_topology

# p18b's first interface faces p18c, so that p18a -> p18b must choose p18b's address on p18a's network
TOPOLOGY = """
name: np18p
nodes:
  p18a: {interfaces: {eth0: {addresses: [10.201.0.1/24, fd0b:2::1/64]}}}
  p18b:
    interfaces:
      eth0: {addresses: [10.202.0.1/24]}
      eth1: {addresses: [10.201.0.2/24, fd0b:2::2/64]}
  p18c: {interfaces: {eth0: {addresses: [10.202.0.2/24]}}}
links:
  - endpoints: [p18b:eth0, p18c:eth0]
  - endpoints: [p18a:eth0, p18b:eth1]
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
    result = netplay("ping", np18p, "p18a", "p18b")
    assert (result.rc, result.out) == (0, "p18a -> p18b (10.201.0.2): reply\n"
                                          "p18a -> p18b (fd0b:2::2): reply\n"), result
    result = netplay("ping", np18p, "p18a", "p18b", "-6", "-c", "2", "--json")
    assert result.rc == 0, result
    assert result.json()["targets"] == [{"target": "p18b", "address": "fd0b:2::2", "sent": 2,
                                         "replies": 2, "reason": "replied"}]
    result = netplay("ping", np18p, "p18c", "p18b", "-4")  # p18c shares only p18b's eth0
    assert (result.rc, result.out) == (0, "p18c -> p18b (10.202.0.1): reply\n"), result
    result = netplay("ping", np18p, "p18b", "p18a:eth0", "-4")
    assert (result.rc, result.out) == (0, "p18b -> p18a:eth0 (10.201.0.1): reply\n"), result
    result = netplay("ping", np18p, "p18b", "10.202.0.2")
    assert (result.rc, result.out) == (0, "p18b -> 10.202.0.2: reply\n"), result


@pytest.mark.root
def test_ping_with_no_route_exits_1(np18p, netplay):
    # p18a has no route to 10.202.0.0/24: the request cannot leave, a real negative
    result = netplay("ping", np18p, "p18a", "p18c")
    assert result.rc == 1, result
    assert result.out.startswith("p18a -> p18c (10.202.0.2): no reply ("), result


@pytest.mark.root
def test_ping_bad_input_is_one_line_exit_2(np18p, netplay):
    for argv, words in [(("nolab", "p18a", "p18b"), "no lab named 'nolab'"),
                        ((np18p, "nobody", "p18b"), "has no node 'nobody'"),
                        ((np18p, "p18a", "nobody"), "has no node 'nobody'"),
                        ((np18p, "p18a", "p18b:eth9"), "no interface 'eth9'"),
                        ((np18p, "p18a", "p18c", "-6"), "no IPv6 address"),
                        ((np18p, "p18a", "10.201.0.2", "-6"), "not an IPv6 address"),
                        ((np18p, "p18a", "p18b", "-c", "0"), "at least 1")]:
        result = netplay("ping", *argv)
        assert result.rc == 2 and result.out == "", (argv, result)
        assert result.err.count("\n") == 1 and words in result.err, (argv, result)


@pytest.mark.root
def test_link_down_and_up(np18p, netplay, state_dir):
    result = netplay("link", np18p, "p18b:eth1", "--down")
    assert (result.rc, result.out) == (0, "np18p p18b:eth1: down\n"), result
    assert not _link_up("p18b", "eth1")
    result = netplay("ping", np18p, "p18a", "p18b", "-4")
    assert result.rc == 1 and "no reply" in result.out, result
    # the change is the lab's newest generation: its topology has the end down, so verify
    # expects it down (and p18a unreachable through it)
    verify = netplay("verify", np18p)
    assert verify.rc == 0, verify
    with open(f"{state_dir}/labs/{np18p}/log.json") as f:
        gen = json.load(f)["generations"][-1]
    assert (gen["action"], gen["status"]) == ("link", "applied")
    assert gen["topology"]["nodes"]["p18b"]["interfaces"]["eth1"]["up"] is False
    # the kernel deletes an interface's IPv6 addresses as it goes down; one the topology
    # says is down keeps them, so the change adds them again
    assert [(s["argv"], s["result"]["rc"]) for s in gen["steps"]] == \
        [(["ip", "-n", "p18b", "link", "set", "eth1", "down"], 0),
         (["ip", "-n", "p18b", "addr", "add", "fd0b:2::2/64", "nodad", "dev", "eth1"], 0)]
    # the impairments listed are untouched by a state change
    assert netplay("link", np18p).out == "lab np18p: no impairments\n"

    result = netplay("link", np18p, "p18b:eth1", "--up")
    assert (result.rc, result.out) == (0, "np18p p18b:eth1: up\n"), result
    assert _link_up("p18b", "eth1")
    assert netplay("ping", np18p, "p18a", "p18b", "-4").rc == 0
    # the kernel dropped eth1's IPv6 address when it went down (keep_addr_on_down is 0);
    # the change put it back, so the lab is its topology again, IPv6 included
    verify = netplay("verify", np18p)
    assert verify.rc == 0, verify
    assert netplay("ping", np18p, "p18a", "p18b", "-6").rc == 0


@pytest.mark.root
def test_link_state_refusals_change_nothing(np18p, netplay):
    for argv, words in [(("p18b:eth1", "--down", "--delay", "20ms"), "command of its own"),
                        (("p18b:eth1", "--up", "--clear"), "command of its own"),
                        (("--down",), "say which end"),
                        (("p18b:eth7", "--down"), "no such end")]:
        result = netplay("link", np18p, *argv)
        assert result.rc == 2 and result.err.count("\n") == 1 and words in result.err, \
            (argv, result)
    result = netplay("link", np18p, "p18b:eth1", "--down", "--up")
    assert result.rc == 2, result
    assert _link_up("p18b", "eth1")
    result = netplay("link", np18p, "p18b:eth1", "--down", "--dry-run")
    assert (result.rc, result.out) == (0, "ip -n p18b link set eth1 down\n"
                                          "ip -n p18b addr add fd0b:2::2/64 nodad dev eth1\n"), \
        result
    assert _link_up("p18b", "eth1")
