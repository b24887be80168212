"""netplay.observe.kernel: which kernel features a topology needs, probed once, refused in
one line.

The decision is tested here without root, on a recording machine that answers the probes
as a kernel without the feature would; tests/test_clab.py refuses a dummy link on this
host's real kernel, which has none."""

import pytest

from netplay.core.errors import HostError
from netplay.machine.fake import FakeMachine
from netplay.model.validate import from_dict
from netplay.observe import kernel


def Probes(missing=()):
    """A fake machine whose kernel lacks the features in `missing`: their probes
    (`unshare --net ...`) fail, every other command succeeds; `.ran` lists the probes."""
    machine = FakeMachine()
    for feature in missing:
        machine.answer(["unshare", "--net", *kernel.FEATURES[feature].probe], rc=1)
    return machine


def topo(dummy=False, impair=None):
    node = {"interfaces": {"e0": {"addresses": ["10.0.0.1/24"]}}}
    if dummy:
        node["interfaces"]["d0"] = {"kind": "dummy"}
    link = {"endpoints": ["a:e0", "b:e0"]}
    if impair:
        link["impair"] = impair
    return from_dict({"name": "k", "nodes": {"a": node, "b": {}}, "links": [link]})


@pytest.fixture(autouse=True)
def fresh_answers(monkeypatch):
    monkeypatch.setattr(kernel, "_known", {})


def test_nothing_is_probed_for_a_topology_that_needs_nothing():
    machine = Probes(missing=kernel.FEATURES)
    kernel.check(topo(), machine)
    assert machine.argvs() == []


def test_a_missing_dummy_type_is_refused_naming_the_interface():
    machine = Probes(missing={"dummy"})
    with pytest.raises(HostError) as err:
        kernel.check(topo(dummy=True), machine)
    assert str(err.value) == (
        "k: a:d0 is a dummy interface, but this kernel has no dummy link type (CONFIG_DUMMY; "
        "try `modprobe dummy`); remove the dummy interface (containerlab: the `type: dummy` "
        "link) or run it on a kernel with dummy")
    assert machine.argvs() == [["unshare", "--net", "ip", "link", "add", "np-probe", "type", "dummy"]]


def test_each_feature_is_probed_once_per_machine():
    machine = Probes()
    for _ in range(3):
        kernel.check(topo(dummy=True, impair={"delay": "5ms"}), machine)
    assert [argv[2:4] for argv in machine.argvs()] == [["ip", "link"], ["tc", "qdisc"]]
    other = Probes(missing={"netem"})
    with pytest.raises(HostError, match="no netem qdisc"):
        kernel.check(topo(impair={"delay": "5ms"}), other)


def test_a_rate_alone_needs_tbf_and_delay_needs_netem():
    assert [f for f, _, _ in kernel.requirements(topo(impair={"rate": "1mbit"}))] == \
        ["tbf", "tbf"]
    assert [f for f, _, _ in kernel.requirements(topo(impair={"delay": "1ms",
                                                              "rate": "1mbit"}))] == \
        ["netem", "netem"]
    with pytest.raises(HostError) as err:
        kernel.check(topo(impair={"rate": "1mbit"}), Probes(missing={"tbf"}))
    assert str(err.value).startswith("k: a:e0 asks for rate 1mbit, but this kernel has no "
                                     "tbf qdisc")


def test_the_netem_refusal_reads_as_before():
    with pytest.raises(HostError) as err:
        kernel.check(topo(impair={"delay": "50ms"}), Probes(missing={"netem"}))
    assert str(err.value) == (
        "k: a:e0 asks for delay 50ms, but this kernel has no netem qdisc "
        "(CONFIG_NET_SCH_NETEM; try `modprobe sch_netem`), which delay, jitter and loss need; "
        "a rate alone works (tbf); remove delay, jitter and loss from the topology or run it "
        "on a kernel with netem")
