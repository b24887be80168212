"""`netplay apply`: a running lab changed into another topology's, in place, as a new
generation of its log.

The change is planned purely (netplay.plan.diff: both topologies planned, the steps
compared) and shown as Terraform shows a plan (netplay.plan.changes). Applying it runs the
change's steps under the lab's lock and records them, with the new topology, as the
log's newest generation; the lab is then that topology, so `down`, `replay` and `export`
follow it. When a step fails, what ran is undone and what was taken back is put back,
leaving the lab as it was (the generation says "rolled back").
"""

import time
from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from netplay.core.errors import HostError, StepFailed
from netplay.check import preflight
from netplay.lab import hosts
from netplay.observe import containers as dockerstate, ip as observe, kernel
from netplay.model.form import from_form
from netplay.model.topology import Topology
from netplay.model.validate import from_dict
from netplay.plan import build as planner, local
from netplay.plan.changes import changes, lines
from netplay.plan.diff import diff, inverse, key, removal, repair
from netplay.plan.objects import Obj, all_facts
from netplay.plan.steps import Step
from netplay.run import log as steplog, state
from netplay.run.fleet import Fleet
from netplay.run.runner import Failure, signals_held


@dataclass
class Change:
    """A planned change of a running lab: the commands taken back (with the old plan's
    step each takes back), the commands brought, and what they change, for people."""

    lab: str
    old: Topology
    new: Topology
    old_steps: List[Step]
    back: List[Step]
    back_from: List[int]
    forward: List[Step]
    found: List[Tuple[str, str]]
    action: str = "apply"  # or "repair": the topology unchanged, the host put back
    new_dict: Optional[Dict[str, Any]] = None  # new.to_dict(), once made (for the log)

    @property
    def steps(self) -> List[Step]:
        return self.back + self.forward

    def lines(self) -> List[str]:
        if self.action == "repair":
            return [f"  ~ repair {what}" for _, what in self.found] + \
                [f"Plan: {len(self.found)} to repair."]
        return lines(self.found)


def running(root, lab, peek: bool = False):
    """The log data of a lab that is up (with peek, perhaps without its steps and older
    generations: state.peek_lab); HostError otherwise."""
    data = state.peek_lab(root, lab) if peek else state.require_lab(root, lab)
    if data.get("status") != steplog.UP:
        raise HostError(f"lab {lab!r} is {data.get('status')}, not up; `netplay run` it "
                        "first")
    return data


def current(data, path) -> Topology:
    """The topology a lab is now: its newest applied generation's. Built from the form in
    the lab's log without checking it again when the log is as netplay wrote it (peeked:
    LOG.end vouches for it, and the form was checked when it was applied;
    netplay.model.form), else checked (a log edited by hand is refused in one line)."""
    form = steplog.current_topology(data)
    if isinstance(data, steplog.Peeked):
        return from_form(form, source=str(path))
    return from_dict(form, source=str(path))


def plan_change(old: Topology, new: Topology, old_form: Optional[Dict[str, Any]] = None
                ) -> Change:
    """The change from old to new (pure): its steps and its +/~/- lines. Planned from the
    objects it touches when it can (netplay.plan.local; Change.old_steps are then theirs
    alone), else from both whole plans. old_form: the normalized form old was loaded from
    (a log's), else old.to_dict() is made."""
    new_dict = new.to_dict()
    planned_locally = local.change(old, new, forms=(old_form or old.to_dict(), new_dict))
    if planned_locally is None:
        old_steps = planner.plan(old)
        delta = diff(old_steps, planner.plan(new))
        found = changes(old.to_dict(), new_dict, delta.remade)
    else:
        old_steps, delta, _ = planned_locally
        found = local.found(old, new, planned_locally)
    if delta.steps and not found:  # the same topology planned otherwise: a new netplay
        found = [("~", f"lab {new.name}: its commands")]
    return Change(new.name, old, new, old_steps, delta.back, delta.back_from, delta.forward,
                  found, new_dict=new_dict)


def planned(topo: Topology, root, lab: Optional[str] = None, data=None) -> Change:
    """The change that applying topo to its running lab (or to lab, whose log's data
    may be given) would make."""
    lab = lab or topo.name
    data = data or running(root, lab)
    old = current(data, state.log_path(root, lab))
    if topo.name != lab:
        topo = from_dict({**topo.to_dict(), "name": lab}, source="topology")
    return plan_change(old, topo, steplog.current_topology(data))


# What reads a running lab for what was changed by hand: netplay.lab.drift.find, given
# by the caller. It reads the lab with verify's checks, which a change never needs: the
# command line imports them only when an unchanged topology is applied (5-10 ms of every
# `netplay apply` of a change otherwise).
FindDrift = Callable[[Topology, List[Step], Any, Any], Any]


def with_drift(change: Change, machine, cli=None,
               find_drift: Optional[FindDrift] = None) -> Change:
    """An unchanged topology's change: what was changed by hand, put back (a lab on
    this host; a lab on several hosts is not read for drift; without find_drift,
    nothing is read)."""
    if change.steps or change.new.hosts or find_drift is None:
        return change
    found = find_drift(change.new, change.old_steps, machine, cli)
    if not found:
        return change
    return replace(change, back=[], back_from=[], forward=found.steps(change.old_steps),
                   found=[("~", n) for n in found.notes], action="repair")


def apply(topo: Topology, machine, root, lab: Optional[str] = None, echo=None,
          progress=None, ssh_config=None, cli=None, dry_run: bool = False,
          action: str = "apply", find_drift: Optional[FindDrift] = None
          ) -> Tuple[Change, float]:
    """Change the running lab into topo (an unchanged topo: repair what was changed by
    hand, as find_drift finds it). Returns (the Change, seconds); with dry_run nothing
    runs."""
    lab = lab or topo.name
    start = time.monotonic()
    topo = hosts.with_addresses(topo, machine, ssh_config)
    with state.lab_lock(root, lab):
        data = running(root, lab, peek=True)
        change = planned(topo, root, lab, data)
        if action == "apply":
            change = with_drift(change, machine, cli, find_drift)
        if dry_run or not change.steps:
            return change, time.monotonic() - start
        with hosts.connected(change.new, machine, root, ssh_config) as machines:
            check_free(change, machines, cli)
            run_change(root, lab, change, machines, echo, progress,
                       change.action if action == "apply" else action, data=data)
    return change, time.monotonic() - start


def check_free(change: Change, machines, cli=None) -> None:
    """Before anything changes: root, the programs, and every namespace, container and
    root-namespace device the change adds is free (not some other owner's)."""
    new_ns = {n.name for n in change.new.nodes.values() if n.namespace} - \
        {n.name for n in change.old.nodes.values() if n.namespace}
    new_ctr = {n.name for n in change.new.nodes.values() if n.kind == "docker"} - \
        {n.name for n in change.old.nodes.values() if n.kind == "docker"}
    new_dev = set(preflight.root_devices(change.new)) - set(preflight.root_devices(change.old))
    for host, machine in machines.items():
        preflight.require_root(machine)
        preflight.require_programs([s for s in change.steps if s.host == host], machine)
        # read only when the change adds some: a lab of 1000 nodes has 2000 devices
        taken = set(observe.netns_names(machine)) & new_ns if new_ns else set()
        devices = set(observe.link_names(machine)) & new_dev if new_dev else set()
        if new_ctr:
            preflight.check_docker(change.new, cli or machine.docker())
            taken |= set(dockerstate.container_names(cli or machine.docker())) & new_ctr
        if taken or devices:
            name = sorted(taken | devices)[0]
            raise HostError(f"{name!r} already exists on this host and is not lab "
                            f"{change.lab!r}'s; remove it or rename it in the topology; "
                            "nothing was changed")
    kernel.check(change.new, next(iter(machines.values())))


def run_change(root, lab, change: Change, machines, echo=None, progress=None,
               action: str = "apply", data=None) -> None:
    """Run a planned change as the lab's newest generation (the caller holds the lock and
    may give the log's data, read under it); on a failure, roll it back and raise
    StepFailed."""
    data = data or running(root, lab)
    path = state.log_path(root, lab)
    steps = [replace(s) for s in change.steps]  # one object a step: results go by id
    log = steplog.GenerationLog.append(path, data, action,
                                       change.new_dict or change.new.to_dict(), steps)
    fleet = Fleet(machines if isinstance(machines, dict) else {hosts.LOCAL: machines},
                  echo, progress)
    done: List[Step] = []
    values: Dict[str, str] = {}
    try:
        run_in_order(fleet, log, steps, values, done)
    except (Failure, KeyboardInterrupt) as failure:
        message = str(failure) or "interrupted"
        clean = rollback(fleet, log, change, steps, done, values)
        log.set_generation_status(steplog.ROLLED_BACK if clean else steplog.FAILED)
        if not clean:
            log.set_status(steplog.FAILED)
            raise StepFailed(f"{message}; the rollback failed too: the lab is partly "
                             f"changed (`netplay down {lab}` removes it)") from None
        raise StepFailed(f"{message}; undid the change: lab {lab} is as it was") from None
    log.set_generation_status(steplog.APPLIED)


def run_in_order(fleet: Fleet, log, steps: Sequence[Step], values, done,
                 index: Optional[Dict[int, int]] = None) -> None:
    """Run steps in their order, each run of one host's steps on its runner (a change
    goes in order: a later step may stand on an earlier one of another host)."""
    index = index or {id(s): i for i, s in enumerate(steps)}
    run: List[Step] = []
    for step in list(steps) + [None]:
        if run and (step is None or step.host != run[0].host):
            fleet.runner(run[0].host).run_steps(log, run, values, done, index, len(steps))
            run = []
        if step is not None:
            run.append(step)


def rollback(fleet: Fleet, log, change: Change, steps: List[Step], done: List[Step],
             values) -> bool:
    """Undo the part of a change that ran: delete what its new steps made and take back
    their effects, then put back what it took back. True when every command worked."""
    ran = {id(s) for s in done}
    back = len(change.back)
    undo: List[Step] = []
    lost: Set[Obj] = set()
    redo: Set[int] = set()
    old_keys = {key(s) for s in change.old_steps}
    forward = steps[back:]
    for step, facts in reversed(list(zip(forward, all_facts(forward)))):
        if id(step) not in ran:
            continue
        if facts.creates:
            undo.append(removal(step, facts))
            lost.update(facts.creates)
        elif key(step) not in old_keys:
            undo += inverse(step, facts)
    old_facts = all_facts(change.old_steps)
    for i, step in enumerate(steps[:back]):
        if id(step) in ran:
            origin = change.back_from[i]
            made = old_facts[origin].creates
            if made:
                lost.update(made)
            else:
                redo.add(origin)
    failures: List[str] = []
    with signals_held():
        for step in undo:
            fleet.runner(step.host).teardown(log, list(step.resolve(values)), step.phase,
                                              failures, [])
        again = [replace(s) for s in repair(change.old_steps, lost, redo)]
        record = log.rollback_log(again)
        try:
            run_in_order(fleet, record, again, values, [])
        except Failure as failure:
            failures.append(str(failure))
    return not failures
