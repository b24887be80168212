"""Link impairments in the topology file and at run time (issue 6, item 3).

Pure tests check validation, merging and the tc commands. Root tests measure the effect:
a rate limit shows in a bounded transfer between two namespaces, a 50 ms delay on each end
of a link shows as about 100 ms of ping round trip, and `netplay link` changes both on a
running lab, recorded in its log. Delay, jitter and loss need the kernel's netem qdisc;
where the kernel has none (CONFIG_NET_SCH_NETEM unset), those measurements are skipped
and netplay's one-line refusal is checked instead.
"""

import json

import pytest

from conftest import TEST_IMAGE, ROOT, write_topology
from model_net import ping_soon, rtt_ms, transfer_seconds
from netplay.core.errors import InputError
from netplay.lab import link
from netplay.load.yamlfile import parse_yaml
from netplay.machine.local import LocalMachine
from netplay.model import impairment as impair
from netplay.model.impairment import Impairment
from netplay.model.serialize import to_dict
from netplay.model.validate import from_dict
from netplay.observe import kernel
from netplay.plan import tc
from netplay.plan.build import plan

NETEM = ROOT and kernel.available(LocalMachine(), "netem")
needs_netem = pytest.mark.skipif(not NETEM, reason="this kernel has no netem qdisc "
                                 "(CONFIG_NET_SCH_NETEM); delay, jitter and loss cannot be made")


def load(text):
    return from_dict(parse_yaml(text, "t.yaml"), "t.yaml")


def shell(topo):
    return [s.shell() for s in plan(topo)]


def pair(impairment="", name="np6imp"):
    """Two namespaces on one link, IPv4 and IPv6, with the link's impairment (YAML)."""
    return f"""
name: {name}
nodes:
  np6i1: {{}}
  np6i2: {{}}
links:
  - endpoints: [np6i1:eth0, np6i2:eth0]
    subnet: [10.68.0.0/30, "fd00:68::/64"]
{impairment}
"""


# --- the model -----------------------------------------------------------------------------


def test_link_impairment_applies_to_both_ends_and_an_end_overrides_key_by_key():
    topo = load("""
name: t
nodes:
  a: {interfaces: {eth0: {impair: {delay: 10ms}}}}
  b: {}
links:
  - endpoints: [a:eth0, b:eth0]
    impair: {delay: 50ms, jitter: 5ms, loss: 1%, rate: 10mbit}
""")
    assert topo.nodes["a"].interfaces["eth0"].impair == Impairment("10ms", "5ms", "1%", "10mbit")
    assert topo.nodes["b"].interfaces["eth0"].impair == Impairment("50ms", "5ms", "1%", "10mbit")
    lines = shell(topo)
    assert "tc -n a qdisc add dev eth0 root netem delay 10ms 5ms loss 1% rate 10mbit" in lines
    assert "tc -n b qdisc add dev eth0 root netem delay 50ms 5ms loss 1% rate 10mbit" in lines
    # after the links are configured, and no undo: the qdisc goes with its veth
    tcs = [s for s in plan(topo) if s.argv[0] == "tc"]
    assert all(s.undo is None for s in tcs)
    last_up = max(i for i, line in enumerate(lines) if line.endswith("link set eth0 up"))
    assert lines.index(tcs[0].shell()) > last_up
    assert to_dict(from_dict(to_dict(topo))) == to_dict(topo)


def test_rate_alone_is_a_token_bucket_and_bridge_ports_and_root_ends_can_be_impaired():
    topo = load("""
name: t
nodes:
  host: {kind: host}
  a: {}
  b: {}
bridges:
  br6: {namespace: a, ports: {b_eth0: {impair: {rate: 100mbit}}}}
links:
  - endpoints: [host:np6v, a:eth0]
    impair: {rate: 1mbit}
  - endpoints: [b:eth0, br6]
""")
    lines = shell(topo)
    assert "tc qdisc add dev np6v root tbf rate 1mbit burst 16384 latency 50ms" in lines
    assert "tc -n a qdisc add dev eth0 root tbf rate 1mbit burst 16384 latency 50ms" in lines
    # the burst grows with the rate: 10 ms worth
    assert "tc -n a qdisc add dev b_eth0 root tbf rate 100mbit burst 125000 latency 50ms" in lines
    assert to_dict(topo)["bridges"]["br6"]["ports"] == {"b_eth0": {"impair": {"rate": "100mbit"}}}
    assert impair.endpoints(topo) == {"host:np6v": Impairment(rate="1mbit"),
                                      "a:eth0": Impairment(rate="1mbit"),
                                      "br6:b_eth0": Impairment(rate="100mbit")}


def test_values_are_normalized():
    imp = impair.from_dict({"delay": "50MS", "loss": 2.5, "rate": "10Mbit"}, "x")
    assert imp == Impairment(delay="50ms", loss="2.5%", rate="10mbit")
    assert imp.describe() == "delay 50ms loss 2.5% rate 10mbit"
    assert impair.rate_bits("1.5gbit") == 1_500_000_000 and impair.rate_bits("1mbps") == 8_000_000


BAD = [
    ("impair: {delay: 50}", "not a time with a unit"),
    ("impair: {delay: 2min}", "not a time with a unit"),
    ("impair: {delay: 61s}", "more than 60 s"),
    ("impair: {jitter: 5ms}", "needs a delay to vary around"),
    ("impair: {loss: 101%}", "not a loss percentage"),
    ("impair: {loss: lots}", "not a loss percentage"),
    ("impair: {loss: [1]}", "not a loss percentage"),  # was a TypeError traceback
    ("impair: {rate: fast}", "not a rate"),
    ("impair: {rate: 100bit}", "from 8kbit to 1000gbit"),
    ("impair: {latency: 5ms}", "unknown key 'latency'"),
    ("impair: [50ms]", "expected a mapping"),
]


@pytest.mark.parametrize("text,message", BAD, ids=[m for _, m in BAD])
def test_bad_impairment_is_one_clear_line(text, message):
    with pytest.raises(InputError) as err:
        load(pair("    " + text))
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "links[0].impair" in str(err.value)


def test_bridge_port_impairment_needs_a_link_making_that_port():
    with pytest.raises(InputError, match="no link makes this port"):
        load("name: t\nnodes: {a: {}}\nbridges: {br: {ports: {nope: {impair: {rate: 1mbit}}}}}\n"
             "links: [{endpoints: [a:eth0, br]}]\n")


def test_current_impairments_are_the_topologys_then_the_logged_changes():
    topo = load(pair("    impair: {rate: 10mbit}"))
    data = {"lab": "np6imp", "topology": to_dict(topo), "changes": [
        {"command": "link", "endpoint": "np6i1:eth0", "impair": {"delay": "20ms"},
         "applied": True},
        {"command": "link", "endpoint": "np6i2:eth0", "impair": None, "applied": True},
        {"command": "link", "endpoint": "np6i1:eth0", "impair": {"rate": "1mbit"},
         "applied": False},  # failed: not in force
    ]}
    assert link.current(topo, data) == {"np6i1:eth0": Impairment(delay="20ms")}


def test_find_end_names_the_choices():
    topo = load(pair())
    assert impair.find_end(topo, "np6i2:eth0").namespace == "np6i2"
    with pytest.raises(InputError, match="np6i1's are np6i1:eth0"):
        impair.find_end(topo, "np6i1:eth7")
    with pytest.raises(InputError, match="no node or bridge 'zz'"):
        impair.find_end(topo, "zz:eth0")
    end = impair.find_end(topo, "np6i1:eth0")
    assert tc.change_argv(end, Impairment(delay="5ms")) == \
        ["tc", "-n", "np6i1", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", "5ms"]
    assert tc.change_argv(end, None) == ["tc", "-n", "np6i1", "qdisc", "del", "dev", "eth0",
                                             "root"]


def test_link_dry_run_needs_no_root(netplay, tmp_path, state_dir):
    """--dry-run prints the command from the lab's log without changing anything."""
    from netplay.run import log as steplog, state

    topo = load(pair())
    state.lab_dir(state_dir, "np6imp", create=True)
    steplog.StepLog.create(state.log_path(state_dir, "np6imp"), "np6imp", to_dict(topo),
                           plan(topo)).set_status(steplog.UP)
    out = netplay("link", "np6imp", "np6i1:eth0", "--rate", "5mbit", "--dry-run")
    assert out.rc == 0 and out.out.strip() == \
        "tc -n np6i1 qdisc add dev eth0 root tbf rate 5mbit burst 16384 latency 50ms"
    shown = netplay("link", "np6imp", "--json")
    assert shown.rc == 0 and shown.json()["impairments"] == {}
    bad = netplay("link", "np6imp", "np6i1:eth0", "--clear", "--rate", "1mbit")
    assert bad.rc == 2 and "drop --rate or --clear" in bad.err


# --- on the kernel: measured ---------------------------------------------------------------

MB = 1_000_000


@pytest.mark.root
def test_rate_in_the_topology_shows_in_a_bounded_transfer(lab, tmp_path):
    lab(write_topology(tmp_path, pair("    impair: {rate: 8mbit}")), name="np6imp")
    assert ping_soon("np6i1", "10.68.0.2")
    # 2 MB at 8 Mbit/s is 2 s; the same transfer unlimited takes a small fraction of that
    seconds = transfer_seconds("np6i1", "np6i2", "10.68.0.2", 2 * MB)
    assert 1.6 < seconds < 3.0, seconds
    assert ping_soon("np6i1", "fd00:68::2")  # IPv6 is shaped the same: the qdisc is below IP
    seconds = transfer_seconds("np6i1", "np6i2", "fd00:68::2", 2 * MB, port=5202)
    assert 1.6 < seconds < 3.0, seconds


@pytest.mark.root
def test_netplay_link_changes_a_running_lab_and_records_it(lab, netplay, tmp_path, state_dir):
    lab(write_topology(tmp_path, pair()), name="np6imp")
    assert ping_soon("np6i1", "10.68.0.2")
    fast = transfer_seconds("np6i1", "np6i2", "10.68.0.2", 2 * MB)
    assert fast < 0.8, fast
    changed = netplay("link", "np6imp", "np6i1:eth0", "--rate", "8mbit")
    assert changed.rc == 0 and "np6i1:eth0: rate 8mbit" in changed.out, changed
    seconds = transfer_seconds("np6i1", "np6i2", "10.68.0.2", 2 * MB)
    assert 1.6 < seconds < 3.0, seconds
    shown = netplay("link", "np6imp", "--json")
    assert shown.json()["impairments"] == {"np6i1:eth0": {"rate": "8mbit"}}
    cleared = netplay("link", "np6imp", "np6i1:eth0", "--clear")
    assert cleared.rc == 0, cleared
    assert transfer_seconds("np6i1", "np6i2", "10.68.0.2", 2 * MB) < 0.8
    again = netplay("link", "np6imp", "np6i1:eth0", "--clear")
    assert again.rc == 0 and "nothing to clear" in again.out
    with open(f"{state_dir}/labs/np6imp/log.json") as f:
        log = json.load(f)
    # each change is a generation of the log: its topology, and its commands with results
    gens = log["generations"]
    assert [(g["action"], g["status"],
             g["topology"]["nodes"]["np6i1"]["interfaces"]["eth0"].get("impair"),
             [(s["shell"], s["result"]["rc"]) for s in g["steps"]]) for g in gens] == [
        ("link", "applied", {"rate": "8mbit"},
         [("tc -n np6i1 qdisc add dev eth0 root tbf rate 8mbit burst 16384 latency 50ms", 0)]),
        ("link", "applied", None, [("tc -n np6i1 qdisc del dev eth0 root", 0)])]
    # the generations re-plan from the topology before them, so the log replays and exports
    from netplay.run import logcheck

    logcheck.check(log, "log.json")
    missing = netplay("link", "np6imp", "np6i1:eth9", "--rate", "1mbit")
    assert missing.rc == 2 and "np6i1's are np6i1:eth0" in missing.err


@pytest.mark.root
@needs_netem
def test_delay_on_a_link_shows_in_the_round_trip(lab, netplay, tmp_path):
    lab(write_topology(tmp_path, pair("    impair: {delay: 50ms}")), name="np6imp")
    assert ping_soon("np6i1", "10.68.0.2")
    assert 90 < rtt_ms("np6i1", "10.68.0.2") < 150  # 50 ms each way
    assert 90 < rtt_ms("np6i1", "fd00:68::2") < 150
    assert netplay("link", "np6imp", "np6i2:eth0", "--delay", "10ms").rc == 0
    assert 50 < rtt_ms("np6i1", "10.68.0.2") < 100  # 50 ms there, 10 ms back
    assert netplay("link", "np6imp", "np6i1:eth0", "--clear").rc == 0
    assert netplay("link", "np6imp", "np6i2:eth0", "--clear").rc == 0
    assert rtt_ms("np6i1", "10.68.0.2") < 10


@pytest.mark.root
@pytest.mark.skipif(NETEM, reason="the kernel has netem: the delay is measured instead")
def test_without_netem_delay_is_refused_in_one_line(lab, netplay, tmp_path):
    lab(write_topology(tmp_path, pair()), name="np6imp")
    result = netplay("link", "np6imp", "np6i1:eth0", "--delay", "20ms")
    assert result.rc == 2 and "no netem qdisc" in result.err, result
    assert len(result.err.strip().splitlines()) == 1
    assert netplay("link", "np6imp", "--json").json()["impairments"] == {}


@pytest.mark.root
@pytest.mark.skipif(NETEM, reason="the kernel has netem: the delay is measured instead")
def test_without_netem_a_topology_with_delay_is_refused_before_any_change(lab, tmp_path,
                                                                           state_dir):
    result = lab(write_topology(tmp_path, pair("    impair: {delay: 50ms}")), name="np6imp",
                 check=False)
    assert result.rc == 2 and "np6i1:eth0 asks for delay 50ms" in result.err, result
    assert "no netem qdisc" in result.err and len(result.err.strip().splitlines()) == 1
    import os

    assert not os.path.exists(f"{state_dir}/labs/np6imp/log.json")  # nothing was run


@pytest.mark.root
@pytest.mark.docker
def test_rate_on_containers(lab, netplay, tmp_path):
    lab(write_topology(tmp_path, pair()), "--runtime", "docker", "--image", TEST_IMAGE,
        name="np6imp")
    assert ping_soon("np6i1", "10.68.0.2")
    assert netplay("link", "np6imp", "np6i1:eth0", "--rate", "8mbit").rc == 0
    seconds = transfer_seconds("np6i1", "np6i2", "10.68.0.2", 2 * MB)
    assert 1.6 < seconds < 3.0, seconds
