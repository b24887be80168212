"""The built-in `playground` (issue 6, item 7): the network of Foundations of Python
Network Programming, wired and addressed as the book's launch script does, on namespaces
and on containers. h1 reaches www through modemA's NAT and the ISP; www sees the modem."""

import subprocess

import pytest

from conftest import TEST_IMAGE
from model_net import connect, ping, ping_soon
from netplay.load import builtins
from netplay.plan.build import plan

from test_model_routing import ns_json

# The book's table: node -> {interface: addresses}
ADDRESSES = {
    "h1": {"eth1": ["192.168.1.11/24"]}, "h2": {"eth1": ["192.168.1.12/24"]},
    "h3": {"eth1": ["192.168.1.13/24"]}, "h4": {"eth1": ["192.168.1.14/24"]},
    "modemA": {"eth0": ["10.25.1.65/16"], "eth1": ["192.168.1.1/24"]},
    "modemB": {"eth0": ["10.25.1.66/16"], "eth1": ["192.168.1.1/24"]},
    "isp": {"eth0": ["10.25.1.1/32"], "eth1": ["10.25.1.1/32"], "eth2": ["10.25.1.1/32"]},
    "backbone": {"eth0": ["10.1.1.1/32"], "eth1": ["10.1.1.1/32"]},
    "example": {"eth0": ["10.130.1.1/32"], "eth1": ["10.130.1.1/24"]},
    "ftp": {"eth0": ["10.130.1.2/24"]}, "mail": {"eth0": ["10.130.1.3/24"]},
    "www": {"eth0": ["10.130.1.4/24"]},
}
ROUTERS = {"modemA", "modemB", "isp", "backbone", "example"}


def test_playground_is_the_books_network():
    topo = builtins.load("playground")
    assert {n: {i.name: i.addresses for i in node.interfaces.values()}
            for n, node in topo.nodes.items()} == ADDRESSES
    assert {n for n, node in topo.nodes.items() if node.role == "router"} == ROUTERS
    assert topo.nodes["modemA"].nat == ["eth0"] and topo.nodes["modemB"].nat == ["eth0"]
    members = {b: sorted(link.a.node for link in topo.links if link.b.node == b)
               for b in topo.bridges}
    assert members == {"homeA": ["h1", "h2", "h3", "modemA"], "homeB": ["h4", "modemB"],
                       "exampleCOM": ["example", "ftp", "mail", "www"]}
    assert all(b.namespace is None for b in topo.bridges.values())  # as the book: brctl addbr
    assert "homeA:h1-eth1" in {str(link.b) for link in topo.links}  # the book's port names
    veths = {(link.a.node, link.b.node) for link in topo.links if link.b.node not in topo.bridges}
    assert veths == {("backbone", "isp"), ("backbone", "example"), ("isp", "modemA"),
                     ("isp", "modemB")}
    lines = [s.shell() for s in plan(topo)]
    assert "ip -n isp route add 10.25.1.65/32 dev eth1" in lines
    assert "ip -n backbone route add 10.25.0.0/16 via 10.25.1.1" in lines
    assert "ip netns exec modemA iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE" in lines
    assert lines.index("ip -n isp route add 10.1.1.1/32 dev eth0") < \
        lines.index("ip -n isp route add default via 10.1.1.1")


def check_playground(netplay):
    # the /32 point-to-point style, as the kernel holds it
    isp = {r["dst"]: r for r in ns_json("isp", "route", "show")}
    assert isp["10.25.1.65"]["dev"] == "eth1" and isp["default"]["gateway"] == "10.1.1.1"
    for target in ("192.168.1.1", "10.25.1.1", "10.1.1.1", "10.130.1.1", "10.130.1.4"):
        assert ping_soon("h1", target), target
    assert ping("h4", "10.130.1.3")
    # through modemA's NAT and the isp: www sees the modem's WAN address, not h1's
    assert connect("h1", "www", "10.130.1.4", port=8080)[0] == "10.25.1.65"
    assert connect("h4", "www", "10.130.1.4", port=8081)[0] == "10.25.1.66"
    trace = subprocess.run(["ip", "netns", "exec", "h1", "traceroute", "-n", "-q", "1", "-w", "1",
                            "10.130.1.4"], capture_output=True, text=True)
    if trace.returncode == 0:  # traceroute is optional on the host
        hops = [line.split()[1] for line in trace.stdout.splitlines()[1:]]
        assert hops == ["192.168.1.1", "10.25.1.1", "10.1.1.1", "10.130.1.1", "10.130.1.4"]
    # nothing outside reaches the private homes, and the two homes do not meet
    assert not ping("www", "192.168.1.11", wait=1)
    assert not ping("h1", "192.168.1.14", wait=1)
    result = netplay("verify", "playground")
    assert result.rc == 0, result


@pytest.mark.root
def test_playground_on_namespaces(lab, netplay):
    lab("playground")
    check_playground(netplay)


@pytest.mark.root
@pytest.mark.docker
def test_playground_on_containers(lab, netplay):
    lab("playground", "--runtime", "docker", "--image", TEST_IMAGE)
    running = subprocess.run(["docker", "ps", "--filter", "label=netplay.lab=playground",
                              "--format", "{{.Names}}"], capture_output=True, text=True)
    assert sorted(running.stdout.split()) == sorted(ADDRESSES)
    check_playground(netplay)
    # inside the container itself, with its own tools
    inside = subprocess.run(["docker", "exec", "h1", "ping", "-c", "1", "-W", "2", "10.130.1.4"],
                            capture_output=True, text=True)
    assert inside.returncode == 0, inside.stdout + inside.stderr
