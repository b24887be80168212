"""Executing steps on a machine: argv only, every result logged, rollback on failure.

The machine is a netplay.machine.Machine (LocalMachine here; FakeMachine in the runner's
own tests), passed in, never a global, so that a lab can later span several hosts. The
runner reaches the host through machine.run and machine.which alone.
"""

import re
import signal
import threading
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Set, Tuple, TypeVar, cast)

from netplay.core.consts import NETNS_DIR
from netplay.core.errors import StepFailed
from netplay.machine.base import Machine
from netplay.plan.steps import CAPTURE_VALUE, Arg, Step
from netplay.run.log import now

if TYPE_CHECKING:
    from netplay.run.log import StepLog

# What one step did: (exit code, stdout, stderr, seconds); exit code None when a batch
# failed without saying which of its lines did (any of them may have run).
StepOutcome = Tuple[Optional[int], str, str, float]
Prefix = Tuple[str, ...]  # the `ip` global options a batch shares: ("ip", "-n", "ns")
GroupKey = Tuple[str, Any]  # (kind, key): "batch" and a Prefix, "parallel" and a docker head
Echo = Callable[[List[str]], None]
Progress = Callable[[int, int, Step], None]
T = TypeVar("T")

# stderr of an undo that means the object is already gone, which is what undo wants.
ALREADY_GONE = (
    "Cannot find device", "No such device", "No such container", "No such file or directory",
    "does a matching rule exist", "Bad rule", "Cannot open network namespace",
)

# Package that provides each program netplay runs, for "not installed" messages.
PACKAGES = {"ip": "iproute2", "brctl": "bridge-utils", "iptables": "iptables",
            "ip6tables": "iptables", "docker": "docker.io", "sysctl": "procps",
            "tc": "iproute2", "mkdir": "coreutils", "ln": "coreutils", "rm": "coreutils",
            "nsenter": "util-linux"}


def missing_programs(steps: Sequence[Step], machine: Machine) -> List[str]:
    """Programs the steps (and their undos) need that the machine does not have."""
    needed = {cast(str, s.argv[0]) for s in steps} | {s.undo[0] for s in steps if s.undo}
    return sorted(p for p in needed if not machine.which(p))


_SPLITS = re.compile(r"[ \t\n\"'#\\]")  # what the batch parser splits at or reads specially


def ip_prefix(argv: Sequence[Arg]) -> Optional[Prefix]:
    """The `ip` global options of argv (["ip", "-n", "ns"]), or None if not batchable.

    A step can join an `ip -batch` when it is a plain `ip` command with no captured value,
    no reference and no argument that the batch parser would split or treat specially.
    """
    if argv[0] != "ip" or any(not isinstance(a, str) for a in argv):
        return None
    argv = cast(List[str], argv)  # all strings, as just checked
    i = 1
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] in ("-n", "-netns") else 1
    rest = argv[i:]
    if not rest or rest[:2] == ["netns", "exec"] or "-batch" in argv[:i]:
        return None
    if any(not a or _SPLITS.search(a) for a in rest):
        return None
    return tuple(argv[:i])


def batch_command(prefix: Prefix, force: bool = False, nsenter: bool = True) -> List[str]:
    """The process that runs a batch of `ip` lines with the global options prefix.

    For `ip -n NS`, nsenter enters only the network namespace: `ip -n` also makes a mount
    namespace and remounts /sys, which `ip -batch` of link, addr and route lines does not
    need and which costs a kernel synchronisation (tens of ms on a busy host) per process.
    """
    opts = list(prefix[1:])
    if nsenter and opts[:1] in (["-n"], ["-netns"]):
        ns = opts[1]
        head, opts = ["nsenter", f"--net={NETNS_DIR}/{ns}", "ip"], opts[2:]
    else:
        head = ["ip"]
    return [*head, *opts, *(["-force"] if force else []), "-batch", "-"]


def batch_prefix(argv: Sequence[Arg]) -> Optional[Prefix]:
    """ip_prefix of argv counting a Ref as the digits it resolves to (a captured value is a
    PID, CAPTURE_VALUE), or None. The prefix itself must hold no Ref: which batch a step
    joins is decided before anything runs. The batch checks the resolved argv again."""
    prefix = ip_prefix([a if isinstance(a, str) else "0" for a in argv])
    if prefix is None or any(not isinstance(a, str) for a in argv[:len(prefix)]):
        return None
    return prefix


# Docker commands that each touch one container and need nothing from one another: a run
# of consecutive ones of the same kind goes at once (the plan puts every `docker run`
# first, then every `docker inspect`; teardown removes containers with `docker rm -f`).
PARALLEL = (("docker", "run"), ("docker", "inspect"), ("docker", "rm"))
PARALLEL_DELETES_FROM = 64  # fewer `netns delete`s than this take one `ip -force -batch`
PIPELINE = 200  # groups of commands sent in one round trip to a remote machine, at most


def _group_key(argv: Sequence[Arg], capture: Optional[str] = None) -> GroupKey:
    """(kind, key) of one command: commands with equal ones next to each other run
    together, 'batch' keyed by the `ip` options, 'parallel' by the docker command."""
    prefix = None if capture else batch_prefix(argv)
    if prefix is not None:
        return "batch", prefix
    head = tuple(argv[:2])
    if head in PARALLEL and all(isinstance(a, str) for a in argv):
        return "parallel", head
    return "single", None


def _consecutive(items: Iterable[T], key_of: Callable[[T], GroupKey]
                 ) -> List[Tuple[str, Any, List[T]]]:
    """items split into runs of neighbours with the same (kind, key), as (kind, key,
    [items]); a 'single' item is a run of its own."""
    out: List[Tuple[str, Any, List[T]]] = []
    for item in items:
        kind, key = key_of(item)
        if out and kind != "single" and out[-1][:2] == (kind, key):
            out[-1][2].append(item)
        else:
            out.append((kind, key, [item]))
    return out


def groups(steps: Iterable[Step]) -> List[Tuple[str, List[Step], Any]]:
    """Split steps into consecutive runs executed together, as (kind, steps, key):
    'batch' (same `ip` options: one `ip OPTS -batch -`, captured values filled in as it
    starts), 'parallel' (`docker run`s, or `docker inspect`s, at once), or 'single'. The log
    still holds one entry per step."""
    runs = _consecutive(steps, lambda step: ("single", None) if step.stdin is not None
                        else _group_key(step.argv, step.capture))
    return [(kind, group, key) for kind, key, group in runs]


class Failure(Exception):
    """A step failed (the message says which and how); nothing has been undone yet."""


class Runner:
    def __init__(self, machine: Machine, echo: Optional[Echo] = None,
                 progress: Optional[Progress] = None, batch: bool = True,
                 workers: int = 8, announce: Optional[Echo] = None) -> None:
        self.machine = machine
        self.echo = echo  # called with each argv before it runs (verbose mode)
        self.announce = announce  # called with each node command's argv before it runs
        self.progress = progress  # called as progress(done, total, step) after each step
        self.batch = batch  # False: one process per step, as a person would type them
        self.workers = workers  # docker commands (run, inspect, rm), netns delete batches at once

    def execute(self, argv: List[str], stdin: Optional[str] = None) -> StepOutcome:
        """Run one argv on the machine; return (exit code, stdout, stderr, seconds)."""
        if self.echo and stdin is None:  # a batch's stdin: its lines were echoed
            self.echo(argv)
        start = time.monotonic()
        rc, out, err = self.machine.run(argv, stdin)
        return rc, out, err, time.monotonic() - start

    def apply(self, log: "StepLog", steps: List[Step],
              values: Optional[Dict[str, str]] = None) -> Dict[str, str]:
        """Run steps in order, logging each; on a failure undo what ran, then raise."""
        values = {} if values is None else values
        done: List[Step] = []
        try:
            self.run_steps(log, steps, values, done)
        except Failure as failure:
            raise self.rollback(log, done, str(failure)) from None
        except KeyboardInterrupt:  # SIGINT, or SIGTERM turned into it by the CLI
            raise self.rollback(log, done, f"interrupted after {len(done)} steps") from None
        return values

    def run_steps(self, log: "StepLog", steps: List[Step], values: Dict[str, str],
                  done: List[Step], index: Optional[Dict[int, int]] = None,
                  total: Optional[int] = None,
                  stop: Optional[threading.Event] = None) -> None:
        """Run steps in order, logging each at its index in the log (index: id(step) ->
        position, default its position in steps) and adding each to done before it runs;
        raise Failure at the first failed step without undoing anything. When stop is
        set (another host failed), return before the next group."""
        index = index or {id(step): i for i, step in enumerate(steps)}
        total = len(steps) if total is None else total
        plan: List[Tuple[str, List[Step], Any]] = \
            groups(steps) if self.batch else [("single", [s], None) for s in steps]
        for chunk in self._chunks(plan):
            if stop is not None and stop.is_set():
                return
            for _, group, _ in chunk:  # before they run: an interrupt still undoes them
                done.extend(group)
            failed: Optional[Tuple[int, Step, StepOutcome, int]] = None
            for (_, group, _), outcomes in zip(chunk, self._run_chunk(chunk, values)):
                settled = self._settle(log, group, outcomes, values, done, index, total)
                failed = failed or settled  # every group settled: those not run leave done
            if failed:
                i, step, (rc, _, err, _), size = failed
                what = f"step {i + 1} failed: `{step.shell()}`" if rc is not None else \
                    f"a batch of {size} `ip` commands from step {i + 1} failed"
                raise Failure(f"{what}: {err.strip() or f'exit code {rc}'}")
            for _, group, _ in chunk:
                for step in group:
                    if step.capture and not _valid_capture(values[step.capture]):
                        raise Failure(f"step {index[id(step)] + 1}: `{step.shell()}` "
                                      f"printed {values[step.capture]!r}, not a running "
                                      "process's id")

    def _settle(self, log: "StepLog", group: List[Step],
                outcomes: List[Optional[StepOutcome]], values: Dict[str, str],
                done: List[Step], index: Dict[int, int], total: int
                ) -> Optional[Tuple[int, Step, StepOutcome, int]]:
        """Log a group's outcomes and take the steps that did not run, or failed, out of
        done; the group's first failure (index, step, outcome, group size), if any."""
        failed = None
        for step, outcome in zip(group, outcomes):
            if outcome is None:  # a batch (or the chunk) stopped before it
                done.remove(step)
                continue
            i = index[id(step)]
            self._record(log, i, step, outcome, values)
            if self.progress:
                self.progress(i + 1, total, step)
            if outcome[0] is None:  # unknown which batch line failed: undo them all
                failed = failed or (i, step, outcome, len(group))
            elif outcome[0] != 0:
                done.remove(step)
                failed = failed or (i, step, outcome, len(group))
        return failed

    def _chunks(self, plan: List[Tuple[str, List[Step], Any]]
                ) -> List[List[Tuple[str, List[Step], Any]]]:
        """The groups sent to the machine together: on a machine where a command costs a
        round trip (Machine.pipelines), runs of up to PIPELINE groups known before any of
        them runs; on one without, runs of batches each confined to a namespace of its
        own (see _confined), which go at once; any other group alone."""
        if self.machine.pipelines:
            return _pipelined(plan)
        chunks: List[List[Tuple[str, List[Step], Any]]] = []
        spaces: Set[str] = set()  # the namespaces of the last chunk, when confined
        for item in plan:
            space = _confined(*item)
            if space is not None and spaces and space not in spaces:
                chunks[-1].append(item)
                spaces.add(space)
            else:
                chunks.append([item])
                spaces = {space} if space is not None else set()
        return chunks

    def _run_chunk(self, chunk: List[Tuple[str, List[Step], Any]], values: Dict[str, str]
                   ) -> List[List[Optional[StepOutcome]]]:
        """Each group's outcomes: one group as _run_group runs it; confined batches at
        once (_at_once); on a pipelining machine several in one Machine.run_many, which
        stops after the first command that fails (the groups after it: not run)."""
        if len(chunk) == 1:
            kind, group, key = chunk[0]
            return [self._run_group(kind, group, key, values)]
        if not self.machine.pipelines:  # confined batches: all at once
            return self._at_once(chunk, values)
        requests: List[Tuple[List[str], Optional[str]]] = []
        for kind, group, key in chunk:
            argvs = self._announced(group, values)
            if kind == "batch" and len(group) > 1:
                requests.append(self._batch_request(key, argvs))
            else:
                if self.echo:
                    self.echo(argvs[0])
                requests.append((argvs[0], group[0].stdin))
        start = time.monotonic()
        results = self.machine.run_many(requests)
        share = (time.monotonic() - start) / max(1, len(results))
        out: List[List[Optional[StepOutcome]]] = []
        for n, (kind, group, key) in enumerate(chunk):
            if n >= len(results):
                out.append([None] * len(group))
            elif kind == "batch" and len(group) > 1:
                rc, _, err = results[n]
                out.append(_batch_outcomes(len(group), rc, err, share, force=False))
            else:
                rc, stdout, err = results[n]
                out.append([(rc, stdout, err, share)])
        return out

    def _at_once(self, chunk: List[Tuple[str, List[Step], Any]], values: Dict[str, str]
                 ) -> List[List[Optional[StepOutcome]]]:
        """Batches confined to a namespace each, run self.workers at a time (echoed in
        order first); each group's outcomes, in order."""
        requests = [self._batch_request(key, self._announced(group, values))
                    for _, group, key in chunk]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(requests))) as pool:
            results = list(pool.map(lambda r: self.execute(*r), requests))
        return [_batch_outcomes(len(group), cast(int, rc), err, seconds / len(group),
                                force=False)
                for (_, group, _), (rc, _, err, seconds) in zip(chunk, results)]

    def _record(self, log: "StepLog", i: int, step: Step, outcome: StepOutcome,
                values: Dict[str, str]) -> None:
        rc, out, err, seconds = outcome
        result: Dict[str, Any] = {"rc": rc, "stderr": err.strip(),
                                  "duration": round(seconds, 4), "time": now()}
        if step.capture and rc == 0:
            result["value"] = values[step.capture] = out.strip()
        log.record(i, result)

    def _run_group(self, kind: str, group: List[Step], key: Any,
                   values: Dict[str, str]) -> List[Optional[StepOutcome]]:
        """Run a group; one (rc, out, err, seconds) per step, None for steps not run."""
        argvs = self._announced(group, values)
        if kind == "batch" and len(group) > 1:
            return self._run_batch(key, argvs)
        if kind == "parallel" and len(group) > 1:
            return self._parallel(argvs)
        return [self._single(argv, step.stdin) for argv, step in zip(argvs, group)]

    def _single(self, argv: List[str], stdin: Optional[str]) -> StepOutcome:
        """One step's command, with the input it reads (a file's content), echoed."""
        if self.echo and stdin is not None:
            self.echo(argv)
        return self.execute(argv, stdin)

    def _announced(self, group: List[Step], values: Dict[str, str]) -> List[List[str]]:
        """The group's argvs, captured values filled in; node commands announced."""
        argvs = [step.resolve(values) for step in group]
        if self.announce:
            for step, argv in zip(group, argvs):
                if step.node_command:
                    self.announce(argv)
        return argvs

    def _parallel(self, argvs: List[List[str]]) -> List[Optional[StepOutcome]]:
        """Run independent argvs at once, self.workers at a time; outcomes in argv order."""
        with ThreadPoolExecutor(max_workers=min(self.workers, len(argvs))) as pool:
            return list(pool.map(self.execute, argvs))

    def _run_batch(self, prefix: Prefix, argvs: List[List[str]]
                   ) -> List[Optional[StepOutcome]]:
        """Run `ip` steps as one `ip OPTS -batch -`; ip stops at the first failure and names
        its line ("Command failed -:N"), so each step's outcome is known. argvs are resolved
        (a captured PID filled in) and checked again: a value the batch parser would split
        or misread sends the steps to one process each, as a person would type them."""
        if all(ip_prefix(argv) == prefix for argv in argvs):
            return self.batch_argvs(prefix, argvs)
        outcomes: List[Optional[StepOutcome]] = []
        for argv in argvs:
            stopped = outcomes and (outcomes[-1] is None or outcomes[-1][0] != 0)
            outcomes.append(None if stopped else self.execute(argv))
        return outcomes

    def batch_argvs(self, prefix: Prefix, argvs: List[List[str]], force: bool = False
                    ) -> List[Optional[StepOutcome]]:
        """One (rc, out, err, seconds) per argv run as a single `ip OPTS -batch -`, None for
        lines not run. With force, ip goes on past failures (teardown wants that)."""
        command, stdin = self._batch_request(prefix, argvs, force)
        rc, _, err, seconds = self.execute(command, stdin)
        return _batch_outcomes(len(argvs), cast(int, rc), err, seconds / len(argvs), force)

    def _batch_request(self, prefix: Prefix, argvs: List[List[str]], force: bool = False
                       ) -> Tuple[List[str], str]:
        """The `ip OPTS -batch -` command of argvs and its stdin, each argv echoed."""
        if self.echo:
            for argv in argvs:
                self.echo(argv)
        lines = [" ".join(argv[len(prefix):]) for argv in argvs]
        return batch_command(prefix, force, self.machine.which("nsenter")), \
            "\n".join(lines) + "\n"

    def rollback(self, log: "StepLog", done: List[Step], message: str) -> StepFailed:
        """Undo the steps that ran; return the StepFailed to raise, saying how it went."""
        with signals_held():  # a second Ctrl-C must not leave a half-undone lab
            failures, _ = self.undo(log, done)
        log.data["rollback_clean"] = not failures
        if failures:
            return StepFailed(f"{message}; rollback could not undo: {'; '.join(failures)}")
        return StepFailed(f"{message}; undid the {len(done)} steps before it")

    def undo(self, log: "StepLog", steps: Sequence[Step]) -> Tuple[List[str], List[str]]:
        """Undo steps in reverse, tolerating objects already gone.

        Returns (failures, gone): undo commands that failed, and objects found already gone.
        Consecutive `ip` undos with the same options run as one `ip -force -batch`, and
        consecutive `docker rm -f`s (one container each) at once.
        """
        failures: List[str] = []
        gone: List[str] = []
        undos = [step for step in reversed(steps) if step.undo]
        done = 0
        for kind, key, group in _undo_groups(undos):
            argvs = [step.undo or [] for step in group]
            if kind == "batch" and len(group) > 1:
                outcomes = self._teardown_batch(key, argvs)
            elif kind == "parallel" and len(group) > 1:
                outcomes = self._parallel(argvs)
            else:
                outcomes = [self.execute(argv) for argv in argvs]
            for step, argv, outcome in zip(group, argvs, outcomes):
                self._record_teardown(log, argv, step.phase, outcome, failures, gone)
                done += 1
                if self.progress:
                    self.progress(done, len(undos), step)
        log.flush(force=True)
        return failures, gone

    def _teardown_batch(self, prefix: Prefix, argvs: List[List[str]]
                        ) -> List[Optional[StepOutcome]]:
        """Undo lines as `ip -force -batch`; many `netns delete`s as several at once.

        Each delete unmounts the namespace's name, and the unmount waits for an RCU grace
        period: about 18 ms on a kernel busy freeing a big lab, 15-20 s for 1000 in a row.
        Unmounts in parallel processes wait for the same grace periods instead."""
        deletes = all(argv[len(prefix):len(prefix) + 2] == ["netns", "delete"]
                      for argv in argvs)
        if not deletes or len(argvs) < PARALLEL_DELETES_FROM:
            return self.batch_argvs(prefix, argvs, force=True)
        size = -(-len(argvs) // self.workers)  # contiguous chunks keep the outcomes in order
        chunks = [argvs[i:i + size] for i in range(0, len(argvs), size)]
        with ThreadPoolExecutor(max_workers=len(chunks)) as pool:
            results = pool.map(lambda chunk: self.batch_argvs(prefix, chunk, force=True), chunks)
            return [outcome for outcomes in results for outcome in outcomes]

    def teardown(self, log: "StepLog", argv: List[str], phase: str, failures: List[str],
                 gone: List[str]) -> None:
        """Run one teardown command, logged; note a failure or an object already gone."""
        self._record_teardown(log, argv, phase, self.execute(argv), failures, gone)

    def _record_teardown(self, log: "StepLog", argv: List[str], phase: str,
                         outcome: Optional[StepOutcome], failures: List[str],
                         gone: List[str]) -> None:
        # a line `ip -force -batch` did not run (it runs them all) would not be undone
        rc, _, err, seconds = outcome or (None, "", "", 0.0)
        rc = 1 if rc is None else rc
        already = rc != 0 and any(s in err for s in ALREADY_GONE)
        log.record_teardown({"argv": list(argv), "rc": rc, "stderr": err.strip(),
                             "already_gone": already, "duration": round(seconds, 4),
                             "time": now()})
        if already:
            gone.append(f"{phase}: already gone (`{' '.join(argv)}`)")
        elif rc != 0:
            failures.append(f"`{' '.join(argv)}` failed: {err.strip()}")


def _pipelined(plan: List[Tuple[str, List[Step], Any]]
               ) -> List[List[Tuple[str, List[Step], Any]]]:
    """Runs of up to PIPELINE groups that capture nothing and use no captured value (their
    commands are known before any of them runs); any other group alone."""
    chunks: List[List[Tuple[str, List[Step], Any]]] = []
    joined = False  # whether the last chunk may take more groups
    for item in plan:
        kind, group, _ = item
        joins = kind in ("batch", "single") and \
            not any(step.capture or step.refs() for step in group)
        if joins and joined and len(chunks[-1]) < PIPELINE:
            chunks[-1].append(item)
        else:
            chunks.append([item])
        joined = joins
    return chunks


# What a line of a confined batch may do: act on its namespace's own devices, addresses and
# routes. A line naming another namespace (`netns`) or the whole host is not confined.
CONFINED = (("addr", "add"), ("link", "set"), ("route", "add"), ("route", "replace"))


def _confined(kind: str, group: List[Step], key: Any) -> Optional[str]:
    """The namespace a group acts in alone, when it is a batch (of two lines or more) of
    `ip -n NS` lines that only set up NS's own devices, addresses and routes: such
    batches of different namespaces need nothing from one another, so a run of them may
    go at once. None for any other group."""
    if kind != "batch" or len(group) < 2 or len(key) != 3 or key[1] not in ("-n", "-netns"):
        return None
    for step in group:
        words = [a for a in step.argv[3:6] if a not in ("-4", "-6")]
        if tuple(words[:2]) not in CONFINED or "netns" in step.argv or step.capture \
                or step.refs():
            return None
    return str(key[2])


def _batch_outcomes(count: int, rc: int, err: str, share: float, force: bool
                    ) -> List[Optional[StepOutcome]]:
    """One (rc, out, err, seconds) per line of an `ip -batch` that exited rc, None for
    lines not run: ip stops at the first failure and names its line ("Command failed
    -:N"); with force it goes on past failures. share: each line's part of the time."""
    outcomes: List[Optional[StepOutcome]] = [(0, "", "", share)] * count
    if rc == 0:
        return outcomes
    failures = list(re.finditer(r"Command failed -:(\d+)", err))
    if not failures:  # ip exited without naming the line: any of them may have run
        return [(None, "", err, share)] * count
    start = 0
    for match in failures:
        line = int(match.group(1)) - 1
        outcomes[line] = (rc, "", err[start:match.start()].strip(), share)
        start = match.end()
    if not force:
        outcomes[line + 1:] = [None] * (count - line - 1)
    return outcomes


def _undo_groups(undos: Iterable[Step]) -> List[Tuple[str, Any, List[Step]]]:
    """Consecutive undo steps run together, as (kind, key, [steps]): 'batch' (same `ip`
    options, key the prefix), 'parallel' (`docker rm -f`s), or 'single'."""
    return _consecutive(undos, lambda step: _group_key(step.undo or []))


@contextmanager
def signals_held() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM for the duration (only the main thread can)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _valid_capture(value: str) -> bool:
    return bool(CAPTURE_VALUE.match(value)) and value != "0"
