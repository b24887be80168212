"""The lab lifecycle: a topology up (plan, check, run, log) and down (undo by the log).

Terraform's shape: `plan` is pure, `up` applies it and records state (the step log),
`down` is driven by that record alone, so it needs no topology file.
"""

import os
import time
from dataclasses import dataclass

from netplay import builtins, log as steplog, plan as planner, preflight, state
from netplay.errors import HostError, InputError, StepFailed
from netplay.runner import Runner
from netplay.topology import load_file, uses_docker, with_runtime


def resolve(spec):
    """A topology from a built-in name or a YAML file path."""
    if os.sep in spec or spec.endswith((".yaml", ".yml")) or os.path.exists(spec):
        if not os.path.isfile(spec):
            raise InputError(f"{spec}: no such topology file")
        return load_file(spec)
    return builtins.load(spec)


def choose_runtime(topo, runtime=None, image=None, daemon_up=None, notice=print):
    """The topology on the runtime asked for, with image as its default image.

    Container nodes fall back to plain namespaces only when no runtime was asked for and
    no Docker daemon answers (daemon_up() is false)."""
    if runtime is None and uses_docker(topo) and not daemon_up():
        notice(f"netplay: no Docker daemon answers; building {topo.name} on plain network "
               "namespaces (--runtime docker refuses this fallback)")
        runtime = "netns"
    if runtime or image:
        topo = with_runtime(topo, runtime, image)
    return topo


@dataclass
class Summary:
    lab: str
    nodes: int
    bridges: int
    links: int
    steps: int
    seconds: float
    log_path: str

    def line(self):
        return (f"lab {self.lab} is up: {self.nodes} nodes, {self.bridges} bridges, "
                f"{self.links} links, {self.steps} commands in {self.seconds:.2f} s; "
                f"log: {self.log_path}")


def up(topo, machine, root, cli=None, echo=None):
    """Build topo on machine, logging to the state directory. Returns a Summary."""
    steps = planner.plan(topo)
    start = time.monotonic()
    with state.lab_lock(root, topo.name):
        existing = state.read_lab(root, topo.name)
        if existing and existing["status"] in (steplog.UP, steplog.RUNNING, steplog.FAILED):
            raise HostError(f"lab {topo.name!r} is already up (log: "
                            f"{state.log_path(root, topo.name)}); run `netplay down "
                            f"{topo.name}` first")
        preflight.check(topo, steps, machine, cli)
        path = state.log_path(root, topo.name)
        log = steplog.StepLog.create(path, topo.name, topo.to_dict(), steps)
        try:
            Runner(machine, echo).apply(log, steps)
        except StepFailed:
            clean = log.data.get("rollback_clean", False)
            log.set_status(steplog.DOWN if clean else steplog.FAILED)
            raise
        log.set_status(steplog.UP)
    return Summary(topo.name, len(topo.nodes), len(topo.bridges), len(topo.links),
                   len(steps), time.monotonic() - start, str(path))


def logged_steps(data, source):
    """The Steps of a log's data, each with whether it may have run."""
    out = []
    for i, raw in enumerate(data["steps"]):
        step = steplog.step_from_dict(raw, f"{source}: steps[{i}]")
        result = raw.get("result") if isinstance(raw, dict) else None
        out.append((step, result))
    return out


def down(lab, machine, root, echo=None):
    """Undo the lab's logged steps in reverse. Returns notes on objects already gone,
    or None when the lab was not up."""
    with state.lab_lock(root, lab):
        data = state.read_lab(root, lab)
        if data is None:
            raise InputError(f"no lab named {lab!r} on this host (`netplay status` lists labs)")
        if data["status"] == steplog.DOWN:
            return None
        path = state.log_path(root, lab)
        crashed = data["status"] == steplog.RUNNING  # killed mid-run: results may lag
        ran = [step for step, result in logged_steps(data, str(path))
               if (result is not None and result.get("rc") == 0)
               or (crashed and result is None)]
        log = steplog.StepLog(path, data)
        failures, gone = Runner(machine, echo).undo(log, ran)
        if failures:
            log.set_status(steplog.FAILED)
            raise StepFailed(f"lab {lab!r} is partly down; {'; '.join(failures)} "
                             f"(fix that and run `netplay down {lab}` again)")
        log.set_status(steplog.DOWN)
        return gone
