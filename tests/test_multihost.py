"""Labs across several hosts, for real: simulated hosts (each its own network, mount, UTS
and PID namespaces and its own sshd, tests/simhost.py) reached over real SSH through
netplay's ControlMasters, kernel VXLAN tunnels between them, the real CLI.

Each test checks what it claims on the hosts themselves (over ssh, not through netplay),
and that nothing is left afterwards on any simulated host or on the real one.
"""

import json
import os
import subprocess
import textwrap

import pytest

from conftest import snapshot

pytestmark = pytest.mark.root

ROUTED = """\
name: npt-mh2
hosts:
  sim1: {ssh: sim1}
  sim2: {ssh: sim2}
nodes:
  a:  {host: sim1, interfaces: {eth0: {addresses: [10.61.1.2/24]}},
       routes: [{to: default, via: 10.61.1.1}]}
  r1: {host: sim1, forwarding: true,
       interfaces: {eth0: {addresses: [10.61.1.1/24]}, eth1: {addresses: [10.61.0.1/30]}},
       routes: [{to: 10.61.2.0/24, via: 10.61.0.2}]}
  r2: {host: sim2, forwarding: true,
       interfaces: {eth0: {addresses: [10.61.2.1/24]}, eth1: {addresses: [10.61.0.2/30]}},
       routes: [{to: 10.61.1.0/24, via: 10.61.0.1}]}
  b:  {host: sim2, interfaces: {eth0: {addresses: [10.61.2.2/24]}},
       routes: [{to: default, via: 10.61.2.1}]}
links:
  - endpoints: [a:eth0, r1:eth0]
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth0, b:eth0]
"""

BRIDGED = """\
name: npt-mh3
hosts:
  sim1: {ssh: sim1}
  sim2: {ssh: sim2}
  sim3: {ssh: sim3}
nodes:
  h1: {host: sim1, interfaces: {eth0: {addresses: [10.62.0.1/24]}}}
  h2: {host: sim2, interfaces: {eth0: {addresses: [10.62.0.2/24]}}}
  h3: {host: sim3, interfaces: {eth0: {addresses: [10.62.0.3/24]}}}
  h4: {host: sim1, interfaces: {eth0: {addresses: [10.62.0.4/24]}}}
bridges:
  lan: {host: sim1}
links:
  - endpoints: [h1:eth0, lan]
  - endpoints: [h2:eth0, lan]
  - endpoints: [h3:eth0, lan]
  - endpoints: [h4:eth0, lan]
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


class Hosts:
    """Simulated hosts, and netplay's CLI pointed at them through their ssh config."""

    def __init__(self, sims, netplay):
        self.sims = sims
        self.config = sims.ssh_config
        self._netplay = netplay

    def netplay(self, *args, **kwargs):
        env = dict(kwargs.pop("env", None) or {}, NETPLAY_SSH_CONFIG=self.config)
        return self._netplay(*args, env=env, **kwargs)

    def on(self, host, *argv, check=True):
        """Run argv on a simulated host over plain ssh (not netplay's): what it prints."""
        proc = subprocess.run(["ssh", "-F", self.config, "-o", "BatchMode=yes", host,
                               "--", *argv], capture_output=True, text=True, timeout=60)
        if check:
            assert proc.returncode == 0, (argv, proc.stderr)
        return proc

    def netns(self, host):
        return self.on(host, "ip", "netns", "list").stdout.split()

    def devices(self, host):
        return sorted(d["ifname"] for d in json.loads(self.on(host, "ip", "-j", "link").stdout))

    def bare(self):
        """What every simulated host holds before a lab: no namespace, its own devices."""
        return {h.name: (self.netns(h.name), self.devices(h.name)) for h in self.sims}


@pytest.fixture
def hosts3(sim_hosts, netplay):
    """Three simulated hosts; the real host and each simulated one must end as they were."""
    before = snapshot()
    sims = sim_hosts(3)
    hosts = Hosts(sims, netplay)
    bare = hosts.bare()
    labs = []
    hosts.labs = labs
    yield hosts
    for lab in labs:
        hosts.netplay("down", lab)
    assert hosts.bare() == bare, "a simulated host kept part of a lab"
    assert snapshot() == before, "the real host changed"


def ping(hosts, host, ns, address, *extra):
    return hosts.on(host, "ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", *extra,
                    address, check=False).returncode == 0


def test_routed_lab_across_two_hosts(hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    result = hosts3.netplay("run", topo)
    hosts3.labs.append("npt-mh2")
    assert result.rc == 0, result
    # each node on its own host, invisible on the other and on the real host
    assert sorted(hosts3.netns("sim1")) == ["a", "r1"]
    assert sorted(hosts3.netns("sim2")) == ["b", "r2"]
    assert "a" not in os.listdir("/var/run/netns") if os.path.isdir("/var/run/netns") else True
    # the link between hosts is a VXLAN pair with MTU 1450 (underlay 1500 - 50)
    link = json.loads(hosts3.on("sim1", "ip", "-n", "r1", "-d", "-j", "link", "show",
                                "eth1").stdout)[0]
    assert link["linkinfo"]["info_kind"] == "vxlan"
    assert link["mtu"] == 1450
    data = link["linkinfo"]["info_data"]
    assert (data["local"], data["remote"]) == (hosts3.sims[0].address,
                                              hosts3.sims[1].address)
    # traffic crosses it: a on sim1 reaches b on sim2 through both routers
    assert ping(hosts3, "sim1", "a", "10.61.2.2")
    # full size with don't-fragment crosses, one byte more does not
    assert ping(hosts3, "sim1", "r1", "10.61.0.2", "-M", "do", "-s", "1422")
    assert not ping(hosts3, "sim1", "r1", "10.61.0.2", "-M", "do", "-s", "1423")
    verify = hosts3.netplay("verify", "npt-mh2")
    assert verify.rc == 0, verify
    assert "tunnel" in verify.out and "tunnel-mtu" in verify.out
    down = hosts3.netplay("down", "npt-mh2")
    assert down.rc == 0, down
    assert hosts3.netns("sim1") == [] and hosts3.netns("sim2") == []


def test_bridge_on_one_host_with_members_on_three(hosts3, tmp_path):
    topo = write(tmp_path, "mh3.yaml", BRIDGED)
    result = hosts3.netplay("run", topo)
    hosts3.labs.append("npt-mh3")
    assert result.rc == 0, result
    for host, ns, target in [("sim2", "h2", "10.62.0.3"), ("sim3", "h3", "10.62.0.1"),
                             ("sim1", "h4", "10.62.0.2")]:
        assert ping(hosts3, host, ns, target), (host, ns, target)
    # the bridge lives on sim1 only; its members from other hosts join by VXLAN ports
    ports = json.loads(hosts3.on("sim1", "ip", "-d", "-j", "link", "show", "master",
                                 "lan").stdout)
    kinds = sorted(p["linkinfo"]["info_kind"] for p in ports)
    assert kinds == ["veth", "veth", "vxlan", "vxlan"], ports
    assert all(p["mtu"] == 1450 for p in ports)
    verify = hosts3.netplay("verify", "npt-mh3")
    assert verify.rc == 0, verify


def test_a_failure_on_the_second_host_rolls_back_every_host(hosts3, tmp_path):
    text = ROUTED.replace("name: npt-mh2", "name: npt-mhfail").replace(
        "  b:  {host: sim2, ", "  b:  {host: sim2, exec: [['false']], ")
    topo = write(tmp_path, "fail.yaml", text)
    result = hosts3.netplay("run", topo)
    assert result.rc == 1, result
    assert "host sim2" in result.err and "undid" in result.err, result
    assert hosts3.netns("sim1") == [] and hosts3.netns("sim2") == []


def test_a_host_unreachable_at_down_leaves_the_lab_partly_down_until_down_again(
        hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    hosts3.labs.append("npt-mh2")
    hosts3.sims.cut(1)  # sim2's underlay link down: ssh to it times out
    try:
        first = hosts3.netplay("down", "npt-mh2")
    finally:
        hosts3.sims.mend(1)
    assert first.rc == 1, first
    assert "partly down" in first.err and "host sim2" in first.err, first
    assert hosts3.netns("sim1") == []  # the reachable host was taken down
    assert sorted(hosts3.netns("sim2")) == ["b", "r2"]  # the other kept its part
    second = hosts3.netplay("down", "npt-mh2")
    assert second.rc == 0, second
    assert hosts3.netns("sim2") == []


def test_replay_onto_remapped_hosts(hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    hosts3.labs.append("npt-mh2")
    log = tmp_path / "log.json"
    log.write_text((tmp_path / "state" / "labs" / "npt-mh2" / "log.json").read_text())
    assert hosts3.netplay("down", "npt-mh2").rc == 0
    moved = write(tmp_path, "hosts.yaml", """\
        hosts:
          sim1: {ssh: sim3}
          sim2: {ssh: sim1}
        """)
    result = hosts3.netplay("replay", str(log), "--hosts", moved)
    assert result.rc == 0, result
    assert sorted(hosts3.netns("sim3")) == ["a", "r1"]
    assert sorted(hosts3.netns("sim1")) == ["b", "r2"]
    assert hosts3.netns("sim2") == []
    assert ping(hosts3, "sim3", "a", "10.61.2.2")
    assert hosts3.netplay("verify", "npt-mh2").rc == 0


def test_exported_per_host_scripts_build_and_tear_down_the_lab(hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    hosts3.labs.append("npt-mh2")
    log = tmp_path / "state" / "labs" / "npt-mh2" / "log.json"
    build, teardown = tmp_path / "build", tmp_path / "teardown"
    assert hosts3.netplay("export", str(log), "-o", str(build)).rc == 0
    assert hosts3.netplay("export", str(log), "--teardown", "-o", str(teardown)).rc == 0
    assert hosts3.netplay("down", "npt-mh2").rc == 0
    assert sorted(p.name for p in build.iterdir()) == ["run.sh", "sim1.sh", "sim2.sh"]
    env = dict(os.environ, NETPLAY_SSH_CONFIG=hosts3.config)
    up = subprocess.run(["bash", str(build / "run.sh")], env=env, capture_output=True,
                        text=True, timeout=120)
    try:
        assert up.returncode == 0, up.stderr
        assert sorted(hosts3.netns("sim1")) == ["a", "r1"]
        assert ping(hosts3, "sim1", "a", "10.61.2.2")
    finally:
        down = subprocess.run(["bash", str(teardown / "run.sh")], env=env,
                              capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert hosts3.netns("sim1") == [] and hosts3.netns("sim2") == []


def test_a_generated_lab_placed_across_two_hosts_by_a_hosts_file(hosts3, tmp_path):
    """linear:6 has no hosts: --hosts places it (placement: auto) in two contiguous runs;
    its bridges all live in one namespace (switches), which stays whole on the first host,
    and the hosts of the second join their switch by tunnels. status, exec and verify
    reach each node on its own host."""
    two = write(tmp_path, "two.yaml", """\
        hosts:
          sim1: {ssh: sim1}
          sim2: {ssh: sim2}
        """)
    shown = hosts3.netplay("show", "linear:6", "--hosts", two)
    assert shown.rc == 0, shown
    result = hosts3.netplay("run", "linear:6", "--hosts", two)
    hosts3.labs.append("linear-6")
    assert result.rc == 0, result
    first, second = sorted(hosts3.netns("sim1")), sorted(hosts3.netns("sim2"))
    assert first == ["h1", "h2", "switches"] and second == ["h3", "h4", "h5", "h6"]
    assert hosts3.netns("sim3") == []
    assert "host: sim1" in shown.out and "host: sim2" in shown.out
    status = hosts3.netplay("status", "linear-6", "--json")
    assert status.rc == 0, status
    where = {n["name"]: n.get("host") for n in status.json()["nodes"]}
    assert where["h1"] == "sim1" and where["h6"] == "sim2", where
    # exec on a node of the second host, its exit code netplay's
    reach = hosts3.netplay("exec", "linear-6", "h6", "--", "ping", "-c", "1", "-W", "2",
                           "10.0.0.1")
    assert reach.rc == 0, reach
    assert hosts3.netplay("exec", "linear-6", "h6", "--", "sh", "-c", "exit 7").rc == 7
    verify = hosts3.netplay("verify", "linear-6", "--json")
    assert verify.rc == 0, verify
    kinds = {c["check"] for c in verify.json()["checks"]}
    assert {"tunnel", "tunnel-mtu", "mtu"} <= kinds, kinds


EAST = """\
name: npt-east
topology:
  nodes:
    e1: {kind: linux}
  links:
    - type: vxlan
      endpoint: {node: e1, interface: vx0, ipv4: 10.63.0.1/24}
      remote: REMOTE
      vni: 4242
"""


def test_two_containerlab_labs_joined_by_their_vxlan_links(hosts3, tmp_path):
    """containerlab's `type: vxlan` link, imported as such: each lab's node tunnels to
    the other's host, and the two nodes reach each other."""
    sim1, sim2 = hosts3.sims[0], hosts3.sims[1]
    east = write(tmp_path, "east.clab.yml", EAST.replace("REMOTE", sim2.address))
    west = write(tmp_path, "west.clab.yml", EAST.replace("REMOTE", sim1.address)
                 .replace("east", "west").replace("e1", "w1").replace("10.63.0.1", "10.63.0.2"))
    for path, host in ((east, "sim1"), (west, "sim2")):
        placed = write(tmp_path, f"{host}.yaml", f"hosts:\n  {host}: {{ssh: {host}}}\n")
        result = hosts3.netplay("run", "--runtime", "netns", path, "--hosts", placed)
        hosts3.labs.append("npt-east" if path == east else "npt-west")
        assert result.rc == 0, result
    link = json.loads(hosts3.on("sim1", "ip", "-n", "e1", "-d", "-j", "link", "show",
                                "vx0").stdout)[0]
    assert link["linkinfo"]["info_kind"] == "vxlan"
    assert (link["linkinfo"]["info_data"]["id"], link["linkinfo"]["info_data"]["remote"]) == \
        (4242, sim2.address)
    assert ping(hosts3, "sim1", "e1", "10.63.0.2")
    assert ping(hosts3, "sim2", "w1", "10.63.0.1")


def test_verify_finds_a_tunnel_end_changed_or_removed_by_hand(hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    hosts3.labs.append("npt-mh2")
    hosts3.on("sim2", "ip", "-n", "r2", "link", "set", "eth1", "mtu", "1500")
    changed = hosts3.netplay("verify", "npt-mh2", "--json")
    assert changed.rc == 1, changed
    failed = {(c["check"], c["subject"]) for c in changed.json()["checks"]
              if c["result"] == "FAIL"}
    assert failed == {("mtu", "r2:eth1 (host sim2)")}, failed
    hosts3.on("sim2", "ip", "-n", "r2", "link", "delete", "eth1")
    removed = hosts3.netplay("verify", "npt-mh2", "--json")
    assert removed.rc == 1, removed
    failed = {c["check"] for c in removed.json()["checks"] if c["result"] == "FAIL"}
    assert {"tunnel", "tunnel-mtu"} <= failed, failed


def test_clean_finds_and_removes_a_lab_on_several_hosts_whose_log_is_gone(hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    (tmp_path / "state" / "labs" / "npt-mh2" / "log.json").unlink()
    machines = write(tmp_path, "hosts.yaml", """\
        hosts:
          sim1: {ssh: sim1}
          sim2: {ssh: sim2}
          sim3: {ssh: sim3}
        """)
    listed = hosts3.netplay("clean", "npt-mh2", "--hosts", machines, "--json")
    assert listed.rc == 0, listed
    found = sorted((row["host"], row["kind"], row["name"]) for row in listed.json())
    assert found == [("sim1", "namespace", "a"), ("sim1", "namespace", "r1"),
                     ("sim2", "namespace", "b"), ("sim2", "namespace", "r2")]
    assert sorted(hosts3.netns("sim1")) == ["a", "r1"]  # listing removes nothing
    removed = hosts3.netplay("clean", "npt-mh2", "--hosts", machines, "--yes")
    assert removed.rc == 0, removed
    assert hosts3.netns("sim1") == [] and hosts3.netns("sim2") == []


def test_a_host_unreachable_at_run_changes_nothing_anywhere(hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    hosts3.sims.cut(1)
    try:
        result = hosts3.netplay("run", topo)
    finally:
        hosts3.sims.mend(1)
    assert result.rc == 2, result
    assert result.err.count("\n") == 1 and "host sim2" in result.err, result
    assert "Traceback" not in result.err
    assert hosts3.netns("sim1") == [] and hosts3.netns("sim2") == []


def test_a_vni_in_use_on_a_host_is_refused_before_anything_runs(hosts3, tmp_path):
    first = write(tmp_path, "mh2.yaml", ROUTED.replace("name: npt-mh2",
                                                      "name: npt-mh2\nvxlan: {vni_base: 7000}"))
    assert hosts3.netplay("run", first).rc == 0
    hosts3.labs.append("npt-mh2")
    other = (ROUTED.replace("name: npt-mh2", "name: npt-mhb\nvxlan: {vni_base: 7000}")
             .replace("  a:  {", "  a2: {").replace("[a:eth0", "[a2:eth0")
             .replace("  r1: {", "  q1: {").replace("r1:eth", "q1:eth")
             .replace("  r2: {", "  q2: {").replace("r2:eth", "q2:eth")
             .replace("  b:  {", "  b2: {").replace("b:eth0]", "b2:eth0]"))
    second = hosts3.netplay("run", write(tmp_path, "mhb.yaml", other))
    assert second.rc == 2, second
    assert "VNI 7000" in second.err and "in use by eth1 in r1" in second.err, second
    assert sorted(hosts3.netns("sim1")) == ["a", "r1"]  # only the first lab's


def test_capture_streams_pcap_from_a_node_on_another_host(hosts3, tmp_path):
    from test_capture import ECHO_REPLY, ECHO_REQUEST, Capture, icmp_packets

    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    hosts3.labs.append("npt-mh2")
    os.environ["NETPLAY_SSH_CONFIG"] = hosts3.config  # Capture's process inherits it
    try:
        cap = Capture(str(tmp_path / "state"), "npt-mh2", "b:eth0", "-w", "-", "-c", "2",
                      "--", "icmp")
    finally:
        del os.environ["NETPLAY_SSH_CONFIG"]
    try:
        cap.wait_ready()
        assert ping(hosts3, "sim1", "a", "10.61.2.2")  # across the tunnel, to b on sim2
        rc, out, err = cap.wait(binary=True)
    finally:
        cap.kill()
    assert rc == 0, err
    assert icmp_packets(out) == [(ECHO_REQUEST, "10.61.1.2", "10.61.2.2"),
                                 (ECHO_REPLY, "10.61.2.2", "10.61.1.2")]
    refused = hosts3.netplay("capture", "npt-mh2", "b:eth0", "-w", str(tmp_path / "x.pcap"))
    assert refused.rc == 2 and "-w - >" in refused.err, refused


def test_ping_and_link_reach_a_node_on_another_host(hosts3, tmp_path):
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    hosts3.labs.append("npt-mh2")
    reply = hosts3.netplay("ping", "npt-mh2", "b", "a")  # from b, on sim2
    assert reply.rc == 0 and "b -> a" in reply.out, reply
    down = hosts3.netplay("link", "npt-mh2", "r2:eth1", "--down")
    assert down.rc == 0, down
    state = json.loads(hosts3.on("sim2", "ip", "-n", "r2", "-j", "link", "show",
                                 "eth1").stdout)[0]
    assert "UP" not in state["flags"]
    assert hosts3.netplay("ping", "npt-mh2", "b", "a").rc == 1
    assert hosts3.netplay("link", "npt-mh2", "r2:eth1", "--up").rc == 0
    # as by hand, the routes through the end went with it; its own link is back
    assert hosts3.netplay("ping", "npt-mh2", "r2", "r1:eth1").rc == 0


def test_apply_grows_and_shrinks_a_lab_across_hosts(hosts3, tmp_path):
    """apply on a lab of two hosts: a node on sim1 joins a router on sim2 through a new
    tunnel, routes are added on both hosts, then the change is applied back."""
    topo = write(tmp_path, "mh2.yaml", ROUTED)
    assert hosts3.netplay("run", topo).rc == 0
    hosts3.labs.append("npt-mh2")
    grown = ROUTED.replace(
        "       interfaces: {eth0: {addresses: [10.61.2.1/24]}, eth1: {addresses: [10.61.0.2/30]}},",
        "       interfaces: {eth0: {addresses: [10.61.2.1/24]}, eth1: {addresses: [10.61.0.2/30]},\n"
        "                    eth2: {addresses: [10.61.3.1/24]}},").replace(
        "       routes: [{to: 10.61.2.0/24, via: 10.61.0.2}]}",
        "       routes: [{to: 10.61.2.0/24, via: 10.61.0.2}, {to: 10.61.3.0/24, via: 10.61.0.2}]}"
    ) + ("  - endpoints: [r2:eth2, c:eth0]\n")
    grown = grown.replace("links:\n", "  c:  {host: sim1, interfaces: {eth0: {addresses: "
                          "[10.61.3.2/24]}},\n       routes: [{to: default, via: 10.61.3.1}]}\n"
                          "links:\n")
    bigger = write(tmp_path, "grown.yaml", grown)
    dry = hosts3.netplay("apply", bigger, "--dry-run")
    assert dry.rc == 0 and "+ node c" in dry.out and "type vxlan" in dry.out, dry
    assert sorted(hosts3.netns("sim1")) == ["a", "r1"]  # a dry run changes nothing
    result = hosts3.netplay("apply", bigger)
    assert result.rc == 0, result
    assert sorted(hosts3.netns("sim1")) == ["a", "c", "r1"]
    assert ping(hosts3, "sim1", "a", "10.61.3.2")  # a -> r1 -> (tunnel) r2 -> (tunnel) c
    verify = hosts3.netplay("verify", "npt-mh2")
    assert verify.rc == 0, verify
    back = hosts3.netplay("apply", topo)
    assert back.rc == 0 and "- node c" in back.out, back
    assert sorted(hosts3.netns("sim1")) == ["a", "r1"]
    assert hosts3.netplay("verify", "npt-mh2").rc == 0
