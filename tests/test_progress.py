"""The progress line: drawn on a terminal only, never with -q or -v, never off a terminal.

The renderer is tested with a fake terminal stream and a fake clock; the real thing by
running `netplay run` under a pseudo-terminal (python's pty) and through pipes.
"""

import io
import os
import pty
import select
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from netplay.cli import progress
from netplay.plan.steps import Step


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def step(phase):
    return Step(["true"], phase=phase)


def test_line_shows_steps_done_of_total_and_where():
    p = progress.Progress(FakeTTY(), "up np9-lab", width=80)
    assert p.line(5, 10, step("node np9-a")) == \
        "up np9-lab: [##########----------]  5/10  node np9-a"
    assert p.line(10, 10, step("configure np9-a")).startswith("up np9-lab: [" + "#" * 20 + "]")
    narrow = progress.Progress(FakeTTY(), "up np9-lab", width=30)
    line = narrow.line(5, 10, step("link np9-a:eth0 -- np9-b:eth0"))
    assert len(line) <= 29 and line.endswith("...")


def test_nothing_before_the_delay_then_throttled_then_erased():
    clock, out = Clock(), FakeTTY()
    p = progress.Progress(out, "up x", delay=0.3, interval=0.05, clock=clock, width=80)
    p(1, 100, step("node a"))
    assert out.getvalue() == ""  # a quick lab shows nothing
    clock.now += 0.4
    p(2, 100, step("node b"))
    assert out.getvalue().count("\r\x1b[K") == 1 and "2/100  node b" in out.getvalue()
    clock.now += 0.01
    p(3, 100, step("node c"))
    assert "node c" not in out.getvalue()  # redrawn at most every interval
    clock.now += 0.01
    p(100, 100, step("configure z"))
    assert out.getvalue().endswith("100/100  configure z")  # the last step always shows
    p.finish()
    assert out.getvalue().endswith("\r\x1b[K")
    before = out.getvalue()
    p.finish()
    assert out.getvalue() == before


def test_finish_without_drawing_writes_nothing():
    out = FakeTTY()
    p = progress.Progress(out, "up x", delay=10)
    p(1, 2, step("a"))
    p.finish()
    assert out.getvalue() == ""


def test_wanted_only_on_a_terminal_without_quiet_or_verbose(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    tty, pipe = FakeTTY(), io.StringIO()
    plain = SimpleNamespace(quiet=False, verbose=False)
    assert progress.wanted(plain, (tty, tty))
    assert not progress.wanted(plain, (tty, pipe))
    assert not progress.wanted(plain, (pipe, tty))
    assert not progress.wanted(SimpleNamespace(quiet=True, verbose=False), (tty, tty))
    assert not progress.wanted(SimpleNamespace(quiet=False, verbose=True), (tty, tty))
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.wanted(plain, (tty, tty))


# --- the real command -----------------------------------------------------------------------------

SLOW = textwrap.dedent("""
    name: np9-prog
    nodes:
      np9-p1:
        exec: [[sleep, "0.4"], [sleep, "0.4"]]
      np9-p2: {}
    links:
      - endpoints: [np9-p1:eth0, np9-p2:eth0]
""")


def run_in_pty(args, state_dir):
    """Run netplay with stdout and stderr on a pseudo-terminal; (exit code, output)."""
    master, slave = pty.openpty()
    env = dict(os.environ, NETPLAY_STATE_DIR=state_dir, TERM="xterm", COLUMNS="120")
    proc = subprocess.Popen([sys.executable, "-m", "netplay", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


@pytest.fixture
def slow_lab(tmp_path, netplay, host_unchanged):
    path = tmp_path / "np9-prog.yaml"
    path.write_text(SLOW)
    yield str(path)
    netplay("down", "np9-prog")


@pytest.mark.root
def test_run_on_a_terminal_shows_progress_and_a_summary(slow_lab, state_dir):
    rc, out = run_in_pty(["run", slow_lab], state_dir)
    assert rc == 0, out
    assert "\r\x1b[Kup np9-prog: [" in out
    assert "exec np9-p1" in out  # the current node
    # the line is erased before the summary, which ends the output
    last = out.rstrip("\r\n").rpartition("\r\x1b[K")[2]
    assert last.startswith("lab np9-prog is up: 2 nodes, 0 bridges, 1 links")
    assert "\n" not in last
    rc, out = run_in_pty(["down", "np9-prog"], state_dir)
    assert rc == 0 and "lab np9-prog is down: 2 nodes, 0 bridges, 1 links in " in out


@pytest.mark.root
def test_no_progress_off_a_terminal(slow_lab, netplay):
    result = netplay("run", slow_lab)
    assert result.rc == 0, result
    assert "\x1b" not in result.out + result.err and "\r" not in result.out + result.err
    assert result.err == ""
    assert result.out.startswith("lab np9-prog is up: 2 nodes, 0 bridges, 1 links")
    down = netplay("down", "np9-prog")
    assert down.out.startswith("lab np9-prog is down: 2 nodes, 0 bridges, 1 links in ")


@pytest.mark.root
def test_quiet_on_a_terminal_prints_nothing(slow_lab, state_dir):
    rc, out = run_in_pty(["run", "-q", slow_lab], state_dir)
    assert rc == 0 and out == ""
    rc, out = run_in_pty(["down", "-q", "np9-prog"], state_dir)
    assert rc == 0 and out == ""


@pytest.mark.root
def test_verbose_prints_each_command_like_bash_x_and_no_progress(slow_lab, state_dir):
    rc, out = run_in_pty(["run", "-v", slow_lab], state_dir)
    assert rc == 0
    lines = out.replace("\r\n", "\n").splitlines()
    assert "+ ip netns add np9-p1" in lines
    assert "+ ip netns exec np9-p1 sleep 0.4" in lines
    assert "\x1b[K" not in out
    rc, out = run_in_pty(["down", "-v", "np9-prog"], state_dir)
    assert "+ ip netns delete np9-p1" in out.replace("\r\n", "\n").splitlines()
