"""The floor: netplay's own plan executed by the fewest processes iproute2 allows.

Used by the benchmark (scripts/benchmark.py) as the baseline. Every `ip` command goes into
one `ip -batch` per namespace (entered with nsenter, as the runner does): the root
namespace's batch also creates the namespaces (`brctl addbr/addif` become the `ip link`
lines that do the same). Settings that must precede a namespace's devices (sysctl) split
that batch in two: namespaces first, then the settings, then the root namespace's devices.
Anything that is not `ip` (iptables, sysctl) runs as the one process it is. It is the same
work as `netplay run`, with none of netplay's checks, logging or per-step results.

Only namespace topologies: a plan with captured values (a container's PID) is refused; the
benchmark's floor for containers is plain parallel `docker run`.
"""

import subprocess
import time

from netplay.run.runner import batch_command, ip_prefix


def _as_ip(argv):
    """brctl in the root namespace as the equivalent `ip` argv, else argv unchanged."""
    if argv[:2] == ["brctl", "addbr"]:
        return ["ip", "link", "add", argv[2], "type", "bridge"]
    if argv[:2] == ["brctl", "addif"]:
        return ["ip", "link", "set", argv[3], "master", argv[2]]
    return argv


def _lines(lines):
    return "\n".join(lines) + "\n"


def build_processes(steps):
    """The plan as a list of processes: (argv, stdin or None), in a valid order."""
    creates, root, per_ns, others, settings = [], [], {}, [], []
    for step in steps:
        if step.capture or step.refs():
            raise ValueError(f"the floor runs namespace topologies only, not `{step.shell()}`")
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
        elif argv[0] != "mkdir":  # `ip netns add` makes /var/run/netns itself
            others.append((argv, None))
    procs = []
    if settings:  # namespaces, then their settings, then the devices that inherit them
        if creates:
            procs.append((["ip", "-batch", "-"], _lines(creates)))
        procs += settings
        if root:
            procs.append((["ip", "-batch", "-"], _lines(root)))
    elif creates or root:
        procs.append((["ip", "-batch", "-"], _lines(creates + root)))
    procs += [(batch_command(prefix), _lines(lines)) for prefix, lines in per_ns.items()]
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
        procs.append((["ip", "-force", "-batch", "-"], _lines(lines)))
    return procs + [p for p in others if p[0][0] == "ip"]


def phase(process):
    """What a process of build_processes does, for a per-phase breakdown: 'namespaces',
    'veths' (root namespace devices), 'namespaces + veths' (both in one batch), 'bridges and
    ports' (a namespace that holds bridges), 'node config' (a node's own namespace), or
    'other' (sysctl, iptables, ...)."""
    argv, stdin = process
    if stdin is None:
        return "other"
    lines = stdin.splitlines()
    if argv[0] == "ip":
        netns = any(line.startswith("netns add ") for line in lines)
        devices = any(not line.startswith("netns ") for line in lines)
        return {(True, False): "namespaces", (False, True): "veths",
                (True, True): "namespaces + veths"}.get((netns, devices), "other")
    if any(" type bridge" in line or " master " in line for line in lines):
        return "bridges and ports"
    return "node config"


def run(processes, timings=None):
    """Run the processes in order; return (seconds, number of processes). With a list as
    timings, append (process, seconds) for each."""
    start = time.monotonic()
    for argv, stdin in processes:
        began = time.monotonic()
        subprocess.run(argv, input=stdin, text=True, check=True, capture_output=True)
        if timings is not None:
            timings.append(((argv, stdin), time.monotonic() - began))
    return time.monotonic() - start, len(processes)
