"""The fleet's own logic on FakeMachines: which host runs which step, in what order, what a
failure on one host does to the others. Nothing touches a host; whether a lab across real
hosts works is for tests/test_multihost.py, on real sshd and kernels."""

import threading
import time

import pytest

from netplay.core.errors import StepFailed
from netplay.machine.fake import FakeMachine
from netplay.plan.steps import Step
from netplay.run.fleet import Fleet, by_host
from netplay.run.log import StepLog


def _ns(name, host):
    return Step(["ip", "netns", "add", name], undo=["ip", "netns", "delete", name],
                phase=f"node {name}", host=host)


def _cmd(name, host):
    step = Step(["ip", "netns", "exec", name, "true"], phase=f"node {name}", host=host)
    step.node_command = True
    return step


def _log(tmp_path, steps):
    return StepLog.create(str(tmp_path / "log.json"), "npt-fleet", {}, steps)


class Clock:
    """One record of every command on any fake host, in the order they ran."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def machine(self, host, slow=(), fail=()):
        fake = FakeMachine(host=host)

        def reply(argv, stdin):
            if any(word in " ".join(argv) + (stdin or "") for word in slow):
                time.sleep(0.3)
            with self.lock:
                self.events.append((host, argv, stdin))
            if any(word in " ".join(argv) + (stdin or "") for word in fail):
                return 1, "", "RTNETLINK answers: File exists"
            return 0, "", ""
        fake.answer(lambda argv, stdin: True, reply=reply)
        return fake


def test_by_host_keeps_each_hosts_order_and_first_seen_host_order():
    steps = [_ns("a1", "a"), _ns("b1", "b"), _ns("a2", "a"), _ns("c1", "c"), _ns("b2", "b")]
    assert {h: [s.argv[-1] for s in ss] for h, ss in by_host(steps).items()} == \
        {"a": ["a1", "a2"], "b": ["b1", "b2"], "c": ["c1"]}
    assert list(by_host(steps)) == ["a", "b", "c"]


def test_each_step_runs_on_its_own_host_and_never_on_another(tmp_path):
    clock = Clock()
    a, b = clock.machine("a"), clock.machine("b")
    steps = [_ns("a1", "a"), _ns("b1", "b"), _ns("a2", "a"), _ns("b2", "b")]
    log = _log(tmp_path, steps)
    Fleet({"a": a, "b": b}).apply(log, steps)
    # each host's consecutive `ip` steps share its own batch, in its planned order
    assert [(c.argv, c.stdin) for c in a.calls] == \
        [(["ip", "-batch", "-"], "netns add a1\nnetns add a2\n")]
    assert [(c.argv, c.stdin) for c in b.calls] == \
        [(["ip", "-batch", "-"], "netns add b1\nnetns add b2\n")]
    assert all(s["result"]["rc"] == 0 for s in log.steps)


def test_node_commands_wait_until_every_host_is_up(tmp_path):
    clock = Clock()
    # host a is slow to build; b's node command must still wait for it
    a, b = clock.machine("a", slow=("a1",)), clock.machine("b")
    steps = [_ns("a1", "a"), _cmd("a1", "a"), _ns("b1", "b"), _cmd("b1", "b")]
    Fleet({"a": a, "b": b}).apply(_log(tmp_path, steps), steps)
    kinds = ["exec" if "exec" in argv else "infra" for _, argv, _ in clock.events]
    assert kinds == ["infra", "infra", "exec", "exec"], clock.events


def test_a_failure_on_one_host_undoes_every_host_and_names_the_host(tmp_path):
    clock = Clock()
    a, b = clock.machine("a"), clock.machine("b", fail=("brctl",))
    steps = [_ns("a1", "a"), _ns("b1", "b"),
             Step(["brctl", "addbr", "x"], undo=["brctl", "delbr", "x"], host="b")]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed, match=r"^host b: step 3 failed: `brctl addbr x`: "
                                         r"RTNETLINK answers: File exists; undid"):
        Fleet({"a": a, "b": b}).apply(log, steps)
    # host a's namespace is deleted again, though nothing failed there
    assert a.argvs()[-1] == ["ip", "netns", "delete", "a1"]
    assert b.argvs()[-1] == ["ip", "netns", "delete", "b1"]
    assert log.data["rollback_clean"] is True


def test_a_failure_stops_the_other_hosts_before_their_next_group(tmp_path):
    clock = Clock()
    a, b = clock.machine("a", slow=("a1",)), clock.machine("b", fail=("b1",))
    steps = [_ns("a1", "a"), Step(["brctl", "addbr", "a2"], undo=["brctl", "delbr", "a2"],
                                  host="a"),
             _ns("b1", "b")]
    with pytest.raises(StepFailed, match="^host b: "):
        Fleet({"a": a, "b": b}).apply(_log(tmp_path, steps), steps)
    # a's first group was under way when b failed; its second never started
    assert ["brctl", "addbr", "a2"] not in a.argvs()
    assert a.argvs()[-1] == ["ip", "netns", "delete", "a1"]


def test_undo_runs_each_hosts_undos_in_reverse_on_that_host(tmp_path):
    clock = Clock()
    a, b = clock.machine("a"), clock.machine("b")
    steps = [_ns("a1", "a"), _ns("b1", "b"),
             Step(["brctl", "addbr", "x"], undo=["brctl", "delbr", "x"], host="a")]
    failures, gone = Fleet({"a": a, "b": b}).undo(_log(tmp_path, steps), steps)
    assert (failures, gone) == ([], [])
    assert a.argvs() == [["brctl", "delbr", "x"], ["ip", "netns", "delete", "a1"]]
    assert b.argvs() == [["ip", "netns", "delete", "b1"]]


def test_a_step_for_a_host_without_a_machine_fails_before_anything_runs(tmp_path):
    a = FakeMachine(host="a")
    steps = [_ns("a1", "a"), _ns("z1", "z")]
    with pytest.raises(StepFailed, match="host 'z'"):
        Fleet({"a": a}).apply(_log(tmp_path, steps), steps)
    assert a.calls == []


def test_one_host_goes_straight_to_its_runner(tmp_path):
    fake = FakeMachine(host="local")
    steps = [_ns("a1", "local"), Step(["brctl", "addbr", "x"], undo=["brctl", "delbr", "x"])]
    Fleet({"local": fake}).apply(_log(tmp_path, steps), steps)
    assert fake.argvs() == [["ip", "netns", "add", "a1"], ["brctl", "addbr", "x"]]
