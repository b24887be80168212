"""`netplay link`: the impairments in force on a running lab, and changing one end's.

The change is a command of its own, after the build: the log's "steps" and "topology" stay
what `netplay run` did (so replay and export can check the log by planning its topology
again), and current() reads the recorded changes on top. Side effects: change() runs one
`tc` command on the machine and rewrites the lab's log under its lock.
"""

from typing import Any, Dict, Optional, Tuple

from netplay.core.errors import HostError, StepFailed
from netplay.machine.base import Machine
from netplay.model.impairment import End, Impairment, endpoints, find_end, from_dict
from netplay.model.topology import Topology
from netplay.observe import kernel
from netplay.plan.steps import Step
from netplay.plan.tc import change_argv
from netplay.run import log as steplog, state
from netplay.run.runner import Runner

ALREADY_CLEAR = "Cannot delete qdisc with handle of zero"


def current(topo: Topology, data: Dict[str, Any]) -> Dict[str, Impairment]:
    """The impairments a lab's log (data, of topology topo) says are in force: the
    topology's, then every change `netplay link` recorded in the log's "changes", in order.
    {'node:iface': Impairment}."""
    out = endpoints(topo)
    for change in data.get("changes") or []:
        if change.get("command") != "link" or not change.get("applied"):
            continue
        imp = from_dict(change.get("impair"), "change") if change.get("impair") else None
        if imp:
            out[change["endpoint"]] = imp
        else:
            out.pop(change["endpoint"], None)
    return out


def change(root: str, lab: str, spec: str, imp: Optional[Impairment], machine: Machine,
           echo: Any = None) -> Tuple[End, Optional[Impairment], Optional[str]]:
    """Set (or, imp None, clear) the impairment of end `spec` of a running lab, recorded in
    the lab's log under "changes" with the command and its result. Returns (End, what
    was in force before, note) where note says what happened."""
    with state.lab_lock(root, lab):
        data = state.require_lab(root, lab)
        if data.get("status") != steplog.UP:
            raise HostError(f"lab {lab!r} is {data.get('status')}, not up; `netplay run` it "
                            "first")
        topo = state.lab_topology(data, state.log_path(root, lab))
        end = find_end(topo, spec)
        before = current(topo, data).get(end.name)
        if not imp and not before:
            return end, before, "has no impairment; nothing to clear"
        feature = ("netem" if imp.uses_netem else "tbf") if imp else None
        if feature and not kernel.available(machine, feature):
            raise HostError(f"{end.name}: {kernel.FEATURES[feature].missing}")
        step = Step(change_argv(end, imp), phase=f"link {end.name}")
        rc, _, err, seconds = Runner(machine, echo).execute(step.argv)
        applied = rc == 0 or (not imp and ALREADY_CLEAR in err)
        entry = {"command": "link", "endpoint": end.name,
                 "impair": imp.to_dict() if imp else None, "applied": applied,
                 **step.to_dict(),
                 "result": {"rc": rc, "stderr": err.strip(), "duration": round(seconds, 4),
                            "time": steplog.now()}}
        data.setdefault("changes", []).append(entry)
        data["updated"] = steplog.now()
        steplog.write_json_atomic(state.log_path(root, lab), data)
        if not applied:
            raise StepFailed(f"`{step.shell()}` failed: {err.strip() or f'exit code {rc}'}")
        if rc != 0:
            return end, before, "had no qdisc left; recorded as cleared"
        return end, before, None
