"""Drift: what was changed by hand in a running lab, and the commands that put it back.

verify's expectations (netplay.check.expect) are read against the host as verify reads it
(netplay.check.verify.observe_lab). Each difference names the planned step that makes the
missing effect, or the object that is missing, and netplay.plan.diff.repair turns those
into commands: the lost object made again with everything that stands on it, the step run
again, routes of a namespace whose devices changed put back with `ip route replace`.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Set, Tuple

from netplay.check import expect
from netplay.check.verify import observe_lab
from netplay.plan.diff import repair
from netplay.plan.objects import CTR, DEV, NS, Obj, all_facts
from netplay.plan.steps import Step


@dataclass
class Drift:
    notes: List[str] = field(default_factory=list)  # one line a repair, for people
    first: List[Step] = field(default_factory=list)  # leftovers taken away before repair
    lost: Set[Obj] = field(default_factory=set)
    redo: Set[int] = field(default_factory=set)

    def steps(self, plan: List[Step]) -> List[Step]:
        return self.first + repair(plan, self.lost, self.redo) if self else []

    def __bool__(self) -> bool:
        return bool(self.first or self.lost or self.redo)


def _index(plan: List[Step]) -> Dict[Tuple, int]:
    """The plan's steps that verify's expectations name: (kind, ns, dev[, detail])."""
    out: Dict[Tuple, int] = {}
    for i, (step, f) in enumerate(zip(plan, all_facts(plan))):
        argv = [str(a) for a in step.argv]
        dev = f.needs[-1].name if f.needs and f.needs[-1].kind == DEV else \
            ("lo" if "lo" in argv else None)
        if f.kind == "address":
            out[("address", f.ns, dev, argv[argv.index("add") + 1])] = i
        elif f.kind == "state":
            out[("state", f.ns, dev)] = i
        elif f.kind == "port":
            out[("port", f.ns, argv[3] if argv[0] == "brctl" else argv[argv.index("set") + 1])] = i
        elif f.kind in ("route", "sysctl", "setting"):
            out.setdefault((f.kind, f.ns), i)
    return out


def find(topo, plan: List[Step], machine, cli=None, host: str = "local") -> Drift:
    """What differs between the running lab (on machine) and topo, and how to repair it."""
    observed = observe_lab(topo, machine, cli)
    expects = expect.expected_state(topo)
    checks = expect.evaluate(topo, observed, expects)
    index = _index(plan)
    drift = Drift()
    for exp, check in zip(expects, checks):
        if not check.ok:
            _one(exp, check, observed, index, plan, drift, host)
    return drift


def _one(exp, check, observed, index, plan, drift: Drift, host: str) -> None:
    state = observed.namespaces.get(exp.ns)
    present = state is not None and state.present
    link = state.links.get(exp.ifname) if present else None
    note = f"{check.subject}: {check.reason}"
    if exp.kind == "namespace":
        drift.lost.add(Obj(NS, host, None, exp.ns))
    elif exp.kind == "container":
        drift.lost.add(Obj(CTR, host, None, exp.node))
        if present:  # its namespace's name outlived it: taken away, then made again
            drift.first.append(Step(["ip", "netns", "delete", exp.node],
                                    phase=f"repair node {exp.node}", host=host))
    elif not present and exp.ns is not None:
        return  # its namespace is missing: that repair covers it
    elif exp.kind in ("interface", "peer") and link is None:
        if exp.ifname == "lo":
            return
        drift.lost.add(Obj(DEV, host, exp.ns, exp.ifname))
    elif exp.kind == "interface":
        i = index.get(("state", exp.ns, exp.ifname))
        if exp.up and i is not None:
            drift.redo.add(i)
        elif not exp.up:
            drift.first.append(Step(_ip(exp.ns, "link", "set", exp.ifname, "down"),
                                    phase=f"repair {check.subject}", host=host))
        else:
            return
    elif exp.kind == "address" and link is not None:
        drift.redo.add(index[("address", exp.ns, exp.ifname, exp.address)])
    elif exp.kind == "member" and link is not None:
        drift.redo.add(index[("port", exp.ns, exp.ifname)])
    elif exp.kind in ("route", "forwarding"):
        kind = "route" if exp.kind == "route" else "sysctl"
        i = index.get((kind, exp.ns)) if kind == "route" else \
            index.get(("sysctl", exp.ns), index.get(("setting", exp.ns)))
        if i is None:
            return
        drift.redo.add(i)
    else:
        return
    drift.notes.append(note)


def _ip(ns: Optional[str], *args: str) -> List[str]:
    return ["ip", "-n", ns, *args] if ns else ["ip", *args]
