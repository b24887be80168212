"""`netplay export`: a checked log as a plain bash script, and its teardown script.

Rendering is pure and needs no root. Every script netplay writes must pass shellcheck with
no finding at any severity; shellcheck is installed by scripts/setup.sh (the test setup),
and these tests fail, rather than skip, when it is missing.
"""

import json
import os
import shlex
import shutil
import stat
import subprocess

import pytest

from netplay.load import builtins
from netplay.load.resolve import resolve
from netplay.model.runtime import with_runtime
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.render import bash as export
from netplay.run import logcheck
from netplay.run.log import FORMAT, VERSION

from conftest import ROOT, TEST_IMAGE, snapshot, write_topology

# Every feature of the topology format that reaches a command line, including values that
# need quoting (spaces, quotes, $ and ; in a container's command and environment).
RICH = {
    "name": "np4rich",
    "image": "netplay-busybox",
    "nodes": {
        "gw": {"kind": "host", "interfaces": {"np4r-gw": {"addresses": ["10.250.9.1/24"]}},
               "routes": [{"to": "10.250.10.0/24", "via": "10.250.9.2"}]},
        "r1": {"kind": "netns", "forwarding": True,
               "interfaces": {"e0": {"addresses": ["10.250.9.2/24", "fd00:9::2/64"]},
                              "e1": {"addresses": ["10.250.10.1/24"]}},
               "routes": [{"to": "default", "via": "10.250.9.1"},
                          {"to": "fd00:99::/64", "via": "fd00:9::1"}]},
        "c1": {"kind": "docker", "dns": ["192.0.2.53"],
               "env": {"GREETING": "it's a $HOME; `x`", "N": 3},
               "cmd": ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
               "interfaces": {"eth0": {"addresses": ["10.250.10.2/24"]}},
               "routes": [{"to": "default", "dev": "eth0"}]},
        "sw": {"kind": "netns", "loopback": False},
    },
    "bridges": {"br0": {"namespace": "sw", "addresses": ["10.250.11.1/24"]},
                "np4rbr": {"up": False}},
    "links": [
        {"endpoints": ["gw:np4r-gw", "r1:e0"]},
        {"endpoints": ["r1:e1", "c1:eth0"]},
        {"endpoints": ["sw:p1", "br0"]},
        {"endpoints": ["np4rbr", "sw:p2"]},
    ],
}


def topologies():
    out = {"rich": from_dict(json.loads(json.dumps(RICH)))}
    for name in builtins.names():
        for runtime in ("netns", "docker"):
            out[f"{name}-{runtime}"] = with_runtime(builtins.load(name), runtime, TEST_IMAGE)
    return out


TOPOLOGIES = topologies()


def log_data(topo):
    """A log as `netplay run` writes it (before any result), from a topology."""
    return {"format": FORMAT, "version": VERSION, "lab": topo.name, "action": "run",
            "status": "up", "topology": topo.to_dict(),
            "steps": [s.to_dict() for s in plan(topo)], "teardown": []}


def write_log(tmp_path, topo, name="log.json"):
    path = tmp_path / name
    path.write_text(json.dumps(log_data(topo)))
    return str(path)


def shellcheck():
    path = shutil.which("shellcheck")
    assert path, "shellcheck is not installed; scripts/setup.sh installs it (apt-get install shellcheck)"
    return path


@pytest.mark.parametrize("name", sorted(TOPOLOGIES))
@pytest.mark.parametrize("teardown", [False, True], ids=["build", "teardown"])
def test_scripts_pass_shellcheck_with_no_finding(tmp_path, name, teardown):
    topo = TOPOLOGIES[name]
    render = export.teardown_script if teardown else export.build_script
    script = tmp_path / "lab.sh"
    script.write_text(render(topo, plan(topo)))
    proc = subprocess.run([shellcheck(), "--shell=bash", "--severity=style", str(script)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_build_script_shape_for_a_docker_lab():
    topo = TOPOLOGIES["home-docker"]
    text = export.build_script(topo, plan(topo))
    lines = text.splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert lines.index("set -euo pipefail") < lines.index("mkdir -p /var/run/netns")
    # the captured PID is read afresh by the script and used quoted
    assert "pid_laptop=$(docker inspect -f '{{.State.Pid}}' laptop)" in lines
    assert 'ip netns attach laptop "$pid_laptop"' in lines
    # a comment per node and per phase, before its commands
    for phase in ("# node laptop", "# bridge home", "# link router:eth0 -- verizon:eth1",
                  "# configure router"):
        assert phase in lines
    assert lines.index("# node laptop") < lines.index("pid_laptop=$(docker inspect -f "
                                                      "'{{.State.Pid}}' laptop)")
    # no value of the recording host: no PID, no state directory
    assert not any(arg.isdigit() for s in plan(topo) for arg in s.argv if isinstance(arg, str))


def test_every_argument_is_quoted_and_reads_back_as_the_steps_argv():
    topo = TOPOLOGIES["rich"]
    steps = plan(topo)
    lines = [line for line in export.script_lines(steps) if line and not line.startswith("#")]
    assert len(lines) == len(steps)
    for line, step in zip(lines, steps):
        if step.capture or step.refs():
            continue
        assert shlex.split(line) == step.argv, line
    env_line = next(line for line in lines if line.startswith("docker run"))
    assert "-e 'GREETING=it'\"'\"'s a $HOME; `x`'" in env_line


def test_teardown_script_undoes_each_step_in_reverse_and_tolerates_what_is_gone():
    """The rich lab's objects outside its namespaces, removed last made first: written out
    by hand from its topology."""
    text = export.teardown_script(TOPOLOGIES["rich"])
    body = text[text.index("\n# configure gw\n") + 1:]
    assert body == """\
# configure gw
undo ip route del 10.250.10.0/24 via 10.250.9.2

# link np4rbr:sw_p2 -- sw:p2
undo ip link delete sw_p2

# link gw:np4r-gw -- r1:e0
undo ip link delete np4r-gw

# bridge np4rbr
undo ip6tables -D FORWARD -i np4rbr -o np4rbr -m comment --comment netplay:np4rich -j ACCEPT
undo iptables -D FORWARD -i np4rbr -o np4rbr -m comment --comment netplay:np4rich -j ACCEPT
undo ip link delete np4rbr

# node sw
undo ip netns delete sw

# node c1
undo ip netns delete c1

# node r1
undo ip netns delete r1

# node c1
undo docker rm -f c1

if [[ $failed -eq 0 ]]; then
    rm -f -- "$record"
fi
exit "$failed"
"""
    lines = text.splitlines()
    assert "set -uo pipefail" in lines  # no -e: it goes on after a failure
    assert not any(line.startswith("set -e") for line in lines)
    assert "Cannot find device" in text and "No such container" in text


def test_export_command_writes_an_executable_script_and_prints_by_default(tmp_path, netplay):
    log = write_log(tmp_path, TOPOLOGIES["levels-netns"])
    out = tmp_path / "levels.sh"
    result = netplay("export", log, "-o", str(out))
    assert result.rc == 0, result
    assert os.access(out, os.X_OK)
    topo = TOPOLOGIES["levels-netns"]
    assert out.read_text() == export.build_script(topo, plan(topo))
    printed = netplay("export", log)
    assert printed.rc == 0 and printed.out == out.read_text()
    down = netplay("export", "--teardown", log)
    assert down.rc == 0 and down.out == export.teardown_script(topo, plan(topo))
    assert "undo ip netns delete levela" in down.out


def test_export_refuses_a_directory_as_output(tmp_path, netplay):
    log = write_log(tmp_path, TOPOLOGIES["levels-netns"])
    result = netplay("export", log, "-o", str(tmp_path))
    assert result.rc == 2 and "is a directory" in result.err
    assert "Traceback" not in result.err


def test_export_never_replaces_what_is_not_a_regular_file(tmp_path, netplay):
    """As root, writing a temporary file and renaming it over -o PATH replaced /dev/null or
    /dev/full with the script (found in review). A FIFO and a symbolic link stand in for
    device nodes here; both must survive as they were, and an existing file is replaced."""
    log = write_log(tmp_path, TOPOLOGIES["levels-netns"])
    fifo, link, target = tmp_path / "fifo", tmp_path / "link", tmp_path / "target"
    os.mkfifo(fifo)
    target.write_text("mine\n")
    link.symlink_to(target)
    for path in (fifo, link):
        result = netplay("export", log, "-o", str(path))
        assert result.rc == 2 and "is not a regular file" in result.err, result
        assert "Traceback" not in result.err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.path.islink(link)
    assert target.read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link", "log.json", "target"]
    result = netplay("export", log, "-o", str(target))
    assert result.rc == 0 and target.read_text().startswith("#!/usr/bin/env bash")


def test_export_renders_only_checked_steps(tmp_path, netplay):
    """A log whose step was changed is refused: no script, one line naming the step."""
    data = log_data(TOPOLOGIES["levels-netns"])
    data["steps"][1]["argv"] = ["ip", "netns", "add", "levela$(touch /tmp/np4-pwned)"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    out = tmp_path / "out.sh"
    result = netplay("export", str(path), "-o", str(out))
    assert result.rc == 2, result
    assert not out.exists()
    assert "steps[1]" in result.err and len(result.err.strip().splitlines()) == 1


def test_dry_run_output_is_the_plan_under_its_headings(netplay):
    result = netplay("run", "--dry-run", "levels")
    assert result.rc == 0
    assert result.out.splitlines() == export.script_lines(plan(builtins.load("levels")))


def test_checked_log_renders_the_same_script_as_the_plan(tmp_path):
    topo = TOPOLOGIES["home-docker"]
    checked = logcheck.load(write_log(tmp_path, topo))
    assert export.build_script(checked.topology, checked.steps) == \
        export.build_script(topo, plan(topo))


@pytest.mark.root
def test_teardown_script_on_a_host_without_the_lab_changes_nothing(tmp_path, host_unchanged):
    """Everything already gone: the teardown script says so, and exits 0."""
    topo = from_dict({"name": "np4gone", "nodes": {"np4g-a": {}, "np4g-b": {}},
                      "bridges": {"np4gbr": {}},
                      "links": [{"endpoints": ["np4g-a:eth0", "np4gbr"]},
                                {"endpoints": ["np4g-a:eth1", "np4g-b:eth1"]}]})
    script = tmp_path / "down.sh"
    script.write_text(export.teardown_script(topo, plan(topo)))
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "already gone: ip link delete np4gbr" in proc.stderr
    assert "failed" not in proc.stderr


@pytest.mark.parametrize("teardown", [False, True], ids=["build", "teardown"])
def test_scripts_refuse_to_run_without_root(teardown):
    """Run as an unprivileged user (nobody, when the suite runs as root): the script stops
    at its first check, before it changes anything."""
    topo = TOPOLOGIES["levels-netns"]
    render = export.teardown_script if teardown else export.build_script
    unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if ROOT else []
    before = os.listdir("/var/run/netns") if os.path.isdir("/var/run/netns") else []
    proc = subprocess.run([*unprivileged, "bash", "-s"], input=render(topo, plan(topo)),
                          capture_output=True, text=True, cwd="/")
    assert proc.returncode == 1, proc
    assert proc.stderr == "this script changes the host's network: run it as root\n"
    after = os.listdir("/var/run/netns") if os.path.isdir("/var/run/netns") else []
    assert after == before


# --- the exported scripts own only what they make, on the real host ---------------------------

OWN = """
name: np13own
image: {image}
nodes:
  np13o-a:
    role: router
    interfaces:
      eth0: {{addresses: [10.253.0.1/24]}}
{container}bridges:
  np13obr: {{}}
links:
  - endpoints: [np13o-a:eth0, np13obr]
"""
CONTAINER = """  np13o-c:
    kind: docker
    interfaces:
      eth0: {addresses: [10.253.0.2/24]}
"""
CONTAINER_LINK = "  - endpoints: [np13o-c:eth0, np13o-a:eth1]\n"

# Someone's own object that has one of the lab's names: how to make it, and remove it.
USERS_OWN = {
    "bridge": (["ip", "link", "add", "np13obr", "type", "bridge"],
               ["ip", "link", "delete", "np13obr"]),
    "namespace": (["ip", "netns", "add", "np13o-a"], ["ip", "netns", "delete", "np13o-a"]),
    "container": (["docker", "run", "-d", "--net=none", "--name=np13o-c", TEST_IMAGE, "sleep",
                   "600"], ["docker", "rm", "-f", "np13o-c"]),
}


def exported(tmp_path, netplay, docker=False):
    """The np13own lab's log, exported by `netplay export` as (build, teardown) scripts."""
    text = OWN.format(image=TEST_IMAGE, container=CONTAINER if docker else "")
    if docker:
        text += CONTAINER_LINK
    log = write_log(tmp_path, resolve(write_topology(tmp_path, text, "np13own.yaml")),
                    "np13own.json")
    build, down = tmp_path / "build.sh", tmp_path / "down.sh"
    assert netplay("export", log, "-o", str(build)).rc == 0
    assert netplay("export", "--teardown", log, "-o", str(down)).rc == 0
    return str(build), str(down)


def bash(script, record, path=None):
    env = dict(os.environ, NETPLAY_EXPORT_RECORD=str(record))
    if path:
        env["PATH"] = f"{path}:{env['PATH']}"
    return subprocess.run(["bash", script], capture_output=True, text=True, env=env)


@pytest.mark.root
@pytest.mark.parametrize("kind", [
    "bridge", "namespace", pytest.param("container", marks=pytest.mark.docker)])
def test_exported_scripts_leave_alone_an_object_of_the_labs_name_that_is_not_the_labs(
        tmp_path, netplay, kind):
    """A bridge, namespace or container of someone else's has one of the lab's names: the
    build script refuses in one line before changing anything, as `run` does, and the
    teardown script leaves that object alone (it carries no mark of the lab's, and the
    build recorded making nothing)."""
    make, remove = USERS_OWN[kind]
    build, down = exported(tmp_path, netplay, docker=kind == "container")
    record = tmp_path / "made"
    subprocess.run(make, check=True, capture_output=True)
    try:
        before = snapshot()
        proc = bash(build, record)
        assert proc.returncode == 1, proc
        named = {"bridge": "bridge np13obr: a device named 'np13obr' in the root namespace",
                 "namespace": "namespace 'np13o-a'",
                 "container": "a container named 'np13o-c'"}[kind]
        assert proc.stderr.startswith(named + " already exists on this host; "), proc.stderr
        assert proc.stderr.endswith("; nothing was changed\n") and proc.stderr.count("\n") == 1
        assert snapshot() == before and not record.exists()
        proc = bash(down, record)
        assert proc.returncode == 0, proc
        assert f"left alone: {shlex.join(remove)}: not lab np13own's" in proc.stderr, proc.stderr
        assert snapshot() == before
    finally:
        subprocess.run(remove, capture_output=True)


@pytest.mark.root
def test_teardown_script_removes_what_a_failed_build_made_before_the_lab_marked_it(
        tmp_path, netplay, host_unchanged):
    """The build stops at a failing command (sysctl, right after the namespace is made and
    long before its lo gets the lab's mark): the teardown removes what the build recorded
    making, and the record with it."""
    build, down = exported(tmp_path, netplay)
    record = tmp_path / "made"
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "sysctl").write_text("#!/bin/sh\necho 'sysctl: simulated failure' >&2\nexit 1\n")
    (shim / "sysctl").chmod(0o755)
    try:
        proc = bash(build, record, path=shim)
        assert proc.returncode == 1 and "simulated failure" in proc.stderr, proc
        assert "np13o-a" in os.listdir("/var/run/netns")
        assert record.read_text() == "ip netns delete np13o-a\n"
        proc = bash(down, record)
        assert proc.returncode == 0, proc
        assert proc.stderr == (  # what the build never made, and nothing left alone
            "already gone: ip link delete np13o-a_eth0\n"
            "already gone: ip6tables -D FORWARD -i np13obr -o np13obr -m comment --comment "
            "netplay:np13own -j ACCEPT\n"
            "already gone: iptables -D FORWARD -i np13obr -o np13obr -m comment --comment "
            "netplay:np13own -j ACCEPT\n"
            "already gone: ip link delete np13obr\n")
        assert "np13o-a" not in os.listdir("/var/run/netns") and not record.exists()
    finally:
        bash(down, record)


@pytest.mark.root
def test_teardown_script_removes_a_lab_that_netplay_run_built_by_its_marks(
        tmp_path, netplay, host_unchanged):
    """No record (the lab was built by `netplay run`): every object carries the mark."""
    build, down = exported(tmp_path, netplay)
    record = tmp_path / "made"
    try:
        assert netplay("run", str(tmp_path / "np13own.yaml")).rc == 0
        proc = bash(down, record)
        assert proc.returncode == 0 and proc.stderr == "", proc
    finally:
        bash(down, record)
        netplay("down", "np13own")
