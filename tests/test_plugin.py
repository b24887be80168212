"""netplay's pytest plugin (netplay/api/pytest_plugin.py), loaded by its `pytest11` entry
point in a pytest of its own (pytester, a subprocess, no conftest): the marker and the
netplay_lab fixture pass on a real lab; a test that leaves a namespace or a link behind
is failed by the plugin's check of the host."""

import subprocess

import pytest

from netplay.api.pytest_plugin import snapshot
from netplay.api.snapshot import differences
from netplay.run import state

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.root

PASSING = '''
import pytest


@pytest.mark.netplay_topology("linear:2", runtime="netns", name="npplug", prefix=True)
def test_reach(netplay_lab):
    assert netplay_lab.name == "npplug" and netplay_lab.nodes == ["switches", "h1", "h2"]
    h2 = netplay_lab.address("h2", "eth0")
    assert netplay_lab.exec("h1", ["ping", "-c", "1", "-W", "2", h2]).returncode == 0
    assert netplay_lab.verify().ok


@pytest.mark.netplay_topology(spec="levels", runtime="netns")
def test_levels(netplay_lab):
    assert netplay_lab.exec("levela", ["true"]).returncode == 0


def test_nothing_changes(netplay_host_unchanged):
    assert set(netplay_host_unchanged) >= {"netns", "links", "containers"}
'''

LEAVING = '''
import subprocess

import pytest


@pytest.mark.netplay_topology("levels", runtime="netns")
def test_leaves_a_namespace(netplay_lab):
    subprocess.run(["ip", "netns", "add", "npplug-left"], check=True)


def test_leaves_a_link(netplay_host_unchanged):
    subprocess.run(["ip", "link", "add", "npplug-d0", "type", "veth", "peer", "name",
                    "npplug-d1"], check=True)


def test_unmarked(netplay_lab):
    pass


@pytest.mark.netplay_topology("npplug-no-such")
def test_unknown_topology(netplay_lab):
    pass
'''


@pytest.fixture
def inner(pytester, monkeypatch, state_dir, netplay, host_unchanged):
    """Run a test file in a pytest of its own with the test's state directory; every lab
    it left is taken down afterwards, and the host compared."""
    monkeypatch.setenv("NETPLAY_STATE_DIR", state_dir)
    monkeypatch.setenv("COLUMNS", "400")  # the short summary's lines whole

    def run(source):
        pytester.makepyfile(test_inner=source)
        assert not list(pytester.path.glob("conftest.py"))
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", timeout=300)

    yield run
    for name in state.labs(state_dir):
        netplay("down", name)


def test_a_marked_test_gets_a_real_lab_and_passes(inner):
    result = inner(PASSING)
    result.assert_outcomes(passed=3)


def test_a_test_that_leaves_something_behind_fails(inner, request):
    def remove():  # what the inner tests leave: removed here, whatever happened
        subprocess.run(["ip", "netns", "delete", "npplug-left"], capture_output=True)
        subprocess.run(["ip", "link", "delete", "npplug-d0"], capture_output=True)

    request.addfinalizer(remove)
    result = inner(LEAVING)
    out = result.stdout.str()
    # the bodies pass; each check fails its test's teardown, reported as FAILED
    result.assert_outcomes(passed=2, failed=2, errors=2)
    result.stdout.fnmatch_lines([
        "*FAILED*test_leaves_a_namespace*the host is not as it was before the test: "
        "netns added: npplug-left*",
        "*FAILED*test_leaves_a_link*the host is not as it was before the test: "
        "links added: npplug-d0, npplug-d1*",
    ])
    assert "mark the test @pytest.mark.netplay_topology(SPEC)" in out
    assert "unknown built-in topology 'npplug-no-such'" in out
    assert "levela" not in subprocess.run(["ip", "netns", "list"], capture_output=True,
                                          text=True).stdout  # the lab itself went down


def test_snapshot_differences_name_each_change():
    before = snapshot()
    after = dict(before, netns=before["netns"] + ["npplug-x"], ip_forward="2",
                 iptables=before["iptables"] + "-A FORWARD -j ACCEPT\n")
    assert differences(before, before) == []
    assert differences(before, after) == ["netns added: npplug-x",
                                          "firewall rule added: -A FORWARD -j ACCEPT",
                                          f"ip_forward: {before['ip_forward']} -> 2"]
