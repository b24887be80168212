"""`netplay export`: a checked log as a plain bash script, and its teardown script.

Rendering is pure and needs no root. Every script netplay writes must pass shellcheck with
no finding at any severity; shellcheck is installed by scripts/setup.sh (the test setup),
and these tests fail, rather than skip, when it is missing.
"""

import json
import os
import shlex
import shutil
import subprocess

import pytest

from netplay import builtins, export, logcheck
from netplay.log import FORMAT, VERSION
from netplay.plan import plan
from netplay.topology import from_dict, with_runtime

from conftest import ROOT, TEST_IMAGE

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
    script.write_text(render(topo.name, plan(topo)))
    proc = subprocess.run([shellcheck(), "--shell=bash", "--severity=style", str(script)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_build_script_shape_for_a_docker_lab():
    topo = TOPOLOGIES["home-docker"]
    text = export.build_script(topo.name, plan(topo))
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


@pytest.mark.parametrize("name", ["rich", "home-docker"])
def test_teardown_script_undoes_each_step_in_reverse_and_tolerates_what_is_gone(name):
    topo = TOPOLOGIES[name]
    steps = plan(topo)
    text = export.teardown_script(topo.name, steps)
    undos = [line[len("undo "):] for line in text.splitlines() if line.startswith("undo ")]
    assert undos == [shlex.join(s.undo) for s in reversed(steps) if s.undo]
    lines = text.splitlines()
    assert "set -uo pipefail" in lines  # no -e: it goes on after a failure
    assert not any(line.startswith("set -e") for line in lines)
    assert "Cannot find device" in text and "No such container" in text
    assert text.rstrip().endswith('exit "$failed"')


def test_export_command_writes_an_executable_script_and_prints_by_default(tmp_path, netplay):
    log = write_log(tmp_path, TOPOLOGIES["levels-netns"])
    out = tmp_path / "levels.sh"
    result = netplay("export", log, "-o", str(out))
    assert result.rc == 0, result
    assert os.access(out, os.X_OK)
    topo = TOPOLOGIES["levels-netns"]
    assert out.read_text() == export.build_script(topo.name, plan(topo))
    printed = netplay("export", log)
    assert printed.rc == 0 and printed.out == out.read_text()
    down = netplay("export", "--teardown", log)
    assert down.rc == 0 and down.out == export.teardown_script(topo.name, plan(topo))
    assert "undo ip netns delete levela" in down.out


def test_export_refuses_a_directory_as_output(tmp_path, netplay):
    log = write_log(tmp_path, TOPOLOGIES["levels-netns"])
    result = netplay("export", log, "-o", str(tmp_path))
    assert result.rc == 2 and "is a directory" in result.err
    assert "Traceback" not in result.err


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
    assert export.build_script(checked.lab, checked.steps) == \
        export.build_script(topo.name, plan(topo))


@pytest.mark.root
def test_teardown_script_on_a_host_without_the_lab_changes_nothing(tmp_path, host_unchanged):
    """Everything already gone: the teardown script says so, and exits 0."""
    topo = from_dict({"name": "np4gone", "nodes": {"np4g-a": {}, "np4g-b": {}},
                      "bridges": {"np4gbr": {}},
                      "links": [{"endpoints": ["np4g-a:eth0", "np4gbr"]},
                                {"endpoints": ["np4g-a:eth1", "np4g-b:eth1"]}]})
    script = tmp_path / "down.sh"
    script.write_text(export.teardown_script(topo.name, plan(topo)))
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "already gone: ip link delete np4gbr" in proc.stderr
    assert "failed" not in proc.stderr


@pytest.mark.skipif(ROOT, reason="checks the refusal for non-root users")
def test_scripts_refuse_to_run_without_root(tmp_path):
    topo = TOPOLOGIES["levels-netns"]
    script = tmp_path / "up.sh"
    script.write_text(export.build_script(topo.name, plan(topo)))
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert proc.returncode == 1 and "run it as root" in proc.stderr
