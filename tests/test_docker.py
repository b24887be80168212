"""`home` on real Docker containers, as the tutorial builds it."""

import json
import subprocess

import pytest

from conftest import TEST_IMAGE
from test_home import check_home_network

pytestmark = [pytest.mark.root, pytest.mark.docker]


def inspect(name):
    out = subprocess.run(["docker", "inspect", name], capture_output=True, text=True)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def test_home_on_containers(lab, state_dir):
    lab("home", "--image", TEST_IMAGE)
    for name in ("laptop", "router", "verizon"):
        info = inspect(name)
        assert info["State"]["Running"]
        assert info["HostConfig"]["NetworkMode"] == "none"
        assert info["Config"]["Labels"]["netplay.lab"] == "home"
        assert info["HostConfig"]["Dns"] == ["8.8.8.8"]
        # the namespace named in /var/run/netns is the container's own
        ns_inode = subprocess.run(["stat", "-L", "-c", "%i", f"/var/run/netns/{name}"],
                                  capture_output=True, text=True).stdout.strip()
        pid = info["State"]["Pid"]
        proc_inode = subprocess.run(["stat", "-L", "-c", "%i", f"/proc/{pid}/ns/net"],
                                    capture_output=True, text=True).stdout.strip()
        assert ns_inode == proc_inode
    check_home_network()
    with open(f"{state_dir}/labs/home/log.json") as f:
        log = json.load(f)
    inspects = [s for s in log["steps"] if s.get("capture")]
    assert len(inspects) == 3
    assert all(s["result"]["value"].isdigit() for s in inspects)
    attach = [s for s in log["steps"] if s["argv"][:3] == ["ip", "netns", "attach"]]
    assert [s["argv"][4] for s in attach] == [{"ref": f"pid_{s['argv'][3]}"} for s in attach]


def test_docker_firewall_trap_is_handled_and_undone(lab):
    """With dockerd running, FORWARD drops bridged frames; the lab's rule lets them pass."""
    with open("/proc/sys/net/bridge/bridge-nf-call-iptables") as f:
        assert f.read().strip() == "1", "br_netfilter active, as with dockerd"
    assert "-P FORWARD DROP" in subprocess.run(["iptables", "-S", "FORWARD"],
                                               capture_output=True, text=True).stdout
    lab("home", "--image", TEST_IMAGE)
    rules = subprocess.run(["iptables", "-S", "FORWARD"], capture_output=True, text=True).stdout
    assert '-A FORWARD -i home -o home -m comment --comment "netplay:home" -j ACCEPT' in rules
    check_home_network()  # laptop -> router crosses the root-namespace bridge
    # the lab fixture then checks that down removed the rule with everything else


def test_container_removed_by_hand_is_reported_and_the_rest_cleaned(netplay, state_dir,
                                                                     host_unchanged):
    assert netplay("run", "home", "--image", TEST_IMAGE).rc == 0
    subprocess.run(["docker", "rm", "-f", "laptop"], check=True, capture_output=True)
    result = netplay("down", "home")
    assert result.rc == 0, result
    notes = [line for line in result.err.splitlines() if line.strip()]
    assert notes == ["netplay: home: node laptop: its container was already gone "
                     "(removed outside netplay)"]
    # every removal, run at once, has its own teardown entry, the missing one's included
    with open(f"{state_dir}/labs/home/log.json") as f:
        teardown = json.load(f)["teardown"]
    removals = {t["argv"][3]: t for t in teardown if t["argv"][:3] == ["docker", "rm", "-f"]}
    assert sorted(removals) == ["laptop", "router", "verizon"]
    assert "No such container" in removals["laptop"]["stderr"]
    assert removals["router"]["rc"] == removals["verizon"]["rc"] == 0


def test_missing_image_is_a_clear_error_and_creates_nothing(netplay, host_unchanged):
    result = netplay("run", "home", "--image", "netplay-no-such-image:0")
    assert result.rc == 2
    assert "image 'netplay-no-such-image:0' is not on this host and cannot be pulled" in result.err
    assert "scripts/build-image.sh" in result.err


def test_no_daemon_is_a_clear_error_with_runtime_docker(netplay, host_unchanged):
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    result = netplay("run", "home", "--runtime", "docker", "--image", TEST_IMAGE, env=env)
    assert result.rc == 2
    assert "no Docker daemon answers" in result.err
    assert "Traceback" not in result.err


def test_a_container_that_fails_to_start_is_removed_with_the_rest(netplay, tmp_path,
                                                                  host_unchanged):
    from conftest import write_topology

    topo = write_topology(tmp_path, """
name: npt-badcmd
nodes:
  npt-bc1: {kind: docker, cmd: [/no/such/program]}
  npt-bc2: {kind: docker}
links:
  - endpoints: [npt-bc1:eth0, npt-bc2:eth0]
""")
    result = netplay("run", topo, "--image", TEST_IMAGE)
    assert result.rc == 1
    assert "/no/such/program" in result.err and "Traceback" not in result.err
    # host_unchanged: neither the started container nor the created-but-failed one remains


# --- the runner on containers: inspected at once, named in one batch, removed at once ---

PAR_NODES = ["npt-d1", "npt-d2", "npt-d3", "npt-d4"]


def _par_steps():
    from netplay.plan.build import plan
    from netplay.model.validate import from_dict

    nodes = {name: {"kind": "docker"} for name in PAR_NODES}
    nodes["npt-dn"] = {}  # a plain namespace: its `ip netns add` joins the attaches' batch
    return plan(from_dict({"name": "npt-par", "image": TEST_IMAGE, "nodes": nodes}))


def _par_log(tmp_path, steps):
    from netplay.run.log import StepLog

    return StepLog.create(str(tmp_path / "log.json"), "npt-par", {}, steps)


def _pid(name):
    return str(inspect(name)["State"]["Pid"])


def _inode(path):
    return subprocess.run(["stat", "-L", "-c", "%i", path], capture_output=True,
                          text=True).stdout.strip()


def test_containers_are_inspected_at_once_and_named_in_one_batch(tmp_path, host_unchanged):
    from netplay.machine.local import LocalMachine
    from test_runner import RecordingRunner

    steps = _par_steps()
    log = _par_log(tmp_path, steps)
    runner = RecordingRunner(LocalMachine())
    runner.apply(log, steps)
    try:
        inspects = [s for s in log.steps if s.get("capture")]
        assert [s["result"]["value"] for s in inspects] == [_pid(n) for n in PAR_NODES]
        assert runner.most_at_once(["docker", "run"]) > 1
        assert runner.most_at_once(["docker", "inspect"]) > 1
        # one `ip -batch -` named every container's namespace and made the plain one
        lines = [f"netns attach {n} {_pid(n)}" for n in PAR_NODES] + ["netns add npt-dn"]
        batches = [stdin.splitlines() for argv, stdin, _, _ in runner.processes
                   if argv == ["ip", "-batch", "-"]]
        assert [b for b in batches if set(lines) <= set(b)], batches
        assert not [a for a in runner.ran() if a[:3] == ["ip", "netns", "attach"]]
        for name in PAR_NODES:  # each name is the container's own namespace
            assert _inode(f"/var/run/netns/{name}") == _inode(f"/proc/{_pid(name)}/ns/net")
    finally:
        failures, gone = runner.undo(log, steps)
    assert not failures and not gone
    removals = [t for t in log.data["teardown"] if t["argv"][:3] == ["docker", "rm", "-f"]]
    assert sorted(t["argv"][3] for t in removals) == PAR_NODES
    assert all(t["rc"] == 0 for t in removals)
    assert runner.most_at_once(["docker", "rm", "-f"]) > 1
    assert not [n for n in PAR_NODES if inspect(n)]  # host_unchanged checks the rest


@pytest.mark.parametrize("argv, message", [
    (["docker", "inspect", "-f", "{{.State.Pid}}", "npt-nosuch"], "No such object"),
    (["docker", "inspect", "-f", "{{.Name}}", "npt-d3"], "printed '/npt-d3', not a running"),
], ids=["inspect-fails", "not-a-pid"])
def test_a_failing_inspect_rolls_back_every_container(tmp_path, host_unchanged, argv,
                                                      message):
    from netplay.core.errors import StepFailed
    from netplay.run.runner import Runner
    from netplay.machine.local import LocalMachine

    steps = _par_steps()
    bad = next(s for s in steps if s.capture == "pid_npt_d3")
    bad.argv = argv
    log = _par_log(tmp_path, steps)
    with pytest.raises(StepFailed) as err:
        Runner(LocalMachine()).apply(log, steps)
    assert message in str(err.value)
    inspects = [s for s in log.steps if s.get("capture")]
    assert all(s.get("result") for s in inspects)  # they ran together: each is recorded
    assert not [s for s in log.steps if s["argv"][:3] == ["ip", "netns", "attach"]
                and s.get("result")]
    removed = sorted(t["argv"][3] for t in log.data["teardown"]
                     if t["argv"][:3] == ["docker", "rm", "-f"])
    assert removed == PAR_NODES and log.data["rollback_clean"]
    assert not [n for n in PAR_NODES if inspect(n)]


def test_a_container_gone_before_the_parallel_removal_is_not_a_failure(tmp_path,
                                                                      host_unchanged):
    from netplay.run.runner import Runner
    from netplay.machine.local import LocalMachine

    steps = _par_steps()
    log = _par_log(tmp_path, steps)
    runner = Runner(LocalMachine())
    runner.apply(log, steps)
    try:
        subprocess.run(["docker", "rm", "-f", "npt-d2"], check=True, capture_output=True)
    finally:
        failures, gone = runner.undo(log, steps)
    assert not failures
    entry = next(t for t in log.data["teardown"] if t["argv"] == ["docker", "rm", "-f", "npt-d2"])
    assert "No such container" in entry["stderr"]
    # docker 23+ exits 0 here; older clients exit 1, which the runner calls already gone
    assert entry["rc"] == 0 or (entry["already_gone"] and
                                gone == ["node npt-d2: already gone (`docker rm -f npt-d2`)"])
    assert not [n for n in PAR_NODES if inspect(n)]
