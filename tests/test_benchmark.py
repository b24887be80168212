"""The benchmark (scripts/benchmark.py) and its floor (scripts/floor.py).

Pure checks need no root: the floor runs netplay's own plan, every `ip` line of it, in at
most one process per namespace plus a constant; the benchmark's arithmetic (medians,
targets, the table). One real run at N=3 with --quick needs root; it must leave the host
exactly as it found it.
"""

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import benchmark  # noqa: E402
import floor  # noqa: E402
from netplay.load import builtins
from netplay.plan import build as plan  # noqa: E402
from netplay.run.runner import ip_prefix  # noqa: E402


def _plan(spec):
    return plan.plan(builtins.load(spec))


def _ip_lines(steps):
    """Every `ip` (or brctl) command of the plan as the line a batch runs."""
    out = []
    for step in steps:
        argv = floor._as_ip(list(step.argv))
        prefix = ip_prefix(argv)
        if prefix is not None:
            out.append(" ".join(argv[len(prefix):]))
    return out


def _batched_lines(processes):
    return [line for _, stdin in processes if stdin for line in stdin.splitlines()]


def _entered(argv):
    """The namespace a process runs in: its nsenter --net target, else None (root)."""
    for arg in argv:
        if arg.startswith("--net="):
            return os.path.basename(arg)
    return None


@pytest.mark.parametrize("n", [1, 3, 50, 500])
def test_floor_is_one_process_per_namespace_plus_a_constant(n):
    procs = floor.build_processes(_plan(f"linear:{n}"))
    namespaces = n + 1  # h1..hN and the switches' namespace
    assert len(procs) <= namespaces + 2
    where = Counter(_entered(argv) for argv, _ in procs)
    assert max(where.values()) == 1, where  # one process per namespace, root included
    assert set(where) - {None} == {f"h{i}" for i in range(1, n + 1)} | {"switches"}


@pytest.mark.parametrize("n", [1, 3, 50])
def test_floor_runs_every_ip_line_of_the_plan_once(n):
    steps = _plan(f"linear:{n}")
    procs = floor.build_processes(steps)
    assert Counter(_batched_lines(procs)) == Counter(_ip_lines(steps))
    # and nothing else: every process is an ip batch
    assert all(stdin and argv[-2:] == ["-batch", "-"] for argv, stdin in procs)


def test_floor_creates_namespaces_before_entering_them():
    procs = floor.build_processes(_plan("linear:3"))
    argv, stdin = procs[0]
    assert argv == ["ip", "-batch", "-"]
    lines = stdin.splitlines()
    assert lines[:4] == ["netns add switches", "netns add h1", "netns add h2", "netns add h3"]
    assert all(not line.startswith("netns") for line in lines[4:])


def test_floor_teardown_is_one_process_that_deletes_every_namespace():
    steps = _plan("linear:5")
    procs = floor.teardown_processes(steps)
    assert len(procs) == 1
    argv, stdin = procs[0]
    assert argv == ["ip", "-force", "-batch", "-"]
    assert sorted(stdin.split("\n")[:-1]) == sorted(
        f"netns delete {ns}" for ns in ["switches"] + [f"h{i}" for i in range(1, 6)])


def test_floor_puts_settings_between_namespaces_and_devices():
    """A router's sysctl settings must precede its devices, which inherit them."""
    steps = _plan("leafspine:1,2,1")
    procs = floor.build_processes(steps)
    kinds = [floor.phase(p) for p in procs]
    assert kinds[0] == "namespaces"
    first_setting = kinds.index("other")
    assert "veths" not in kinds[:first_setting]
    assert Counter(_batched_lines(procs)) == Counter(_ip_lines(steps))


def test_floor_refuses_captured_values():
    from netplay.model.runtime import with_runtime

    topo = with_runtime(builtins.load("home"), "docker", "netplay-busybox")
    with pytest.raises(ValueError, match="namespace topologies only"):
        floor.build_processes(plan.plan(topo))


def test_floor_phases_name_each_process():
    procs = floor.build_processes(_plan("linear:3"))
    assert [floor.phase(p) for p in procs] == [
        "namespaces + veths", "bridges and ports", "node config", "node config", "node config"]


def test_median_of_nested_runs():
    runs = [{"up": 3.0, "phases": {"a": {"seconds": 1.0}}, "label": "x"},
            {"up": 1.0, "phases": {"a": {"seconds": 5.0}}, "label": "x"},
            {"up": 2.0, "phases": {"a": {"seconds": 2.0}}, "label": "x"}]
    assert benchmark.median_of(runs) == {"up": 2.0, "phases": {"a": {"seconds": 2.0}},
                                         "label": "x"}


def _row(n, up, down, fup, fdown, mn=None, rss=40.0):
    row = {"n": n, "netplay": {"up": up, "down": down, "rss_mib": rss},
           "floor": {"up": fup, "down": fdown, "phases": {}}}
    if mn is not None:
        row["mininet"] = {"total": mn}
    return row


def test_targets_are_judged_on_the_issue_numbers():
    results = {
        "linear": [_row(100, 0.8, 0.2, 0.45, 0.05, mn=14.0), _row(1000, 12.0, 3.0, 9.0, 2.0,
                                                                  rss=160.0)],
        "docker": {"nodes": 20, "netplay": {"up": 2.4, "down": 1.2, "rss_mib": 35},
                   "floor": {"up": 2.0, "down": 0.6}},
        "verify": {"n": 50, "netplay": {"reachability": 0.3, "verify": 1.0, "pings": 2450},
                   "mininet": {"reachability": 4.0}},
        "help": {"seconds": 0.05},
    }
    got = {t["target"]: t["met"] for t in benchmark.targets(results)}
    assert got == {
        "linear:100 up+down within 2x the floor": True,  # 1.0 / 0.5
        "linear:100 at least 10x faster than Mininet": True,  # 14 / 1.0
        "linear:1000 up in under 10 s": False,
        "netplay peak RSS at 1000 nodes under 150 MB": False,
        "20 docker nodes within 1.5x parallel docker run (up+down)": True,  # 3.6 / 2.6
        "verify all pairs on linear:50 10x faster than pingall": True,  # 4.0 / 0.3
        "netplay --help under 0.3 s": True,
    }
    report = {"results": results, "targets": benchmark.targets(results)}
    text = benchmark.tables(report)
    assert "| linear:100 " in text and "MISSED" in text and "14.0x" in text


def test_options():
    args = benchmark.parse_args(["--sizes", "10,100", "--repeat", "3", "--skip-mininet"])
    assert args.sizes == [10, 100] and args.repeat == 3 and args.skip_mininet
    quick = benchmark.parse_args(["--quick", "--docker-nodes", "4"])
    assert quick.sizes == [3] and quick.verify_size == 3 and quick.docker_nodes == 4
    assert benchmark.parse_args([]).sizes == [10, 100, 500, 1000]
    with pytest.raises(SystemExit):
        benchmark.parse_args(["--sizes", "ten"])


def test_the_mininet_wrapper_can_never_run_mininets_pattern_cleanup():
    assert "mininet.clean.cleanup = _no_cleanup" in benchmark.MN_WRAPPER
    assert "refusing to run mn -c" in benchmark.MN_WRAPPER
    mn = shutil.which("mn")
    if mn is None:
        pytest.skip("Mininet is not installed (scripts/benchmark.sh installs it)")
    r = subprocess.run([benchmark.mn_python(mn), "-c", benchmark.MN_WRAPPER, mn, "-c"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "refusing to run mn -c" in r.stderr


@pytest.mark.root
def test_a_tiny_real_run_leaves_the_host_as_it_was(tmp_path, host_unchanged):
    out = tmp_path / "results.json"
    argv = [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--quick", "--settle", "0",
            "--json", str(out), "--no-lock"]  # the test already holds the lock
    if not shutil.which("mn"):
        argv.append("--skip-mininet")
    docker = benchmark.docker_usable() is None
    if not docker:
        argv.append("--skip-docker")
    env = dict(os.environ, NETPLAY_IMAGE=os.environ.get("NETPLAY_TEST_IMAGE", "netplay-busybox"))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "| linear:3 " in r.stdout and "netplay --help" in r.stdout
    report = json.loads(out.read_text())
    row = report["results"]["linear"][0]
    assert row["n"] == 3
    assert row["netplay"]["up"] > 0 and row["netplay"]["rss_mib"] > 5
    assert row["floor"]["processes_up"] == 5 and row["floor"]["up"] > 0
    if docker:
        assert report["results"]["docker"]["nodes"] == 2
    assert report["results"]["verify"]["netplay"]["pings"] == 6
    assert report["machine"]["nproc"] == os.cpu_count()
    if shutil.which("mn"):
        assert row["mininet"]["total"] > 0
        assert report["results"]["verify"]["mininet"]["pings"] == 6
