"""Replaying a recorded log on this host, and undoing what a log built.

A log is untrusted input: it is checked by netplay.run.logcheck (format, version,
per-argument policy, and re-planning its topology) before anything runs. Replay then runs the
checked steps exactly as `netplay run` does, through lab.apply: under the lab's lock,
refused when the lab is up, with the same preflight checks, rollback on failure, and a log
of its own (action "replay") in the state directory. Captured values (container PIDs) come
from this run; the results recorded in the log are never read.

A log whose topology gives a node `exec` commands is refused unless the caller allows node
commands (allow_exec, the CLI's --allow-exec): such a command runs any program as root and
may name a namespace, device or file that is not the lab's. When allowed, each one is
said (announce) just before it runs.

`replay --undo` is `down` of the log's lab, with one more check: the lab's current log on
this host must hold the same steps as the given log. If it holds other steps, the lab on
this host was built from another topology, and undoing the given log would remove objects
that are not what it built: that is refused, and `netplay down LAB` is the way to take that
lab down.
"""

import time

from netplay.check import preflight
from netplay.core.errors import InputError
from netplay.lab import hosts, lifecycle as labs
from netplay.load.resolve import on_hosts
from netplay.model.runtime import uses_docker
from netplay.plan import build as planner
from netplay.run import log as steplog, logcheck, state


def load(path, generation=None):
    """The checked log at path (InputError, one line, if it is unusable or unsafe), as
    of its newest applied generation or of generation (0: the run's)."""
    return logcheck.load(path, generation)


def replay(checked, machine, root, echo=None, cli=None, progress=None, allow_exec=False,
           announce=None, hosts_data=None, hosts_source="", ssh_config=None):
    """Run a checked log's steps as its lab: on machine (this host), or on the log's hosts
    over ssh. Returns a lab.Summary.

    With hosts_data (a hosts file's data, `--hosts FILE`), the lab's hosts are those
    machines instead: its topology is planned again onto them (the tunnels' addresses
    change with the hosts; nothing else does). A log with node commands is refused
    (InputError) unless allow_exec; then announce(argv) is called with each node command
    just before it runs."""
    if not allow_exec:
        logcheck.refuse_node_commands(checked, "replay runs")
    topo, steps = planned(checked, machine, hosts_data, hosts_source, ssh_config)
    if not topo.hosts:
        preflight.require_root(machine)
    if cli is None and uses_docker(topo):
        cli = machine.docker()
    start = time.monotonic()
    with hosts.connected(topo, machine, root, ssh_config) as machines:
        path = labs.apply(topo.name, topo.to_dict(), steps, machines, root, echo=echo,
                          check=lambda: preflight.check_hosts(topo, steps, machines, cli),
                          action="replay", progress=progress, announce=announce)
    return labs.Summary.of(topo, steps, start, path)


def planned(checked, machine, hosts_data=None, hosts_source="", ssh_config=None):
    """(topology, steps) that replaying checked runs: the log's own, or, with hosts_data
    (`--hosts FILE`), its topology planned again onto those machines."""
    if hosts_data is None:
        return checked.topology, checked.steps
    topo = hosts.with_addresses(on_hosts(checked.topology, hosts_data, hosts_source),
                                machine, ssh_config)
    return topo, planner.plan(topo)


def _key(step):
    return (step.argv, step.undo, step.capture, step.host)


def undo(checked, machine, root, echo=None, progress=None, ssh_config=None):
    """Tear down what the checked log built, as `down` of its lab.

    Returns the notes of lab.down (objects already gone), or None when the lab is not up
    on this host."""
    if not checked.topology.hosts:
        preflight.require_root(machine)
    lab = checked.lab
    current = state.read_lab(root, lab)
    if current is None or current["status"] == steplog.DOWN:
        return None
    here = state.log_path(root, lab)
    ours = planner.plan(state.lab_topology(current, here))  # its steps now (generations)
    if [_key(s) for s in ours] != [_key(s) for s in checked.steps]:
        raise InputError(f"{checked.source}: lab {lab!r} is up on this host, but from other "
                         f"steps than this log's (its log: {here}); nothing was changed; "
                         f"`netplay down {lab}` takes that lab down")
    return labs.down(lab, machine, root, echo=echo, progress=progress, ssh_config=ssh_config)

