"""Concurrency, state-file safety and a soak: nothing lost, nothing left behind."""

import json
import os
import stat
import subprocess
import sys

import pytest

from conftest import snapshot

pytestmark = pytest.mark.root


def spawn(state_dir, *args):
    env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
    return subprocess.Popen([sys.executable, "-m", "netplay", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_same_lab_twice_at_once_one_refuses(netplay, state_dir):
    before = snapshot()
    procs = [spawn(state_dir, "run", "home", "--runtime", "netns") for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    try:
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 2], outs
        refusal = next(err for p, (_, err) in zip(procs, outs) if p.returncode == 2)
        assert "being changed by another netplay process" in refusal or "already up" in refusal
    finally:
        assert netplay("down", "home").rc == 0
    assert snapshot() == before


def chain(tmp_path, n):
    """A topology of n namespaces in a line: slow enough to overlap with other commands."""
    nodes = "".join(f"  npt-c{i}: {{}}\n" for i in range(n))
    links = "".join(f"  - endpoints: [npt-c{i}:right, npt-c{i + 1}:left]\n" for i in range(n - 1))
    path = tmp_path / "chain.yaml"
    path.write_text(f"name: npt-chain\nnodes:\n{nodes}links:\n{links}")
    return str(path)


def test_down_during_run_refuses_and_never_half_deletes(netplay, state_dir, tmp_path):
    before = snapshot()
    run = spawn(state_dir, "-v", "run", chain(tmp_path, 80))
    run.stderr.readline()  # the run has started changing the host
    downs = []
    while run.poll() is None:
        downs.append(netplay("down", "npt-chain"))
    run.communicate(timeout=120)
    try:
        assert run.returncode == 0
        assert downs and all(d.rc in (0, 2) for d in downs), downs
        assert "being changed by another netplay process" in downs[0].err, downs[0]
        after = snapshot()
        if after != before:  # not taken down after the run: then it is whole
            assert {f"npt-c{i}" for i in range(80)} <= set(after["netns"])
    finally:
        assert netplay("down", "npt-chain").rc == 0
    assert snapshot() == before


def test_state_is_root_only(lab, state_dir):
    lab("levels")
    for path in (state_dir, f"{state_dir}/labs", f"{state_dir}/labs/levels"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700, path
    for name in ("log.json", "lock"):
        assert stat.S_IMODE(os.stat(f"{state_dir}/labs/levels/{name}").st_mode) == 0o600


def test_a_corrupt_state_file_is_reported_in_one_line(netplay, state_dir, host_unchanged):
    os.makedirs(f"{state_dir}/labs/levels")
    with open(f"{state_dir}/labs/levels/log.json", "w") as f:
        f.write('{"format": "netplay-log", "version": 1, "steps": [')
    for args in (("down", "levels"), ("run", "levels")):
        result = netplay(*args)
        assert result.rc == 2
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and "corrupt or truncated" in lines[0], result.err
        assert "Traceback" not in result.err


def test_soak_fifty_builds_leave_nothing(netplay, state_dir):
    before = snapshot()
    for i in range(50):
        up = netplay("run", "home", "--runtime", "netns")
        assert up.rc == 0, (i, up)
        down = netplay("down", "home")
        assert down.rc == 0, (i, down)
        assert snapshot() == before, f"growth after round {i + 1}"


def test_many_objects_gone_by_hand_are_summed_up_not_listed(netplay, state_dir, host_unchanged):
    assert netplay("run", "linear:12").rc == 0
    for i in range(1, 13):  # every host namespace, by hand
        subprocess.run(["ip", "netns", "delete", f"h{i}"], check=True)
    result = netplay("down", "linear-12")
    assert result.rc == 0, result
    notes = result.err.splitlines()
    assert len(notes) == 11 and all("already gone (`ip netns delete h" in n for n in notes[:10])
    assert notes[10] == ("netplay: linear-12: and 2 more already gone (listed in the lab's "
                         "log, under teardown)")
    assert "lab linear-12 is down" in result.out
    log = json.load(open(os.path.join(state_dir, "labs", "linear-12", "log.json")))
    assert sum(t["already_gone"] for t in log["teardown"]) == 12
