"""Steps of a lab on several hosts: each host's steps on its own machine, hosts at once.

A Fleet holds one Runner per host and offers the Runner's own verbs (apply, undo), so the
lab layer does not care how many hosts a lab has. Each host's steps run in their planned
order, in a thread per host; node commands (a node's `exec` list) run only once every
host is up, because they may talk across hosts. A failure on any host stops the others at
their next group of commands, then every host undoes what it ran. A lab on one host goes
straight to that host's Runner: the same commands, in the same order, as before fleets.
"""

from concurrent.futures import ThreadPoolExecutor
import threading
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from netplay.core.errors import StepFailed
from netplay.machine.base import Machine
from netplay.plan.steps import Step
from netplay.run.log import StepLog
from netplay.run.runner import Echo, Failure, Progress, Runner, signals_held

Failures = List[str]


def by_host(steps: Sequence[Step]) -> Dict[str, List[Step]]:
    """The steps of each host, each host's in their order; hosts in order of first step."""
    out: Dict[str, List[Step]] = {}
    for step in steps:
        out.setdefault(step.host, []).append(step)
    return out


class Fleet:
    """Runners for the hosts of one lab, by host name (Step.host)."""

    def __init__(self, machines: Mapping[str, Machine], echo: Optional[Echo] = None,
                 progress: Optional[Progress] = None,
                 announce: Optional[Echo] = None) -> None:
        if not machines:
            raise ValueError("a fleet needs at least one machine")
        self.runners = {host: Runner(machine, echo, progress, announce=announce)
                        for host, machine in machines.items()}

    @property
    def machine(self) -> Machine:
        """The first host's machine (a lab's Docker sweep: only one-host labs have
        containers)."""
        return next(iter(self.runners.values())).machine

    def runner(self, host: str) -> Runner:
        """The runner of host; StepFailed if the lab has no machine for it."""
        return self._runner(host)

    def _runner(self, host: str) -> Runner:
        try:
            return self.runners[host]
        except KeyError:
            raise StepFailed(f"a step runs on host {host!r}, which this lab has no "
                             "machine for") from None

    def apply(self, log: StepLog, steps: List[Step],
              values: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """Run steps on their hosts, logging each; on a failure anywhere undo what ran on
        every host, then raise StepFailed."""
        values = {} if values is None else values
        hosts = by_host(steps)
        for host in hosts:
            self._runner(host)
        if len(hosts) <= 1:
            return self._runner(next(iter(hosts), next(iter(self.runners)))).apply(
                log, steps, values)
        index = {id(step): i for i, step in enumerate(steps)}
        done: Dict[str, List[Step]] = {host: [] for host in hosts}
        try:
            failed = self._phase(log, hosts, values, done, index, len(steps), False) or \
                self._phase(log, hosts, values, done, index, len(steps), True)
        except KeyboardInterrupt:
            count = sum(len(ran) for ran in done.values())
            raise self.rollback(log, done, f"interrupted after {count} steps") from None
        if failed:
            host, message = failed
            raise self.rollback(log, done, f"host {host}: {message}")
        return values

    def _phase(self, log: StepLog, hosts: Dict[str, List[Step]], values: Dict[str, str],
               done: Dict[str, List[Step]], index: Dict[int, int], total: int,
               node_commands: bool) -> Optional[Tuple[str, str]]:
        """Every host's steps of one phase (infrastructure, or node commands) at once; the
        first failure as (host, message), or None."""
        stop = threading.Event()
        failures: List[Tuple[str, str]] = []

        def work(host: str) -> None:
            todo = [s for s in hosts[host] if s.node_command == node_commands]
            try:
                self.runners[host].run_steps(log, todo, values, done[host], index, total,
                                             stop)
            except Failure as failure:
                failures.append((host, str(failure)))
                stop.set()

        with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
            try:
                list(pool.map(work, hosts))
            except KeyboardInterrupt:
                stop.set()  # the pool's exit waits for each host to end its group
                raise
        return failures[0] if failures else None

    def rollback(self, log: StepLog, done: Mapping[str, List[Step]],
                 message: str) -> StepFailed:
        """Undo what ran on every host; the StepFailed to raise, saying how it went."""
        with signals_held():
            failures, _ = self._merged(self._undo_each(log, done))
        log.data["rollback_clean"] = not failures
        count = sum(len(ran) for ran in done.values())
        if failures:
            return StepFailed(f"{message}; rollback could not undo: {'; '.join(failures)}")
        return StepFailed(f"{message}; undid the {count} steps before it on "
                          f"{len(done)} hosts")

    def undo(self, log: StepLog, steps: Sequence[Step]) -> Tuple[Failures, List[str]]:
        """Undo steps in reverse on their hosts, hosts at once: (failures, objects gone),
        each named by its host when there are several."""
        hosts = by_host(steps)
        if len(hosts) <= 1:
            host = next(iter(hosts), next(iter(self.runners)))
            return self._runner(host).undo(log, steps)
        return self._merged(self._undo_each(log, hosts))

    def undo_hosts(self, log: StepLog, steps: Sequence[Step]
                   ) -> Dict[str, Tuple[Failures, List[str]]]:
        """Undo steps in reverse on their hosts, hosts at once: {host: (failures, gone)}
        for every host of the fleet (one with no steps: nothing to undo)."""
        hosts = by_host(steps)
        return self._undo_each(log, {h: hosts.get(h, []) for h in self.runners})

    def _undo_each(self, log: StepLog, steps: Mapping[str, Sequence[Step]]
                   ) -> Dict[str, Tuple[Failures, List[str]]]:
        work: Callable[[str], Tuple[Failures, List[str]]] = \
            lambda host: self._runner(host).undo(log, steps[host])
        with ThreadPoolExecutor(max_workers=max(1, len(steps))) as pool:
            return dict(zip(steps, pool.map(work, steps)))

    @staticmethod
    def _merged(results: Mapping[str, Tuple[Failures, List[str]]]
                ) -> Tuple[Failures, List[str]]:
        failures: Failures = []
        gone: List[str] = []
        for host, (failed, went) in results.items():
            failures += [f"host {host}: {f}" for f in failed]
            gone += [f"host {host}: {g}" for g in went]
        return failures, gone

    def teardown(self, log: StepLog, argv: List[str], phase: str, failures: Failures,
                 gone: List[str]) -> None:
        """One teardown command on the first host (the one-host lab's Docker sweep)."""
        next(iter(self.runners.values())).teardown(log, argv, phase, failures, gone)
