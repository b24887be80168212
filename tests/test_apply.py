"""netplay apply: a running lab changed in place, as a new generation of its log.

The pure part (which commands a change takes) is tested without root. On the real kernel,
hypothesis draws pairs of topologies A and B; `run A; apply B` must leave the host as
`run B` leaves it (every namespace's links, addresses, routes and qdiscs, read with
`ip -j` and `tc -j`), `verify` must pass, `replay` of the log must rebuild that state, and
`down` must leave the host as it was.
"""

import copy
import json
import os
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from conftest import TEST_IMAGE, snapshot, write_topology
from labgen import NETNS_CHANGES, changed_lab, labs as local_labs, routable
from netplay.api.pytest_plugin import check_unchanged
from netplay.core.errors import InputError
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.plan.changes import changes, lines
from netplay.plan import local
from netplay.plan.diff import diff
from netplay.run import logcheck


def topo(raw):
    return from_dict(copy.deepcopy(raw), source="test")


def commands(a, b):
    return [s.shell() for s in diff(plan(topo(a)), plan(topo(b))).steps]


def pair(**h1):
    """Two namespaces on one link; h1's interface takes the keys given."""
    return {"name": "npa", "nodes": {
        "npa1": {"interfaces": {"eth0": {"addresses": ["10.61.0.1/24"], **h1}}},
        "npa2": {"interfaces": {"eth0": {"addresses": ["10.61.0.2/24"]}}}},
        "links": [{"endpoints": ["npa1:eth0", "npa2:eth0"]}]}


# --- pure: the commands of a change --------------------------------------------------------

@pytest.mark.parametrize("spec", ["home", "levels", "playground", "linear:4", "tree:2,2",
                                  "leafspine:2,2,1"])
def test_the_same_topology_changes_nothing(spec):
    from netplay.load.resolve import resolve

    t = resolve(spec)
    assert diff(plan(t), plan(t)).steps == []
    assert lines(changes(t.to_dict(), t.to_dict(), set())) == \
        ["No changes: the lab is what the topology says."]


PLANS = ["home", "levels", "playground", "linear:4", "tree:2,2", "leafspine:2,2,1",
         os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "vagrant", "multihost", "two-hosts.yaml")]


@pytest.mark.parametrize("spec", PLANS)
def test_every_step_that_creates_objects_is_one_the_cheap_test_lets_through(spec):
    """The diff reads a step's facts only where objects.may_create says it may create
    some; a create step it missed would never be taken back or made again."""
    from netplay.load.resolve import resolve
    from netplay.plan.objects import all_facts, may_create

    steps = plan(resolve(spec))
    creating = [s for s, f in zip(steps, all_facts(steps)) if f.creates]
    assert creating and all(may_create(s) for s in creating)
    docker = pair()
    docker["nodes"]["npa2"].update(kind="docker", image=TEST_IMAGE)
    steps = plan(topo(docker))
    assert all(may_create(s) for s, f in zip(steps, all_facts(steps)) if f.creates)


def test_an_address_is_changed_in_place():
    assert commands(pair(), pair(addresses=["10.61.0.9/24"])) == [
        "ip -n npa1 addr del 10.61.0.1/24 dev eth0",
        "ip -n npa1 addr add 10.61.0.9/24 brd + dev eth0"]


def test_a_link_set_down_then_up_puts_its_routes_back():
    a = pair()
    a["nodes"]["npa1"]["routes"] = [{"to": "10.62.0.0/16", "via": "10.61.0.2"}]
    b = copy.deepcopy(a)
    b["nodes"]["npa1"]["interfaces"]["eth0"]["up"] = False
    assert commands(a, b) == ["ip -n npa1 link set eth0 down"]
    assert commands(b, a) == ["ip -n npa1 link set eth0 up",
                              "ip -n npa1 route replace 10.62.0.0/16 via 10.61.0.2"]


def test_a_device_set_down_gets_its_ipv6_addresses_back():
    """The kernel deletes a device's IPv6 addresses as it goes down; a device made down
    keeps them: apply adds them again."""
    dual = pair(addresses=["10.61.0.1/24", "fd61::1/64"])
    down = pair(addresses=["10.61.0.1/24", "fd61::1/64"], up=False)
    assert commands(dual, down) == ["ip -n npa1 link set eth0 down",
                                    "ip -n npa1 addr add fd61::1/64 nodad dev eth0"]


def test_an_impairment_is_added_replaced_and_removed_with_tc():
    slow, slower = pair(impair={"rate": "8mbit"}), pair(impair={"rate": "4mbit"})
    assert commands(pair(), slow) == \
        ["tc -n npa1 qdisc add dev eth0 root tbf rate 8mbit burst 16384 latency 50ms"]
    assert commands(slow, slower) == \
        ["tc -n npa1 qdisc replace dev eth0 root tbf rate 4mbit burst 16384 latency 50ms"]
    assert commands(slow, pair()) == ["tc -n npa1 qdisc del dev eth0 root"]


def test_a_bridge_port_s_impairment_is_a_change_of_its_bridge_s_ports():
    """`netplay link home home:laptop_eth1 --rate 8mbit` (a port is BRIDGE:PORT)."""
    from netplay.lab.link import preview
    from netplay.load.resolve import resolve

    home = resolve("home")
    assert [s.shell() for s in preview(home, "home:laptop_eth1", {"impair": {"rate": "8mbit"}})] \
        == ["tc qdisc add dev laptop_eth1 root tbf rate 8mbit burst 16384 latency 50ms"]


def test_mtu_and_mac_are_changed_in_place():
    assert commands(pair(), pair(mtu=1400)) == ["ip -n npa1 link set dev eth0 mtu 1400"]
    assert commands(pair(mtu=1400), pair()) == ["ip -n npa1 link set dev eth0 mtu 1500"]
    assert commands(pair(), pair(mac="02:00:00:00:00:01")) == \
        ["ip -n npa1 link set dev eth0 address 02:00:00:00:00:01"]
    # tbf's burst follows the MTU: the qdisc is replaced too
    slow = {"rate": "8mbit"}
    assert commands(pair(impair=slow), pair(mtu=9000, impair=slow)) == [
        "ip -n npa1 link set dev eth0 mtu 9000",
        "tc -n npa1 qdisc replace dev eth0 root tbf rate 8mbit burst 18000 latency 50ms"]


def test_a_removed_node_is_deleted_with_its_namespace_alone():
    b = pair()
    del b["nodes"]["npa2"]
    b["links"] = []
    del b["nodes"]["npa1"]["interfaces"]["eth0"]
    # the veth is deleted from npa1's side first: the kernel frees a deleted namespace's
    # devices in the background, and npa1's end would linger, its name taken
    assert commands(pair(), b) == ["ip -n npa1 link delete eth0", "ip netns delete npa2"]
    found = changes(topo(pair()).to_dict(), topo(b).to_dict(), set())
    assert ("-", "node npa2") in found and ("-", "link npa1:eth0 -- npa2:eth0") in found


def test_creation_time_settings_make_the_namespace_again():
    """IPv6 turns duplicate address detection off before devices exist: a node gaining
    IPv6 is made again, with its link, addresses and its peer's end."""
    b = pair(addresses=["10.61.0.1/24", "fd61::1/64"])
    delta = diff(plan(topo(pair())), plan(topo(b)))
    shown = [s.shell() for s in delta.steps]
    assert shown[:2] == ["ip -n npa2 link delete eth0", "ip netns delete npa1"]
    assert "ip netns add npa1" in shown and \
        "ip link add eth0 netns npa1 type veth peer name eth0 netns npa2" in shown
    assert "ip -n npa2 addr add 10.61.0.2/24 brd + dev eth0" in shown  # the peer's end again
    found = changes(topo(pair()).to_dict(), topo(b).to_dict(), delta.remade)
    assert ("-/+", "node npa1: interfaces") in found


def test_a_container_whose_command_changes_is_made_again():
    a = pair()
    a["nodes"]["npa2"].update(kind="docker", image=TEST_IMAGE)
    b = copy.deepcopy(a)
    b["nodes"]["npa2"]["cmd"] = ["sleep", "1000000"]
    shown = commands(a, b)
    assert shown[:3] == ["ip -n npa1 link delete eth0", "ip netns delete npa2",
                         "docker rm -f npa2"]
    assert shown[3].startswith("docker run --net=none --name=npa2") and \
        shown[3].endswith("sleep 1000000")
    assert shown[4:6] == ["pid_npa2=$(docker inspect -f '{{.State.Pid}}' npa2)",
                          'ip netns attach npa2 "$pid_npa2"']


def _log_with_generation(tmp_path, a, b, action="apply"):
    ta, tb = topo(a), topo(b)
    steps = diff(plan(ta), plan(tb)).steps
    return {"format": "netplay-log", "version": 2, "lab": ta.name, "status": "up",
            "topology": ta.to_dict(), "steps": [s.to_dict() for s in plan(ta)],
            "generations": [{"generation": 1, "action": action, "status": "applied",
                             "topology": tb.to_dict(),
                             "steps": [s.to_dict() for s in steps]}]}


def test_a_log_is_checked_generation_by_generation(tmp_path):
    data = _log_with_generation(tmp_path, pair(), pair(addresses=["10.61.0.9/24"]))
    checked = logcheck.check(copy.deepcopy(data), "log.json")
    newest = logcheck.at_generation(checked, None)
    assert newest.topology.nodes["npa1"].interfaces["eth0"].addresses == ["10.61.0.9/24"]
    first = logcheck.at_generation(checked, 0)
    assert first.topology.nodes["npa1"].interfaces["eth0"].addresses == ["10.61.0.1/24"]
    tampered = copy.deepcopy(data)
    tampered["generations"][0]["steps"][1]["argv"][-1] = "lo"
    with pytest.raises(Exception, match=r"generation 1: steps\[1\] .* is not what netplay "
                                        "plans"):
        logcheck.check(tampered, "log.json")
    with pytest.raises(Exception, match="has generations 0 to 1, not 5"):
        logcheck.at_generation(checked, 5)


def test_a_repair_generation_may_only_put_the_plan_back():
    data = _log_with_generation(tmp_path=None, a=pair(), b=pair(), action="repair")
    data["generations"][0]["steps"] = [{"argv": ["ip", "-n", "npa1", "addr", "add",
                                                 "10.61.0.1/24", "brd", "+", "dev", "eth0"]}]
    logcheck.check(copy.deepcopy(data), "log.json")
    data["generations"][0]["steps"] = [{"argv": ["ip", "-n", "npa1", "addr", "add",
                                                 "10.99.0.1/24", "brd", "+", "dev", "eth0"]}]
    with pytest.raises(Exception, match="not a step of the lab's plan"):
        logcheck.check(data, "log.json")


# --- on the kernel ---------------------------------------------------------------------------

def _ip_json(ns, *args):
    out = subprocess.run(["ip", "-n", ns, "-j", *args], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out) if out.strip() else []


def lab_state(names, forwarding=(), macs=()):
    """What `run` leaves in each namespace, as comparable data (no ifindex, no kernel-made
    link-local address, a MAC address only where it is one of macs, those the topology
    gives: the others are random, and one a topology no longer gives is kept)."""
    out = {"namespaces": sorted(n for n in _netns() if n in names)}
    for ns in out["namespaces"]:
        links = {l["ifname"]: (l["mtu"], "UP" in l["flags"], l.get("master"),
                               l.get("linkinfo", {}).get("info_kind"), l.get("ifalias"),
                               l["address"] if l["address"] in macs else None)
                 for l in _ip_json(ns, "-d", "link", "show")}
        addrs = sorted((a["ifname"], i["local"], i["prefixlen"]) for a in _ip_json(ns, "addr")
                       for i in a.get("addr_info", []) if i.get("scope") != "link")
        routes = sorted(json.dumps(_without_linkdown(r), sort_keys=True)
                        for fam in ("-4", "-6")
                        for r in _ip_json(ns, fam, "route", "show", "table", "main")
                        if not r.get("dst", "").startswith("fe80"))
        qdiscs = subprocess.run(["tc", "-n", ns, "-j", "qdisc", "show"], capture_output=True,
                                text=True, check=True).stdout
        qd = sorted((q["dev"], q["kind"], json.dumps(q.get("options"), sort_keys=True))
                    for q in json.loads(qdiscs or "[]")
                    if q.get("root") and q["kind"] != "noqueue")  # noqueue: no qdisc (a
        # device that was ever up shows it, one never up shows nothing)
        nat = subprocess.run(["ip", "netns", "exec", ns, "iptables", "-t", "nat", "-S",
                              "POSTROUTING"], capture_output=True, text=True).stdout
        out[ns] = {"links": links, "addresses": addrs, "routes": routes, "qdiscs": qd,
                   "nat": nat}
        if ns in forwarding:
            out[ns]["forwarding"] = subprocess.run(
                ["ip", "netns", "exec", ns, "sysctl", "-n", "net.ipv4.ip_forward"],
                capture_output=True, text=True).stdout.strip()
    return out


def _without_linkdown(route):
    """A route without its `linkdown` flag: the flag mirrors its device's carrier (not
    compared: a link's admin state is), which the kernel's linkwatch sets up to a second
    after the change (a bridge whose last port went), so a state read at once may not
    show it yet."""
    flags = [f for f in route.get("flags", []) if f != "linkdown"]
    return {**route, "flags": flags} if "flags" in route else route


def _netns():
    return [n["name"] for n in json.loads(subprocess.run(
        ["ip", "-j", "netns", "list"], capture_output=True, text=True).stdout or "[]")]


NAMES = ["npq0", "npq1", "npq2", "npq3"]


@st.composite
def topologies(draw):
    """A small lab of namespaces: a few links, each a subnet of its own, with addresses,
    routes, MTUs, MAC addresses, rates, link states, forwarding, NAT, and a bridge inside
    a node with ports from the others."""
    nodes = {n: {"interfaces": {}, "routes": []} for n in
             draw(st.lists(st.sampled_from(NAMES), min_size=2, max_size=4, unique=True))}
    names = sorted(nodes)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    links = []
    for k, (a, b) in enumerate(draw(st.lists(st.sampled_from(pairs), min_size=1,
                                             max_size=3, unique=True))):
        net = draw(st.sampled_from([f"10.63.{k}", f"10.64.{k}"]))
        for end, host in ((a, 1), (b, 2)):
            iface = {"addresses": [f"{net}.{host}/24"] if draw(st.booleans()) else []}
            if draw(st.integers(0, 4)) == 0:
                iface["up"] = False
            if draw(st.integers(0, 3)) == 0:
                iface["mtu"] = 1400
            if draw(st.integers(0, 4)) == 0:
                iface["impair"] = {"rate": draw(st.sampled_from(["8mbit", "16mbit"]))}
            if draw(st.integers(0, 4)) == 0:
                iface["mac"] = f"02:00:00:00:0{k}:{host}{draw(st.integers(0, 1))}"
            nodes[end]["interfaces"][f"e{k}"] = iface
        links.append({"endpoints": [f"{a}:e{k}", f"{b}:e{k}"]})
        first, second = nodes[a]["interfaces"][f"e{k}"], nodes[b]["interfaces"][f"e{k}"]
        if first["addresses"] and second["addresses"] and first.get("up", True) and \
                draw(st.booleans()):
            nodes[a]["routes"].append({"to": f"10.70.{k}.0/24",
                                       "via": second["addresses"][0].split("/")[0]})
    bridges = {}
    if draw(st.booleans()):  # a bridge in the first node's namespace, ports from the others
        bridges["npqbr"] = {"namespace": names[0],
                            "addresses": ["10.66.0.1/24"] if draw(st.booleans()) else []}
        for j, name in enumerate(draw(st.lists(st.sampled_from(names[1:]), max_size=2,
                                               unique=True))):
            nodes[name]["interfaces"]["b0"] = {"addresses": [f"10.66.0.{j + 2}/24"]}
            links.append({"endpoints": [f"{name}:b0", f"npqbr:p{j}"]})
    for name in names:
        if draw(st.integers(0, 3)) == 0:
            nodes[name]["forwarding"] = True
        addressed = [i for i, v in nodes[name]["interfaces"].items() if v.get("addresses")]
        if addressed and draw(st.integers(0, 3)) == 0:
            nodes[name]["nat"] = {"masquerade": addressed[0]}
            nodes[name]["forwarding"] = True  # a node that masquerades forwards
    return {"name": "npq", "nodes": nodes, "bridges": bridges, "links": links}


def _run(netplay, tmp_path, command, raw, *extra):
    path = write_topology(tmp_path, yaml.safe_dump(raw), name=f"{command}.yaml")
    result = netplay(command, path, *extra)
    assert result.rc == 0, (command, raw, result)
    return result


def _macs(raw):
    return {i["mac"] for n in raw["nodes"].values() for i in n.get("interfaces", {}).values()
            if i.get("mac")}


def _forwarding(raw):
    from netplay.check.expect import forwarding_keys

    keys = forwarding_keys(topo(raw))
    return {n for n, k in keys.items() if k}


@pytest.mark.root
@settings(max_examples=int(os.environ.get("NETPLAY_APPLY_EXAMPLES", "12")), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
@given(a=topologies(), b=topologies())
def test_run_a_then_apply_b_is_run_b(netplay, tmp_path, state_dir, a, b):
    run_a_apply_b(netplay, tmp_path, state_dir, a, b, NAMES)


def run_a_apply_b(netplay, tmp_path, state_dir, a, b, names):
    """`run a; apply b` leaves what `run b` leaves; replay of its log again; down nothing."""
    lab = a["name"]
    before = snapshot()
    try:
        _run(netplay, tmp_path, "run", b)
        want = lab_state(names, _forwarding(b), _macs(b))
        assert netplay("down", lab).rc == 0
        _run(netplay, tmp_path, "run", a)
        _run(netplay, tmp_path, "apply", b)
        assert lab_state(names, _forwarding(b), _macs(b)) == want, (a, b)
        verify = netplay("verify", lab, "--max-pings", "0")
        assert verify.rc == 0, verify
        again = netplay("apply", write_topology(tmp_path, yaml.safe_dump(b), "b.yaml"))
        assert again.rc == 0 and "No changes" in again.out, again
        log = os.path.join(state_dir, "labs", lab, "log.json")
        copy_path = tmp_path / "log.json"
        copy_path.write_text(open(log).read())
        assert netplay("down", lab).rc == 0
        check_unchanged(before)
        commands = any(n.get("exec") for t in (a, b) for n in t["nodes"].values())
        assert netplay("replay", str(copy_path), *(["--allow-exec"] if commands else [])
                       ).rc == 0
        assert lab_state(names, _forwarding(b), _macs(b)) == want
    finally:
        netplay("down", lab)
    check_unchanged(before)


@pytest.mark.root
@settings(max_examples=int(os.environ.get("NETPLAY_APPLY_EXAMPLES", "12")), deadline=None,
          suppress_health_check=list(HealthCheck), derandomize=True)
@given(a=local_labs(docker=False), data=st.data())
def test_one_change_of_a_bigger_lab_planned_from_its_objects_is_run_of_it(
        netplay, tmp_path, state_dir, a, data):
    """The changes netplay.plan.local plans from a Part of the lab, on the kernel."""
    b = routable(changed_lab(a, data.draw, NETNS_CHANGES))
    try:
        assume(local.change(topo(a), topo(b)) is not None)
    except InputError:
        assume(False)
    run_a_apply_b(netplay, tmp_path, state_dir, a, b, list(b["nodes"]) + list(a["nodes"]))


@pytest.mark.root
def test_drift_is_repaired_and_listed(netplay, lab, tmp_path, state_dir):
    raw = pair()
    raw["nodes"]["npa1"]["routes"] = [{"to": "10.62.0.0/16", "via": "10.61.0.2"}]
    raw["nodes"]["npa3"] = {"interfaces": {"eth1": {"addresses": ["10.65.0.2/24"]}}}
    raw["nodes"]["npa2"]["interfaces"]["eth1"] = {"addresses": ["10.65.0.1/24"]}
    raw["links"].append({"endpoints": ["npa2:eth1", "npa3:eth1"]})
    path = write_topology(tmp_path, yaml.safe_dump(raw), name="npa.yaml")
    lab(path)
    want = lab_state(["npa1", "npa2", "npa3"])
    subprocess.run(["ip", "-n", "npa1", "addr", "del", "10.61.0.1/24", "dev", "eth0"], check=True)
    subprocess.run(["ip", "-n", "npa2", "link", "set", "eth0", "down"], check=True)
    subprocess.run(["ip", "-n", "npa3", "link", "delete", "eth1"], check=True)
    assert netplay("verify", "npa", "--max-pings", "0").rc == 1
    dry = netplay("apply", path, "--dry-run")
    assert dry.rc == 0 and "3 to repair" not in dry.out and "repair" in dry.out, dry
    assert lab_state(["npa1", "npa2", "npa3"]) != want  # a dry run repairs nothing
    assert netplay("diff", path).out == dry.out  # diff says what apply would: repairs too
    fixed = netplay("apply", path)
    assert fixed.rc == 0, fixed
    for what in ("npa1:eth0 10.61.0.1/24: 10.61.0.1/24 is missing",
                 "npa2:eth0: eth0 is down, expected up",
                 "npa3:eth1: interface eth1 is missing"):
        assert f"~ repair {what}" in fixed.out, fixed.out
    assert lab_state(["npa1", "npa2", "npa3"]) == want
    assert netplay("verify", "npa", "--max-pings", "0").rc == 0
    log = json.load(open(os.path.join(state_dir, "labs", "npa", "log.json")))
    assert [g["action"] for g in log["generations"]] == ["repair"]
    assert "No changes" in netplay("apply", path).out


@pytest.mark.root
def test_a_failed_apply_leaves_the_lab_as_it_was(netplay, lab, tmp_path, state_dir):
    """A step that fails halfway rolls the change back: what it made is deleted, what it
    took back is put back, the generation says "rolled back" and the lab is as before.
    The failure is real: a device made by hand inside the lab's namespace, under the name
    the change needs (no preflight looks inside a lab's own namespaces)."""
    path = write_topology(tmp_path, yaml.safe_dump(pair()), name="npa.yaml")
    lab(path)
    want = lab_state(["npa1", "npa2", "npa9"])
    b = pair(addresses=["10.61.0.7/24"])  # taken back first: 10.61.0.1/24 deleted
    b["nodes"]["npa9"] = {"interfaces": {"eth0": {"addresses": ["10.61.9.1/24"]}}}
    b["nodes"]["npa1"]["interfaces"]["eth9"] = {"addresses": ["10.61.9.2/24"]}
    b["links"].append({"endpoints": ["npa9:eth0", "npa1:eth9"]})
    path_b = write_topology(tmp_path, yaml.safe_dump(b), name="b.yaml")
    subprocess.run(["ip", "-n", "npa1", "link", "add", "eth9", "type", "veth", "peer", "name",
                    "npx9"], check=True)
    try:
        result = netplay("apply", path_b)
    finally:
        subprocess.run(["ip", "-n", "npa1", "link", "delete", "eth9"], check=True)
    assert result.rc == 1 and "undid the change: lab npa is as it was" in result.err, result
    assert "File exists" in result.err
    assert lab_state(["npa1", "npa2", "npa9"]) == want
    log = json.load(open(os.path.join(state_dir, "labs", "npa", "log.json")))
    assert log["status"] == "up" and log["generations"][-1]["status"] == "rolled back"
    assert netplay("verify", "npa", "--max-pings", "0").rc == 0
    assert netplay("apply", path_b).rc == 0  # with the name free, the same change works
    assert netplay("verify", "npa", "--max-pings", "0").rc == 0


def _container(name):
    out = subprocess.run(["docker", "inspect", "-f", "{{.Id}} {{json .Config.Cmd}}", name],
                         capture_output=True, text=True, check=True).stdout.split(" ", 1)
    return out[0], json.loads(out[1])


@pytest.mark.docker
def test_a_container_is_made_again_only_when_its_run_changes(netplay, lab, tmp_path):
    a = pair()
    a["nodes"]["npa2"].update(kind="docker", image=TEST_IMAGE)
    lab(write_topology(tmp_path, yaml.safe_dump(a), name="npa.yaml"))
    first, cmd = _container("npa2")
    assert cmd == ["sleep", "infinity"]
    moved = copy.deepcopy(a)  # npa1's address only: the container stays
    moved["nodes"]["npa1"]["interfaces"]["eth0"]["addresses"] = ["10.61.0.5/24"]
    assert netplay("apply", write_topology(tmp_path, yaml.safe_dump(moved), "m.yaml")).rc == 0
    assert _container("npa2")[0] == first
    other = copy.deepcopy(moved)
    other["nodes"]["npa2"]["cmd"] = ["sleep", "1000000"]
    result = netplay("apply", write_topology(tmp_path, yaml.safe_dump(other), "o.yaml"))
    assert result.rc == 0 and "-/+ node npa2: cmd" in result.out, result
    second, cmd = _container("npa2")
    assert second != first and cmd == ["sleep", "1000000"]
    assert netplay("verify", "npa").rc == 0  # its link, address and the pings: back


@pytest.mark.root
def test_a_lab_s_log_edited_by_hand_is_checked_again(netplay, lab, tmp_path, state_dir):
    """apply builds the lab's topology from its log unchecked only while LOG.end vouches
    that the log is as netplay wrote it: a log edited by hand is checked, and a mistake in
    it refused in one line, nothing changed."""
    path = write_topology(tmp_path, yaml.safe_dump(pair()), name="npa.yaml")
    lab(path)
    want = lab_state(["npa1", "npa2"])
    log = os.path.join(state_dir, "labs", "npa", "log.json")
    with open(log) as f:
        text = f.read()
    # the run's topology: a link to a node it does not have (same length: only the
    # modification time tells, as when a file is edited and saved)
    edited = text.replace('"npa1:eth0"', '"npz1:eth0"', 1)
    assert edited != text
    with open(log, "w") as f:
        f.write(edited)
    try:
        result = netplay("apply", write_topology(tmp_path, yaml.safe_dump(
            pair(addresses=["10.61.0.7/24"])), name="b.yaml"))
    finally:
        with open(log, "w") as f:
            f.write(text)  # for down, even when the apply fails otherwise
    assert result.rc == 2, result
    assert result.err.count("\n") == 1 and "npz1" in result.err and log in result.err, result
    assert "Traceback" not in result.err
    assert lab_state(["npa1", "npa2"]) == want
