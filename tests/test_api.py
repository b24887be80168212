"""The Python API (netplay/api/lab.py, docs/api.md) on the real kernel: a lab up as a
context manager, commands inside its nodes, verify, addresses, down, attach to a lab the
CLI built, and errors that are the CLI's, leaving the host as it was."""

import re
import subprocess

import pytest

from conftest import write_topology
from netplay import Lab, NetplayError, StepFailed, UsageError
from netplay.run import state

pytestmark = pytest.mark.root

PAIR = {  # two namespaces on one veth pair, names and addresses of this test's own
    "name": "npapi-pair",
    "nodes": {"npapi-a": {"interfaces": {"eth0": {"addresses": ["10.252.7.1/24"]}}},
              "npapi-b": {"interfaces": {"eth0": {"addresses": ["10.252.7.2/24"]}}}},
    "links": [{"endpoints": ["npapi-a:eth0", "npapi-b:eth0"]}],
}
BROKEN_ROUTE = {  # the same route twice: the kernel refuses the second ("File exists")
    "name": "npapi-broken",
    "nodes": {"npapi-b1": {"interfaces": {"eth0": {"addresses": ["10.252.8.1/24"]}}},
              "npapi-b2": {"interfaces": {"eth0": {"addresses": ["10.252.8.2/24"]}},
                           "routes": [{"to": "10.252.9.0/24", "via": "10.252.8.1"},
                                      {"to": "10.252.9.0/24", "via": "10.252.8.1"}]}},
    "links": [{"endpoints": ["npapi-b1:eth0", "npapi-b2:eth0"]}],
}


@pytest.fixture
def api(state_dir, netplay, host_unchanged):
    """The test's private state directory; afterwards every lab in it is taken down by
    the CLI (even when the test failed before its own down), then the host compared."""
    yield state_dir
    for name in state.labs(state_dir):
        netplay("down", name)


def netns():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                          check=True).stdout


def test_levels_as_a_context_manager(api):
    with Lab.up("levels", runtime="netns", state_dir=api) as lab:
        assert lab.name == "levels"
        assert lab.nodes == ["host", "levela", "levelb", "levelc"]
        result = lab.exec("levela", ["ip", "-br", "addr", "show", "veth1a"])
        assert isinstance(result, subprocess.CompletedProcess)
        assert result.returncode == 0 and "172.16.1.0/24" in result.stdout, result
        assert result.args == ["ip", "-br", "addr", "show", "veth1a"]
        assert lab.address("levelb", "veth1b") == "10.1.1.1"
        assert lab.address("levelc", "veth1c", family=4) == "192.168.1.1"
        assert lab.exec("levelc", ["false"]).returncode == 1
        with pytest.raises(subprocess.CalledProcessError):
            lab.exec("levelc", ["false"], check=True)
        missing = lab.exec("levelc", ["npapi-no-such-program"])
        assert missing.returncode == 127 and "command not found" in missing.stderr
        verdict = lab.verify()
        assert verdict.ok and verdict.failed == [] and verdict.checks, verdict.summary
        assert "levela" in netns()
    assert "levela" not in netns()
    lab.down()  # a second down does nothing
    with pytest.raises(UsageError, match="lab 'levels' is down"):
        lab.exec("levela", ["true"])


def test_ping_between_the_nodes_of_a_prefixed_lab(api):
    with Lab.up("linear:2", name="npapi", prefix=True, runtime="netns", state_dir=api) as lab:
        assert lab.name == "npapi" and lab.nodes == ["switches", "h1", "h2"]
        assert {"npapi-h1", "npapi-h2"} <= set(netns().split())
        target = lab.address("h2", "eth0")
        ping = lab.exec("h1", ["ping", "-c", "1", "-W", "2", target], check=True)
        assert "1 received" in ping.stdout
        assert lab.exec("npapi-h2", ["true"]).returncode == 0  # the full name works too


def test_a_dict_and_down_when_the_body_raises(api):
    with pytest.raises(RuntimeError, match="the test's own"):
        with Lab.up(PAIR, state_dir=api) as lab:
            assert lab.exec("npapi-a", ["ping", "-c", "1", "-W", "2", "10.252.7.2"]).returncode == 0
            raise RuntimeError("the test's own failure")
    assert "npapi-a" not in netns()


def test_verify_reports_what_is_broken(api):
    with Lab.up(PAIR, state_dir=api) as lab:
        lab.exec("npapi-b", ["ip", "link", "set", "eth0", "down"], check=True)
        verdict = lab.verify()
        assert not verdict.ok
        assert any(c.subject.startswith("npapi-b:eth0") for c in verdict.failed), verdict.summary
        assert "FAIL" in verdict.summary
        assert lab.verify(pings=False).failed  # the state alone says so too


def test_attach_to_a_lab_the_cli_built(api, netplay):
    assert netplay("run", "levels", "--runtime", "netns").rc == 0
    lab = Lab.attach("levels", state_dir=api)
    assert lab.nodes == ["host", "levela", "levelb", "levelc"]
    assert "192.168.1.1" in lab.exec("levelc", ["ip", "-br", "addr"]).stdout
    assert lab.verify().ok
    lab.down()
    assert "levela" not in netns()
    assert netplay("down", "levels").out.startswith("lab levels is not up")
    with pytest.raises(UsageError) as err:
        Lab.attach("levels", state_dir=api)
    assert str(err.value) == "lab 'levels' is down; build it with `netplay run` first"


def cli_error(result):
    """The CLI's one line of error, without its `netplay: error: ` head."""
    assert result.rc == 2 and "Traceback" not in result.err, result
    line, = result.err.splitlines()
    return line.removeprefix("netplay: error: ")


def test_an_unknown_built_in_is_the_cli_s_usage_error(api, netplay):
    with pytest.raises(UsageError) as err:
        Lab.up("npapi-no-such", runtime="netns", state_dir=api)
    assert str(err.value) == cli_error(netplay("run", "npapi-no-such", "--runtime", "netns"))
    assert err.value.exit_code == 2 and isinstance(err.value, NetplayError)


def test_a_bad_topology_dict_is_the_cli_s_usage_error(api, netplay, tmp_path):
    bad = {"name": "npapi-bad", "nodes": {"npapi-x": {"colour": "red"}}}
    with pytest.raises(UsageError) as err:
        Lab.up(bad, state_dir=api)
    path = write_topology(tmp_path, "name: npapi-bad\nnodes: {npapi-x: {colour: red}}\n")
    cli = cli_error(netplay("run", path))
    # the same line, but for where the data came from: the file with the line and column
    # (FILE:2:19), or `topology`
    assert str(err.value) == "topology" + re.sub(r"^:\d+:\d+", "", cli.removeprefix(path))
    assert "unknown key 'colour'" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("call, message", [
    (lambda d: Lab.up(PAIR, runtime="podman", state_dir=d), "runtime: expected one of"),
    (lambda d: Lab.up(42, state_dir=d), "topology: expected a built-in name"),
    (lambda d: Lab.up("linear:2", name="a/b", state_dir=d), "--name"),
])
def test_other_bad_input_is_a_usage_error(api, call, message):
    with pytest.raises(UsageError, match=message):
        call(api)


def test_bad_commands_and_names_inside_a_lab(api):
    with Lab.up(PAIR, state_dir=api) as lab:
        with pytest.raises(UsageError, match="a command is a non-empty list"):
            lab.exec("npapi-a", "ip addr")  # a shell string: refused, never run
        with pytest.raises(UsageError, match="has no node 'npapi-z'; its nodes are npapi-a"):
            lab.exec("npapi-z", ["true"])
        with pytest.raises(UsageError, match="has no interface 'eth9'"):
            lab.address("npapi-a", "eth9")
        with pytest.raises(UsageError, match="has no IPv6 address"):
            lab.address("npapi-a", "eth0", family=6)


def test_a_failing_step_raises_step_failed_and_leaves_nothing(api):
    with pytest.raises(StepFailed) as err:
        Lab.up(BROKEN_ROUTE, state_dir=api)
    assert "failed: `ip -n npapi-b2 route add 10.252.9.0/24 via 10.252.8.1`" in str(err.value)
    assert err.value.exit_code == 1 and "\n" not in str(err.value)
    assert state.read_lab(api, "npapi-broken")["status"] == "down"
    assert "npapi-b" not in netns()


def test_a_lab_that_is_up_already_is_refused(api):
    with Lab.up(PAIR, state_dir=api):
        with pytest.raises(UsageError, match="is already up"):
            Lab.up(PAIR, state_dir=api)


def test_apply_of_the_lab_s_own_topology_repairs_what_was_changed_by_hand(api):
    """lab.apply hands apply the drift reader as the command line does (it is passed in,
    not imported by lab/apply): an address deleted by hand comes back, listed."""
    with Lab.up(PAIR, state_dir=api) as lab:
        lab.exec("npapi-b", ["ip", "addr", "flush", "dev", "eth0"], check=True)
        assert not lab.verify(pings=False).ok
        lines = lab.apply(PAIR)
        assert lines[-1] == "Plan: 1 to repair." and "~ repair npapi-b:eth0" in lines[0], lines
        assert lab.verify().ok
