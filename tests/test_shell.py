"""netplay shell: an interactive shell inside a node, driven through a real pseudo-terminal
as a person would: its prompt names the lab and the node, the commands typed run inside
the node's namespace (or container), and its exit code is netplay's."""

import os
import pty
import select
import signal
import sys
import time

import pytest

from conftest import TEST_IMAGE, write_topology
from netplay.lab.shell import prompt, shell_argv
from netplay.machine.fake import FakeMachine
from netplay.model.validate import from_dict

TOPOLOGY = """
name: np18s
nodes:
  s18a: {interfaces: {eth0: {addresses: [10.204.0.1/24]}}}
  s18b: {interfaces: {eth0: {addresses: [10.204.0.2/24, fd0b:4::2/64]}}}
links:
  - endpoints: [s18a:eth0, s18b:eth0]
"""

DOCKER_TOPOLOGY = """
name: np18sd
nodes:
  s18c: {kind: docker, interfaces: {eth0: {addresses: [10.205.0.3/24]}}}
  s18d: {interfaces: {eth0: {addresses: [10.205.0.2/24]}}}
links:
  - endpoints: [s18c:eth0, s18d:eth0]
"""


class Terminal:
    """A command run on a pseudo-terminal of its own (its controlling terminal), read and
    typed into as a person at a terminal would."""

    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: exec at once, nothing of pytest's runs here
            try:
                os.execvpe(argv[0], argv, env)
            finally:
                os._exit(127)
        self.seen = b""

    def expect(self, text, timeout=30):
        """Read until text (bytes) appears in what came since the last expect; that."""
        got, deadline = b"", time.monotonic() + timeout
        while text not in got:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.fd], [], [], max(left, 0))
            if not ready:
                raise AssertionError(f"no {text!r} within {timeout} s; read {got!r}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # EIO: the terminal's other side is closed
                chunk = b""
            if not chunk:
                raise AssertionError(f"ended before {text!r}; read {got!r}")
            got += chunk
        self.seen += got
        return got

    def type(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def exit_code(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:  # drain, so the child never blocks writing to the terminal
                if select.select([self.fd], [], [], 0.1)[0]:
                    os.read(self.fd, 4096)
            except OSError:
                pass
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        self.kill()
        raise AssertionError("the shell did not exit")

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


@pytest.fixture
def terminal(state_dir):
    """Open `netplay ARGS...` on a terminal: terminal(*args, shell=PATH); every one is
    killed at the end if it still runs."""
    opened = []

    def open_(*args, shell="/bin/bash"):
        env = dict(os.environ, NETPLAY_STATE_DIR=state_dir, SHELL=shell, TERM="dumb")
        term = Terminal([sys.executable, "-m", "netplay", *args], env)
        opened.append(term)
        return term

    yield open_
    for term in opened:
        term.kill()


@pytest.mark.root
def test_shell_runs_inside_the_node_with_a_prompt_naming_it(lab, tmp_path, terminal):
    lab(write_topology(tmp_path, TOPOLOGY, name="np18s.yaml"))
    term = terminal("shell", "np18s", "s18b")
    term.expect(b"[np18s s18b] ")
    term.type("ip -br addr; echo NODE=$NETPLAY_NODE LAB=$NETPLAY_LAB")
    out = term.expect(b"[np18s s18b] ")
    # the node's own interfaces, which the host has not
    assert b"10.204.0.2/24" in out and b"fd0b:4::2/64" in out, out
    assert b"NODE=s18b LAB=np18s" in out, out
    term.type("exit 7")
    assert term.exit_code() == 7  # the shell's exit code is netplay's


@pytest.mark.root
def test_shell_falls_back_when_shell_is_missing_and_sh_gets_the_prompt(lab, tmp_path,
                                                                       terminal):
    lab(write_topology(tmp_path, TOPOLOGY, name="np18s.yaml"))
    term = terminal("shell", "np18s", "s18a", shell="/no/such/shell")
    term.expect(b"[np18s s18a] ")
    term.type("echo SHELL_IS=${BASH_VERSION:+bash}; ip -br addr show dev eth0")
    out = term.expect(b"[np18s s18a] ")
    assert b"SHELL_IS=bash" in out and b"10.204.0.1/24" in out, out  # bash, the fallback
    term.type("exit")
    assert term.exit_code() == 0

    term = terminal("shell", "np18s", "s18a", shell="/bin/sh")
    term.expect(b"[np18s s18a] # ")
    term.type("ip -br addr show dev eth0")
    assert b"10.204.0.1/24" in term.expect(b"[np18s s18a] # ")
    term.type("exit 3")
    assert term.exit_code() == 3


@pytest.mark.root
def test_shell_bad_input_is_one_line_exit_2(lab, tmp_path, netplay):
    lab(write_topology(tmp_path, TOPOLOGY, name="np18s.yaml"))
    for argv, words in [(("nolab", "s18a"), "no lab named 'nolab'"),
                        (("np18s", "nobody"), "has no node 'nobody'")]:
        result = netplay("shell", *argv)
        assert result.rc == 2 and result.out == "", (argv, result)
        assert result.err.count("\n") == 1 and words in result.err, (argv, result)
    assert netplay("down", "np18s").rc == 0
    result = netplay("shell", "np18s", "s18a")
    assert result.rc == 2 and result.err.count("\n") == 1 and "is down" in result.err


@pytest.mark.root
@pytest.mark.docker
def test_shell_in_a_container(lab, tmp_path, terminal):
    lab(write_topology(tmp_path, DOCKER_TOPOLOGY, name="np18sd.yaml"), "--image", TEST_IMAGE)
    term = terminal("shell", "np18sd", "s18c")  # the image has no bash: its /bin/sh
    term.expect(b"[np18sd s18c] ")
    term.type("hostname; ip addr show eth0")
    out = term.expect(b"[np18sd s18c] ")
    assert b"s18c\r\n" in out and b"inet 10.205.0.3/24" in out, out
    term.type("exit 4")
    assert term.exit_code() == 4


# --- the argv, without a host ----------------------------------------------------------------


def _topo():
    import yaml

    return from_dict(yaml.safe_load(TOPOLOGY))


def test_argv_of_a_namespace_node_sets_the_prompt_and_skips_rc_files():
    fake = FakeMachine(dirs={"/var/run/netns": ["s18a", "s18b"]}, files={"/bin/bash": ""})
    argv = shell_argv(_topo(), "s18a", fake, preferred="/usr/bin/zsh")  # zsh: not there
    assert argv == ["ip", "netns", "exec", "s18a", "env", "PS1=[np18s s18a] \\w# ",
                    "NETPLAY_LAB=np18s", "NETPLAY_NODE=s18a", "/bin/bash", "--norc", "-i"]
    fake = FakeMachine(dirs={"/var/run/netns": ["s18a"]}, files={"/bin/sh": ""})
    argv = shell_argv(_topo(), "s18a", fake)  # no bash: sh, whose prompt has no escapes
    assert argv[5] == "PS1=[np18s s18a] # " and argv[-2:] == ["/bin/sh", "-i"]
    assert prompt("np18s", "s18a", "/bin/dash") == "[np18s s18a] # "
