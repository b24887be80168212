"""`netplay link`: the impairments in force on a running lab, and changing one end's
impairment or its state (up or down).

A change of an end's impairment (a node's interface or a bridge's port), or of a node's
interface's state, is a change of the lab's topology: a new generation of its log (netplay.lab.apply), whose topology holds the end's new impairment or state and
whose steps are the commands the diff plans (`tc qdisc add|replace|del`, `ip link set IF
down|up`), so replay and export rebuild the lab as it now is. A bridge port's state, which
a topology cannot say apart from its bridge's, is recorded under the log's "changes", as
every change was before generations (current() still reads those). Side effects: change()
and set_state() run their commands on the machine and rewrite the lab's log under its
lock.
"""

from typing import Any, Callable, Dict, List, Optional, Tuple

from netplay.core.errors import HostError, StepFailed
from netplay.lab import apply
from netplay.machine.base import Machine
from netplay.model.impairment import End, Impairment, endpoints, find_end, from_dict
from netplay.model.topology import Topology
from netplay.model.validate import from_dict as from_topology_dict
from netplay.observe import kernel
from netplay.plan.build import ip
from netplay.plan.steps import Step
from netplay.run import log as steplog, state
from netplay.run.runner import Runner



def current(topo: Topology, data: Dict[str, Any]) -> Dict[str, Impairment]:
    """The impairments a lab's log (data, of topology topo) says are in force: the
    topology's, then every change `netplay link` recorded in the log's "changes", in order.
    {'node:iface': Impairment}."""
    out = endpoints(topo)
    for change in data.get("changes") or []:
        if change.get("command") != "link" or not change.get("applied") or "state" in change:
            continue  # failed, or an end set up or down: its impairment is untouched
        imp = from_dict(change.get("impair"), "change") if change.get("impair") else None
        if imp:
            out[change["endpoint"]] = imp
        else:
            out.pop(change["endpoint"], None)
    return out


def change(root: str, lab: str, spec: str, imp: Optional[Impairment], machine: Machine,
           echo: Any = None) -> Tuple[End, Optional[Impairment], Optional[str]]:
    """Set (or, imp None, clear) the impairment of end `spec` of a running lab: a new
    generation of the lab's log, whose topology has the end's new impairment and whose
    step is its `tc` command. Returns (End, what was in force before, note) where note
    says what happened."""
    with state.lab_lock(root, lab):
        data = _running(root, lab)
        topo = state.lab_topology(data, state.log_path(root, lab))
        end = find_end(topo, spec)
        before = current(topo, data).get(end.name)
        if not imp and not before:
            return end, before, "has no impairment; nothing to clear"
        feature = ("netem" if imp.uses_netem else "tbf") if imp else None
        if feature and not kernel.available(machine, feature):
            raise HostError(f"{end.name}: {kernel.FEATURES[feature].missing}")
        _as_generation(root, lab, topo, end, machine, echo,
                       {"impair": imp.to_dict() if imp else None}, data)
        return end, before, None


def preview(topo: Topology, spec: str, what: Dict[str, Any]) -> List[Step]:
    """The commands that changing end spec's `impair` or `up` (what) would run (pure)."""
    end = find_end(topo, spec)
    if "up" in what and end.name.partition(":")[0] not in topo.nodes:
        return [state_step(end, bool(what["up"]))]
    return apply.plan_change(topo, _changed(topo, end, what)).steps


def _as_generation(root: str, lab: str, topo: Topology, end: End, machine: Machine,
                   echo: Any, what: Dict[str, Any], data: Dict[str, Any]) -> None:
    """Change one end's interface (its `impair` or `up`) as apply changes a lab: the
    commands the diff plans, run and logged as the lab's newest generation."""
    new = _changed(topo, end, what)
    owner = end.name.partition(":")[0]
    machines = {topo.host_of(owner): machine} if topo.hosts else machine
    apply.run_change(root, lab, apply.plan_change(topo, new), machines, echo, action="link",
                     data=data)


def _changed(topo: Topology, end: End, what: Dict[str, Any]) -> Topology:
    """topo with end's interface keys set to what (None: removed)."""
    raw = topo.to_dict()
    owner, _, name = end.name.partition(":")
    if owner in raw["nodes"]:
        iface = raw["nodes"][owner].setdefault("interfaces", {}).setdefault(name, {})
    else:  # a bridge's port: only its impairment is the topology's (`ports:`)
        iface = raw["bridges"][owner].setdefault("ports", {}).setdefault(name, {})
    for k, v in what.items():
        if v is None:
            iface.pop(k, None)
        else:
            iface[k] = v
    return from_topology_dict(raw, source="link")


def state_step(end: End, up: bool) -> Step:
    """The command that sets an end up or down, with the one that undoes it."""
    states = ("up", "down") if up else ("down", "up")
    return Step(ip(end.namespace, "link", "set", end.dev, states[0]),
                undo=ip(end.namespace, "link", "set", end.dev, states[1]),
                phase=f"link {end.name}")


def set_state(root: str, lab: str, spec: str, up: bool, machine: Machine,
              echo: Any = None) -> End:
    """Set end `spec` of a running lab up or down (`ip link set IF up|down` in its
    namespace), recorded in the lab's log under "changes" like an impairment change, with
    "state" instead of "impair". Its impairment stays; `netplay down` still removes the
    whole lab. Returns the End."""
    with state.lab_lock(root, lab):
        data = _running(root, lab)
        topo = state.lab_topology(data, state.log_path(root, lab))
        end = find_end(topo, spec)
        if end.name.partition(":")[0] in topo.nodes:  # a node's interface: in its topology
            _as_generation(root, lab, topo, end, machine, echo, {"up": up}, data)
        else:  # a bridge's port is up with its bridge: the change is recorded apart
            _record(root, lab, data, machine, echo, state_step(end, up), end,
                    {"state": "up" if up else "down"}, lambda rc, err: rc == 0)
        return end


def _running(root: str, lab: str) -> Dict[str, Any]:
    """The log of a lab that is up; HostError otherwise."""
    data = state.require_lab(root, lab)
    if data.get("status") != steplog.UP:
        raise HostError(f"lab {lab!r} is {data.get('status')}, not up; `netplay run` it "
                        "first")
    return data


def _record(root: str, lab: str, data: Dict[str, Any], machine: Machine, echo: Any,
            step: Step, end: End, what: Dict[str, Any],
            succeeded: Callable[[int, str], bool]) -> Tuple[int, str]:
    """Run step on the machine and append it, with what it changes and its result, to the
    log's "changes" (the caller holds the lab's lock); StepFailed when not succeeded(rc,
    stderr). Returns (rc, stderr)."""
    rc, _, err, seconds = Runner(machine, echo).execute(step.argv)
    applied = succeeded(rc, err)
    entry = {"command": "link", "endpoint": end.name, **what, "applied": applied,
             **step.to_dict(),
             "result": {"rc": rc, "stderr": err.strip(), "duration": round(seconds, 4),
                        "time": steplog.now()}}
    data.setdefault("changes", []).append(entry)
    data["updated"] = steplog.now()
    steplog.write_json_atomic(state.log_path(root, lab), data)
    if not applied:
        raise StepFailed(f"`{step.shell()}` failed: {err.strip() or f'exit code {rc}'}")
    return rc, err
