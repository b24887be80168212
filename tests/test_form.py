"""netplay.model.form: a form netplay wrote (a lab's log's topology), built without checks
into the very Topology that from_dict checks and builds from it; anything else goes to
from_dict, so it is checked and refused in one line. Pure: no root."""

import copy

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from labgen import changed_lab, labs
from test_apply import topologies
from test_fuzz import mutated_topologies
from netplay.core.errors import InputError
from netplay.load import builtins, resolve
from netplay.model import form
from netplay.model.form import from_form
from netplay.model.validate import from_dict
from netplay.plan.build import plan

BUILT_INS = ["levels", "home", "playground", "linear:5", "tree:2,3", "leafspine:2,3,2"]


@pytest.fixture
def checked(monkeypatch):
    """The forms from_form gave to from_dict (to be checked) instead of building them."""
    calls = []

    def spy(data, source="topology"):
        calls.append(data)
        return from_dict(data, source)

    monkeypatch.setattr(form, "from_dict", spy)
    return calls


def valid(data):
    """data, if from_dict takes it (generated changes may make a topology it refuses)."""
    try:
        from_dict(copy.deepcopy(data), "topology")
    except InputError:
        return False
    return True


def same_as_checked(data):
    """from_form of a topology's form is from_dict's: equal, with every dict in the same
    order (repr), and planned into the same steps."""
    data = from_dict(data, "topology").to_dict()  # the form, as a log holds it
    built, loaded = from_form(copy.deepcopy(data), "log.json"), from_dict(data, "log.json")
    assert built == loaded
    assert repr(built) == repr(loaded)
    assert [s.to_dict() for s in plan(built)] == [s.to_dict() for s in plan(loaded)]
    return built


@pytest.mark.parametrize("name", BUILT_INS)
def test_built_ins_are_built_unchecked_as_from_dict_builds_them(name, checked):
    same_as_checked(builtins.load(name).to_dict())
    assert checked == []  # built, not handed to from_dict


def test_a_lab_on_several_hosts_is_left_to_from_dict(checked):
    data = resolve.resolve("vagrant/multihost/two-hosts.yaml").to_dict()
    same_as_checked(data)
    assert len(checked) == 1 and checked[0]["hosts"]


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_generated_labs_and_their_changes(data):
    lab = data.draw(labs())
    assume(valid(lab))
    same_as_checked(lab)
    for other in (changed_lab(lab, data.draw), data.draw(topologies())):
        if valid(other):
            same_as_checked(other)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.filter_too_much])
@given(mutated_topologies())
def test_mutated_topologies_that_load(data):
    assume(valid(data))
    same_as_checked(data)


BROKEN = [
    ("links", {"a": 1}),  # not a list
    ("nodes", []),  # not a mapping
    ("surprise", 1),  # a key serialize never writes
]


@pytest.mark.parametrize("key,value", BROKEN)
def test_a_form_not_as_netplay_writes_it_is_checked_and_refused_in_one_line(key, value,
                                                                            checked):
    data = builtins.load("levels").to_dict()
    data[key] = value
    with pytest.raises(InputError) as err:
        from_form(data, "log.json")
    assert checked and "\n" not in str(err.value) and str(err.value).startswith("log.json")


def test_a_form_missing_a_default_is_filled_in_by_from_dict(checked):
    data = builtins.load("levels").to_dict()
    for node in data["nodes"].values():
        for iface in node.get("interfaces", {}).values():
            del iface["up"]  # serialize always writes it; from_dict defaults it (True)
    assert from_form(copy.deepcopy(data), "log.json") == from_dict(data, "log.json")
    assert len(checked) == 1


# Every field serialize writes for a lab on one machine, set to something other than its
# default, so that one left out by from_form shows.
EVERYTHING = """
name: npf
prefix: npf
description: every field
image: alpine:3.19
ipv6_link_local: false
etc_hosts: true
vxlan: {port: 4790, vni_base: 5000}
nodes:
  npf-r:
    role: router
    interfaces:
      eth0: {addresses: [10.61.0.1/24, "fd61::1/64"], mac: "02:00:00:00:61:01", mtu: 1400,
             impair: {delay: 5ms, jitter: 1ms}}
      eth1: {up: false}
      d0: {kind: dummy, addresses: [10.62.0.1/32]}
      v0: {kind: vxlan, vxlan: {id: 42, remote: 198.51.100.7}}
    nat: {masquerade: eth0}
    routes:
      - {to: 10.63.0.0/24, via: 10.61.0.2}
      - {to: 10.64.0.0/24, dev: eth1}
      - {to: default, via: 10.65.0.1, dev: eth1, onlink: true}
  npf-c:
    kind: docker
    image: busybox
    cmd: [sleep, "600"]
    dns: [10.61.0.1]
    env: {A: "1"}
    binds: ["/srv:/srv:ro"]
    exec: [[ip, link], ["true"]]
    loopback: false
    interfaces:
      eth0: {addresses: [10.61.0.2/24]}
  npf-h: {}
bridges:
  npf-b: {up: false, addresses: [10.66.0.254/24], subnet: 10.66.0.0/24,
          ports: {p1: {impair: {rate: 8mbit}}}}
links:
  - {endpoints: [npf-r:eth0, npf-c:eth0], mtu: 1400, impair: {loss: 1%}}
  - {endpoints: [npf-r:eth1, npf-b:p1]}
  - {endpoints: [npf-h:eth0, npf-b], subnet: null}
  - {endpoints: [npf-c:eth1, npf-h:eth1], subnet: 10.67.0.0/30}
"""


def test_every_field_of_a_form(checked):
    import yaml

    topo = same_as_checked(yaml.safe_load(EVERYTHING))
    assert checked == []
    assert topo.nodes["npf-r"].interfaces["d0"].kind == "dummy"
    assert topo.nodes["npf-r"].interfaces["v0"].tunnel.vni == 42
    assert topo.bridges["npf-b"].interfaces["p1"].impair.rate == "8mbit"
    assert topo.nodes["npf-c"].interfaces["eth0"].impair.loss == "1%"
