"""netplay exec: a command inside a node, its stdin, stdout, stderr and exit code passed
through, on plain namespaces, the host node and containers."""

import json

import pytest

from conftest import TEST_IMAGE


@pytest.mark.root
def test_exec_runs_inside_the_namespace(lab, netplay):
    lab("levels")
    result = netplay("exec", "levels", "levela", "--", "ip", "-j", "addr", "show")
    assert result.rc == 0, result
    names = {i["ifname"] for i in json.loads(result.out)}
    assert names == {"lo", "veth1a", "veth0b"}


@pytest.mark.root
def test_exec_passes_exit_code_stdout_stderr_and_stdin(lab, netplay):
    lab("levels")
    result = netplay("exec", "levels", "levelb", "--", "sh", "-c",
                     "echo out; echo err >&2; exit 42")
    assert (result.rc, result.out, result.err) == (42, "out\n", "err\n")
    result = netplay("exec", "levels", "levelc", "--", "cat", input="through stdin\n")
    assert (result.rc, result.out) == (0, "through stdin\n")
    # without --, and with netplay's own options between the node and --
    assert netplay("exec", "levels", "levelc", "true").rc == 0
    result = netplay("exec", "levels", "levelc", "-v", "--", "false")
    assert result.rc == 1 and "+ ip netns exec levelc false" in result.err


@pytest.mark.root
def test_exec_on_the_host_node_runs_in_the_root_namespace(lab, netplay):
    lab("levels")
    result = netplay("exec", "levels", "host", "--", "ip", "-j", "link", "show", "veth0a")
    assert result.rc == 0, result
    assert json.loads(result.out)[0]["ifname"] == "veth0a"


@pytest.mark.root
def test_exec_errors_are_one_line(lab, netplay):
    lab("levels")
    result = netplay("exec", "levels", "nobody", "--", "true")
    assert result.rc == 2
    assert result.err == ("netplay: error: lab 'levels' has no node 'nobody'; its nodes are "
                          "host, levela, levelb, levelc\n")
    result = netplay("exec", "levels", "levela")
    assert result.rc == 2 and "no command given" in result.err
    result = netplay("exec", "levels", "levela", "--", "no-such-program-here")
    assert result.rc == 127 and result.err.count("\n") == 1
    result = netplay("exec", "no-such-lab", "levela", "--", "true")
    assert result.rc == 2 and "no lab named 'no-such-lab'" in result.err


@pytest.mark.root
def test_exec_refuses_a_lab_that_is_down(lab, netplay):
    lab("levels")
    assert netplay("down", "levels").rc == 0
    result = netplay("exec", "levels", "levela", "--", "true")
    assert result.rc == 2 and "is down" in result.err


@pytest.mark.root
@pytest.mark.docker
def test_exec_in_a_container_uses_docker_exec(lab, netplay):
    lab("home", "--image", TEST_IMAGE)
    result = netplay("exec", "home", "laptop", "--", "sh", "-c",
                     "hostname; echo oops >&2; exit 5")
    assert (result.rc, result.out, result.err) == (5, "laptop\n", "oops\n")
    result = netplay("exec", "home", "router", "--", "cat", input="hello router\n")
    assert (result.rc, result.out) == (0, "hello router\n")
    # the container's own view of its network: the address netplay gave it
    result = netplay("exec", "home", "verizon", "--", "ip", "addr", "show", "eth1")
    assert result.rc == 0 and "198.51.100.1/30" in result.out
    # docker's own answer for a program the image lacks (docs/observe.md says so)
    result = netplay("exec", "home", "laptop", "--", "no-such-program-here")
    assert result.rc == 126 and "no-such-program-here" in result.out + result.err
