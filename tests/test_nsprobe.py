"""Many namespaces' state read at once (netplay.machine.nsprobe, Machine.read_namespaces):
the parsers on recorded `ip -j -d -batch` output (pure), and on real labs the same
NamespaceStates, peers and forwarding as one command per fact (root)."""

import dataclasses
import struct

import pytest

from netplay.api.lab import Lab
from netplay.check import verify
from netplay.machine import nsprobe
from netplay.machine.fake import FakeMachine
from netplay.machine.local import LocalMachine
from netplay.observe import ip as observe

# `ip -j -d -force -batch -` in a namespace holding a veth whose peer is elsewhere, with
# IPv4 and IPv6 routes (one a default without gateway), for `addr show`, `route show
# table all` and `netconf show` (iproute2 6.1; long fields cut)
RECORDED = """\
[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,\
"operstate":"UNKNOWN","link_type":"loopback","addr_info":[{"family":"inet","local":\
"127.0.0.1","prefixlen":8,"scope":"host"}]},{"ifindex":2,"link_index":7,"ifname":"x1",\
"flags":["BROADCAST","UP","LOWER_UP"],"mtu":1500,"operstate":"UP","link_type":"ether",\
"link_netnsid":0,"linkinfo":{"info_kind":"veth"},"addr_info":[{"family":"inet","local":\
"10.0.0.1","prefixlen":24,"scope":"global"},{"family":"inet6","local":"fd01::1",\
"prefixlen":64,"scope":"global"}]}]
[{"type":"unicast","dst":"default","gateway":"10.0.0.2","dev":"x1","table":"main",\
"protocol":"boot","scope":"global","flags":[]},{"type":"unicast","dst":"10.0.0.0/24",\
"dev":"x1","table":"main","protocol":"kernel","scope":"link","prefsrc":"10.0.0.1",\
"flags":[]},{"type":"unreachable","dst":"10.7.0.0/16","table":"main","protocol":"boot",\
"scope":"global","flags":[]},{"type":"local","dst":"10.0.0.1","dev":"x1","table":"local",\
"protocol":"kernel","scope":"host","prefsrc":"10.0.0.1","flags":[]},{"type":"unicast",\
"dst":"fd01::/64","dev":"x1","table":"main","protocol":"kernel","scope":"global",\
"metric":256,"flags":[],"pref":"medium"},{"type":"unicast","dst":"default","dev":"x1",\
"table":"main","protocol":"boot","scope":"global","metric":1024,"flags":[],"pref":"medium"},\
{"type":"multicast","dst":"ff00::/8","dev":"x1","table":"local","protocol":"kernel",\
"scope":"global","metric":256,"flags":[],"pref":"medium"}]
[{"family":"inet","interface":"all","forwarding":true},{"family":"inet6","interface":"all",\
"forwarding":false}]
"""


def test_batch_answers_are_told_apart_by_what_they_hold_not_by_position():
    found = nsprobe.split_values(RECORDED)
    assert [link["ifname"] for link in found["links"]] == ["lo", "x1"]
    assert len(found["routes"]) == 7 and len(found["netconf"]) == 2
    # a command with nothing to say prints `[]` or nothing: either way the rest stands
    lines = RECORDED.splitlines()
    shuffled = "\n".join([lines[2], "[]", lines[0], lines[1]])
    assert nsprobe.split_values(shuffled) == found
    assert nsprobe.split_values(lines[0] + "\n" + '[{"type":"uni') == \
        {"links": found["links"], "routes": [], "netconf": []}


def test_state_of_a_probe_entry_is_what_the_commands_one_by_one_give():
    raw = {"ns": "a", "present": True, **nsprobe.split_values(RECORDED), "nsids": [[0, None]]}
    state = observe.state_of(raw)
    # what `ip -j -4 route show` and `ip -j -6 route show` print: main table, no protocol boot
    v4 = [{"type": "unicast", "dst": "default", "gateway": "10.0.0.2", "dev": "x1",
           "scope": "global", "flags": []}]
    assert [(r.family, r.dst, r.gateway, r.dev, r.protocol) for r in state.routes] == [
        (4, "default", "10.0.0.2", "x1", ""), (4, "10.0.0.0/24", None, "x1", "kernel"),
        (4, "10.7.0.0/16", None, None, ""), (6, "fd01::/64", None, "x1", "kernel"),
        (6, "default", None, "x1", "")]
    assert observe.parse_routes(v4, 4) == state.routes[:1]
    assert state.links["x1"].kind == "veth" and state.links["x1"].peer_nsid == 0
    assert state.links["x1"].addresses == ["10.0.0.1/24", "fd01::1/64"]
    assert state.nsids == {0: None}
    assert state.forwarding == {"net.ipv4.ip_forward": "1",
                                "net.ipv6.conf.all.forwarding": "0"}
    assert observe.state_of({"ns": "gone", "present": False}).present is False


def test_an_nsid_the_probe_could_not_name_matches_no_namespace():
    # the root namespace has a veth with the same indexes: an unnamed id used to mean root,
    # but the probe lists every id it named, so an id it did not name is none of them
    here = observe.state_of({"ns": "a", "present": True, **nsprobe.split_values(RECORDED),
                             "nsids": []})
    root = observe.NamespaceState(None, links={"v": observe.LinkState(
        "v", 7, True, "UP", kind="veth", peer_index=2, peer_nsid=5)}, nsids={5: "a"})
    observe.resolve_peers({"a": here, None: root})
    assert here.links["x1"].peer is None
    here.nsids = {0: None}
    observe.resolve_peers({"a": here, None: root})
    assert here.links["x1"].peer == (None, "v")


def test_peer_candidates_are_the_namespaces_whose_veth_points_back():
    states = [{"links": [{"ifindex": 2, "link_index": 7, "link_netnsid": 0}]},
              {"links": [{"ifindex": 7, "link_index": 2, "link_netnsid": 3},
                         {"ifindex": 8, "link_index": 2, "link_netnsid": 4}]},
              {"links": [{"ifindex": 7, "link_index": 3, "link_netnsid": 0}]},
              {"links": [{"ifindex": 1}]}]
    assert nsprobe.peer_candidates(states) == {0: [1], 1: [0]}


def test_nsid_reply_parsing():
    def message(kind, seq, payload):
        return struct.pack("=IHHII", 16 + len(payload), kind, 0, seq, 0) + payload

    answer = struct.pack("=B3x", 0) + struct.pack("=HHi", 8, nsprobe.NETNSA_NSID, 4)
    assert nsprobe.parse_nsid_reply(message(nsprobe.RTM_NEWNSID, 9, answer), 9) == 4
    assert nsprobe.parse_nsid_reply(message(nsprobe.RTM_NEWNSID, 8, answer), 9) is None
    none = struct.pack("=B3x", 0) + struct.pack("=HHi", 8, nsprobe.NETNSA_NSID, -1)
    assert nsprobe.parse_nsid_reply(message(nsprobe.RTM_NEWNSID, 9, none), 9) is None
    error = message(nsprobe.NLMSG_ERROR, 9, struct.pack("=i", -22) + b"\0" * 16)
    assert nsprobe.parse_nsid_reply(error, 9) is None


def test_a_machine_that_cannot_probe_is_read_one_command_at_a_time():
    machine = FakeMachine()
    states = observe.host_state(machine, [None])
    assert machine.read_namespaces([None]) is None
    assert states[None].present and states[None].forwarding is None
    assert ["ip", "-j", "-d", "addr", "show"] in machine.argvs()


def test_the_remote_probe_is_stdlib_only_and_runs():
    source = nsprobe.script([])
    assert "netplay" not in "\n".join(line for line in source.splitlines()
                                      if line.startswith(("import", "from")))
    namespace = {}
    exec(compile(source.replace("print(json.dumps(read_namespaces", "_r = (("), "probe",
                 "exec"), namespace)  # defines everything, reads nothing
    assert callable(namespace["read_namespaces"])


# --- on the real kernel -----------------------------------------------------------------------


def comparable(state):
    data = dataclasses.asdict(state)
    data.pop("forwarding")
    data.pop("nsids")  # the old read names every id; the probe only the lab's
    for link in data["links"].values():
        link.pop("operstate")  # a carrier may come up between the two reads
    return data


@pytest.mark.root
@pytest.mark.parametrize("spec", ["playground", "leafspine:2,2,1", "linear:6", "home"])
def test_the_probe_reads_what_one_command_per_fact_reads(spec, tmp_path, host_unchanged):
    lab = Lab.up(spec, state_dir=str(tmp_path / "state"), runtime="netns")
    try:
        machine = LocalMachine()
        names = verify.lab_namespaces(lab.topology)
        old = observe.resolve_peers({ns: observe.namespace(machine, ns) for ns in names})
        new = observe.host_state(machine, names)
        assert new.keys() == old.keys()
        for ns in names:
            assert comparable(new[ns]) == comparable(old[ns]), ns
            assert new[ns].forwarding == observe.forwarding(machine, ns), ns
        peers = [link.peer for state in new.values() for link in state.links.values()
                 if link.kind == "veth"]
        assert peers and all(peers)  # every veth of the lab found its other end
        gone = observe.host_state(machine, ["netplay-no-such-namespace"])
        assert gone["netplay-no-such-namespace"].present is False
    finally:
        lab.down()


@pytest.mark.root
def test_a_remote_host_reads_its_namespaces_in_one_round_trip(sim_hosts, tmp_path):
    from netplay.machine.ssh import SshMachine

    sims = sim_hosts(1)
    control = tmp_path / "ssh"
    control.mkdir(mode=0o700)
    machine = SshMachine("one", "sim1", ssh_config=sims.ssh_config, control_dir=str(control))
    try:
        assert machine.run(["ip", "-batch", "-"], stdin=(
            "netns add npt-a\nnetns add npt-b\n"
            "link add v1 netns npt-a type veth peer name v2 netns npt-b\n"))[0] == 0
        assert machine.run(["ip", "-n", "npt-a", "addr", "add", "10.9.0.1/24", "dev",
                            "v1"])[0] == 0
        found = machine.read_namespaces(["npt-a", "npt-b", "npt-missing"])
        assert found is not None, "python3 on the host did not run the probe"
        states = observe.host_state(machine, ["npt-a", "npt-b", "npt-missing"])
        assert states["npt-a"].links["v1"].peer == ("npt-b", "v2")
        assert states["npt-b"].links["v2"].peer == ("npt-a", "v1")
        assert states["npt-a"].links["v1"].addresses == ["10.9.0.1/24"]
        assert states["npt-missing"].present is False
    finally:
        machine.run(["ip", "-batch", "-"], stdin="netns del npt-a\nnetns del npt-b\n")
        machine.close()
