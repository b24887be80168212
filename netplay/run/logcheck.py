"""The policy for logs from outside: a log file is untrusted input.

`netplay replay` and `netplay export` take a log that may have been copied from another
machine, truncated, or edited by hand. Before either runs or renders one step, the whole log
is checked here, and refused with one line naming the offending step if any check fails:

1. The format and version (log.read): JSON, "format": "netplay-log", a supported version.
2. Each step on its own, against a per-argument policy (netplay.run.argvpolicy): the
   program is one netplay itself runs (ip, brctl, docker, sysctl, iptables, ip6tables, tc;
   mkdir, ln and rm only on the netns directory); `ip netns exec NS` is followed only by
   ip, brctl, sysctl, iptables or tc; names pass the same validation as topology names;
   every other argument is from a safe character set; docker runs only `run --net=none ...`
   (no binds: they name paths of the recording host), `exec NAME CMD...` (inside the
   container, unprivileged), `inspect` and `rm -f`, with the options netplay uses; only
   `docker inspect` captures output and a captured value is used only after the step that
   captures it. The one exception is a node's own command under its heading `exec NODE`
   (`ip netns exec NODE PROGRAM ...` or `nsenter --target $pid_NODE --all PROGRAM ...`):
   any program, one-line arguments.
3. The re-plan: the header's topology is validated like a topology file
   (netplay.model.validate.from_dict) and planned again; the logged steps must equal the
   planned ones, program for program and argument for argument, undo for undo, heading for
   heading. So every command that replay runs and export writes is one that `netplay run`
   would run for that topology on this version of netplay.

Check 2 gives a precise message for a tampered step; check 3 is the guarantee. Results,
captured values, times and teardown entries in the log are never used: replay captures its
own values, and export renders captured values as shell variables.

A log that passes may still hold node commands (the planner marks them, Step.node_command):
commands from a node's `exec` list, which run any program as root and may name anything on
the host (`ip -n OTHER ...`, `ip netns delete OTHER`). The re-plan cannot tell those from
the lab's own, so replay and export refuse them unless the user consents with --allow-exec
(refuse_node_commands).
"""

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple, Union

from netplay.core.errors import InputError
from netplay.core.names import check_name
from netplay.model.topology import Topology
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.plan.diff import diff, key
from netplay.plan.steps import Step
from netplay.run import log as steplog
from netplay.run.argvpolicy import Refused, check_step, show


@dataclass
class CheckedLog:
    """A log that passed every check: its lab, its topology and its steps, safe to run."""

    source: str
    lab: str
    topology: Topology
    steps: List[Step]  # the planned steps, equal to the logged ones, node commands marked
    data: Dict[str, Any]

    def node_commands(self) -> List[Tuple[int, Step]]:
        """The steps (with their index) that run a node's own `exec` commands."""
        return [(i, step) for i, step in enumerate(self.steps) if step.node_command]


def load(path: Union[str, "os.PathLike[str]"], generation: Optional[int] = None
         ) -> CheckedLog:
    """Read and check the log at path; InputError (one line) if it is not safe to use.
    Its topology and steps are those of the lab's newest applied generation, or of
    generation (0: the run's)."""
    return at_generation(check(steplog.read(path), str(path)), generation)


def check(data: Dict[str, Any], source: str) -> CheckedLog:
    """Check a log's data (as log.read returns it) against the policy and the re-plan,
    its generations too (each re-plans from the topology before it to its own)."""
    checked = _check_run(data, source)
    previous = checked.topology
    for n, gen in enumerate(steplog.generations(data), start=1):
        previous = _check_generation(gen, n, previous, checked.lab, source)
    return checked


def _check_generation(gen: Any, n: int, previous: Topology, lab: str, source: str
                      ) -> Topology:
    """Check one generation; the topology the lab has after it."""
    where = f"{source}: generation {n}"
    if not isinstance(gen, dict) or not isinstance(gen.get("topology"), dict) or \
            not isinstance(gen.get("steps"), list) or gen.get("generation") != n:
        raise InputError(f"{where}: a generation needs its number, a topology and a list "
                         "of steps; refusing this log")
    topo = from_dict(gen["topology"], source=f"{where}: topology")
    if topo.name != lab:
        raise InputError(f"{where}: its topology is named {topo.name!r}, not {lab!r}; "
                         "refusing this log")
    hosts = list(topo.hosts) or ["local"]
    steps = checked_steps(gen["steps"], where, hosts)
    if gen.get("action") == "repair":
        allowed = repair_steps(plan(topo))
        for i, step in enumerate(steps):
            if key(step) not in allowed:
                raise InputError(f"{where}: steps[{i}] `{show(step.argv)}` is not a step of "
                                 "the lab's plan, nor one that puts it back; refusing this log")
    else:
        same_as_plan(steps, diff(plan(previous), plan(topo)).steps, where)
    return topo if gen.get("status") == steplog.APPLIED else previous


def repair_steps(planned: List[Step]) -> Set[Any]:
    """What a repair may run: a planned step, its route as `replace`, or what takes an
    object or a state away so that it can be made again (a namespace's name, a device's
    up state)."""
    out = {key(s) for s in planned}
    for s in planned:
        if "route" in s.argv:
            out.add(key(Step([("replace" if a == "add" else a) for a in s.argv], undo=s.undo,
                              host=s.host)))
        if s.argv[-1:] == ["up"]:
            out.add(key(Step([*s.argv[:-1], "down"], host=s.host)))
        if s.argv[:3] == ["ip", "netns", "attach"]:
            out.add(key(Step(["ip", "netns", "delete", str(s.argv[3])], host=s.host)))
    return out


def at_generation(checked: CheckedLog, generation: Optional[int]) -> CheckedLog:
    """checked with the topology and steps of its newest applied generation, or of
    generation n (0: the run's); InputError for a generation the log does not have."""
    gens = steplog.generations(checked.data)
    if generation is not None and not 0 <= generation <= len(gens):
        raise InputError(f"{checked.source}: the log has generations 0 to {len(gens)}, not "
                         f"{generation}; `netplay status` lists a lab's generations")
    if generation == 0 or not gens:
        return checked
    raw = steplog.current_topology(checked.data, upto=generation)
    if raw is checked.data["topology"]:
        return checked
    topo = from_dict(raw, source=f"{checked.source}: topology")
    return CheckedLog(checked.source, checked.lab, topo, plan(topo), checked.data)


def _check_run(data: Dict[str, Any], source: str) -> CheckedLog:
    """Check the run's own part of a log: its header, topology and steps."""
    lab = data["lab"]
    try:
        check_name(lab, "lab name", "lab", limit=32)
    except InputError as err:
        raise InputError(f"{source}: {err}; refusing this log") from None
    raw_topo = data.get("topology")
    if not isinstance(raw_topo, dict):
        raise InputError(f"{source}: the log has no \"topology\" header; refusing it")
    hosts = raw_topo.get("hosts")
    steps = checked_steps(data["steps"], source,
                          [str(h) for h in hosts] if isinstance(hosts, dict) and hosts
                          else ["local"])
    topo = from_dict(raw_topo, source=f"{source}: topology")
    if topo.name != lab:
        raise InputError(f"{source}: the log is for lab {lab!r} but its topology is named "
                         f"{topo.name!r}; refusing this log")
    planned = plan(topo)
    same_as_plan(steps, planned, source)
    return CheckedLog(source, lab, topo, planned, data)


def refuse_node_commands(checked: CheckedLog, doing: str) -> None:
    """InputError naming the log's first node command, if it has one: replay runs node
    commands (and export writes them) only when the user allows them with --allow-exec.
    doing says what would happen to it: "replay runs", "export writes"."""
    found = checked.node_commands()
    if found:
        i, step = found[0]
        raise InputError(f"{checked.source}: steps[{i}] runs a node command (`{show(step.argv)}`)"
                         f", which can reach outside the lab; {doing} node commands only "
                         "with --allow-exec")


def checked_steps(raw_steps: List[Any], source: str, hosts: Sequence[str] = ("local",)
                  ) -> List[Step]:
    """The logged steps as Steps, each checked against the per-argument policy; hosts:
    the hosts the log's topology names (the re-plan proves each step's)."""
    steps: List[Step] = []
    captured: Set[str] = set()
    for i, raw in enumerate(raw_steps):
        where = f"{source}: steps[{i}]"
        step = steplog.step_from_dict(raw, where)
        try:
            check_step(step, captured, hosts)
        except Refused as why:
            raise InputError(f"{where} `{show(step.argv)}`: {why}; refusing this log") from None
        if step.capture:
            captured.add(step.capture)
        steps.append(step)
    return steps


def same_as_plan(logged: Sequence[Step], planned: Sequence[Step], source: str) -> None:
    """The logged steps must be exactly the ones netplay plans for the logged topology."""
    for i, (got, want) in enumerate(zip(logged, planned)):
        if got != want:
            what = _difference(got, want)
            raise InputError(
                f"{source}: steps[{i}] `{show(got.argv)}` is not what netplay plans for the "
                f"logged topology ({what}); the log was edited or written by another netplay "
                "version; refusing it (run the topology with `netplay run` to record a new log)")
    if len(logged) != len(planned):
        extra = (f"steps[{len(planned)}] `{show(logged[len(planned)].argv)}` and after are "
                 "not planned" if len(logged) > len(planned)
                 else f"steps[{len(logged)}] `{show(planned[len(logged)].argv)}` is missing")
        raise InputError(f"{source}: the log has {len(logged)} steps, the logged topology plans "
                         f"{len(planned)}: {extra}; refusing this log")


def _difference(got: Step, want: Step) -> str:
    if got.argv != want.argv:
        return f"netplay plans `{show(want.argv)}`"
    if got.undo != want.undo:
        return f"its undo should be `{show(want.undo or [])}`"
    if got.capture != want.capture:
        return f"it should capture {want.capture or 'nothing'}"
    if got.host != want.host:
        return f"it should run on host {want.host!r}"
    return f"its heading should be {want.phase!r}"
