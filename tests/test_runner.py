"""The runner: batching into `ip -batch`, per-step results, rollback from mid-batch."""

import os

import pytest
from plumbum import local

from conftest import ip_json
from netplay import builtins
from netplay.errors import StepFailed
from netplay.log import StepLog
from netplay.plan import plan
from netplay.runner import Runner, groups, ip_prefix
from netplay.steps import Ref, Step


def test_ip_prefix_separates_global_options():
    assert ip_prefix(["ip", "-n", "a", "addr", "add", "10.0.0.1/24", "dev", "e0"]) == \
        ("ip", "-n", "a")
    assert ip_prefix(["ip", "-n", "a", "-6", "route", "add", "default", "via", "fd00::1"]) == \
        ("ip", "-n", "a", "-6")
    assert ip_prefix(["ip", "netns", "add", "a"]) == ("ip",)
    assert ip_prefix(["ip", "netns", "exec", "a", "sysctl", "-w", "x=1"]) is None
    assert ip_prefix(["ip", "netns", "attach", "a", Ref("pid_a")]) is None
    assert ip_prefix(["brctl", "addbr", "b"]) is None


def test_levels_runs_in_a_few_processes():
    kinds = [(kind, len(group)) for kind, group, _ in groups(plan(builtins.load("levels")))]
    # mkdir; namespaces, veths and marks in one root batch; then one batch per namespace
    assert kinds == [("single", 1), ("batch", 7), ("batch", 3), ("batch", 3), ("batch", 3)]


def _log(tmp_path, steps):
    return StepLog.create(str(tmp_path / "log.json"), "npt-runner", {}, steps)


@pytest.mark.root
def test_a_failure_inside_a_batch_is_pinned_to_its_step(tmp_path, host_unchanged):
    steps = [Step(["ip", "netns", "add", "npt-r1"], undo=["ip", "netns", "delete", "npt-r1"]),
             Step(["ip", "link", "set", "npt-nosuchdev", "up"]),
             Step(["ip", "netns", "add", "npt-r2"], undo=["ip", "netns", "delete", "npt-r2"])]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(local).apply(log, steps)
    assert "step 2 failed: `ip link set npt-nosuchdev up`: Cannot find device" in str(err.value)
    results = [s.get("result") for s in log.steps]
    assert results[0]["rc"] == 0 and results[1]["rc"] != 0 and results[2] is None
    assert [t["argv"] for t in log.data["teardown"]] == [["ip", "netns", "delete", "npt-r1"]]
    assert "npt-r2" not in os.listdir("/var/run/netns")


@pytest.mark.root
def test_a_batch_that_dies_without_naming_its_line_is_undone_whole(tmp_path, host_unchanged):
    # ip exits at once on an argument it cannot parse, without "Command failed -:N"
    steps = [Step(["ip", "netns", "add", "npt-r3"], undo=["ip", "netns", "delete", "npt-r3"]),
             Step(["ip", "link", "add", "npt-rv", "netns", "npt-nope", "type", "veth"])]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(local).apply(log, steps)
    assert "a batch of 2 `ip` commands from step 1 failed" in str(err.value)
    assert "npt-r3" not in os.listdir("/var/run/netns")


def _state(namespaces):
    out = {}
    for ns in namespaces:
        out[ns] = sorted((i["ifname"], tuple(sorted(i["flags"])),
                          tuple((a["local"], a["prefixlen"]) for a in i.get("addr_info", [])))
                         for i in ip_json("-n", ns, "addr", "show"))
    return out


@pytest.mark.root
def test_batched_and_one_by_one_build_the_same_network(tmp_path, host_unchanged):
    steps = plan(builtins.load("levels"))
    seen = []
    for batch in (True, False):
        log = _log(tmp_path, steps)
        runner = Runner(local, batch=batch)
        runner.apply(log, steps)
        try:
            seen.append(_state(["levela", "levelb", "levelc"]))
        finally:
            failures, _ = runner.undo(log, steps)
            assert not failures
    assert seen[0] == seen[1]
