"""`netplay export` and `run --dry-run` for a lab on several hosts: pure, no root, no ssh.

A lab with `hosts:` exports as a directory: HOST.sh per host (phases build, exec, teardown)
and run.sh, which runs them over ssh, hosts at once. The driver is run here against a
stand-in `ssh` on PATH that records what it was asked and answers with a chosen exit
status, so that its order of phases, its rollback and its ssh command lines are checked
without a host. (tests/test_multihost.py runs the same scripts over real ssh, as root.)
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

from netplay.load import builtins
from netplay.load.yamlfile import parse_yaml
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.render import bash as export
from netplay.run.log import StepLog

ROUTED = """\
name: npt-mh2
hosts:
  sim1: {ssh: sim1, address: 198.51.100.11}
  sim2: {ssh: "root@[fd00::5]", address: 198.51.100.12, sudo: true}
nodes:
  a:  {host: sim1, interfaces: {eth0: {addresses: [10.61.1.2/24]}},
       routes: [{to: default, via: 10.61.1.1}]}
  r1: {host: sim1, forwarding: true,
       interfaces: {eth0: {addresses: [10.61.1.1/24]}, eth1: {addresses: [10.61.0.1/30]}},
       routes: [{to: 10.61.2.0/24, via: 10.61.0.2}]}
  r2: {host: sim2, forwarding: true,
       interfaces: {eth0: {addresses: [10.61.2.1/24]}, eth1: {addresses: [10.61.0.2/30]}},
       routes: [{to: 10.61.1.0/24, via: 10.61.0.1}]}
  b:  {host: sim2, interfaces: {eth0: {addresses: [10.61.2.2/24]}},
       routes: [{to: default, via: 10.61.2.1}]}
links:
  - endpoints: [a:eth0, r1:eth0]
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth0, b:eth0]
"""
# the same lab with a node command on sim1 (node a's `exec` list)
WITH_EXEC = ROUTED.replace("routes: [{to: default, via: 10.61.1.1}]}",
                           "routes: [{to: default, via: 10.61.1.1}],\n"
                           "       exec: [[ping, -c1, 10.61.2.2]]}")
NODE_COMMAND = "ip netns exec a ping -c1 10.61.2.2"
SIM1_VXLAN = ("ip link add eth1 netns r1 mtu 1450 type vxlan id {vni} local 198.51.100.11 "
              "remote 198.51.100.12 dstport 4789")
SIM2_VXLAN = ("ip link add eth1 netns r2 mtu 1450 type vxlan id {vni} local 198.51.100.12 "
              "remote 198.51.100.11 dstport 4789")
FILES = ["run.sh", "sim1.sh", "sim2.sh"]


def topology(text=ROUTED):
    return from_dict(parse_yaml(textwrap.dedent(text), "test.yaml"), "test.yaml")


def write_log(tmp_path, text=ROUTED, name="log.json"):
    """A log as `netplay run` starts it (StepLog.create), for the topology text."""
    topo = topology(text)
    path = tmp_path / name
    StepLog.create(path, topo.name, topo.to_dict(), plan(topo))
    return str(path)


def exported(tmp_path, netplay, *args, text=ROUTED, name="out"):
    """Export a log of text into tmp_path/name with the real CLI: {file name: text}."""
    log = write_log(tmp_path, text)
    out = tmp_path / name
    result = netplay("export", log, "-o", str(out), *args)
    assert result.rc == 0, result
    return {p.name: p.read_text() for p in out.iterdir()}


def function_body(script, name):
    """The lines of the bash function name (to its closing brace in column 0), stripped."""
    lines = script.splitlines()
    start = lines.index(f"{name}() {{")
    end = lines.index("}", start)
    return [line.strip() for line in lines[start + 1:end]]


def shellcheck(path):
    program = shutil.which("shellcheck")
    assert program, "shellcheck is not installed; scripts/setup.sh installs it"
    proc = subprocess.run([program, "--shell=bash", "--severity=style", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_a_lab_on_two_hosts_exports_a_driver_and_a_script_per_host(tmp_path, netplay):
    for args, name in (((), "build"), (("--teardown",), "teardown")):
        files = exported(tmp_path, netplay, *args, name=name)
        assert sorted(files) == FILES
        for file in FILES:
            mode = os.stat(tmp_path / name / file).st_mode
            assert mode & stat.S_IXUSR and stat.S_ISREG(mode)
            assert files[file].startswith("#!/usr/bin/env bash\n")


def test_each_host_script_builds_only_its_hosts_steps_in_order(tmp_path, netplay):
    files = exported(tmp_path, netplay)
    steps = plan(topology())
    commands = {s.shell() for s in steps}
    for host in ("sim1", "sim2"):
        body = function_body(files[f"{host}.sh"], "phase_build")
        assert [line for line in body if line in commands] == \
            [s.shell() for s in steps if s.host == host]
        assert steps[0].host == "sim1" and steps[1].host == "sim2"  # mkdir on each host


def test_the_vxlan_ends_are_on_their_own_hosts(tmp_path, netplay):
    files = exported(tmp_path, netplay)
    vni = next(s.argv[s.argv.index("id") + 1] for s in plan(topology())
               if "vxlan" in s.argv)
    sim1, sim2 = SIM1_VXLAN.format(vni=vni), SIM2_VXLAN.format(vni=vni)
    assert sim1 in function_body(files["sim1.sh"], "phase_build")
    assert sim2 in function_body(files["sim2.sh"], "phase_build")
    assert sim2 not in files["sim1.sh"] and sim1 not in files["sim2.sh"]


def test_teardown_scripts_undo_only_their_hosts_steps_last_first(tmp_path, netplay):
    files = exported(tmp_path, netplay, "--teardown")
    assert "undo ip netns delete a" in files["sim1.sh"]
    assert "ip netns delete a" not in files["sim2.sh"]
    body = function_body(files["sim2.sh"], "phase_teardown")
    undos = [line for line in body if line.startswith("undo ip")]
    assert undos == ["undo ip netns delete b", "undo ip netns delete r2"]
    for script in files.values():  # nothing that builds, no record written
        assert "phase_build" not in script and "ip netns add" not in script
    assert "run_phase teardown" in files["run.sh"] and "run_phase build" not in files["run.sh"]


def test_node_commands_run_only_in_the_exec_phase_after_every_host_is_built(
        tmp_path, netplay):
    files = exported(tmp_path, netplay, "--allow-exec", text=WITH_EXEC)
    sim1 = files["sim1.sh"]
    assert sim1.count(NODE_COMMAND) == 2  # announced on stderr, then run
    assert NODE_COMMAND in function_body(sim1, "phase_exec")
    assert not any(NODE_COMMAND in line for line in function_body(sim1, "phase_build"))
    assert "phase_exec" not in files["sim2.sh"]  # sim2 has no node command
    driver = files["run.sh"].splitlines()
    assert driver.index("run_phase exec sim1") > driver.index('run_phase build "${hosts[@]}"')


def test_node_commands_are_exported_only_with_allow_exec(tmp_path, netplay):
    log = write_log(tmp_path, WITH_EXEC)
    result = netplay("export", log, "-o", str(tmp_path / "out"))
    assert result.rc == 2 and "--allow-exec" in result.err, result
    assert len(result.err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
    down = netplay("export", log, "--teardown", "-o", str(tmp_path / "down"))
    assert down.rc == 0 and NODE_COMMAND not in (tmp_path / "down" / "sim1.sh").read_text()


@pytest.mark.parametrize("args", [(), ("--teardown",)], ids=["build", "teardown"])
def test_every_script_passes_shellcheck(tmp_path, netplay, args):
    exported(tmp_path, netplay, "--allow-exec", *args, text=WITH_EXEC)
    for file in FILES:
        shellcheck(tmp_path / "out" / file)
        syntax = subprocess.run(["bash", "-n", str(tmp_path / "out" / file)],
                                capture_output=True, text=True)
        assert syntax.returncode == 0, syntax.stderr


def test_the_driver_quotes_each_destination_and_honours_the_ssh_config(tmp_path, netplay):
    driver = exported(tmp_path, netplay)["run.sh"]
    config = '${NETPLAY_SSH_CONFIG:+-F "$NETPLAY_SSH_CONFIG"}'
    assert f'sim1) ssh {config} -o BatchMode=yes sim1 bash -s -- "$2" < "$dir"/sim1.sh ;;' \
        in driver
    assert (f"sim2) ssh {config} -o BatchMode=yes 'root@[fd00::5]' sudo -n bash -s -- "
            '"$2" < "$dir"/sim2.sh ;;') in driver


FAKE_SSH = """\
#!{python}
# Stands in for ssh: records its arguments and what it read, exits as $FAKE_SSH_EXIT says
# ("DEST:PHASE:STATUS ..."; 0 when not named).
import json, os, sys
args = sys.argv[1:]
record = {{"args": args, "stdin": sys.stdin.read()}}
with open(os.environ["FAKE_SSH_LOG"], "a") as f:
    f.write(json.dumps(record) + "\\n")
dest = args[args.index("BatchMode=yes") + 1]
for rule in os.environ.get("FAKE_SSH_EXIT", "").split():
    d, phase, status = rule.rsplit(":", 2)
    if d == dest and phase == args[-1]:
        sys.exit(int(status))
"""


def run_driver(tmp_path, directory, *args, exits="", config=None):
    """Run directory/run.sh against the fake ssh: (result, [(dest, phase, argv, stdin)])."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "ssh").write_text(FAKE_SSH.format(python=sys.executable))
    (bin_dir / "ssh").chmod(0o755)
    log = tmp_path / "ssh.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "NETPLAY_SSH_CONFIG"}
    env.update(PATH=f"{bin_dir}:{env['PATH']}", FAKE_SSH_LOG=str(log), FAKE_SSH_EXIT=exits)
    if config is not None:
        env["NETPLAY_SSH_CONFIG"] = config
    result = subprocess.run(["bash", str(directory / "run.sh"), *args], env=env,
                            capture_output=True, text=True, timeout=60, cwd="/")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    dest = lambda c: c["args"][c["args"].index("BatchMode=yes") + 1]
    return result, [(dest(c), c["args"][-1], c["args"], c["stdin"]) for c in calls]


def test_the_driver_runs_each_phase_on_every_host_over_ssh(tmp_path, netplay):
    files = exported(tmp_path, netplay, "--allow-exec", text=WITH_EXEC)
    config = str(tmp_path / "my ssh config")
    result, calls = run_driver(tmp_path, tmp_path / "out", config=config)
    assert result.returncode == 0, result.stderr
    assert sorted(c[:2] for c in calls[:2]) == [("root@[fd00::5]", "build"), ("sim1", "build")]
    assert [c[:2] for c in calls[2:]] == [("sim1", "exec")]
    for dest, phase, argv, stdin in calls:
        host = "sim1" if dest == "sim1" else "sim2"
        shell = ["bash"] if host == "sim1" else ["sudo", "-n", "bash"]
        assert argv == ["-F", config, "-o", "BatchMode=yes", dest, *shell, "-s", "--", phase]
        assert stdin == files[f"{host}.sh"]
    result, calls = run_driver(tmp_path, tmp_path / "out")  # no $NETPLAY_SSH_CONFIG: no -F
    assert result.returncode == 0 and all(c[2][0] == "-o" for c in calls)


def test_a_failed_build_tears_down_every_host_that_started(tmp_path, netplay):
    exported(tmp_path, netplay)
    result, calls = run_driver(tmp_path, tmp_path / "out", exits="root@[fd00::5]:build:1")
    assert result.returncode == 1
    assert sorted(c[:2] for c in calls[2:]) == [("root@[fd00::5]", "teardown"),
                                               ("sim1", "teardown")]
    assert "building failed on host(s) sim2; tearing down" in result.stderr
    # a host that stopped before changing anything (exit 3) is not torn down
    result, calls = run_driver(tmp_path, tmp_path / "out", exits="root@[fd00::5]:build:3")
    assert result.returncode == 1
    assert [c[:2] for c in calls[2:]] == [("sim1", "teardown")]
    # a failed node command tears down every host; a failed teardown says what to run
    exported(tmp_path, netplay, "--allow-exec", text=WITH_EXEC, name="x")
    result, calls = run_driver(tmp_path, tmp_path / "x",
                               exits="sim1:exec:1 sim1:teardown:1")
    assert result.returncode == 1
    assert sorted(c[:2] for c in calls[3:]) == [("root@[fd00::5]", "teardown"),
                                               ("sim1", "teardown")]
    assert f"run it again: bash {tmp_path / 'x'}/run.sh teardown" in result.stderr


def test_the_teardown_driver_tears_down_every_host(tmp_path, netplay):
    exported(tmp_path, netplay, "--teardown")
    result, calls = run_driver(tmp_path, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert sorted(c[:2] for c in calls) == [("root@[fd00::5]", "teardown"),
                                            ("sim1", "teardown")]
    result, calls = run_driver(tmp_path, tmp_path / "out", "build")
    assert result.returncode == 2 and calls == []


def test_export_of_a_lab_on_hosts_needs_an_output_directory(tmp_path, netplay):
    log = write_log(tmp_path)
    for args in ((), ("-o", "-"), ("--teardown",)):
        result = netplay("export", log, *args)
        assert result.rc == 2 and result.out == "", result
        assert result.err.count("\n") == 1 and "give -o DIR" in result.err
        assert "Traceback" not in result.err


def test_export_writes_into_a_directory_only_if_it_holds_nothing_else(tmp_path, netplay):
    log = write_log(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "sim1.sh").write_text("old\n")  # a file export writes: replaced
    assert netplay("export", log, "-o", str(out)).rc == 0
    assert (out / "sim1.sh").read_text().startswith("#!")
    (out / "notes.txt").write_text("mine\n")
    result = netplay("export", log, "-o", str(out))
    assert result.rc == 2 and "notes.txt" in result.err and "Traceback" not in result.err


def test_export_never_follows_a_symbolic_link(tmp_path, netplay):
    log = write_log(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    result = netplay("export", log, "-o", str(tmp_path / "link"))
    assert result.rc == 2 and "symbolic link" in result.err and not list(target.iterdir())
    out, secret = tmp_path / "out", tmp_path / "secret"
    out.mkdir()
    secret.write_text("keep\n")
    (out / "sim2.sh").symlink_to(secret)
    result = netplay("export", log, "-o", str(out))
    assert result.rc == 2 and "not a regular file" in result.err, result
    assert secret.read_text() == "keep\n" and sorted(p.name for p in out.iterdir()) == ["sim2.sh"]


def test_a_host_named_like_the_driver_is_refused(tmp_path, netplay):
    text = ROUTED.replace("sim2", "run")
    log = write_log(tmp_path, text)
    result = netplay("export", log, "-o", str(tmp_path / "out"))
    assert result.rc == 2 and "rename the host" in result.err, result
    assert len(result.err.strip().splitlines()) == 1


def test_dry_run_puts_each_run_of_a_hosts_steps_under_its_heading(tmp_path, netplay):
    path = tmp_path / "mh2.yaml"
    path.write_text(ROUTED)
    result = netplay("run", "--dry-run", str(path))
    assert result.rc == 0, result
    steps, host, i = plan(topology()), None, 0
    for line in result.out.splitlines():
        if line.startswith("# host "):
            host = line.split()[2]
            assert line == {"sim1": "# host sim1 (ssh sim1)",
                            "sim2": "# host sim2 (ssh root@[fd00::5])"}[host]
        elif line and not line.startswith("#"):
            assert (line, host) == (steps[i].shell(), steps[i].host)
            i += 1
    assert i == len(steps)


def test_a_lab_without_hosts_exports_and_dry_runs_as_before(tmp_path, netplay):
    topo = builtins.load("levels")
    log = tmp_path / "levels.json"
    StepLog.create(log, topo.name, topo.to_dict(), plan(topo))
    printed = netplay("export", str(log))
    assert printed.rc == 0 and printed.out == export.build_script(topo, plan(topo))
    down = netplay("export", "--teardown", str(log), "-o", str(tmp_path / "down.sh"))
    assert down.rc == 0
    assert (tmp_path / "down.sh").read_text() == export.teardown_script(topo, plan(topo))
    dry = netplay("run", "--dry-run", "levels")
    assert dry.rc == 0 and dry.out.splitlines() == export.script_lines(plan(topo))
    assert "# host" not in dry.out and "# host" not in printed.out
    assert export.script_lines(plan(topo), hosts={}) == export.script_lines(plan(topo))
