"""`netplay replay`, `replay --undo` and the exported scripts, on the real kernel and Docker.

The equivalence tests build each built-in lab three ways (netplay run, netplay replay of the
recorded log, the exported bash script) and compare the host as `ip -j` shows it; after each
of the three teardowns (down, replay --undo, the teardown script) the host must be as it was.
Every test tears down what it built in a finalizer, through netplay's own down and the
exported teardown script, even when it fails.
"""

import json
import os
import shutil
import socket
import subprocess

import pytest

from netplay.load import builtins
from netplay.model.runtime import with_runtime
from netplay.plan.build import plan
from netplay.render import bash as export

from conftest import DOCKER, TEST_IMAGE, snapshot, write_topology

NETNS_DIR = "/var/run/netns"


# --- what a lab looks like through ip -j ----------------------------------------------------


def ip_j(ns, *args):
    argv = ["ip", "-j", *(["-n", ns] if ns else []), *args]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def _s(value):
    return "" if value is None else str(value)


def view(ns, only=None):
    """Interfaces (name, kind, up, bridge master, alias), addresses and routes of one
    namespace, without ifindex, MAC addresses or anything derived from them. `only` limits
    the view to those interface names (for the root namespace)."""
    links = [link for link in ip_j(ns, "-d", "link", "show")
             if only is None or link["ifname"] in only]
    names = {link["ifname"] for link in links}
    return {
        "links": sorted(
            (link["ifname"], _s(link.get("linkinfo", {}).get("info_kind") or link.get("link_type")),
             "UP" in link.get("flags", []), _s(link.get("master")), _s(link.get("ifalias")))
            for link in links),
        "addresses": sorted(
            (entry["ifname"], a["family"], a["local"], a["prefixlen"], _s(a.get("broadcast")))
            for entry in ip_j(ns, "addr", "show") if entry["ifname"] in names
            for a in entry.get("addr_info", [])
            if not (a["family"] == "inet6" and a.get("scope") == "link")),  # from the MAC
        "routes": sorted(
            (family, _s(r.get("dst")), _s(r.get("gateway")), _s(r.get("dev")),
             _s(r.get("protocol")), _s(r.get("scope")), _s(r.get("type")))
            for family in ("-4", "-6") for r in ip_j(ns, family, "route", "show")
            if r.get("dev") in names or (only is None and not r.get("dev"))),
    }


def containers(lab):
    """The lab's containers: name, image, state, and whether its PID's namespace is the
    one attached under its name (PIDs themselves are left out)."""
    if not DOCKER:
        return []
    out = subprocess.run(["docker", "ps", "-a", "--filter", f"label=netplay.lab={lab}",
                          "--format", "{{.Names}} {{.Image}} {{.State}}"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    rows = []
    for line in filter(None, out):
        name, image, status = line.split()
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", name],
                             capture_output=True, text=True).stdout.strip()
        attached = os.path.exists(f"{NETNS_DIR}/{name}") and pid not in ("", "0") and \
            os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"{NETNS_DIR}/{name}").st_ino
        rows.append((name, image, status, attached))
    return sorted(rows)


def lab_state(before, lab):
    """Everything the lab added to the host since the snapshot `before`."""
    namespaces = sorted(set(os.listdir(NETNS_DIR)) - set(before["netns"]))
    root_new = {link["ifname"] for link in ip_j(None, "link", "show")} - set(before["links"])
    state = {"netns": namespaces, "root": view(None, only=root_new),
             "containers": containers(lab)}
    for ns in namespaces:
        state[f"netns {ns}"] = view(ns)
        forwarding = subprocess.run(["ip", "netns", "exec", ns, "cat",
                                     "/proc/sys/net/ipv4/ip_forward"],
                                    capture_output=True, text=True).stdout.strip()
        state[f"netns {ns}"]["ip_forward"] = forwarding
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    state["iptables"] = sorted(r for r in rules.splitlines() if f"netplay:{lab}" in r)
    return state


def assert_host_as_before(before, what):
    after = snapshot()
    assert after == before, f"after {what}, something of the lab remains"


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def teardown(request, netplay, tmp_path):
    """Registers what a test built; a finalizer takes it all down and checks the host."""
    before = snapshot()
    todo = {"labs": [], "scripts": []}

    def finish():
        for lab, state_dir in todo["labs"]:
            netplay("--state-dir", state_dir, "down", lab) if state_dir else netplay("down", lab)
        for script in todo["scripts"]:
            subprocess.run(["bash", script], capture_output=True)
        assert snapshot() == before, "a test left something on the host"

    request.addfinalizer(finish)
    todo["before"] = before
    return todo


EQUIVALENCE = [
    pytest.param("levels", "netns", marks=pytest.mark.root, id="levels-netns"),
    pytest.param("levels", "docker", marks=[pytest.mark.root, pytest.mark.docker],
                 id="levels-docker"),
    pytest.param("home", "netns", marks=pytest.mark.root, id="home-netns"),
    pytest.param("home", "docker", marks=[pytest.mark.root, pytest.mark.docker],
                 id="home-docker"),
]


@pytest.mark.parametrize("name,runtime", EQUIVALENCE)
def test_run_replay_and_exported_script_build_the_same_lab(tmp_path, netplay, state_dir,
                                                           teardown, name, runtime):
    before = teardown["before"]
    other = str(tmp_path / "replay-state")  # as on another machine: its own state directory
    teardown["labs"] += [(name, None), (name, other)]

    # 1. netplay run, then down
    result = netplay("run", name, "--runtime", runtime, "--image", TEST_IMAGE)
    assert result.rc == 0, result
    built = lab_state(before, name)
    assert built["netns"], built
    if runtime == "docker":
        assert built["containers"] and all(row[3] for row in built["containers"]), built
    recorded = tmp_path / "recorded.json"
    shutil.copy(os.path.join(state_dir, "labs", name, "log.json"), recorded)
    assert_portable(json.loads(recorded.read_text()), state_dir)
    result = netplay("down", name)
    assert result.rc == 0, result
    assert_host_as_before(before, "down")

    # 2. netplay replay of the recorded log (elsewhere), then replay --undo
    result = netplay("--state-dir", other, "replay", str(recorded))
    assert result.rc == 0, result
    assert lab_state(before, name) == built
    replay_log = json.loads((tmp_path / "replay-state" / "labs" / name / "log.json").read_text())
    assert replay_log["action"] == "replay" and replay_log["status"] == "up"
    if runtime == "docker":
        fresh = {s["capture"]: s["result"]["value"] for s in replay_log["steps"] if "capture" in s}
        for node, var in (("laptop", "pid_laptop"), ("levela", "pid_levela")):
            if var in fresh:
                pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", node],
                                     capture_output=True, text=True).stdout.strip()
                assert fresh[var] == pid
    result = netplay("--state-dir", other, "replay", "--undo", str(recorded))
    assert result.rc == 0, result
    assert_host_as_before(before, "replay --undo")
    assert json.loads((tmp_path / "replay-state" / "labs" / name / "log.json").read_text())[
        "status"] == "down"

    # 3. the exported script, then the exported teardown script
    build, down = tmp_path / "build.sh", tmp_path / "teardown.sh"
    assert netplay("export", str(recorded), "-o", str(build)).rc == 0
    assert netplay("export", "--teardown", str(recorded), "-o", str(down)).rc == 0
    teardown["scripts"].append(str(down))
    proc = subprocess.run(["bash", str(build)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert lab_state(before, name) == built
    proc = subprocess.run(["bash", str(down)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert_host_as_before(before, "the teardown script")


def assert_portable(log, state_dir):
    """No value or path of the recording host in the steps: not a captured PID, not the
    state directory, not the host name; no absolute path but the netns directory."""
    values = {s["result"]["value"] for s in log["steps"] if s.get("result", {}).get("value")}
    host = socket.gethostname()
    for step in log["steps"]:
        for field in ("argv", "undo"):
            for arg in step.get(field) or []:
                if isinstance(arg, dict):
                    continue
                assert arg not in values, step
                assert state_dir not in arg and host not in arg.split("="), step
                if arg.startswith("/"):
                    assert arg == NETNS_DIR, step
        assert set(step) <= {"argv", "shell", "phase", "host", "undo", "undo_shell", "capture",
                             "result"}, step
        assert step["host"] == "local"


@pytest.mark.root
def test_replay_refuses_when_the_lab_is_up_and_changes_nothing(tmp_path, netplay, state_dir,
                                                              teardown):
    before = teardown["before"]
    teardown["labs"].append(("levels", None))
    assert netplay("run", "levels").rc == 0
    built = lab_state(before, "levels")
    log = tmp_path / "levels.json"
    shutil.copy(os.path.join(state_dir, "labs", "levels", "log.json"), log)
    result = netplay("replay", str(log))
    assert result.rc == 2, result
    assert "already up" in result.err and "netplay down levels" in result.err
    assert "Traceback" not in result.err
    # another state directory knows nothing of it: the names on the host refuse it
    result = netplay("--state-dir", str(tmp_path / "other"), "replay", str(log))
    assert result.rc == 2, result
    assert "already exists" in result.err
    assert lab_state(before, "levels") == built


FAILING = """
name: np4rb
nodes:
  np4rb-a:
    forwarding: true
    interfaces:
      e0: {addresses: [10.251.0.1/24]}
  np4rb-b:
    interfaces:
      e0: {addresses: [10.251.0.2/24]}
bridges:
  np4rbbr: {}
links:
  - endpoints: [np4rb-a:e0, np4rbbr]
  - endpoints: [np4rb-b:e0, np4rbbr]
"""


@pytest.mark.root
def test_replay_rolls_back_on_a_failure_as_run_does(tmp_path, netplay, state_dir, teardown):
    """A step fails half-way (sysctl, which netplay runs after the namespaces, the bridge,
    its firewall rule and the veths exist, fails here): run rolls back, and so does the
    replay of its log."""
    before = teardown["before"]
    other = str(tmp_path / "other")
    teardown["labs"] += [("np4rb", None), ("np4rb", other)]
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "sysctl").write_text("#!/bin/sh\necho 'sysctl: simulated failure' >&2\nexit 1\n")
    (shim / "sysctl").chmod(0o755)
    failing = {"PATH": f"{shim}:{os.environ['PATH']}"}
    result = netplay("run", write_topology(tmp_path, FAILING), env=failing)
    assert result.rc == 1, result
    assert_host_as_before(before, "a failed run")
    log = os.path.join(state_dir, "labs", "np4rb", "log.json")
    result = netplay("--state-dir", other, "replay", log, env=failing)
    assert result.rc == 1, result
    assert "simulated failure" in result.err and "undid" in result.err
    assert_host_as_before(before, "a failed replay")
    replayed = json.loads(open(os.path.join(other, "labs", "np4rb", "log.json")).read())
    assert replayed["action"] == "replay" and replayed["status"] == "down"
    assert any(entry["argv"][:3] == ["ip", "link", "delete"] for entry in replayed["teardown"])
    # without the failure, the same log replays
    result = netplay("--state-dir", other, "replay", log)
    assert result.rc == 0, result
    assert netplay("--state-dir", other, "replay", "--undo", log).rc == 0
    assert_host_as_before(before, "replay --undo")


ONE_CONTAINER = f"""
name: np4pid
image: {TEST_IMAGE}
nodes:
  np4pid-c:
    kind: docker
    interfaces:
      eth0: {{addresses: [10.252.0.2/24]}}
  np4pid-n:
    interfaces:
      eth0: {{addresses: [10.252.0.1/24]}}
links:
  - endpoints: [np4pid-c:eth0, np4pid-n:eth0]
"""


@pytest.mark.root
@pytest.mark.docker
def test_replay_captures_pids_afresh_never_from_the_log(tmp_path, netplay, state_dir, teardown):
    before = teardown["before"]
    other = str(tmp_path / "other")
    teardown["labs"] += [("np4pid", None), ("np4pid", other)]
    assert netplay("run", write_topology(tmp_path, ONE_CONTAINER)).rc == 0
    data = json.loads(open(os.path.join(state_dir, "labs", "np4pid", "log.json")).read())
    assert netplay("down", "np4pid").rc == 0
    # the recorded PID is stale; make it point at this process, in the host's namespace
    for step in data["steps"]:
        if "capture" in step:
            step["result"]["value"] = str(os.getpid())
    log = tmp_path / "np4pid.json"
    log.write_text(json.dumps(data))
    result = netplay("--state-dir", other, "replay", str(log))
    assert result.rc == 0, result
    pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", "np4pid-c"],
                         capture_output=True, text=True).stdout.strip()
    attached = os.stat(f"{NETNS_DIR}/np4pid-c").st_ino
    assert attached == os.stat(f"/proc/{pid}/ns/net").st_ino
    assert attached != os.stat("/proc/self/ns/net").st_ino
    ping = subprocess.run(["ip", "netns", "exec", "np4pid-n", "ping", "-c1", "-W2",
                           "10.252.0.2"], capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert netplay("--state-dir", other, "replay", "--undo", str(log)).rc == 0
    assert_host_as_before(before, "replay --undo")


@pytest.mark.root
def test_undo_refuses_a_lab_built_from_other_steps(tmp_path, netplay, state_dir, teardown):
    """replay --undo is down of the log's lab only when that lab was built from the same
    steps; otherwise it would remove objects that log did not build."""
    teardown["labs"].append(("np4u", None))
    first = write_topology(tmp_path, "name: np4u\nnodes: {np4u-a: {}}\n", "first.yaml")
    second = write_topology(tmp_path, "name: np4u\nnodes: {np4u-b: {}}\n", "second.yaml")
    assert netplay("run", first).rc == 0
    log = tmp_path / "first.json"
    shutil.copy(os.path.join(state_dir, "labs", "np4u", "log.json"), log)
    assert netplay("down", "np4u").rc == 0
    result = netplay("replay", "--undo", str(log))
    assert result.rc == 0 and "not up; nothing to do" in result.out, result
    assert netplay("run", second).rc == 0
    result = netplay("replay", "--undo", str(log))
    assert result.rc == 2, result
    assert "other steps" in result.err and "netplay down np4u" in result.err
    assert "np4u-b" in os.listdir(NETNS_DIR)
    # the same steps recorded by another run (a copy of the current log) do take it down
    current = tmp_path / "second.json"
    shutil.copy(os.path.join(state_dir, "labs", "np4u", "log.json"), current)
    result = netplay("replay", "--undo", str(current))
    assert result.rc == 0, result
    assert "np4u-b" not in os.listdir(NETNS_DIR)


@pytest.mark.parametrize("runtime", ["netns", "docker"])
def test_dry_run_prints_the_steps_and_needs_no_root(tmp_path, netplay, runtime):
    topo = with_runtime(builtins.load("home"), runtime, TEST_IMAGE)
    data = {"format": "netplay-log", "version": 1, "lab": "home", "topology": topo.to_dict(),
            "steps": [s.to_dict() for s in plan(topo)], "teardown": []}
    log = tmp_path / "home.json"
    log.write_text(json.dumps(data))
    result = netplay("replay", "--dry-run", str(log))
    assert result.rc == 0, result
    assert result.out.splitlines() == export.script_lines(plan(topo))
    result = netplay("replay", "--undo", "--dry-run", str(log))
    assert result.rc == 0, result
    assert result.out.splitlines() == export.teardown_lines(plan(topo))
