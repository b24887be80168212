"""The lab lifecycle: a topology up (plan, check, run, log) and down (undo by the log).

Terraform's shape: `plan` is pure, `up` applies it and records state (the step log),
`down` is driven by that record alone, so it needs no topology file.
"""

import time
from dataclasses import dataclass

from netplay.check import preflight
from netplay.core.errors import HostError, StepFailed
from netplay.lab import hosts
from netplay.machine.base import Machine
from netplay.model.runtime import uses_docker, with_runtime
from netplay.model.validate import from_dict
from netplay.observe import containers as dockerstate, ip as observe
from netplay.plan import build as planner
from netplay.run import log as steplog, state
from netplay.run.fleet import Fleet


# What a container node may hold that a plain namespace would lose or redirect: (key, what
# the node does with it, what --runtime netns makes of it). A node holding any of them is
# never moved onto a namespace unasked (docs/topology.md#without-a-docker-daemon).
CONTAINER_ONLY = (
    ("exec", "runs commands inside its container",
     "to run them in a plain namespace, on this host's own files"),
    ("cmd", "runs a program of its own in its container",
     "to build it as a plain namespace without that program"),
    ("binds", "mounts host paths into its container",
     "to build it as a plain namespace without those mounts"),
    ("env", "sets environment variables in its container",
     "to build it as a plain namespace without them"),
    ("dns", "gives its container DNS servers",
     "to build it as a plain namespace that uses the host's resolver"),
)


def choose_runtime(topo, runtime=None, image=None, machine=None, notice=print):
    """The topology on the runtime asked for, with image as its default image.

    Container nodes fall back to plain namespaces only when no runtime was asked for, no
    Docker daemon answers on machine, and no container node holds anything a
    namespace would lose or redirect (CONTAINER_ONLY); otherwise HostError in one line."""
    if runtime is None and uses_docker(topo) and machine.docker() is None:
        refuse_fallback(topo, as_root=machine.euid() == 0)
        notice(f"netplay: no Docker daemon answers; building {topo.name} on plain network "
               "namespaces (--runtime docker refuses this fallback)")
        runtime = "netns"
    if runtime or image:
        topo = with_runtime(topo, runtime, image)
    return topo


def refuse_fallback(topo, as_root):
    """HostError naming the first container node that a plain namespace would change."""
    if as_root:
        what = ("no Docker daemon answers: start it (sudo scripts/docker-up.sh, or "
                "`systemctl start docker`)")
    else:  # only a dry run gets here as a user, and Docker's socket is usually root's
        what = "no Docker daemon answers this user: run netplay with sudo"
    for node in topo.nodes.values():
        if node.kind != "docker":
            continue
        for key, does, instead in CONTAINER_ONLY:
            if getattr(node, key):
                raise HostError(f"node {node.name} {does} ({key}); {what}, or choose "
                                f"--runtime netns {instead}")


@dataclass
class Summary:
    """What `netplay run` built, in numbers, for the line it prints at the end."""

    lab: str
    nodes: int
    bridges: int
    links: int
    steps: int
    seconds: float
    log_path: str

    @classmethod
    def of(cls, topo, steps, start, path):
        """The summary of topo built by steps, started at time.monotonic() start."""
        return cls(topo.name, len(topo.nodes), len(topo.bridges), len(topo.links),
                   len(steps), time.monotonic() - start, str(path))

    def line(self):
        return (f"lab {self.lab} is up: {sizes(self.nodes, self.bridges, self.links)}, "
                f"{self.steps} commands in {self.seconds:.2f} s; log: {self.log_path}")


def sizes(nodes, bridges, links):
    """A lab's size as run, replay and down say it: '3 nodes, 1 bridges, 3 links'."""
    return f"{nodes} nodes, {bridges} bridges, {links} links"


def up(topo, machine, root, cli=None, echo=None, progress=None, ssh_config=None):
    """Build topo on machine (this host), or on its hosts over ssh when it has `hosts:`,
    logging to the state directory. Returns a Summary."""
    topo = hosts.with_addresses(topo, machine, ssh_config)
    steps = planner.plan(topo)
    start = time.monotonic()
    with hosts.connected(topo, machine, root, ssh_config) as machines:
        path = apply(topo.name, topo.to_dict(), steps, machines, root, echo=echo,
                     check=lambda: preflight.check_hosts(topo, steps, machines, cli),
                     progress=progress)
    return Summary.of(topo, steps, start, path)


def fleet(machines, echo=None, progress=None, announce=None):
    """A Fleet of machines ({host: Machine}), or of one Machine: this host's ("local")."""
    if isinstance(machines, Machine):
        machines = {hosts.LOCAL: machines}
    return Fleet(machines, echo, progress, announce=announce)


def apply(lab, topology, steps, machines, root, echo=None, check=None, action="run",
          progress=None, announce=None):
    """Run steps as lab `lab` on machines (a Machine, or {host: Machine}) under its lock,
    logging to its log; refuse if it is up.

    check() runs under the lock before anything changes; announce(argv), if given, is
    called with each node command just before it runs. Returns the log's path.
    """
    with state.lab_lock(root, lab):
        existing = state.read_lab(root, lab)
        if existing and existing["status"] in (steplog.UP, steplog.RUNNING, steplog.FAILED):
            raise HostError(f"lab {lab!r} is already up (log: {state.log_path(root, lab)}); "
                            f"run `netplay down {lab}` first")
        if check:
            check()
        path = state.log_path(root, lab)
        log = steplog.StepLog.create(path, lab, topology, steps, action=action)
        runner = fleet(machines, echo, progress, announce)
        try:
            runner.apply(log, steps)
        except StepFailed:
            # a `docker run` that failed may still have created its container: the lab's
            # label says which are ours
            failures = []
            _sweep_containers(lab, runner, log, failures)
            clean = log.data.get("rollback_clean", False) and not failures
            log.set_status(steplog.DOWN if clean else steplog.FAILED)
            raise
        log.set_status(steplog.UP)
    return path


def logged_steps(data, source):
    """The Steps of a log's data, each with whether it may have run."""
    out = []
    for i, raw in enumerate(data["steps"]):
        step = steplog.step_from_dict(raw, f"{source}: steps[{i}]")
        result = raw.get("result") if isinstance(raw, dict) else None
        out.append((step, result))
    return out


def down(lab, machine, root, echo=None, progress=None, ssh_config=None):
    """Undo the lab's logged steps in reverse, on each of its hosts. Returns notes on
    objects already gone, or None when the lab was not up.

    A host that cannot be reached keeps its part of the lab: the others are taken down,
    the log names the hosts that are done (`hosts_down`), and StepFailed says the lab is
    partly down; `down` again later finishes the rest."""
    return down_read(lab, machine, root, echo, progress, ssh_config)[0]


def down_read(lab, machine, root, echo=None, progress=None, ssh_config=None):
    """down, and the lab's log data as read under its lock before anything was undone
    (the CLI's summary counts its topology: not a second read of the log)."""
    if not state.log_path(root, lab).exists():  # before the lock, which would leave its file
        raise state.no_such_lab(root, lab)
    with state.lab_lock(root, lab):
        data = state.require_lab(root, lab)
        return _undo_logged(lab, machine, root, echo, progress, ssh_config, data), data


def _undo_logged(lab, machine, root, echo, progress, ssh_config, data):
    """Undo what the lab's log data says it holds (the caller holds its lock)."""
    if data["status"] == steplog.DOWN:
        return None
    path = state.log_path(root, lab)
    crashed = data["status"] == steplog.RUNNING  # killed mid-run: results may lag
    ran = [step for step, result in logged_steps(data, str(path))
           if (result is not None and result.get("rc") == 0)
           or (crashed and result is None)]
    if steplog.generations(data):
        ran = _ran_by_generations(data, path, ran)
    log = steplog.StepLog(path, data)
    topo = _hosts_of_log(data, path)
    if topo is None:
        return _down_here(lab, log, ran, machine, echo, progress)
    return _down_hosts(lab, log, ran, topo, root, echo, progress, ssh_config)


def _ran_by_generations(data, path, ran):
    """What a lab changed by `apply` holds: the plan of its newest applied topology (the
    run's steps, if no generation applied), then what a generation that failed without a
    clean rollback made, which down undoes first."""
    applied = any(g.get("status") == steplog.APPLIED for g in steplog.generations(data))
    if applied:
        topo = from_dict(steplog.current_topology(data), source=str(path))
        ran = planner.plan(topo)
    for i, gen in enumerate(steplog.generations(data)):
        if not isinstance(gen, dict) or gen.get("status") in (steplog.APPLIED,
                                                               steplog.ROLLED_BACK):
            continue
        for j, raw in enumerate(gen.get("steps") or []):
            result = raw.get("result") if isinstance(raw, dict) else None
            if isinstance(result, dict) and result.get("rc") == 0 and raw.get("undo"):
                ran.append(steplog.step_from_dict(raw, f"{path}: generations[{i}].steps[{j}]"))
    return ran


def _down_here(lab, log, ran, machine, echo, progress):
    """down of a lab on this host."""
    runner = fleet(machine, echo, progress)
    missing = _missing_containers(log.data, lab, machine)
    failures, gone = runner.undo(log, ran)
    _sweep_containers(lab, runner, log, failures)
    gone = missing + gone
    _finished(log, lab, failures)
    return gone


def _finished(log, lab, problems):
    """The log's status once down has done what it could: down, or failed with
    StepFailed saying the lab is partly down and why."""
    if problems:
        log.set_status(steplog.FAILED)
        raise StepFailed(f"lab {lab!r} is partly down; {'; '.join(problems)} (fix that and "
                         f"run `netplay down {lab}` again)")
    log.set_status(steplog.DOWN)


def _hosts_of_log(data, path):
    """The topology of a log whose lab spans hosts (None for a lab on this host: its down
    needs nothing of its topology)."""
    topology = steplog.current_topology(data)
    if not isinstance(topology, dict) or not topology.get("hosts"):
        return None
    return from_dict(topology, source=str(path))


def _down_hosts(lab, log, ran, topo, root, echo, progress, ssh_config):
    """down of a lab on several hosts: every host that can be reached at once."""
    finished = set(log.data.get("hosts_down") or ())
    todo = [h for h in topo.hosts if h not in finished]
    machines, unreachable = hosts.connect_each(topo, root, ssh_config, only=todo)
    try:
        results = fleet(machines, echo, progress).undo_hosts(
            log, [step for step in ran if step.host in machines])
    finally:
        hosts.close_all(machines)
    failures = [f"host {h}: {f}" for h, (fs, _) in results.items() for f in fs]
    gone = [f"host {h}: {g}" for h, (_, gs) in results.items() for g in gs]
    finished |= {h for h, (fs, _) in results.items() if not fs}
    log.data["hosts_down"] = [h for h in topo.hosts if h in finished]
    problems = failures + [f"host {h} ({topo.hosts[h].ssh}) cannot be reached: {why}"
                           for h, why in unreachable.items()]
    _finished(log, lab, problems)
    return gone


def _missing_containers(data, lab, machine):
    """Notes on this lab's containers that are no longer there (removed by hand)."""
    nodes = steplog.current_topology(data).get("nodes", {}) \
        if isinstance(data.get("topology"), dict) else {}
    wanted = [n for n, raw in nodes.items() if isinstance(raw, dict) and raw.get("kind") == "docker"]
    cli = machine.docker() if wanted else None
    if cli is None:
        return []
    present = {c.name for c in dockerstate.lab_containers(cli, lab)}
    return [f"node {n}: its container was already gone (removed outside netplay)"
            for n in wanted if n not in present]


def _sweep_containers(lab, runner, log, failures):
    """Containers labelled with this lab that the log's undo missed (a run killed between
    `docker run` and its log entry) are removed too, with their namespace names."""
    if not any(s["argv"][:2] == ["docker", "run"] for s in log.steps):
        return
    cli = runner.machine.docker()
    if cli is None:
        return
    for container in dockerstate.lab_containers(cli, lab):
        runner.teardown(log, ["docker", "rm", "-f", container.name], f"node {container.name}",
                        failures, [])
        if container.name in observe.netns_names(runner.machine):
            runner.teardown(log, ["ip", "netns", "delete", container.name],
                            f"node {container.name}", failures, [])
