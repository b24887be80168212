"""The runner: batching into `ip -batch`, per-step results, rollback from mid-batch."""

import os
import subprocess
import sys
import time

import pytest

from conftest import ip_json
from netplay.core.errors import StepFailed
from netplay.load import builtins
from netplay.machine.local import LocalMachine
from netplay.plan.build import plan
from netplay.plan.steps import Ref, Step
from netplay.run.log import StepLog
from netplay.run.runner import Runner, _undo_groups, batch_prefix, groups, ip_prefix


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
    # mkdir; namespaces in one root batch; forwarding off in levela and levelb (a process
    # each, before their devices); veths and marks in one root batch; one per namespace
    assert kinds == [("single", 1), ("batch", 3), ("single", 1), ("single", 1), ("batch", 4),
                     ("batch", 3), ("batch", 3), ("batch", 3)]


def test_a_captured_value_after_the_options_may_join_a_batch():
    # a Ref counts as the PID it will be; where it would decide the batch, it cannot
    assert batch_prefix(["ip", "netns", "attach", "a", Ref("pid_a")]) == ("ip",)
    assert batch_prefix(["ip", "-n", Ref("pid_a"), "link", "set", "lo", "up"]) is None
    assert batch_prefix(["ip", "netns", "exec", "a", Ref("pid_a")]) is None
    assert batch_prefix(["nsenter", "--target", Ref("pid_a"), "--all", "true"]) is None


def test_containers_start_together_then_are_inspected_together_then_named_in_one_batch():
    topo = builtins.load("home")  # three docker nodes
    found = [(kind, len(group), key) for kind, group, key in groups(plan(topo))][:4]
    assert found == [("single", 1, None), ("parallel", 3, ("docker", "run")),
                     ("parallel", 3, ("docker", "inspect")), ("batch", 3, ("ip",))]


def test_container_removals_are_one_parallel_group_on_teardown():
    undos = [s for s in reversed(plan(builtins.load("home"))) if s.undo]
    found = [(kind, [s.undo for s in group]) for kind, _, group in _undo_groups(undos)]
    assert found[-1] == ("parallel", [["docker", "rm", "-f", n]
                                      for n in ("laptop", "router", "verizon")])


def _log(tmp_path, steps):
    return StepLog.create(str(tmp_path / "log.json"), "npt-runner", {}, steps)


@pytest.mark.root
def test_a_failure_inside_a_batch_is_pinned_to_its_step(tmp_path, host_unchanged):
    steps = [Step(["ip", "netns", "add", "npt-r1"], undo=["ip", "netns", "delete", "npt-r1"]),
             Step(["ip", "link", "set", "npt-nosuchdev", "up"]),
             Step(["ip", "netns", "add", "npt-r2"], undo=["ip", "netns", "delete", "npt-r2"])]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(LocalMachine()).apply(log, steps)
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
        Runner(LocalMachine()).apply(log, steps)
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
        runner = Runner(LocalMachine(), batch=batch)
        runner.apply(log, steps)
        try:
            seen.append(_state(["levela", "levelb", "levelc"]))
        finally:
            failures, _ = runner.undo(log, steps)
            assert not failures
    assert seen[0] == seen[1]


class RecordingRunner(Runner):
    """A Runner that notes every process it starts (argv, stdin, start, end) and still
    runs it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.processes = []

    def execute(self, argv, stdin=None):
        start = time.monotonic()
        outcome = super().execute(argv, stdin)
        self.processes.append((list(argv), stdin, start, time.monotonic()))
        return outcome

    def ran(self):
        return [argv for argv, _, _, _ in self.processes]

    def most_at_once(self, head):
        """The largest number of processes whose argv starts with head running together."""
        spans = [(start, end) for argv, _, start, end in self.processes
                 if argv[:len(head)] == head]
        return max((sum(1 for s, e in spans if s <= t < e) for t, _ in spans), default=0)


@pytest.mark.root
def test_a_captured_value_the_batch_would_misread_runs_in_its_own_process(tmp_path,
                                                                          host_unchanged):
    # a value with a newline would be a second batch line: it must not reach the batch
    steps = [Step(["ip", "netns", "add", "npt-r4"], undo=["ip", "netns", "delete", "npt-r4"]),
             Step(["ip", "netns", "attach", "npt-r5", Ref("pid_x")],
                  undo=["ip", "netns", "delete", "npt-r5"])]
    assert [kind for kind, _, _ in groups(steps)] == ["batch"]
    log = _log(tmp_path, steps)
    runner = RecordingRunner(LocalMachine())
    with pytest.raises(StepFailed) as err:
        runner.apply(log, steps, {"pid_x": "1\nnetns add npt-r6"})
    assert "step 2 failed: `ip netns attach npt-r5 \"$pid_x\"`" in str(err.value)
    ran = runner.ran()
    assert ["ip", "netns", "add", "npt-r4"] in ran
    assert ["ip", "netns", "attach", "npt-r5", "1\nnetns add npt-r6"] in ran
    assert not any("-batch" in argv for argv in ran)
    assert not {"npt-r4", "npt-r5", "npt-r6"} & set(os.listdir("/var/run/netns"))


@pytest.mark.root
def test_many_namespace_deletes_run_as_parallel_batches_each_outcome_in_place(
        tmp_path, host_unchanged):
    names = [f"npt-d{i}" for i in range(70)]
    steps = [Step(["ip", "netns", "add", n], undo=["ip", "netns", "delete", n]) for n in names]
    log = _log(tmp_path, steps)
    runner = RecordingRunner(LocalMachine(), workers=4)
    try:
        runner.apply(log, steps)
        subprocess.run(["ip", "netns", "delete", "npt-d33"], check=True)  # gone by hand: its outcome stays its own
        runner.processes.clear()
        failures, gone = runner.undo(log, steps)
    finally:
        for name in set(names) & set(os.listdir("/var/run/netns")):
            subprocess.run(["ip", "netns", "delete", name], check=True)
    batches = [stdin for argv, stdin, _, _ in runner.processes if "-batch" in argv]
    assert len(batches) == 4 and all("-force" in argv for argv in runner.ran())
    assert sorted(line for b in batches for line in b.split("\n") if line) == \
        sorted(f"netns delete {n}" for n in names)
    assert failures == [] and len(gone) == 1 and "npt-d33" in gone[0]
    teardown = log.data["teardown"]
    assert [t["argv"][-1] for t in teardown] == names[::-1]
    assert [t["argv"][-1] for t in teardown if t["rc"] != 0] == ["npt-d33"]


def test_plumbum_is_imported_without_urllib_request_or_uname_which_still_work_after():
    # a fresh interpreter: this one imported plumbum whole long ago
    script = """
import platform, subprocess, sys
ran = []
check_output = subprocess.check_output
subprocess.check_output = lambda argv, **kw: ran.append(argv) or check_output(argv, **kw)
from netplay.machine.local import LocalMachine
assert LocalMachine().run(["echo", "hi"]) == (0, "hi\\n", "")
print(sorted(m for m in ("urllib.request", "http.client", "email", "ssl") if m in sys.modules))
print(ran)
import plumbum, urllib.request
print(plumbum.local.path("/tmp/a b").as_uri(), urllib.request.pathname2url("/c d"))
print(type(sys.modules["urllib.request"]).__name__, sys.modules["urllib.request"].urlopen.__name__)
print(repr(platform.uname().processor), ran)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    uname_p = subprocess.run(["uname", "-p"], capture_output=True, text=True).stdout.strip()
    processor = "" if uname_p == "unknown" else uname_p
    # plumbum was imported without running `uname -p`; the processor is found after, as asked
    assert out == ["[]", "[]", "file:///tmp/a%20b /c%20d", "module urlopen",
                   f"{processor!r} [['uname', '-p']]"]
