#!/usr/bin/env python3
"""netplay's benchmark: wall time up and down, and peak memory, side by side with the floor,
Mininet and plain `docker run`. Run it through `sudo scripts/benchmark.sh` (which installs
what it needs); `scripts/benchmark.py --help` lists the options. docs/performance.md says
what each number means.

Measured, for each size N of `linear:N` (Mininet's linear,N):

- netplay: `python -m netplay run linear:N` and `python -m netplay down linear-N`, each a
  child process; wall time, and peak RSS from os.wait4 (ru_maxrss: the largest of netplay's
  process and the children it waited for);
- the floor: the same plan (netplay's own planner) executed by the fewest processes
  iproute2 allows: one `ip -batch` per namespace (scripts/floor.py), timed per process so
  that the time of each phase (namespaces, veths, bridges and ports, node config) is known;
- Mininet: `mn --switch lxbr --controller none --topo linear,N --test none`, which builds
  and stops in one process: its total is compared with netplay's up + down.

Then 20 Docker nodes (netplay) against 20 `docker run -d --net=none` started at once;
netplay's verify (every pair pinged) against Mininet's `--test pingall` on linear:50: its
ping phase, and the whole `netplay verify --max-pings 0` command (start-up, state reads,
pings) against pingall's ping phase; `netplay verify` as a user runs it (sampled pings)
on linear:100 and linear:1000 (`--verify-sizes`; `--only verify` measures just these);
`netplay --help`; and loading and validating the largest generated labs
(leafspine:64,255,1 and linear:1000), which every command that reads such a lab pays
first (`--load-only` measures just that, without root).

Labs across hosts (`--only hosts` alone): linear:200 (`--hosts-sizes`) on this host and
placed with `--hosts` across 2 and 4 simulated hosts (`--host-counts`; tests/simhost.py,
started once per count, stopped afterwards): up and down, per host the steps its log
records and the commands sent over ssh (netplay's SshMachine counts them when
NETPLAY_SSH_STATS names a file); and the overhead of one command over ssh: K `true`s
through SshMachine on a simulated host against K through LocalMachine, divided by K.

Host safety: the whole run holds /run/netplay-tests.lock (the test suite takes it per
test), waits before each measurement until the kernel has finished the previous one's
background work, creates nothing whose name is already taken, and removes all it made,
even on failure: netplay labs with `netplay down`, simulated hosts stopped (by PID), the
floor with its own teardown, containers by exact name, the one iptables rule it inserts
around Mininet runs, and any device a Mininet run left behind, by exact name. Mininet runs with its pattern-based
cleanup (`mn -c`) disabled: an error inside mn would otherwise run it.
"""

import argparse
import ctypes
import fcntl
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (REPO, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)

import floor  # noqa: E402  (scripts/floor.py)
from netplay.load import builtins as netplay_builtins  # noqa: E402
from netplay.plan import build as netplay_plan  # noqa: E402

LOCK = "/run/netplay-tests.lock"
NETNS_DIR = "/var/run/netns"
DEFAULT_SIZES = (10, 100, 500, 1000)
DEFAULT_JSON = os.path.join(REPO, "benchmarks", "results.json")
DEFAULT_HOSTS_JSON = os.path.join(REPO, "benchmarks", "results-hosts.json")  # --only hosts
DEFAULT_VERIFY_JSON = os.path.join(REPO, "benchmarks", "results-verify.json")  # --only verify
DEFAULT_VERIFY_SIZES = (100, 1000)
DEFAULT_HOSTS_SIZES = (200,)
DEFAULT_HOST_COUNTS = (1, 2, 4)  # 1: this host, no `hosts:`; more: simulated hosts
DEFAULT_SSH_COMMANDS = 200
TESTS = os.path.join(REPO, "tests")  # tests/simhost.py: the simulated hosts
SSHD = "/usr/sbin/sshd"
# netplay/machine/ssh.py: with this set to a file, each SshMachine.close() appends a JSON
# line {"host": NAME, "commands": N}, N the commands it ran (one ssh session each)
SSH_STATS_ENV = "NETPLAY_SSH_STATS"
IMAGE = os.environ.get("NETPLAY_IMAGE") or "netplay-busybox"
BENCH_LABEL = "netplay-benchmark=1"  # on the floor's containers
DOCKER_LAB = "npbench"  # the lab of netplay's docker nodes; nodes npbench1..npbenchK
FLOOR_CONTAINER = "netplay-benchmark-{}"
RULE = ["FORWARD", "-i", "s+", "-o", "s+", "-m", "comment", "--comment", "netplay-benchmark",
        "-j", "ACCEPT"]
MININET_DEVICE = re.compile(r"^(s\d+|s\d+-eth\d+|h\d+-eth\d+)$")

# Mininet's `mn` runs its pattern-based cleanup (the code of `mn -c`: kills processes and
# deletes devices by name) after any exception or Ctrl-C. This runs the same mn script with
# that cleanup replaced by a note; the benchmark removes exactly what a run left.
MN_WRAPPER = r"""
import runpy, sys
import mininet.clean
def _no_cleanup(*args, **kwargs):
    print("netplay-benchmark: Mininet's pattern cleanup (mn -c) is disabled; "
          "the benchmark removes what this run left, by exact name", file=sys.stderr)
mininet.clean.cleanup = _no_cleanup
mininet.clean.Cleanup.cleanup = classmethod(lambda cls, *a, **k: _no_cleanup())
mn = sys.argv[1]
sys.argv = ["mn"] + sys.argv[2:]
if "-c" in sys.argv or "--clean" in sys.argv:
    sys.exit("netplay-benchmark: refusing to run mn -c")
runpy.run_path(mn, run_name="__main__")
"""


def log(message):
    print(f"benchmark: {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A measurement that cannot go on; the run stops after cleaning up."""


# --- processes ------------------------------------------------------------------------------


class Timed:
    def __init__(self, argv, rc, seconds, maxrss_kb, output, timed_out):
        self.argv, self.rc, self.seconds = argv, rc, seconds
        self.maxrss_kb, self.output, self.timed_out = maxrss_kb, output, timed_out

    def check(self, what):
        if self.timed_out:
            raise BenchError(f"{what}: timed out after {self.seconds:.0f} s")
        if self.rc != 0:
            tail = "\n".join(self.output.strip().splitlines()[-8:])
            raise BenchError(f"{what}: `{' '.join(self.argv)}` exited {self.rc}:\n{tail}")
        return self


def timed(argv, env=None, timeout=None, stop_signal=signal.SIGTERM, grace=600,
          new_session=False):
    """Run argv as a child; wall time, and ru_maxrss from os.wait4 (KB). On timeout, or
    when the benchmark itself is interrupted, the child gets stop_signal (netplay rolls
    back on SIGTERM), then SIGKILL after `grace` seconds."""
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=new_session)
        fired = threading.Event()
        done = threading.Event()

        def stop():
            for sig in (stop_signal, signal.SIGKILL):
                if done.is_set():
                    return
                try:
                    os.kill(proc.pid, sig)
                except ProcessLookupError:
                    return
                done.wait(grace)

        def on_timeout():
            fired.set()
            stop()

        timer = threading.Timer(timeout, on_timeout) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: stop the child, wait for it, go on unwinding
            stopper = threading.Thread(target=stop, daemon=True)
            stopper.start()
            with held_signals():
                try:
                    os.wait4(proc.pid, 0)
                except ChildProcessError:
                    pass
            raise
        finally:
            done.set()
            if timer:
                timer.cancel()
        seconds = time.monotonic() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    return Timed(argv, proc.returncode, seconds, usage.ru_maxrss, text, fired.is_set())


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: unwind like Ctrl-C, so that every cleanup runs."""


def _interrupt(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


@contextmanager
def held_signals():
    """Ignore SIGINT, SIGTERM and SIGHUP while cleaning up (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def quiet(argv, **kwargs):
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def ip_links():
    out = quiet(["ip", "-j", "link", "show"]).stdout
    return {link["ifname"] for link in json.loads(out or "[]")}


def netns_names():
    try:
        return set(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return set()


def containers():
    out = quiet(["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout
    return set(out.split())


# --- the host's state -------------------------------------------------------------------------


def _kernel_ticks():
    """(kernel ticks: system + irq + softirq, all ticks) from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[2] + fields[5] + fields[6], sum(fields)


def _netns_work():
    """Kernel workers running namespace cleanup now (their name says `+netns` while they do)."""
    busy = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read()
            except OSError:
                continue
            busy += name.startswith("kworker") and "+netns" in name
    return busy


def settle(limit, window=0.5, needed=4, share=0.2):
    """Wait until the kernel is done with earlier work (deleted namespaces are cleaned up in
    the background; new interfaces send IPv6 chatter for seconds): no namespace cleanup
    running and kernel CPU under `share` for `needed` windows in a row, or `limit` seconds.
    Returns (seconds waited, settled)."""
    start = time.monotonic()
    calm = 0
    k0, t0 = _kernel_ticks()
    while time.monotonic() - start < limit:
        time.sleep(window)
        k1, t1 = _kernel_ticks()
        busy = (k1 - k0) / max(1, t1 - t0)
        k0, t0 = k1, t1
        calm = calm + 1 if busy < share and not _netns_work() else 0
        if calm >= needed:
            return round(time.monotonic() - start, 1), True
    return round(time.monotonic() - start, 1), False


def loadavg():
    with open("/proc/loadavg") as f:
        return [float(x) for x in f.read().split()[:3]]


def machine_info():
    def first(argv):
        """The first line a version command prints, or None when it fails (no daemon)."""
        try:
            result = quiet(argv, timeout=20)
            if result.returncode != 0:
                return None
            return (result.stdout.strip() or result.stderr.strip()).splitlines()[0]
        except Exception:
            return None

    mem_kb = None
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mn = shutil.which("mn")
    return {
        "nproc": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1) if mem_kb else None,
        "kernel": platform.release(), "machine": platform.machine(), "cpu": cpu,
        "python": platform.python_version(), "iproute2": first(["ip", "-V"]),
        "mininet": first([mn, "--version"]) if mn else None,
        "docker": first(["docker", "version", "--format", "{{.Server.Version}}"])
        if shutil.which("docker") else None,
    }


# --- netplay ----------------------------------------------------------------------------------


class Netplay:
    """netplay run as the user runs it: `python -m netplay ...`, a private state dir."""

    def __init__(self, state_dir, timeout):
        # as `sudo netplay` runs: sudo drops PYTHONDONTWRITEBYTECODE, so Python caches the
        # compiled modules; they are compiled once here, before anything is timed
        self.env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        quiet([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "netplay")],
              env=self.env)
        self.timeout = timeout
        self.labs = []  # labs this run may have left up
        self.lab_env = {}  # lab: the extra environment its commands need (its hosts' ssh)

    def __call__(self, *args, timeout=None, env=None):
        argv = [sys.executable, "-m", "netplay", *args]
        return timed(argv, env=dict(self.env, **(env or {})), timeout=timeout or self.timeout)

    def up(self, topology, lab, *options, env=None):
        self.labs.append(lab)
        self.lab_env[lab] = dict(env or {})
        return self("run", topology, "-q", *options, env=env).check(f"netplay run {topology}")

    def down(self, lab, env=None):
        result = self("down", lab, "-q", env=env).check(f"netplay down {lab}")
        self.labs.remove(lab)
        return result

    def cleanup(self):
        for lab in list(self.labs):
            env = {k: v for k, v in self.lab_env.get(lab, {}).items() if k != SSH_STATS_ENV}
            result = self("down", lab, "-q", timeout=3600, env=env)
            if result.rc != 0 and "no lab named" not in result.output:
                log(f"cleanup: netplay down {lab} failed: {result.output.strip()}")
            self.labs.remove(lab)


def linear_namespaces(n):
    return {"switches"} | {f"h{i}" for i in range(1, n + 1)}


def require_free(n):
    taken = sorted(linear_namespaces(n) & netns_names())
    if taken:
        raise BenchError(f"linear:{n} needs namespaces that already exist: "
                         f"{', '.join(taken[:8])}{' ...' if len(taken) > 8 else ''}; "
                         "remove them or choose other sizes")


LOAD_SPECS = ("leafspine:64,255,1", "linear:1000")
LOAD_CODE = ("import sys, time\n"
             "from netplay.load import builtins\n"
             "start = time.perf_counter()\n"
             "builtins.load(sys.argv[1])\n"
             "print(time.perf_counter() - start)\n")


def measure_load(spec, runs, env=None):
    """Load and validate a built-in topology in a fresh process (imports not counted):
    the median of `runs` runs, in seconds."""
    times = []
    for _ in range(runs):
        result = quiet([sys.executable, "-c", LOAD_CODE, spec], env=env, timeout=600)
        if result.returncode != 0:
            raise BenchError(f"loading {spec} failed: {result.stderr.strip()[-300:]}")
        times.append(float(result.stdout.split()[-1]))
    return {"topology": spec, "seconds": statistics.median(times), "runs": runs}


def measure_loads(runs, env=None):
    out = []
    for spec in LOAD_SPECS:
        out.append(measure_load(spec, runs, env))
        log(f"load+validate {spec}: {out[-1]['seconds']:.3f} s (median of {runs})")
    return out


def measure_netplay(netplay, n):
    require_free(n)
    lab = f"linear-{n}"
    up = netplay.up(f"linear:{n}", lab)
    down = netplay.down(lab)
    return {"up": up.seconds, "down": down.seconds,
            "rss_mib": max(up.maxrss_kb, down.maxrss_kb) / 1024,
            "rss_up_mib": up.maxrss_kb / 1024, "rss_down_mib": down.maxrss_kb / 1024}


# --- the floor --------------------------------------------------------------------------------


def measure_floor(n):
    require_free(n)
    steps = netplay_plan.plan(netplay_builtins.load(f"linear:{n}"))
    build, teardown = floor.build_processes(steps), floor.teardown_processes(steps)
    timings = []
    try:
        up, procs_up = floor.run(build, timings)
    except subprocess.CalledProcessError as err:
        raise BenchError(f"floor linear:{n}: `{' '.join(err.cmd)}` failed: "
                         f"{(err.stderr or '').strip()[-500:]}") from None
    finally:
        with held_signals():
            down_start = time.monotonic()
            for argv, stdin in teardown:  # always, even after a failure: -force goes on
                quiet(argv, input=stdin)
            down = time.monotonic() - down_start
    phases = {}
    for process, seconds in timings:
        entry = phases.setdefault(floor.phase(process), {"seconds": 0.0, "processes": 0})
        entry["seconds"] += seconds
        entry["processes"] += 1
    return {"up": up, "down": down, "processes_up": procs_up,
            "processes_down": len(teardown), "phases": phases}


# --- Mininet ----------------------------------------------------------------------------------


def _set_subreaper():
    """Orphans of the processes we start (Mininet's detached host shells) become our
    children, so that a killed mn leaves nothing we cannot find by PID."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _our_orphans(known=()):
    me, out = os.getpid(), []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in known:
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == me:
            out.append(int(pid))
    return out


@contextmanager
def forward_rule(notes):
    """Mininet's lxbr bridges live in the root namespace, where Docker's FORWARD policy
    DROP drops bridged frames: our own ACCEPT rule around each Mininet run, and exactly
    that rule deleted afterwards."""
    if not shutil.which("iptables"):
        yield
        return
    quiet(["iptables", "-I", *RULE], check=True)
    note = ("Mininet ran with `iptables -I " + " ".join(RULE) + "` inserted (Docker's FORWARD "
            "policy DROP would drop its bridged frames), deleted after each run")
    if note not in notes:
        notes.append(note)
    try:
        yield
    finally:
        with held_signals():
            if quiet(["iptables", "-D", *RULE]).returncode != 0:
                log("cleanup: the benchmark's iptables rule was already gone")


def mn_python(mn):
    """The interpreter of the mn script (its #! line): Mininet's modules are installed
    for that Python (Debian: /usr/bin/python3), not for netplay's virtualenv."""
    try:
        with open(mn, "rb") as f:
            line = f.readline().decode(errors="replace").strip()
    except OSError:
        line = ""
    words = line[2:].split() if line.startswith("#!") else []
    if words and os.path.basename(words[0]) == "env" and len(words) > 1:
        return shutil.which(words[1]) or "/usr/bin/python3"
    return words[0] if words else "/usr/bin/python3"


class Mininet:
    def __init__(self, timeout, notes):
        self.mn = shutil.which("mn")
        self.timeout = timeout
        self.notes = notes

    def run(self, n, test):
        """One `mn --switch lxbr --controller none --topo linear,N --test TEST`: total time
        (build, test, stop) and its output; whatever it left is removed by exact name."""
        taken = sorted(name for name in ip_links()
                       if MININET_DEVICE.match(name) and int(re.findall(r"\d+", name)[0]) <= n)
        if taken:
            raise BenchError(f"Mininet linear,{n} needs device names already in use: "
                             f"{', '.join(taken[:8])}")
        before = ip_links()
        argv = [mn_python(self.mn), "-c", MN_WRAPPER, self.mn, "--switch", "lxbr",
                "--controller", "none", "--topo", f"linear,{n}", "--test", test]
        with forward_rule(self.notes):
            try:
                # its own session: a signal to the benchmark's group does not reach it; we
                # stop it with SIGKILL, since mn's own handlers would run its pattern cleanup
                result = timed(argv, timeout=self.timeout, stop_signal=signal.SIGKILL,
                               grace=10, new_session=True)
            finally:
                with held_signals():
                    self._remove_leftovers(before)
        result.argv = ["mn", *argv[4:]]
        if result.timed_out:
            return None
        return result.check(f"mn --topo linear,{n} --test {test}")

    def _remove_leftovers(self, before):
        for pid in _our_orphans():
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
            log(f"cleanup: killed process {pid} that a Mininet run left")
        left = sorted(name for name in ip_links() - before if MININET_DEVICE.match(name))
        if left:  # exact names; a veth's peer goes with it, so -force goes past "not found"
            quiet(["ip", "-force", "-batch", "-"],
                  input="".join(f"link delete {name}\n" for name in left))
        if left:
            log(f"cleanup: deleted {len(left)} devices a Mininet run left: {', '.join(left[:8])}")
            self.notes.append(f"a Mininet run left {len(left)} devices; deleted by exact name")


# --- Docker -----------------------------------------------------------------------------------


def docker_usable():
    if not shutil.which("docker"):
        return "the docker CLI is not installed"
    if quiet(["docker", "info"], timeout=30).returncode != 0:
        return "no Docker daemon answers `docker info`"
    if quiet(["docker", "image", "inspect", IMAGE]).returncode != 0:
        return f"image {IMAGE} is missing (scripts/build-image.sh builds it)"
    return None


def docker_topology(path, count):
    import yaml

    nodes = {f"{DOCKER_LAB}{i}": {"kind": "docker"} for i in range(1, count + 1)}
    with open(path, "w") as f:
        yaml.safe_dump({"name": DOCKER_LAB, "nodes": nodes}, f)
    return list(nodes)


def measure_docker_netplay(netplay, path, names):
    taken = sorted((set(names) & containers()) | (set(names) & netns_names()))
    if taken:
        raise BenchError(f"container or namespace names already in use: {', '.join(taken)}")
    up = netplay.up(path, DOCKER_LAB, "--runtime", "docker", "--image", IMAGE)
    down = netplay.down(DOCKER_LAB)
    return {"up": up.seconds, "down": down.seconds,
            "rss_mib": max(up.maxrss_kb, down.maxrss_kb) / 1024}


def measure_docker_floor(count):
    names = [FLOOR_CONTAINER.format(i) for i in range(1, count + 1)]
    taken = sorted(set(names) & containers())
    if taken:
        raise BenchError(f"container names already in use: {', '.join(taken)}")

    def start(name):
        return quiet(["docker", "run", "-d", "--net=none", f"--name={name}", "--label",
                      BENCH_LABEL, IMAGE, "sleep", "infinity"])

    def remove(name):
        return quiet(["docker", "rm", "-f", name])

    started = False
    try:
        with ThreadPoolExecutor(max_workers=count) as pool:
            t0 = time.monotonic()
            started = True
            runs = list(pool.map(start, names))
            up = time.monotonic() - t0
            failed = [r for r in runs if r.returncode != 0]
            if failed:
                raise BenchError(f"docker run failed: {failed[0].stderr.strip()}")
            t0 = time.monotonic()
            list(pool.map(remove, names))
            down = time.monotonic() - t0
    finally:
        if started:
            with held_signals():  # exactly our names that carry our label
                ours = set(quiet(["docker", "ps", "-a", "--filter", f"label={BENCH_LABEL}",
                                  "--format", "{{.Names}}"]).stdout.split())
                for name in sorted(set(names) & ours):
                    remove(name)
    return {"up": up, "down": down}


# --- labs across hosts ------------------------------------------------------------------------


def hosts_usable():
    """None when simulated hosts can be started here, else why not."""
    missing = [p for p in ("ssh", "ssh-keygen", "unshare", "nsenter") if not shutil.which(p)]
    if not os.access(SSHD, os.X_OK):
        missing.append(f"{SSHD} (Debian's openssh-server; scripts/setup.sh installs it)")
    if not os.path.exists(os.path.join(TESTS, "simhost.py")):
        missing.append("tests/simhost.py")
    return f"missing: {', '.join(missing)}" if missing else None


def write_hosts_file(path, names):
    """A --hosts FILE placing a lab onto the simulated hosts names (ssh config Hosts)."""
    with open(path, "w") as f:
        f.write("hosts:\n" + "".join(f"  {name}: {{ssh: {name}}}\n" for name in names))
    return path


def ssh_stats(path):
    """{host: {"commands": N, "connections": C}} from the JSON lines netplay's SshMachines
    appended to path (SSH_STATS_ENV) as they closed: N the commands run over ssh (each one
    ssh session through the host's ControlMaster), C the SshMachines (connections) made."""
    out = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        if line.strip():
            entry = json.loads(line)
            host = out.setdefault(str(entry["host"]), {"commands": 0, "connections": 0})
            host["commands"] += int(entry["commands"])
            host["connections"] += 1
    return out


def log_counts(data):
    """{host: {"namespaces", "commands_up", "commands_down"}} from a lab's step log after
    `run` and `down`: the namespaces made on each host, the steps each host ran (each step
    names its host), and its teardown commands. Teardown entries name no host: each is
    given the host of the step whose undo it is (when one host only has such a step)."""
    per, undone_on = {}, {}

    def entry(host):
        return per.setdefault(host, {"namespaces": 0, "commands_up": 0, "commands_down": 0})

    for step in data.get("steps") or []:
        host = str(step.get("host", "local"))
        counts = entry(host)
        if "result" in step:
            counts["commands_up"] += 1
        if list(step.get("argv") or [])[:3] == ["ip", "netns", "add"]:
            counts["namespaces"] += 1
        if step.get("undo"):
            undone_on.setdefault(json.dumps(step["undo"]), set()).add(host)
    for done in data.get("teardown") or []:
        host = done.get("host")
        if host is None:
            hosts = undone_on.get(json.dumps(done.get("argv")), set())
            host = next(iter(hosts)) if len(hosts) == 1 else "?"
        entry(str(host))["commands_down"] += 1
    return per


def read_lab_log(state, lab):
    with open(os.path.join(state, "labs", lab, "log.json")) as f:
        return json.load(f)


def measure_placed(netplay, state, n, count, hosts_path=None, ssh_config=None):
    """linear:N up and down: on this host (count 1), else placed onto count simulated hosts
    with --hosts; wall time, peak RSS, and per host the steps and the ssh commands."""
    lab = f"linear-{n}"
    env, options = {}, ()
    if count == 1:
        require_free(n)
    else:
        env, options = {"NETPLAY_SSH_CONFIG": ssh_config}, ("--hosts", hosts_path)
    stats = tempfile.mkdtemp(prefix="ssh-stats-", dir=state)
    stats_up, stats_down = os.path.join(stats, "up.jsonl"), os.path.join(stats, "down.jsonl")
    up = netplay.up(f"linear:{n}", lab, *options, env=dict(env, **{SSH_STATS_ENV: stats_up}))
    down = netplay.down(lab, env=dict(env, **{SSH_STATS_ENV: stats_down}))
    counts = log_counts(read_lab_log(state, lab))
    ssh_up, ssh_down = ssh_stats(stats_up), ssh_stats(stats_down)
    shutil.rmtree(stats, ignore_errors=True)
    per_host = {}
    for host, c in sorted(counts.items()):
        remote = count > 1 and host != "local"
        per_host[host] = dict(c, **{
            "ssh_up": ssh_up.get(host, {}).get("commands", 0) if remote else None,
            "ssh_down": ssh_down.get(host, {}).get("commands", 0) if remote else None,
            "connections_up": ssh_up.get(host, {}).get("connections", 0) if remote else None,
            "connections_down": ssh_down.get(host, {}).get("connections", 0) if remote
            else None})
    return {"up": up.seconds, "down": down.seconds,
            "rss_mib": max(up.maxrss_kb, down.maxrss_kb) / 1024, "per_host": per_host}


def measure_ssh_overhead(name, ssh_config, k):
    """K trivial commands (`true`) through netplay's LocalMachine and through its
    SshMachine on a simulated host (its ControlMaster opened first, as netplay's connect
    does): the overhead of a command over ssh is the difference over K."""
    from netplay.machine.local import LocalMachine
    from netplay.machine.ssh import SshMachine

    def run_k(machine):
        start = time.perf_counter()
        for _ in range(k):
            rc, _, err = machine.run(["true"])
            if rc != 0:
                raise BenchError(f"`true` on {machine.host} exited {rc}: {err.strip()}")
        return time.perf_counter() - start

    local = LocalMachine()
    local.run(["true"])  # plumbum imported, `true` found: as for the remote's first command
    local_seconds = run_k(local)
    start = time.perf_counter()
    remote = SshMachine(name, name, ssh_config=ssh_config)
    try:
        remote.euid()
        connect = time.perf_counter() - start
        ssh_seconds = run_k(remote)
    finally:
        with held_signals():
            remote.close()
    return ssh_overhead_row(k, local_seconds, ssh_seconds, connect)


def ssh_overhead_row(k, local_seconds, ssh_seconds, connect=None):
    return {"commands": k, "local": local_seconds, "ssh": ssh_seconds, "connect": connect,
            "local_ms": local_seconds / k * 1000, "ssh_ms": ssh_seconds / k * 1000,
            "overhead_ms": (ssh_seconds - local_seconds) / k * 1000}


def _reap_exited_children():
    """ssh ControlMasters (daemons) that netplay started end as the benchmark's children
    (it is a subreaper): collect those that have exited (zombies), by PID."""
    for pid in _our_orphans():
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


@contextmanager
def simulated_hosts(count, keys, netplay):
    """count simulated hosts (tests/simhost.py); afterwards, even on failure, every lab
    still up is taken down (while its hosts answer) and the hosts are stopped."""
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    import simhost

    sims = None
    try:
        log(f"starting {count} simulated hosts")
        sims = simhost.start(count, keys)
        yield sims
    finally:
        with held_signals():
            netplay.cleanup()
            if sims is not None:
                sims.stop()
                log(f"stopped the {count} simulated hosts")
            _reap_exited_children()


def measure_hosts(args, netplay, state, settles):
    """linear:N on this host and placed across simulated hosts (started once per host
    count, stopped afterwards); the overhead of one command over ssh."""
    if TESTS not in sys.path:
        sys.path.insert(0, TESTS)
    import simhost

    out = {"sizes": list(args.hosts_sizes), "host_counts": list(args.host_counts),
           "runs": [], "ssh": None}
    keys = simhost.make_keys(tempfile.mkdtemp(prefix="npsim-keys-", dir=state))

    def overhead(sims):
        log(f"ssh overhead: {args.ssh_commands} x `true`, local and on {sims[0].name}")
        out["ssh"] = repeated(args.repeat, args.settle, lambda: measure_ssh_overhead(
            sims[0].name, sims.ssh_config, args.ssh_commands), settles)
        log(f"ssh overhead: {out['ssh']['overhead_ms']:.2f} ms per command "
            f"({out['ssh']['ssh_ms']:.2f} ms over ssh, {out['ssh']['local_ms']:.2f} ms local)")

    for count in args.host_counts:
        if count == 1:
            for n in args.hosts_sizes:
                log(f"linear:{n} on this host")
                row = repeated(args.repeat, args.settle,
                               lambda: measure_placed(netplay, state, n, 1), settles)
                out["runs"].append(dict({"n": n, "hosts": 1}, **row))
                log(f"linear:{n} on this host: up {row['up']:.2f} s, down {row['down']:.2f} s")
            continue
        with simulated_hosts(count, keys, netplay) as sims:
            path = write_hosts_file(os.path.join(state, f"hosts-{count}.yaml"),
                                    [sim.name for sim in sims])
            for n in args.hosts_sizes:
                log(f"linear:{n} across {count} simulated hosts")
                row = repeated(args.repeat, args.settle, lambda: measure_placed(
                    netplay, state, n, count, path, sims.ssh_config), settles)
                out["runs"].append(dict({"n": n, "hosts": count}, **row))
                log(f"linear:{n} across {count} hosts: up {row['up']:.2f} s, "
                    f"down {row['down']:.2f} s")
            if out["ssh"] is None:
                overhead(sims)
    if out["ssh"] is None:  # no count above 1: one simulated host for the overhead alone
        with simulated_hosts(1, keys, netplay) as sims:
            overhead(sims)
    return out


# --- the run ----------------------------------------------------------------------------------


def median_of(runs):
    """The median of each number over the runs (nested dicts: each number separately)."""
    first = runs[0]
    if isinstance(first, dict):
        return {k: median_of([r[k] for r in runs]) for k in first}
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return statistics.median(runs)
    return first


def repeated(k, settle_limit, measure, settled_log):
    runs = []
    for _ in range(k):
        waited, ok = settle(settle_limit)
        settled_log.append({"waited": waited, "settled": ok})
        runs.append(measure())
    return median_of(runs)


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def fmt(seconds):
    if seconds is None:
        return "-"
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:.0f} s"


def fmt_ratio(value):
    return "-" if value is None else f"{value:.2f}x" if value < 10 else f"{value:.1f}x"


def run_benchmark(args):
    notes, settles = [], []
    results = {"linear": [], "docker": None, "verify": None, "verify_sizes": None,
               "help": None, "load": None, "hosts": None}
    state = tempfile.mkdtemp(prefix="netplay-benchmark-")
    netplay = Netplay(state, args.timeout)
    mininet = None
    if not args.skip_mininet:
        mininet = Mininet(args.mininet_timeout, notes)
        if not mininet.mn:
            notes.append("Mininet is not installed (Debian package mininet; "
                         "scripts/benchmark.sh installs it): its columns are empty")
            mininet = None
    try:
        if not args.only:  # netplay --help, load and validate
            helps = []
            waited, ok = settle(args.settle)  # a start-up time means little on a busy kernel
            settles.append({"waited": waited, "settled": ok})
            for _ in range(args.help_runs):
                helps.append(netplay("--help").check("netplay --help").seconds)
            results["help"] = {"seconds": statistics.median(helps), "runs": len(helps)}
            log(f"netplay --help: {results['help']['seconds']:.3f} s (median of {len(helps)})")
            results["load"] = measure_loads(args.help_runs, netplay.env)

        for n in args.sizes:
            row = {"n": n}
            log(f"linear:{n}: netplay")
            row["netplay"] = repeated(args.repeat, args.settle, lambda: measure_netplay(
                netplay, n), settles)
            log(f"linear:{n}: netplay up {row['netplay']['up']:.2f} s, "
                f"down {row['netplay']['down']:.2f} s; floor")
            row["floor"] = repeated(args.repeat, args.settle, lambda: measure_floor(n), settles)
            log(f"linear:{n}: floor up {row['floor']['up']:.2f} s, "
                f"down {row['floor']['down']:.2f} s")
            if mininet and n in args.mininet_sizes:
                log(f"linear:{n}: Mininet")

                def mininet_once():
                    result = mininet.run(n, "none")
                    return {"total": result.seconds if result else None}

                row["mininet"] = repeated(args.repeat, args.settle, mininet_once, settles)
                if row["mininet"]["total"] is None:
                    row["mininet"]["timeout"] = args.mininet_timeout
                    notes.append(f"Mininet linear,{n} did not finish within "
                                 f"--mininet-timeout {args.mininet_timeout:.0f} s")
                log(f"linear:{n}: Mininet build+stop {fmt(row['mininet']['total'])}")
            elif mininet:
                notes.append(f"Mininet not run at linear:{n} (--mininet-sizes)")
            results["linear"].append(row)

        if not args.skip_verify:
            with neighbour_room(2 * args.verify_size * (args.verify_size - 1), notes):
                results["verify"] = measure_verify_all(netplay, mininet, args, settles)
            results["verify_sizes"] = [measure_verify_size(netplay, n, args, settles)
                                       for n in args.verify_sizes]

        if not args.skip_docker:
            reason = docker_usable()
            if reason:
                notes.append(f"Docker measurements skipped: {reason}")
            else:
                k = args.docker_nodes
                log(f"{k} docker nodes: netplay")
                path = os.path.join(state, "docker.yaml")
                names = docker_topology(path, k)
                docker = {"nodes": k}
                docker["netplay"] = repeated(args.repeat, args.settle, lambda: (
                    measure_docker_netplay(netplay, path, names)), settles)
                log(f"{k} docker nodes: docker run floor")
                docker["floor"] = repeated(args.repeat, args.settle,
                                           lambda: measure_docker_floor(k), settles)
                results["docker"] = docker
                log(f"docker: {docker}")

        if not args.skip_hosts:
            reason = hosts_usable()
            if reason:
                notes.append(f"labs across hosts not measured: {reason}")
            else:
                results["hosts"] = measure_hosts(args, netplay, state, settles)
    finally:
        with held_signals():
            netplay.cleanup()
            shutil.rmtree(state, ignore_errors=True)
    unsettled = [s for s in settles if not s["settled"]]
    if unsettled:
        notes.append(f"{len(unsettled)} of {len(settles)} measurements started before the "
                     f"kernel was idle (waited the --settle limit, {args.settle} s)")
    return results, notes, settles


def verify_twice(netplay, n, args, *options):
    """linear:N up, settled, then `netplay verify --no-ping` and `netplay verify OPTIONS`
    (each --json), then down: (the state-only run, the full run, the full run's JSON)."""
    lab = f"linear-{n}"
    netplay.up(f"linear:{n}", lab)
    try:
        settle(args.settle)
        state_only = netplay("verify", lab, "--no-ping", "--json")
        full = netplay("verify", lab, *options, "--json")
    finally:
        netplay.down(lab)
    data = json.loads(full.output[full.output.index("{"):]) if "{" in full.output else {}
    if full.rc != 0 or not data.get("ok"):
        raise BenchError(f"netplay verify {lab} failed (rc {full.rc}): "
                         f"{full.output.strip()[-500:]}")
    return state_only, full, data


def measure_verify_all(netplay, mininet, args, settles):
    """`netplay verify --max-pings 0` (and --no-ping) on linear:N against Mininet's
    `--test pingall` (and `--test none`) on linear,N."""
    v = args.verify_size
    log(f"verify on linear:{v}")
    require_free(v)

    def verify_once():
        state_only, full, data = verify_twice(netplay, v, args, "--max-pings", "0")
        pings = data.get("pings") or {}
        return {"verify": full.seconds, "verify_no_ping": state_only.seconds,
                "reachability": max(0.0, full.seconds - state_only.seconds),
                "pings": pings.get("reach", 0)}

    result = {"n": v, "netplay": repeated(args.repeat, args.settle, verify_once, settles)}
    if mininet:
        def pingall_once():
            none = mininet.run(v, "none")
            settle(args.settle)
            full = mininet.run(v, "pingall")
            if none is None or full is None:
                raise BenchError(f"Mininet linear,{v} timed out")
            found = re.search(r"Results: (\d+)% dropped \((\d+)/(\d+) received\)",
                              full.output)
            if not found or found.group(1) != "0":
                raise BenchError(f"Mininet pingall on linear,{v} did not reach every "
                                 f"pair: {found.group(0) if found else full.output[-300:]}")
            return {"none": none.seconds, "pingall": full.seconds,
                    "reachability": max(0.0, full.seconds - none.seconds),
                    "pings": int(found.group(3))}

        with host_limits_restored():  # before netplay's verify runs that follow read them
            result["mininet"] = repeated(args.repeat, args.settle, pingall_once, settles)
    log(f"verify: {result}")
    return result


GC_THRESH = "/proc/sys/net/ipv4/neigh/default/gc_thresh{}"

# What Mininet's `mn` raises on the host at every start (mininet.util.fixLimits), for good:
# the benchmark puts each back as it found it.
MININET_SYSCTLS = ("net/core/wmem_max", "net/core/rmem_max", "net/ipv4/tcp_rmem",
                   "net/ipv4/tcp_wmem", "net/core/netdev_max_backlog", "fs/file-max",
                   "net/ipv4/neigh/default/gc_thresh1", "net/ipv4/neigh/default/gc_thresh2",
                   "net/ipv4/neigh/default/gc_thresh3", "net/ipv4/route/max_size",
                   "kernel/pty/max")


@contextmanager
def host_limits_restored():
    """Every sysctl Mininet raises, read before the run and written back after it."""
    saved = {}
    for key in MININET_SYSCTLS:
        try:
            with open(f"/proc/sys/{key}") as f:
                saved[key] = f.read().strip()
        except OSError:
            pass
    try:
        yield
    finally:
        for key, value in saved.items():
            try:
                with open(f"/proc/sys/{key}") as f:
                    if f.read().strip() == value:
                        continue
                with open(f"/proc/sys/{key}", "w") as f:
                    f.write(value)
                log(f"restored {key.replace('/', '.')} to {value!r} (Mininet raised it)")
            except OSError as err:
                log(f"could not restore {key}: {err}")


@contextmanager
def neighbour_room(entries, notes):
    """The kernel's neighbour table (one for all namespaces) raised to hold `entries` more
    than it may already hold, for a measurement that pings every pair (each ping adds an
    entry at both ends; past gc_thresh3 resolution fails with "neighbor table overflow"),
    and restored afterwards. Mininet's pingall needs the same room."""
    paths = [GC_THRESH.format(i) for i in (1, 2, 3)]
    try:
        old = [int(open(path).read()) for path in paths]
    except (OSError, ValueError):
        yield
        return
    want = entries + 1024
    if old[2] >= want:
        yield
        return
    notes.append(f"neighbour table raised from gc_thresh3 {old[2]} to {want} while all "
                 "pairs were pinged, then restored")
    try:
        for path, value in zip(paths, (old[0], max(old[1], want // 2), want)):
            with open(path, "w") as f:
                f.write(str(value))
        yield
    finally:
        for path, value in zip(paths, old):
            with open(path, "w") as f:
                f.write(str(value))


def measure_verify_size(netplay, n, args, settles):
    """`netplay verify linear-N` as a user runs it (default sampled pings), and with
    --no-ping, on a settled kernel."""
    log(f"verify (sampled pings) on linear:{n}")
    require_free(n)

    def once():
        state_only, full, data = verify_twice(netplay, n, args)
        pings = data.get("pings") or {}
        return {"verify": full.seconds, "verify_no_ping": state_only.seconds,
                "checks": data.get("passed", 0), "pings": pings.get("reach", 0),
                "reach_total": pings.get("reach_total", 0)}

    row = {"n": n, "netplay": repeated(args.repeat, args.settle, once, settles)}
    log(f"verify linear:{n}: {row['netplay']}")
    return row


def _at_most(value, limit):
    return value is not None and value <= limit


def targets(results):
    """The issue's targets, each with the measured value and whether it is met."""
    out = []
    rows = {row["n"]: row for row in results["linear"]}
    if 100 in rows:
        row = rows[100]
        net = row["netplay"]["up"] + row["netplay"]["down"]
        flo = row["floor"]["up"] + row["floor"]["down"]
        out.append(("linear:100 up+down within 2x the floor", "<= 2x",
                    fmt_ratio(ratio(net, flo)), _at_most(ratio(net, flo), 2)))
        if "mininet" in row and row["mininet"]["total"] is not None:
            r = ratio(row["mininet"]["total"], net)
            out.append(("linear:100 at least 10x faster than Mininet", ">= 10x",
                        fmt_ratio(r), r is not None and r >= 10))
    if 1000 in rows:
        up = rows[1000]["netplay"]["up"]
        out.append(("linear:1000 up in under 10 s", "< 10 s", fmt(up), up < 10))
        rss = rows[1000]["netplay"]["rss_mib"]
        out.append(("netplay peak RSS at 1000 nodes under 150 MB", "< 150 MiB",
                    f"{rss:.0f} MiB", rss < 150))
    d = results.get("docker")
    if d:
        net = d["netplay"]["up"] + d["netplay"]["down"]
        flo = d["floor"]["up"] + d["floor"]["down"]
        out.append((f"{d['nodes']} docker nodes within 1.5x parallel docker run (up+down)",
                    "<= 1.5x", fmt_ratio(ratio(net, flo)), _at_most(ratio(net, flo), 1.5)))
    v = results.get("verify")
    if v and "mininet" in v:
        r = ratio(v["mininet"]["reachability"], v["netplay"]["reachability"])
        out.append((f"verify all pairs on linear:{v['n']} 10x faster than pingall", ">= 10x",
                    fmt_ratio(r), r is not None and r >= 10))
        r = ratio(v["mininet"]["reachability"], v["netplay"]["verify"])
        out.append((f"whole `verify --max-pings 0` on linear:{v['n']} 10x faster than "
                    "pingall", ">= 10x", fmt_ratio(r), r is not None and r >= 10))
    for row in results.get("verify_sizes") or []:
        if row["n"] == 1000:
            seconds = row["netplay"]["verify"]
            out.append(("verify linear:1000 (sampled pings) under 10 s", "< 10 s",
                        fmt(seconds), seconds < 10))
    h = results.get("help")
    if h:
        out.append(("netplay --help under 0.3 s", "< 0.3 s", f"{h['seconds']:.3f} s",
                    h["seconds"] < 0.3))
    for row in results.get("load") or []:
        out.append((f"load+validate {row['topology']} under 1 s", "< 1 s",
                    f"{row['seconds']:.3f} s", row["seconds"] < 1))
    hosts = results.get("hosts")
    if hosts:
        for n in hosts["sizes"]:
            one, two = placed_row(hosts, n, 1), placed_row(hosts, n, 2)
            if one and two:
                r = ratio(two["up"], one["up"])
                out.append((f"linear:{n} up across 2 hosts within 2x one host", "<= 2x",
                            fmt_ratio(r), _at_most(r, 2)))
        ssh = hosts.get("ssh")
        if ssh:
            out.append(("ssh overhead per command under 15 ms", "< 15 ms",
                        f"{ssh['overhead_ms']:.1f} ms", ssh["overhead_ms"] < 15))
    return [{"target": t, "goal": g, "measured": m, "met": bool(ok)} for t, g, m, ok in out]


def _mininet_cell(mn):
    if not mn:
        return "-"
    if mn["total"] is None:
        return f"> {mn.get('timeout', 0):.0f} s (timeout)"
    return fmt(mn["total"])


def tables(report):
    from tabulate import tabulate

    results = report["results"]
    rows = []
    for row in results["linear"]:
        net, flo, mn = row["netplay"], row["floor"], row.get("mininet")
        total = net["up"] + net["down"]
        rows.append([f"linear:{row['n']}", fmt(net["up"]), fmt(net["down"]),
                     f"{net['rss_mib']:.0f} MiB", fmt(flo["up"]), fmt(flo["down"]),
                     fmt_ratio(ratio(total, flo["up"] + flo["down"])),
                     _mininet_cell(mn),
                     fmt_ratio(ratio(mn["total"], total)) if mn else "-"])
    d = results.get("docker")
    if d:
        net, flo = d["netplay"], d["floor"]
        rows.append([f"{d['nodes']} docker nodes", fmt(net["up"]), fmt(net["down"]),
                     f"{net['rss_mib']:.0f} MiB", fmt(flo["up"]), fmt(flo["down"]),
                     fmt_ratio(ratio(net["up"] + net["down"], flo["up"] + flo["down"])),
                     "-", "-"])
    headers = ["workload", "netplay up", "netplay down", "netplay peak RSS", "floor up",
               "floor down", "netplay/floor", "Mininet up+down", "Mininet/netplay"]
    out = [tabulate(rows, headers=headers, disable_numparse=True, tablefmt="github")] \
        if rows else []
    v = results.get("verify")
    if v:
        net, mn = v["netplay"], v.get("mininet")
        out.append(tabulate([[f"all pairs on linear:{v['n']} ({net['pings']} pings)",
                              fmt(net["reachability"]), fmt(net["verify"]),
                              fmt(mn["reachability"]) if mn else "-",
                              fmt_ratio(ratio(mn["reachability"], net["reachability"]))
                              if mn else "-"]],
                             headers=["reachability", "netplay verify pings",
                                      "netplay verify total", "Mininet pingall",
                                      "Mininet/netplay"],
                             disable_numparse=True, tablefmt="github"))
    if results.get("verify_sizes"):
        out.append(tabulate([[f"linear:{row['n']}", row["netplay"]["checks"],
                              f"{row['netplay']['pings']} of {row['netplay']['reach_total']}",
                              fmt(row["netplay"]["verify_no_ping"]),
                              fmt(row["netplay"]["verify"])]
                             for row in results["verify_sizes"]],
                            headers=["netplay verify", "checks", "pairs pinged",
                                     "--no-ping", "with pings (default)"],
                            disable_numparse=True, tablefmt="github"))
    phases = []
    for row in results["linear"]:
        for name, p in row["floor"]["phases"].items():
            phases.append([f"linear:{row['n']}", name, p["processes"], fmt(p["seconds"])])
    if phases:
        out.append(tabulate(phases, headers=["floor", "phase", "processes", "time"],
                            disable_numparse=True, tablefmt="github"))
    if results.get("load"):
        out.append(load_table(results["load"]))
    if results.get("hosts"):
        out.extend(hosts_tables(results["hosts"]))
    if report["targets"]:
        out.append(tabulate([[t["target"], t["goal"], t["measured"],
                              "met" if t["met"] else "MISSED"] for t in report["targets"]],
                            headers=["target", "goal", "measured", ""],
                            disable_numparse=True, tablefmt="github"))
    return "\n\n".join(out)


def placed_row(hosts, n, count):
    """The measurement of linear:n on count hosts (1: this host), or None."""
    return next((row for row in hosts["runs"] if row["n"] == n and row["hosts"] == count),
                None)


def _total(per_host, key):
    values = [c[key] for c in per_host.values() if c.get(key) is not None]
    return sum(values) if values else None


def _count(value):
    return "-" if value is None else str(value)


def hosts_tables(hosts):
    """Labs across hosts: up and down against one host; commands and ssh commands per
    host; the overhead of one command over ssh."""
    from tabulate import tabulate

    rows, per = [], []
    for row in hosts["runs"]:
        one = placed_row(hosts, row["n"], 1)
        where = "this host" if row["hosts"] == 1 else f"{row['hosts']} simulated hosts"
        ph = row["per_host"]
        rows.append([f"linear:{row['n']}", where, fmt(row["up"]), fmt(row["down"]),
                     fmt_ratio(ratio(row["up"], one["up"])) if one else "-",
                     fmt_ratio(ratio(row["down"], one["down"])) if one else "-",
                     f"{_count(_total(ph, 'commands_up'))} / "
                     f"{_count(_total(ph, 'commands_down'))}",
                     f"{_count(_total(ph, 'ssh_up'))} / {_count(_total(ph, 'ssh_down'))}"])
        for host, c in ph.items():
            per.append([f"linear:{row['n']} on {row['hosts']}", host, _count(c["namespaces"]),
                        _count(c["commands_up"]), _count(c["commands_down"]),
                        _count(c["ssh_up"]), _count(c["ssh_down"]),
                        f"{_count(c['connections_up'])} / {_count(c['connections_down'])}"])
    out = [tabulate(rows, headers=["lab", "where", "up", "down", "up / this host",
                                   "down / this host", "commands up / down",
                                   "ssh commands up / down"],
                    disable_numparse=True, tablefmt="github"),
           tabulate(per, headers=["lab on hosts", "host", "namespaces", "commands up",
                                  "commands down", "ssh commands up", "ssh commands down",
                                  "ssh connections up / down"],
                    disable_numparse=True, tablefmt="github")]
    ssh = hosts.get("ssh")
    if ssh:
        out.append(tabulate([[f"{ssh['commands']} x `true`",
                              f"{ssh['local_ms']:.2f} ms", f"{ssh['ssh_ms']:.2f} ms",
                              f"{ssh['overhead_ms']:.2f} ms",
                              fmt(ssh["connect"]) if ssh.get("connect") is not None else "-"]],
                            headers=["commands", "LocalMachine, each", "SshMachine, each",
                                     "ssh overhead per command", "ssh connect"],
                            disable_numparse=True, tablefmt="github"))
    return out


def load_table(rows):
    from tabulate import tabulate

    return tabulate([[row["topology"], f"{row['seconds']:.3f} s"] for row in rows],
                    headers=["topology", "load+validate"], disable_numparse=True,
                    tablefmt="github")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark netplay against the floor (ip -batch), Mininet and docker run.",
        epilog="Run as root, on an otherwise quiet machine; see docs/performance.md.")
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                        help="sizes N of linear:N, comma separated (default 10,100,500,1000)")
    parser.add_argument("--repeat", type=int, default=1, metavar="K",
                        help="measure each K times and report the median of each number "
                             "(default 1)")
    parser.add_argument("--skip-mininet", action="store_true", help="do not run Mininet")
    parser.add_argument("--mininet-sizes", default=None, metavar="SIZES",
                        help="the sizes at which Mininet runs too (default: all of --sizes)")
    parser.add_argument("--skip-docker", action="store_true", help="no Docker measurements")
    parser.add_argument("--skip-verify", action="store_true",
                        help="do not compare verify with Mininet's pingall")
    parser.add_argument("--docker-nodes", type=int, default=20, metavar="K",
                        help="container nodes started (default 20)")
    parser.add_argument("--verify-size", type=int, default=50, metavar="N",
                        help="verify and pingall on linear:N (default 50)")
    parser.add_argument("--verify-sizes", default=",".join(map(str, DEFAULT_VERIFY_SIZES)),
                        metavar="SIZES",
                        help="netplay verify (sampled pings) on linear:N for each N "
                             "(default 100,1000; empty: none)")
    parser.add_argument("--skip-hosts", action="store_true",
                        help="do not measure labs across (simulated) hosts")
    parser.add_argument("--hosts-sizes", default=",".join(map(str, DEFAULT_HOSTS_SIZES)),
                        metavar="SIZES",
                        help="sizes N of linear:N placed across hosts (default 200)")
    parser.add_argument("--host-counts", default=",".join(map(str, DEFAULT_HOST_COUNTS)),
                        metavar="COUNTS",
                        help="numbers of hosts: 1 is this host without `hosts:`, more are "
                             "simulated hosts (tests/simhost.py) the lab is placed onto with "
                             "--hosts (default 1,2,4)")
    parser.add_argument("--ssh-commands", type=int, default=DEFAULT_SSH_COMMANDS, metavar="K",
                        help="time K `true` commands locally and over ssh for the per-command "
                             "ssh overhead (default 200)")
    parser.add_argument("--only", choices=["hosts", "verify"], default=None,
                        help="measure only this part (hosts: labs across hosts and the ssh "
                             "overhead; results default to benchmarks/results-hosts.json)")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="write the results here (default benchmarks/results.json, "
                             "with --only hosts benchmarks/results-hosts.json)")
    parser.add_argument("--settle", type=float, default=120, metavar="SECONDS",
                        help="wait at most this long before each measurement for the kernel "
                             "to finish earlier work (default 120)")
    parser.add_argument("--timeout", type=float, default=3600, metavar="SECONDS",
                        help="limit for one netplay command (default 3600)")
    parser.add_argument("--mininet-timeout", type=float, default=3600, metavar="SECONDS",
                        help="limit for one Mininet run (default 3600)")
    parser.add_argument("--help-runs", type=int, default=5, metavar="K",
                        help="time `netplay --help` K times, report the median (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: sizes 3, verify on linear:3, 2 docker nodes, "
                             "short settling (explicit options still win)")
    parser.add_argument("--load-only", action="store_true",
                        help="measure only loading and validating the largest generated "
                             "labs (no root needed; --help-runs runs each)")
    parser.add_argument("--no-lock", action="store_true",
                        help=f"do not take {LOCK} (the caller holds it, as a test does)")
    args = parser.parse_args(argv)
    if args.quick:
        given = set(a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:]))
        defaults = {"--sizes": "3", "--verify-size": 3, "--verify-sizes": "3",
                    "--docker-nodes": 2, "--settle": 10,
                    "--help-runs": 1, "--hosts-sizes": "3", "--host-counts": "1,2",
                    "--ssh-commands": 20}
        for option, value in defaults.items():
            if option not in given:
                setattr(args, option[2:].replace("-", "_"), value)
    try:
        args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes: expected numbers separated by commas, got {args.sizes!r}")
    if not args.sizes or any(not 1 <= n <= 5000 for n in args.sizes):
        parser.error("--sizes: each size must be from 1 to 5000")
    try:
        args.mininet_sizes = args.sizes if args.mininet_sizes is None else [
            int(s) for s in args.mininet_sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--mininet-sizes: expected numbers separated by commas, "
                     f"got {args.mininet_sizes!r}")
    if args.repeat < 1 or args.docker_nodes < 1 or args.verify_size < 2 or args.help_runs < 1:
        parser.error("--repeat, --docker-nodes and --help-runs must be at least 1, "
                     "--verify-size at least 2")
    for option in ("hosts_sizes", "host_counts"):
        try:
            setattr(args, option, [int(s) for s in str(getattr(args, option)).split(",")
                                   if s.strip()])
        except ValueError:
            parser.error(f"--{option.replace('_', '-')}: expected numbers separated by commas, "
                         f"got {getattr(args, option)!r}")
    if not args.host_counts or any(not 1 <= k <= 16 for k in args.host_counts):
        parser.error("--host-counts: each count must be from 1 to 16")
    if not args.hosts_sizes or any(not max(args.host_counts) <= n <= 5000
                                   for n in args.hosts_sizes):
        parser.error("--hosts-sizes: each size must be from the largest host count to 5000")
    if args.ssh_commands < 1:
        parser.error("--ssh-commands must be at least 1")
    try:
        args.verify_sizes = [int(s) for s in str(args.verify_sizes).split(",") if s.strip()]
    except ValueError:
        parser.error(f"--verify-sizes: expected numbers separated by commas, "
                     f"got {args.verify_sizes!r}")
    if any(not 2 <= n <= 5000 for n in args.verify_sizes):
        parser.error("--verify-sizes: each size must be from 2 to 5000")
    if args.only == "hosts":
        if args.skip_hosts:
            parser.error("--only hosts and --skip-hosts contradict each other")
        args.sizes, args.skip_verify, args.skip_docker, args.skip_mininet = [], True, True, True
    if args.only == "verify":
        if args.skip_verify:
            parser.error("--only verify and --skip-verify contradict each other")
        args.sizes, args.skip_docker, args.skip_hosts = [], True, True
    if args.json is None:
        args.json = {"hosts": DEFAULT_HOSTS_JSON, "verify": DEFAULT_VERIFY_JSON}.get(
            args.only, DEFAULT_JSON)
    return args


@contextmanager
def held_lock(skip):
    """The test suite's lock for the whole run: tests and measurements do not overlap."""
    if skip:
        yield
        return
    with open(LOCK, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for {LOCK} (a test is running)")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def main(argv=None):
    args = parse_args(argv)
    if args.load_only:
        try:
            print(load_table(measure_loads(args.help_runs)))
        except BenchError as err:
            print(f"benchmark: error: {err}", file=sys.stderr)
            return 1
        return 0
    if os.geteuid() != 0:
        print("benchmark: error: must run as root (try: sudo scripts/benchmark.sh)",
              file=sys.stderr)
        return 2
    _set_subreaper()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    command = "scripts/benchmark.py " + " ".join(argv if argv is not None else sys.argv[1:])
    with held_lock(args.no_lock):
        info = machine_info()
        load_before = loadavg()
        started = time.strftime("%Y-%m-%d %H:%M:%S %z")
        log(f"machine: {info}; load average {load_before}")
        try:
            with host_limits_restored():
                results, notes, settles = run_benchmark(args)
        except BenchError as err:
            print(f"benchmark: error: {err}", file=sys.stderr)
            return 1
        except (Interrupted, KeyboardInterrupt) as err:
            print(f"benchmark: interrupted ({err or 'SIGINT'}); cleaned up", file=sys.stderr)
            return 130
        load_after = loadavg()
    report = {"command": command.strip(), "started": started, "machine": info,
              "load_average": {"before": load_before, "after": load_after},
              "repeat": args.repeat, "statistic": "median" if args.repeat > 1 else "single run",
              "settle_limit": args.settle, "settles": settles, "notes": notes,
              "results": results}
    report["targets"] = targets(results)
    print(tables(report))
    print()
    print(f"machine: {info['nproc']} cores ({info['cpu']}), {info['memory_gib']} GiB, "
          f"Linux {info['kernel']} {info['machine']}; load average before "
          f"{' '.join(map(str, load_before))}, after {' '.join(map(str, load_after))}")
    print(f"each number: {report['statistic']}"
          + (f" of {args.repeat} runs" if args.repeat > 1 else ""))
    for note in notes:
        print(f"note: {note}")
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
