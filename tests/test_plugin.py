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


PARALLEL = '''
import pytest

SEEN = {}


@pytest.mark.parametrize("n", range(6))
@pytest.mark.netplay_topology("linear:3", runtime="netns", prefix=True)
def test_one_topology_in_every_worker(netplay_lab, n):
    assert netplay_lab.name.startswith("np-gw")
    assert netplay_lab.verify().ok
    h3 = netplay_lab.address("h3", "eth0")
    assert netplay_lab.exec("h1", ["ping", "-c", "1", "-W", "2", h3]).returncode == 0
'''

PARALLEL_LEAVING = '''
import subprocess

import pytest


@pytest.mark.netplay_topology("linear:2", runtime="netns", prefix=True)
def test_leaves_a_namespace_marked_as_its_lab_s(netplay_lab):
    subprocess.run(["ip", "netns", "add", "npplug-x"], check=True)  # no mark: not the lab's
    extra = netplay_lab.name + "-extra"  # marked as the lab's, which down does not know of
    subprocess.run(["ip", "netns", "add", extra], check=True)
    subprocess.run(["ip", "-n", extra, "link", "set", "lo", "alias",
                    "netplay:" + netplay_lab.name], check=True)
'''


@pytest.fixture
def inner(pytester, monkeypatch, state_dir, netplay, host_unchanged):
    """Run a test file in a pytest of its own with the test's state directory; every lab
    it left is taken down afterwards, and the host compared."""
    monkeypatch.setenv("NETPLAY_STATE_DIR", state_dir)
    monkeypatch.setenv("COLUMNS", "400")  # the short summary's lines whole

    def run(source, *options):
        pytester.makepyfile(test_inner=source)
        assert not list(pytester.path.glob("conftest.py"))
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA", *options,
                                             timeout=300)

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


def test_prefixed_labs_of_one_topology_in_parallel_workers(inner):
    """pytest-xdist: three workers build linear:3 at once, each as a lab of its own."""
    pytest.importorskip("xdist")
    result = inner(PARALLEL, "-n", "3")
    result.assert_outcomes(passed=6)


def test_in_a_worker_what_is_marked_as_the_lab_s_and_left_fails_the_test(inner, request):
    pytest.importorskip("xdist")
    request.addfinalizer(lambda: [subprocess.run(["ip", "netns", "delete", ns],
                                                 capture_output=True)
                                  for ns in ("npplug-x", "np-gw0-extra")])
    result = inner(PARALLEL_LEAVING, "-n", "1")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*FAILED*namespace np-gw0-extra of lab np-gw0 left*"])
    assert "npplug-x" not in result.stdout.str()  # another worker's, as far as it knows


def test_snapshot_differences_name_each_change():
    before = snapshot()
    after = dict(before, netns=before["netns"] + ["npplug-x"], ip_forward="2",
                 iptables=before["iptables"] + "-A FORWARD -j ACCEPT\n")
    assert differences(before, before) == []
    assert differences(before, after) == ["netns added: npplug-x",
                                          "firewall rule added: -A FORWARD -j ACCEPT",
                                          f"ip_forward: {before['ip_forward']} -> 2"]
