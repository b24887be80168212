"""Crash safety: a run killed at any step leaves a log from which down removes all;
SIGINT or SIGTERM during a run rolls it back."""

import json
import os
import signal
import subprocess
import sys

import pytest

from conftest import TEST_IMAGE, snapshot

pytestmark = pytest.mark.root


def run_until(state_dir, commands_seen, sig, *args):
    """Start `netplay -v run ARGS`, send sig once it has echoed commands_seen commands."""
    env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
    proc = subprocess.Popen([sys.executable, "-m", "netplay", "-v", "run", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, err = 0, []
    for line in proc.stderr:
        err.append(line)
        seen += line.startswith("+ ")
        if seen >= commands_seen:
            proc.send_signal(sig)
            break
    rest = proc.communicate(timeout=120)[1]
    return proc.returncode, "".join(err) + rest


def read_log(state_dir, lab):
    with open(f"{state_dir}/labs/{lab}/log.json") as f:
        return json.load(f)


@pytest.mark.parametrize("position", [1, 2, 4, 7, 11, 16, 22])
def test_sigkill_at_any_step_then_down_removes_everything(netplay, state_dir, position):
    before = snapshot()
    rc, _ = run_until(state_dir, position, signal.SIGKILL, "home", "--runtime", "netns")
    try:
        assert rc == -signal.SIGKILL
        assert read_log(state_dir, "home")["status"] == "running"  # readable, mid-run
    finally:
        down = netplay("down", "home")
    assert down.rc == 0, down
    assert snapshot() == before


@pytest.mark.docker
@pytest.mark.parametrize("position", [2, 5])
def test_sigkill_while_containers_start_then_down_removes_them(netplay, state_dir, position):
    before = snapshot()
    rc, _ = run_until(state_dir, position, signal.SIGKILL, "home", "--image", TEST_IMAGE)
    try:
        assert rc == -signal.SIGKILL
    finally:
        down = netplay("down", "home")
    assert down.rc == 0, down
    assert snapshot() == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("position", [3, 12])
def test_interrupt_rolls_the_run_back(netplay, state_dir, sig, position):
    before = snapshot()
    rc, err = run_until(state_dir, position, sig, "home", "--runtime", "netns")
    try:
        if rc == 0:  # the run finished before the signal landed: nothing to test
            pytest.skip("the run completed before the signal")
        assert rc == 1, err
        assert "interrupted after" in err and "Traceback" not in err
        assert read_log(state_dir, "home")["status"] == "down"
        assert snapshot() == before
    finally:
        netplay("down", "home")
