"""The floor: netplay's own plan executed by the fewest processes iproute2 allows.

Used by the benchmark as the baseline. Every `ip` command goes into one `ip -batch` per
namespace (entered with nsenter, as the runner does) (`brctl addbr/addif` become the `ip link` lines that do the same); settings that
must precede the namespace's devices run right after the namespaces exist; anything else
(iptables, sysctl) runs as the one process it is. It is the same work as `netplay run`,
with none of netplay's checks, logging or per-step results.
"""

import subprocess
import time

from netplay.runner import batch_command, ip_prefix


def _as_ip(argv):
    """brctl in the root namespace as the equivalent `ip` argv, else argv unchanged."""
    if argv[:2] == ["brctl", "addbr"]:
        return ["ip", "link", "add", argv[2], "type", "bridge"]
    if argv[:2] == ["brctl", "addif"]:
        return ["ip", "link", "set", argv[3], "master", argv[2]]
    return argv


def build_processes(steps):
    """The plan as a list of processes: (argv, stdin or None), in a valid order."""
    creates, root, per_ns, others, settings = [], [], {}, [], []
    for step in steps:
        argv = _as_ip(list(step.argv))
        prefix = ip_prefix(argv)
        if argv[:3] == ["ip", "netns", "add"]:
            creates.append(" ".join(argv[1:]))
        elif prefix == ("ip",):
            root.append(" ".join(argv[1:]))
        elif prefix is not None:
            per_ns.setdefault(prefix, []).append(" ".join(argv[len(prefix):]))
        elif argv[:3] == ["ip", "netns", "exec"] and "sysctl" in argv:
            settings.append((argv, None))
        elif argv[0] != "mkdir":
            others.append((argv, None))
    procs = []
    if creates:
        procs.append((["ip", "-batch", "-"], "\n".join(creates) + "\n"))
    procs += settings
    if root:
        procs.append((["ip", "-batch", "-"], "\n".join(root) + "\n"))
    procs += [(batch_command(prefix), "\n".join(lines) + "\n")
              for prefix, lines in per_ns.items()]
    return procs + others


def teardown_processes(steps):
    """Every undo, root-namespace `ip` ones in one `ip -force -batch`, others one each."""
    lines, others = [], []
    for step in reversed(steps):
        if not step.undo:
            continue
        if ip_prefix(step.undo) == ("ip",):
            lines.append(" ".join(step.undo[1:]))
        else:
            others.append((list(step.undo), None))
    procs = [p for p in others if p[0][0] != "ip"]  # firewall rules before devices
    if lines:
        procs.append((["ip", "-force", "-batch", "-"], "\n".join(lines) + "\n"))
    return procs + [p for p in others if p[0][0] == "ip"]


def run(processes):
    """Run the processes in order; return (seconds, number of processes)."""
    start = time.monotonic()
    for argv, stdin in processes:
        subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)
    return time.monotonic() - start, len(processes)
