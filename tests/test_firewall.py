"""Root-namespace bridges and the host's firewall: with bridge netfilter on, bridged frames
pass through the FORWARD chains, and a DROP policy (Docker sets it for IPv4, and for IPv6
when it manages ip6tables) drops a lab's traffic unless netplay lets its bridges through.
These tests set the policy themselves and restore it in a finalizer."""

import os
import subprocess

import pytest

from conftest import write_topology
from model_net import ping, ping_soon
from netplay.load import builtins
from netplay.model.runtime import with_runtime
from netplay.plan.build import plan

NF6 = "/proc/sys/net/bridge/bridge-nf-call-ip6tables"

V6_BRIDGE = """
name: npt6fw
nodes:
  npt6a: {interfaces: {eth0: {addresses: ["fd00:6e::1/64", 10.246.0.1/24]}}}
  npt6b: {interfaces: {eth0: {addresses: ["fd00:6e::2/64", 10.246.0.2/24]}}}
bridges:
  npt6br: {}
links:
  - endpoints: [npt6a:eth0, npt6br]
  - endpoints: [npt6b:eth0, npt6br]
"""


def test_a_root_bridge_gets_an_owned_ip6tables_rule_with_its_undo():
    steps = plan(with_runtime(builtins.load("home"), "netns"))
    rules = [s for s in steps if s.argv[0] in ("iptables", "ip6tables")]
    rule = ["FORWARD", "-i", "home", "-o", "home", "-m", "comment", "--comment",
            "netplay:home", "-j", "ACCEPT"]
    assert [(s.argv, s.undo) for s in rules] == [
        (["iptables", "-I", *rule], ["iptables", "-D", *rule]),
        (["ip6tables", "-I", *rule], ["ip6tables", "-D", *rule]),
    ]
    # a bridge inside a node meets no root-namespace firewall: no rule
    assert not [s for s in plan(builtins.load("linear:3")) if "tables" in s.argv[0]]


def _sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def ip6tables_drops_bridged_frames():
    """bridge-nf-call-ip6tables=1 and an ip6tables FORWARD policy of DROP, as a host whose
    Docker manages ip6tables has them; both restored afterwards."""
    if not os.path.exists(NF6):
        pytest.skip("br_netfilter is not loaded: bridged frames never meet ip6tables")
    with open(NF6) as f:
        nf6 = f.read().strip()
    policy = next(line.split()[2] for line in _sh("ip6tables", "-S", "FORWARD").splitlines()
                  if line.startswith("-P FORWARD"))
    try:
        _sh("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-ip6tables=1")
        _sh("ip6tables", "-P", "FORWARD", "DROP")
        yield
    finally:
        _sh("ip6tables", "-P", "FORWARD", policy)
        _sh("sysctl", "-q", "-w", f"net.bridge.bridge-nf-call-ip6tables={nf6}")


@pytest.mark.root
def test_ipv6_crosses_a_root_bridge_under_an_ip6tables_drop_policy(
        ip6tables_drops_bridged_frames, lab, tmp_path):
    lab(write_topology(tmp_path, V6_BRIDGE), name="npt6fw")
    assert ping_soon("npt6a", "fd00:6e::2")  # a bridged frame, through ip6tables FORWARD
    assert ping("npt6b", "10.246.0.1")
    rules = _sh("ip6tables", "-S", "FORWARD")
    assert '-A FORWARD -i npt6br -o npt6br -m comment --comment "netplay:npt6fw" -j ACCEPT' \
        in rules
    # the lab fixture checks that down removed both rules (its snapshot has ip6tables -S)
