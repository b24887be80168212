#!/usr/bin/env python3
"""netplay apply's benchmark: a one-link change to a running lab against building it again.

For each size N (default 1000) of `linear:N`, side by side in one run:
- rebuild: `netplay run` of the changed topology from scratch (after `down`);
- apply, address: `netplay apply` of the topology with one host's address changed;
- apply, host: `netplay apply` of the topology with one more host and its link;
- apply --dry-run of that (the change planned and printed, nothing run);
- apply, unchanged: `netplay apply` of the lab's own topology (reads the host for drift).
Each is a child process (`python -m netplay ...`), timed on the wall; the ratio is to the
rebuild. The kernel is let settle before each timed step (benchmark.settle: namespace
teardown goes on in the background and slows what follows), and the machine's own speed
is taken just before it (calibrate: a fixed piece of Python work, whose time is kept
beside each run: it can double for minutes at a time). Results go to
benchmarks/results-apply.json. Run as root: `sudo .venv/bin/python scripts/benchmark_apply.py`.

Host safety: holds /run/netplay-tests.lock as the test suite does, refuses to start when a
namespace of the lab exists, uses a private state directory, and takes the lab down with
`netplay down` whatever happens.
"""

import argparse
import copy
import fcntl
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, HERE]

from benchmark import machine_info, netns_names, settle, timed  # noqa: E402
from netplay.load.resolve import resolve  # noqa: E402

OUT = os.path.join(REPO, "benchmarks", "results-apply.json")
# A fixed piece of pure Python work, timed before each timed step (see calibrate)
CALIBRATION = json.dumps({"nodes": {f"h{i}": {"interfaces": {"eth0": {"addresses": [
    f"10.{i // 250}.{i % 250}.1/24"]}}} for i in range(4000)}})


def calibrate():
    """This machine's speed just now: milliseconds for CALIBRATION parsed and walked,
    best of 5. On the machines this was measured on it doubles for minutes at a time,
    which no settling of the kernel removes; each run's figure is kept beside it."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        doc = json.loads(CALIBRATION)
        sum(len(a) for node in doc["nodes"].values() for iface in node["interfaces"].values()
            for a in iface["addresses"])
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def variants(n):
    """linear:N as data; with one host's address changed; with one more host."""
    base = resolve(f"linear:{n}").to_dict()
    address = copy.deepcopy(base)
    address["nodes"]["h1"]["interfaces"]["eth0"]["addresses"] = ["10.250.0.1/8"]
    host = copy.deepcopy(base)
    host["nodes"][f"h{n + 1}"] = {"interfaces": {"eth0": {"addresses": ["10.250.0.2/8"]}}}
    host["links"].append({"endpoints": [f"h{n + 1}:eth0", f"s{n}:s{n}-eth9"]})
    return base, address, host


def netplay(state, *args):
    env = dict(os.environ, NETPLAY_STATE_DIR=state)
    seconds, rc, peak, out = _timed([sys.executable, "-m", "netplay", *args], env)
    if rc != 0:
        raise SystemExit(f"benchmark-apply: `netplay {' '.join(args)}` failed ({rc}): {out}")
    return seconds


def _timed(argv, env):
    result = timed(argv, env=env)
    return result.seconds, result.rc, result.maxrss_kb, result.output


def measure(n, repeat, tmp, limit=300, settled=None):
    """Rows for linear:n; settled collects whether the kernel settled before each apply
    (a lab of 1000 namespaces keeps softirqs busy for minutes after the last teardown)."""
    settled = [] if settled is None else settled
    base, address, host = variants(n)
    files = {}
    for name, data in (("base", base), ("address", address), ("host", host)):
        files[name] = os.path.join(tmp, f"{name}.json")  # JSON is YAML, and faster to read
        with open(files[name], "w") as f:
            json.dump(data, f)
    lab = base["name"]
    if lab in netns_names() or any(f"h{i}" in netns_names() for i in (1, n + 1)):
        raise SystemExit(f"benchmark-apply: a namespace of {lab} exists; nothing was done")
    rows = {"rebuild": [], "apply address": [], "apply host": [], "apply --dry-run host": [],
            "apply unchanged (drift read)": []}
    speed = {what: [] for what in rows}
    state = os.path.join(tmp, "state")
    try:
        for _ in range(repeat):
            settle(limit)
            speed["rebuild"].append(calibrate())
            rows["rebuild"].append(netplay(state, "run", "-q", files["host"]))
            netplay(state, "down", "-q", lab)
            settle(limit)
            netplay(state, "run", "-q", files["base"])
            for what, argv in (("apply address", ["apply", "-q", files["address"]]),
                               ("apply --dry-run host", ["apply", "-q", "--dry-run",
                                                         files["host"]]),
                               ("apply host", ["apply", "-q", files["host"]]),
                               ("apply unchanged (drift read)",
                                ["apply", "-q", files["host"]])):
                settled.append(settle(limit)[1])
                speed[what].append(calibrate())
                rows[what].append(netplay(state, *argv))
            netplay(state, "down", "-q", lab)
    finally:
        env = dict(os.environ, NETPLAY_STATE_DIR=state)
        timed([sys.executable, "-m", "netplay", "down", "-q", lab], env=env)
    rebuild = statistics.median(rows["rebuild"])
    return [{"lab": f"linear:{n}", "what": what, "seconds": round(statistics.median(v), 3),
             "runs": [round(x, 3) for x in v], "calibration ms": speed[what],
             "of rebuild": round(statistics.median(v) / rebuild, 4)}
            for what, v in rows.items()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000", help="comma-separated N of linear:N")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("-o", "--output", default=OUT)
    parser.add_argument("--settle", type=float, default=300,
                        help="wait at most this long for the kernel before each step")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("benchmark-apply: run it as root")
    with open("/run/netplay-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = []
        with tempfile.TemporaryDirectory(prefix="netplay-bench-apply-") as tmp:
            settled = []
            for n in (int(s) for s in args.sizes.split(",")):
                rows += measure(n, args.repeat, tmp, args.settle, settled)
    print(f"{'lab':<12} {'what':<30} {'seconds':>8} {'of rebuild':>11} {'calibration':>12}")
    for row in rows:
        print(f"{row['lab']:<12} {row['what']:<30} {row['seconds']:>8.3f} "
              f"{row['of rebuild']:>10.1%} {statistics.median(row['calibration ms']):>9.2f} ms")
    with open(args.output, "w") as f:
        json.dump({"machine": machine_info(), "date": time.strftime("%Y-%m-%d"),
                   "settled before each apply": settled, "rows": rows}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
