"""The runner's own logic on a FakeMachine: fast, no root, nothing touches the host.

What is checked here is what the runner decides: which steps share one `ip -batch` and the
exact text it is fed, which step a failed batch line is pinned to, the order of a rollback,
captured values flowing into later steps, undo results for objects already gone, and that
every command is an argv list. Whether the commands do on a host what they should is for
the root tests (test_runner.py, test_failures.py, ...), on the real kernel.
"""

import pytest

from netplay.core.errors import StepFailed
from netplay.load import builtins
from netplay.machine import Machine
from netplay.machine.fake import FakeMachine, Replaced
from netplay.machine.local import LocalMachine
from netplay.plan.build import plan
from netplay.plan.steps import Ref, Step
from netplay.run.log import StepLog
from netplay.run.runner import Runner

BATCH = ["ip", "-batch", "-"]
FORCE_BATCH = ["ip", "-force", "-batch", "-"]


def _log(tmp_path, steps):
    return StepLog.create(str(tmp_path / "log.json"), "npt-fake", {}, steps)


def _ns(name):
    return Step(["ip", "netns", "add", name], undo=["ip", "netns", "delete", name],
                phase=f"node {name}")


def _calls(fake):
    return [(c.argv, c.stdin) for c in fake.calls]


# --- batching --------------------------------------------------------------------------------


def _small_lab():
    return [Step(["mkdir", "-p", "/var/run/netns"]), _ns("a"), _ns("b"),
            Step(["ip", "link", "add", "a0", "netns", "a", "type", "veth", "peer", "name",
                  "b0", "netns", "b"]),
            Step(["ip", "-n", "a", "addr", "add", "10.0.0.1/24", "dev", "a0"]),
            Step(["ip", "-n", "a", "link", "set", "a0", "up"]),
            Step(["ip", "-n", "b", "link", "set", "b0", "up"]),
            Step(["brctl", "addbr", "br0"], undo=["brctl", "delbr", "br0"])]


def test_consecutive_ip_steps_with_the_same_options_share_one_batch(tmp_path):
    fake = FakeMachine()
    steps = _small_lab()
    Runner(fake).apply(_log(tmp_path, steps), steps)
    assert _calls(fake) == [
        (["mkdir", "-p", "/var/run/netns"], None),
        (BATCH, "netns add a\nnetns add b\n"
                "link add a0 netns a type veth peer name b0 netns b\n"),
        # inside a namespace: nsenter enters only its network namespace
        (["nsenter", "--net=/var/run/netns/a", "ip", "-batch", "-"],
         "addr add 10.0.0.1/24 dev a0\nlink set a0 up\n"),
        (["ip", "-n", "b", "link", "set", "b0", "up"], None),  # a batch of one is itself
        (["brctl", "addbr", "br0"], None)]


def test_without_nsenter_a_namespace_batch_is_ip_n(tmp_path):
    fake = FakeMachine(missing={"nsenter"})
    steps = _small_lab()
    Runner(fake).apply(_log(tmp_path, steps), steps)
    assert (["ip", "-n", "a", "-batch", "-"], "addr add 10.0.0.1/24 dev a0\nlink set a0 up\n") \
        in _calls(fake)


def test_unbatched_runs_one_process_per_step_as_typed(tmp_path):
    fake = FakeMachine()
    steps = _small_lab()
    Runner(fake, batch=False).apply(_log(tmp_path, steps), steps)
    assert _calls(fake) == [(s.argv, None) for s in steps]


def test_every_result_is_logged_per_step(tmp_path):
    fake = FakeMachine()
    steps = _small_lab()
    log = _log(tmp_path, steps)
    Runner(fake).apply(log, steps)
    assert [s["result"]["rc"] for s in log.steps] == [0] * len(steps)


# --- failures inside a batch -----------------------------------------------------------------


def test_a_failed_batch_line_is_pinned_to_its_step_and_the_rest_did_not_run(tmp_path):
    fake = FakeMachine()
    fake.answer(BATCH, rc=1, err="RTNETLINK answers: File exists\nCommand failed -:2\n")
    steps = [_ns("a"), _ns("b"), _ns("c")]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(fake).apply(log, steps)
    assert str(err.value) == ("step 2 failed: `ip netns add b`: RTNETLINK answers: File "
                              "exists; undid the 1 steps before it")
    results = [s.get("result") for s in log.steps]
    assert results[0]["rc"] == 0 and results[2] is None
    assert results[1]["rc"] == 1 and results[1]["stderr"] == "RTNETLINK answers: File exists"
    # only a ran: its undo alone, as its own process
    assert _calls(fake)[1:] == [(["ip", "netns", "delete", "a"], None)]
    assert [t["argv"] for t in log.data["teardown"]] == [["ip", "netns", "delete", "a"]]
    assert log.data["rollback_clean"] is True


def test_a_batch_that_dies_without_naming_its_line_is_undone_whole(tmp_path):
    fake = FakeMachine()
    fake.answer(BATCH, rc=255, err='Error: either "local" is duplicate, or "x" is garbage.\n')
    steps = [_ns("a"), _ns("b"), _ns("c")]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(fake).apply(log, steps)
    assert str(err.value).startswith("a batch of 3 `ip` commands from step 1 failed: Error:")
    assert [s["result"]["rc"] for s in log.steps] == [None] * 3  # unknown which ran
    # any of them may have run: all are undone, newest first, in one forced batch
    assert _calls(fake)[1:] == [(FORCE_BATCH, "netns delete c\nnetns delete b\n"
                                              "netns delete a\n")]


def test_a_forced_teardown_batch_reports_each_failed_line(tmp_path):
    fake = FakeMachine()
    fake.answer(FORCE_BATCH, rc=1, err='Cannot find device "vb"\nCommand failed -:2\n'
                                       "RTNETLINK answers: Operation not permitted\n"
                                       "Command failed -:3\n")
    steps = [Step(["ip", "link", "add", n, "type", "bridge"], undo=["ip", "link", "delete", n],
                  phase=f"bridge {n}") for n in ("va", "vb", "vc")]
    log = _log(tmp_path, steps)
    failures, gone = Runner(fake).undo(log, steps)
    assert _calls(fake) == [(FORCE_BATCH, "link delete vc\nlink delete vb\nlink delete va\n")]
    by = {t["argv"][-1]: t for t in log.data["teardown"]}
    assert by["vc"]["rc"] == 0
    assert by["vb"]["already_gone"] and by["vb"]["stderr"] == 'Cannot find device "vb"'
    assert by["va"]["rc"] == 1 and not by["va"]["already_gone"]
    assert gone == ['bridge vb: already gone (`ip link delete vb`)']
    assert failures == ["`ip link delete va` failed: RTNETLINK answers: Operation not permitted"]


def test_objects_already_gone_are_not_undo_failures(tmp_path):
    fake = FakeMachine()
    fake.answer(["docker", "rm", "-f", "x"], rc=1, err="Error: No such container: x\n")
    fake.answer(["ip", "netns", "delete", "a"], rc=1,
                err='Cannot remove namespace file "/var/run/netns/a": No such file or '
                    "directory\n")
    steps = [_ns("a"), Step(["docker", "run", "-d", "--name", "x", "img"],
                            undo=["docker", "rm", "-f", "x"], phase="node x")]
    log = _log(tmp_path, steps)
    failures, gone = Runner(fake).undo(log, steps)
    assert failures == []
    assert gone == ["node x: already gone (`docker rm -f x`)",
                    "node a: already gone (`ip netns delete a`)"]
    assert [t["already_gone"] for t in log.data["teardown"]] == [True, True]


# --- rollback --------------------------------------------------------------------------------


def test_a_rollback_undoes_what_ran_newest_first(tmp_path):
    fake = FakeMachine()
    fake.answer(["brctl", "addif", "br0", "nosuch"], rc=1,
                err="interface nosuch does not exist!\n")
    steps = [_ns("a"),
             Step(["brctl", "addbr", "br0"], undo=["brctl", "delbr", "br0"]),
             Step(["iptables", "-I", "FORWARD", "-i", "br0", "-o", "br0", "-j", "ACCEPT"],
                  undo=["iptables", "-D", "FORWARD", "-i", "br0", "-o", "br0", "-j", "ACCEPT"]),
             Step(["ip", "link", "set", "br0", "up"]),  # no undo: goes with the bridge
             Step(["brctl", "addif", "br0", "nosuch"]),
             _ns("never")]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(fake).apply(log, steps)
    assert "step 5 failed: `brctl addif br0 nosuch`: interface nosuch does not exist!" \
        in str(err.value)
    ran = fake.argvs()
    assert ran[ran.index(["brctl", "addif", "br0", "nosuch"]) + 1:] == [
        ["iptables", "-D", "FORWARD", "-i", "br0", "-o", "br0", "-j", "ACCEPT"],
        ["brctl", "delbr", "br0"],
        ["ip", "netns", "delete", "a"]]
    assert ["ip", "netns", "add", "never"] not in ran
    assert log.data["rollback_clean"] is True


def test_an_undo_that_fails_during_rollback_is_reported_and_the_rest_still_undone(tmp_path):
    fake = FakeMachine()
    fake.answer(["brctl", "delbr", "br0"], rc=1, err="bridge br0 is still up\n")
    fake.answer(["false"], rc=1)
    steps = [_ns("a"), Step(["brctl", "addbr", "br0"], undo=["brctl", "delbr", "br0"]),
             Step(["false"])]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(fake).apply(log, steps)
    assert "rollback could not undo: `brctl delbr br0` failed: bridge br0 is still up" \
        in str(err.value)
    assert fake.argvs()[-1] == ["ip", "netns", "delete", "a"]
    assert log.data["rollback_clean"] is False


def test_a_missing_program_fails_its_step_with_127(tmp_path):
    fake = FakeMachine(missing={"brctl"})
    steps = [_ns("a"), Step(["brctl", "addbr", "br0"], undo=["brctl", "delbr", "br0"])]
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(fake).apply(log, steps)
    assert "step 2 failed: `brctl addbr br0`: brctl: command not found" in str(err.value)
    assert log.steps[1]["result"]["rc"] == 127


# --- captured values -------------------------------------------------------------------------


def _containers():
    steps = []
    for name in ("c1", "c2"):
        steps.append(Step(["docker", "run", "-d", "--net=none", "--name", name, "img"],
                          undo=["docker", "rm", "-f", name], phase=f"node {name}"))
    for name in ("c1", "c2"):
        steps.append(Step(["docker", "inspect", "-f", "{{.State.Pid}}", name],
                          capture=f"pid_{name}", phase=f"node {name}"))
    for name in ("c1", "c2"):
        steps.append(Step(["ip", "netns", "attach", name, Ref(f"pid_{name}")],
                          undo=["ip", "netns", "delete", name], phase=f"node {name}"))
    return steps


def test_captured_pids_flow_into_the_batch_that_names_the_namespaces(tmp_path):
    fake = FakeMachine()
    fake.answer(["docker", "inspect", "-f", "{{.State.Pid}}", "c1"], out="4242\n")
    fake.answer(["docker", "inspect", "-f", "{{.State.Pid}}", "c2"], out="4343\n")
    steps = _containers()
    log = _log(tmp_path, steps)
    values = Runner(fake).apply(log, steps)
    assert values == {"pid_c1": "4242", "pid_c2": "4343"}
    assert [s["result"].get("value") for s in log.steps[2:4]] == ["4242", "4343"]
    assert _calls(fake)[-1] == (BATCH, "netns attach c1 4242\nnetns attach c2 4343\n")
    # docker runs and inspects each ran once (at once: their order among themselves is free)
    assert sorted(fake.argvs()[:4]) == sorted(s.argv for s in steps[:4])


def test_a_capture_that_is_not_a_pid_rolls_back_every_container(tmp_path):
    fake = FakeMachine()
    fake.answer(lambda argv, stdin: argv[:2] == ["docker", "inspect"], out="0\n")
    steps = _containers()
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(fake).apply(log, steps)
    assert "`pid_c1=$(docker inspect -f '{{.State.Pid}}' c1)` printed '0', not a running " \
           "process's id" in str(err.value)
    assert not [a for a in fake.argvs() if "-batch" in a or a[:3] == ["ip", "netns", "attach"]]
    assert sorted(fake.argvs()[-2:]) == [["docker", "rm", "-f", "c1"], ["docker", "rm", "-f", "c2"]]


def test_a_value_the_batch_parser_would_split_runs_in_a_process_of_its_own(tmp_path):
    fake = FakeMachine()
    steps = [_ns("a"), Step(["ip", "netns", "attach", "b", Ref("pid_x")],
                            undo=["ip", "netns", "delete", "b"])]
    Runner(fake).apply(_log(tmp_path, steps), steps, {"pid_x": "1\nnetns add evil"})
    assert _calls(fake) == [(["ip", "netns", "add", "a"], None),
                            (["ip", "netns", "attach", "b", "1\nnetns add evil"], None)]


# --- teardown --------------------------------------------------------------------------------


def test_many_namespace_deletes_are_split_over_parallel_forced_batches(tmp_path):
    fake = FakeMachine()
    names = [f"n{i}" for i in range(70)]
    steps = [_ns(n) for n in names]
    log = _log(tmp_path, steps)
    failures, gone = Runner(fake, workers=4).undo(log, steps)
    assert failures == [] and gone == []
    assert [c.argv for c in fake.calls] == [FORCE_BATCH] * 4
    lines = sorted(line for c in fake.calls for line in c.stdin.splitlines())
    assert lines == sorted(f"netns delete {n}" for n in names)
    assert [t["argv"][-1] for t in log.data["teardown"]] == names[::-1]


# --- argv only -------------------------------------------------------------------------------


@pytest.mark.parametrize("machine", [FakeMachine(), LocalMachine()], ids=["fake", "local"])
def test_a_machine_refuses_a_command_line_string(machine):
    for bad in ("ip link show", ["ip", 3], [], b"ip"):
        with pytest.raises(TypeError):
            machine.run(bad)
    with pytest.raises(TypeError):
        machine.run_attached("tcpdump -i any")


def test_a_whole_lab_build_and_teardown_is_argv_lists_only(tmp_path):
    fake = FakeMachine()
    fake.answer(lambda argv, stdin: argv[:2] == ["docker", "inspect"], out="4242\n")
    steps = plan(builtins.load("home"))  # docker nodes, bridges, firewall rules, routes
    log = _log(tmp_path, steps)
    runner = Runner(fake)
    runner.apply(log, steps)
    runner.undo(log, steps)
    assert len(fake.calls) > 10
    for call in fake.calls:
        assert isinstance(call.argv, list) and all(isinstance(a, str) for a in call.argv)
        assert call.argv[0] not in ("sh", "bash", "dash") and "-c" not in call.argv[:2]
    assert all(c.stdin is None or "-batch" in c.argv for c in fake.calls)


def test_the_fake_is_a_whole_machine():
    fake = FakeMachine(missing={"brctl"}, files={"/proc/sys/x": "1\n"},
                       dirs={"/var/run/netns": ["b", "a"]}, euid=1000)
    assert isinstance(fake, Machine)
    assert not fake.which("brctl") and fake.which("ip")
    assert fake.run(["brctl", "show"])[0] == 127
    assert fake.read_text("/proc/sys/x") == "1\n" and fake.read_text("/nope") is None
    assert fake.list_dir("/var/run/netns") == ["a", "b"] and fake.list_dir("/nope") is None
    assert fake.euid() == 1000 and fake.docker() is None
    assert fake.ping([("a", "10.0.0.1")], 1) == [(True, "replied")]
    with pytest.raises(Replaced) as replaced:
        fake.exec_interactive(["ip", "netns", "exec", "a", "sh"])
    assert replaced.value.argv == ["ip", "netns", "exec", "a", "sh"]
    fake.answer(["tcpdump", "-i", "e0"], rc=130)
    assert fake.run_attached(["tcpdump", "-i", "e0"]) == 130
    assert [c.kind for c in fake.calls] == ["run", "exec", "attached"]


# --- pipelines: a remote machine gets runs of commands in one round trip ---------------------


class PipelinedFake(FakeMachine):
    """A FakeMachine whose commands cost a round trip: it records each run_many."""

    pipelines = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trips = []  # the requests of each run_many, in order

    def run_many(self, requests):
        self.trips.append([(list(argv), stdin) for argv, stdin in requests])
        return super().run_many(requests)


def test_a_remote_machine_gets_the_groups_of_a_lab_in_one_round_trip(tmp_path):
    fake, local = PipelinedFake(), FakeMachine()
    steps = _small_lab()
    Runner(fake).apply(_log(tmp_path, steps), steps)
    Runner(local).apply(StepLog.create(str(tmp_path / "local.json"), "npt-fake", {}, steps),
                        steps)
    assert len(fake.trips) == 1  # five groups, one round trip
    assert fake.trips[0] == _calls(local)  # the same commands, in the same order
    assert _calls(fake) == _calls(local)


def test_a_failure_inside_a_round_trip_stops_it_and_undoes_only_what_ran(tmp_path):
    fake = PipelinedFake()
    fake.answer(lambda argv, stdin: argv[:2] == ["nsenter", "--net=/var/run/netns/a"],
                rc=1, err="RTNETLINK answers: File exists\nCommand failed -:1\n")
    steps = _small_lab()
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed, match=r"step 5 failed: `ip -n a addr add 10.0.0.1/24"):
        Runner(fake).apply(log, steps)
    assert len(fake.trips[0]) == 5  # sent together ...
    ran = [c.argv for c in fake.calls]
    assert ran[:3] == [["mkdir", "-p", "/var/run/netns"], BATCH,
                       ["nsenter", "--net=/var/run/netns/a", "ip", "-batch", "-"]]
    assert ["brctl", "addbr", "br0"] not in ran  # ... and stopped at the failing batch
    results = log.data["steps"]
    assert "result" not in results[6] and "result" not in results[7]  # never ran
    # the rollback undoes what ran (the namespaces), not the bridge that was never made
    assert ran[3:] == [FORCE_BATCH]
    assert fake.calls[3].stdin == "netns delete b\nnetns delete a\n"


def test_groups_that_capture_or_use_a_captured_value_are_not_sent_ahead(tmp_path):
    fake = PipelinedFake()
    fake.answer(["docker", "inspect", "-f", "{{.State.Pid}}", "c"], out="4242\n")
    steps = [Step(["mkdir", "-p", "/var/run/netns"]),
             Step(["docker", "inspect", "-f", "{{.State.Pid}}", "c"], capture="pid_c"),
             Step(["ip", "netns", "attach", "c", Ref("pid_c")]),
             Step(["ip", "-n", "c", "link", "set", "lo", "up"]),
             Step(["ip", "-n", "d", "link", "set", "lo", "up"])]
    Runner(fake).apply(_log(tmp_path, steps), steps)
    assert ["ip", "netns", "attach", "c", "4242"] in [c.argv for c in fake.calls]
    assert [len(trip) for trip in fake.trips] == [2]  # only the last two groups together


# --- batches confined to a namespace each, at once -------------------------------------------


def _configs(*spaces, extra=()):
    """Each namespace's configuration (addresses, routes, links up): a batch of its own."""
    steps = []
    for i, ns in enumerate(spaces):
        steps += [Step(["ip", "-n", ns, "addr", "add", f"10.0.{i}.1/24", "dev", "eth0"]),
                  Step(["ip", "-n", ns, "link", "set", "eth0", "up"]),
                  Step(["ip", "-n", ns, "route", "add", "default", "via", f"10.0.{i}.2"])]
        steps += [Step(list(argv)) for argv in extra if argv[2] == ns]
    return steps


def _overlap(fake, wait=0.2):
    """Batches answer after `wait` seconds; the most that were running at once is kept in
    the returned list's first item."""
    import threading
    import time

    lock, running, most = threading.Lock(), [0], [0]

    def reply(argv, stdin):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(wait)
        with lock:
            running[0] -= 1
        return 0, "", ""

    fake.answer(lambda argv, stdin: "-batch" in argv, reply=reply)
    return most


def test_the_batches_of_different_namespaces_configuring_their_own_devices_run_at_once(
        tmp_path):
    fake = FakeMachine()
    most = _overlap(fake)
    steps = _configs("a", "b", "c")
    log = _log(tmp_path, steps)
    Runner(fake).apply(log, steps)
    assert most[0] == 3
    assert sorted(stdin for _, stdin in _calls(fake)) == [
        f"addr add 10.0.{i}.1/24 dev eth0\nlink set eth0 up\nroute add default via 10.0.{i}.2\n"
        for i in range(3)]
    assert [s["result"]["rc"] for s in log.steps] == [0] * 9  # each step's result, in order


def test_a_batch_that_touches_another_namespace_or_the_host_waits_its_turn(tmp_path):
    fake = FakeMachine()
    most = _overlap(fake, wait=0.05)
    moving = [["ip", "-n", "c", "link", "set", "x", "netns", "d"]]  # acts in d too
    steps = _configs("a", "b", "c", "d", extra=moving) + \
        [Step(["ip", "link", "set", "x", "up"]), Step(["ip", "link", "set", "y", "up"])]
    Runner(fake).apply(_log(tmp_path, steps), steps)
    # a and b's batches go at once; c's, which moves a device into d, goes alone, and d's
    # after it; the root namespace's batch goes alone
    assert most[0] == 2
    order = [argv[1] for argv, _ in _calls(fake)]
    assert sorted(order[:2]) == ["--net=/var/run/netns/a", "--net=/var/run/netns/b"]
    assert order[2:] == ["--net=/var/run/netns/c", "--net=/var/run/netns/d", "-batch"]


def test_when_one_of_the_batches_at_once_fails_the_others_ran_and_all_are_undone(tmp_path):
    fake = FakeMachine()
    fake.answer(lambda argv, stdin: argv[1] == "--net=/var/run/netns/b", rc=1,
                err="RTNETLINK answers: File exists\nCommand failed -:2\n")
    steps = [_ns("a"), _ns("b")] + _configs("a", "b")
    log = _log(tmp_path, steps)
    with pytest.raises(StepFailed, match="step 7 failed"):
        Runner(fake).apply(log, steps)
    results = [s.get("result", {}).get("rc") for s in log.steps]
    assert results == [0, 0, 0, 0, 0, 0, 1, None]  # a's whole batch ran; b's stopped at 2
    assert (FORCE_BATCH, "netns delete b\nnetns delete a\n") in _calls(fake)
