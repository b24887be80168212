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
        "verify_sizes": [{"n": 100, "netplay": {"verify": 0.9, "verify_no_ping": 0.5,
                                               "checks": 1500, "pings": 341,
                                               "reach_total": 9900}},
                         {"n": 1000, "netplay": {"verify": 11.0, "verify_no_ping": 6.0,
                                                "checks": 13337, "pings": 341,
                                                "reach_total": 999000}}],
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
        # the whole command, start-up and state reads too: 4.0 / 1.0
        "whole `verify --max-pings 0` on linear:50 10x faster than pingall": False,
        "verify linear:1000 (sampled pings) under 10 s": False,  # 11 s
        "netplay --help under 0.3 s": True,
    }
    report = {"results": results, "targets": benchmark.targets(results)}
    text = benchmark.tables(report)
    assert "| linear:100 " in text and "MISSED" in text and "14.0x" in text
    assert "| linear:1000 " in text and "341 of 999000" in text and "11.00 s" in text


def _placed(n, hosts, up, down, per_host):
    return {"n": n, "hosts": hosts, "up": up, "down": down, "rss_mib": 50.0,
            "per_host": per_host}


def _host(namespaces, up, down, ssh_up=None, ssh_down=None):
    return {"namespaces": namespaces, "commands_up": up, "commands_down": down,
            "ssh_up": ssh_up, "ssh_down": ssh_down,
            "connections_up": None if ssh_up is None else 1,
            "connections_down": None if ssh_down is None else 1}


def _hosts_results(up2=3.0, overhead=8.0):
    return {"sizes": [200], "host_counts": [1, 2, 4], "runs": [
        _placed(200, 1, 2.0, 1.0, {"local": _host(201, 1400, 201)}),
        _placed(200, 2, up2, 1.5, {"sim1": _host(100, 900, 100, 30, 3),
                                   "sim2": _host(101, 600, 101, 28, 3)}),
        _placed(200, 4, 5.0, 2.5, {f"sim{i}": _host(50, 400, 50, 20, 2)
                                   for i in range(1, 5)})],
        "ssh": benchmark.ssh_overhead_row(200, 0.2, 0.2 + overhead * 200 / 1000, 0.25)}


def test_ssh_overhead_is_the_difference_per_command():
    row = benchmark.ssh_overhead_row(100, 0.1, 1.3, 0.2)
    assert row["local_ms"] == pytest.approx(1.0) and row["ssh_ms"] == pytest.approx(13.0)
    assert row["overhead_ms"] == pytest.approx(12.0) and row["connect"] == 0.2


def test_hosts_targets_are_judged_on_the_issue_numbers():
    got = {t["target"]: (t["met"], t["measured"])
           for t in benchmark.targets({"linear": [], "hosts": _hosts_results()})}
    assert got == {"linear:200 up across 2 hosts within 2x one host": (True, "1.50x"),
                   "ssh overhead per command under 15 ms": (True, "8.0 ms")}
    got = {t["target"]: t["met"] for t in benchmark.targets(
        {"linear": [], "hosts": _hosts_results(up2=4.5, overhead=15.0)})}
    assert got == {"linear:200 up across 2 hosts within 2x one host": False,  # 2.25x
                   "ssh overhead per command under 15 ms": False}
    # without a one-host row (or a 2-host one) there is no ratio to judge
    partial = _hosts_results()
    partial["runs"] = partial["runs"][1:]
    partial["ssh"] = None
    assert benchmark.targets({"linear": [], "hosts": partial}) == []


def test_hosts_tables_put_figures_and_ratios_side_by_side():
    results = {"linear": [], "hosts": _hosts_results()}
    text = benchmark.tables({"results": results, "targets": benchmark.targets(results)})
    lines = text.splitlines()
    row2 = next(line for line in lines if "| 2 simulated hosts" in line)
    assert "3.00 s" in row2 and "1.50x" in row2 and "1500 / 201" in row2 and "58 / 6" in row2
    row1 = next(line for line in lines if "| this host" in line)
    assert "1.00x" in row1 and "1400 / 201" in row1 and "- / -" in row1
    sim2 = next(line for line in lines if "| linear:200 on 2 " in line and "| sim2 " in line)
    assert [cell.strip() for cell in sim2.strip("|").split("|")] == [
        "linear:200 on 2", "sim2", "101", "600", "101", "28", "3", "1 / 1"]
    assert "| 200 x `true` " in text and "8.00 ms" in text and "1.00 ms" in text
    assert "| netplay up " not in text  # no linear:N rows: no main table
    assert "MISSED" not in text


def test_log_counts_give_each_host_its_steps_and_teardown():
    data = {"steps": [
        {"argv": ["mkdir", "-p", "/var/run/netns"], "host": "sim1", "result": {"rc": 0}},
        {"argv": ["mkdir", "-p", "/var/run/netns"], "host": "sim2", "result": {"rc": 0}},
        {"argv": ["ip", "netns", "add", "h1"], "host": "sim1",
         "undo": ["ip", "netns", "delete", "h1"], "result": {"rc": 0}},
        {"argv": ["ip", "netns", "add", "h2"], "host": "sim2",
         "undo": ["ip", "netns", "delete", "h2"], "result": {"rc": 0}},
        {"argv": ["ip", "-n", "h2", "link", "set", "eth0", "up"], "host": "sim2",
         "result": {"rc": 0}},
        {"argv": ["ip", "netns", "add", "h3"], "host": "sim2",  # planned, never ran
         "undo": ["ip", "netns", "delete", "h3"]},
    ], "teardown": [
        {"argv": ["ip", "netns", "delete", "h2"], "rc": 0},
        {"argv": ["ip", "netns", "delete", "h1"], "rc": 0},
        {"argv": ["ip", "link", "delete", "x"], "rc": 1},  # no step's undo: host unknown
        {"argv": ["ip", "netns", "delete", "h9"], "rc": 0, "host": "sim2"},  # named: kept
    ]}
    assert benchmark.log_counts(data) == {
        "sim1": {"namespaces": 1, "commands_up": 2, "commands_down": 1},
        "sim2": {"namespaces": 2, "commands_up": 3, "commands_down": 2},
        "?": {"namespaces": 0, "commands_up": 0, "commands_down": 1}}
    # a one-machine lab: steps without a host are the local machine's
    assert benchmark.log_counts({"steps": [{"argv": ["true"], "result": {}}]}) == {
        "local": {"namespaces": 0, "commands_up": 1, "commands_down": 0}}


def test_ssh_stats_sum_each_hosts_connections(tmp_path):
    path = tmp_path / "stats.jsonl"
    assert benchmark.ssh_stats(str(path)) == {}
    path.write_text('{"host": "sim1", "commands": 3}\n{"host": "sim2", "commands": 5}\n'
                    '\n{"host": "sim1", "commands": 20}\n')
    assert benchmark.ssh_stats(str(path)) == {"sim1": {"commands": 23, "connections": 2},
                                              "sim2": {"commands": 5, "connections": 1}}


def test_the_counter_is_the_one_netplay_writes():
    from netplay.machine import ssh

    assert benchmark.SSH_STATS_ENV == ssh.STATS_ENV == "NETPLAY_SSH_STATS"


def test_hosts_file_maps_each_simulated_host(tmp_path):
    import yaml

    path = benchmark.write_hosts_file(str(tmp_path / "h.yaml"), ["sim1", "sim2"])
    assert yaml.safe_load(open(path)) == {"hosts": {"sim1": {"ssh": "sim1"},
                                                    "sim2": {"ssh": "sim2"}}}


def test_hosts_options():
    args = benchmark.parse_args([])
    assert args.hosts_sizes == [200] and args.host_counts == [1, 2, 4]
    assert args.ssh_commands == 200 and not args.skip_hosts and args.only is None
    assert args.json == benchmark.DEFAULT_JSON
    only = benchmark.parse_args(["--only", "hosts", "--host-counts", "1,2"])
    assert only.sizes == [] and only.skip_docker and only.skip_verify and only.skip_mininet
    assert only.host_counts == [1, 2] and only.json == benchmark.DEFAULT_HOSTS_JSON
    assert benchmark.parse_args(["--only", "hosts", "--json", "x.json"]).json == "x.json"
    only = benchmark.parse_args(["--only", "verify"])
    assert only.sizes == [] and only.skip_docker and only.skip_hosts and not only.skip_verify
    assert only.verify_sizes == [100, 1000] and only.json == benchmark.DEFAULT_VERIFY_JSON
    assert not only.skip_mininet  # the whole verify is compared with pingall
    assert benchmark.parse_args(["--verify-sizes", ""]).verify_sizes == []
    quick = benchmark.parse_args(["--quick"])
    assert quick.verify_sizes == [3]
    assert quick.hosts_sizes == [3] and quick.host_counts == [1, 2] and quick.ssh_commands == 20
    for bad in (["--host-counts", "0,2"], ["--host-counts", "two"], ["--hosts-sizes", "3",
                "--host-counts", "1,4"], ["--ssh-commands", "0"],
                ["--only", "hosts", "--skip-hosts"], ["--only", "docker"],
                ["--only", "verify", "--skip-verify"], ["--verify-sizes", "1"],
                ["--verify-sizes", "a"]):
        with pytest.raises(SystemExit):
            benchmark.parse_args(bad)


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
    sized = report["results"]["verify_sizes"][0]
    assert sized["n"] == 3 and sized["netplay"]["verify"] > 0
    assert sized["netplay"]["pings"] == sized["netplay"]["reach_total"] == 6
    assert "pairs pinged" in r.stdout and "| 6 of 6 " in r.stdout
    assert report["machine"]["nproc"] == os.cpu_count()
    if shutil.which("mn"):
        assert row["mininet"]["total"] > 0
        assert report["results"]["verify"]["mininet"]["pings"] == 6
    hosts = report["results"]["hosts"]
    if benchmark.hosts_usable() is None:  # linear:3 here and across 2 simulated hosts
        one, two = (benchmark.placed_row(hosts, 3, k) for k in (1, 2))
        assert one["up"] > 0 and set(one["per_host"]) == {"local"}
        assert one["per_host"]["local"]["namespaces"] == 4  # h1..h3, switches
        assert set(two["per_host"]) == {"sim1", "sim2"}
        assert sum(c["namespaces"] for c in two["per_host"].values()) == 4
        assert all(c["ssh_up"] > 0 and c["ssh_down"] > 0 and c["commands_up"] > 0
                   for c in two["per_host"].values())
        assert hosts["ssh"]["commands"] == 20 and hosts["ssh"]["ssh_ms"] > 0
        assert "| 2 simulated hosts " in r.stdout
