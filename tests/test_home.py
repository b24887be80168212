"""`home` on the real kernel: plain namespaces here, containers in test_docker.py."""

import subprocess

import pytest

from conftest import ip_json

pytestmark = pytest.mark.root


def ping(ns, address):
    return subprocess.run(["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", address],
                          capture_output=True, text=True)


def check_home_network():
    """laptop reaches router and, through it, verizon; the bridge holds both ports."""
    for target in ("10.200.1.1", "198.51.100.2", "198.51.100.1"):
        result = ping("laptop", target)
        assert result.returncode == 0, (target, result.stdout, result.stderr)
    assert ping("verizon", "10.200.1.2").returncode == 0, "verizon's route back to the LAN"
    ports = {i["ifname"] for i in ip_json("link", "show", "master", "home")}
    assert ports == {"laptop_eth1", "router_eth1"}
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        host_forward = f.read().strip()
    router = subprocess.run(["ip", "netns", "exec", "router", "sysctl", "-n",
                             "net.ipv4.ip_forward"], capture_output=True, text=True)
    assert router.stdout.strip() == "1", "the router forwards"
    return host_forward


def test_home_on_namespaces_reaches_router_and_verizon(lab):
    lab("home", "--runtime", "netns")
    check_home_network()
    routes = ip_json("-n", "laptop", "route", "show", "default")
    assert routes[0]["gateway"] == "10.200.1.1"


def test_run_prints_where_the_log_is(lab, state_dir):
    result = lab("home", "--runtime", "netns")
    assert f"{state_dir}/labs/home/log.json" in result.out
