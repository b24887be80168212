"""Executing steps on a machine: argv only, every result logged, rollback on failure.

The machine is a plumbum machine object (plumbum.local here; an SshMachine has the same
interface), passed in, never a global, so that a lab can later span several hosts.
"""

import time

from netplay.errors import StepFailed
from netplay.log import now
from netplay.steps import CAPTURE_VALUE

# stderr of an undo that means the object is already gone, which is what undo wants.
ALREADY_GONE = (
    "Cannot find device", "No such device", "No such container", "No such file or directory",
    "does a matching rule exist", "Bad rule", "Cannot open network namespace",
    "not found",
)

# Package that provides each program netplay runs, for "not installed" messages.
PACKAGES = {"ip": "iproute2", "brctl": "bridge-utils", "iptables": "iptables",
            "ip6tables": "iptables", "docker": "docker.io", "sysctl": "procps",
            "tc": "iproute2", "mkdir": "coreutils", "ln": "coreutils", "rm": "coreutils"}


def missing_programs(steps, machine):
    """Programs the steps (and their undos) need that the machine does not have."""
    needed = {s.argv[0] for s in steps} | {s.undo[0] for s in steps if s.undo}
    return sorted(p for p in needed if not _has(machine, p))


def _has(machine, program):
    try:
        machine.which(program)
        return True
    except Exception:  # plumbum.CommandNotFound; the same on local and remote machines
        return False


class Runner:
    def __init__(self, machine, echo=None, progress=None):
        self.machine = machine
        self.echo = echo  # called with each argv before it runs (verbose mode)
        self.progress = progress  # called as progress(done, total, step) after each step

    def execute(self, argv):
        """Run one argv; return (exit code, stdout, stderr, seconds)."""
        if self.echo:
            self.echo(argv)
        start = time.monotonic()
        try:
            cmd = self.machine[argv[0]][list(argv[1:])]
        except Exception as err:  # plumbum's CommandNotFound and friends
            return 127, "", f"{argv[0]}: command not found ({err.__class__.__name__})", 0.0
        rc, out, err = cmd.run(retcode=None)
        return rc, out, err, time.monotonic() - start

    def apply(self, log, steps, values=None):
        """Run steps in order, logging each; on a failure undo what ran, then raise."""
        values = {} if values is None else values
        done = []
        try:
            self._apply(log, steps, values, done)
        except KeyboardInterrupt:  # SIGINT, or SIGTERM turned into it by the CLI
            raise self.rollback(log, done, f"interrupted after {len(done)} steps") from None
        return values

    def _apply(self, log, steps, values, done):
        for index, step in enumerate(steps):
            argv = step.resolve(values)
            done.append(step)  # before it runs: an interrupt mid-command still undoes it
            rc, out, err, seconds = self.execute(argv)
            result = {"rc": rc, "stderr": err.strip(), "duration": round(seconds, 4),
                      "time": now()}
            if step.capture and rc == 0:
                value = out.strip()
                result["value"] = value
                values[step.capture] = value
            log.record(index, result)
            if self.progress:
                self.progress(index + 1, len(steps), step)
            if rc != 0:
                done.pop()
                raise self.rollback(log, done, f"step {index + 1} failed: `{step.shell()}`: "
                                    f"{err.strip() or f'exit code {rc}'}")
            if step.capture and not _valid_capture(values[step.capture]):
                raise self.rollback(log, done, f"step {index + 1}: `{step.shell()}` printed "
                                    f"{out.strip()!r}, not a running process's id")

    def rollback(self, log, done, message):
        """Undo the steps that ran; return the StepFailed to raise, saying how it went."""
        failures, _ = self.undo(log, done)
        log.data["rollback_clean"] = not failures
        if failures:
            return StepFailed(f"{message}; rollback could not undo: {'; '.join(failures)}")
        return StepFailed(f"{message}; undid the {len(done)} steps before it")

    def undo(self, log, steps):
        """Undo steps in reverse, tolerating objects already gone.

        Returns (failures, gone): undo commands that failed, and objects found already gone.
        """
        failures, gone = [], []
        undos = [step for step in reversed(steps) if step.undo]
        for index, step in enumerate(undos):
            self.teardown(log, step.undo, step.phase, failures, gone)
            if self.progress:
                self.progress(index + 1, len(undos), step)
        log.flush(force=True)
        return failures, gone

    def teardown(self, log, argv, phase, failures, gone):
        """Run one teardown command, logged; note a failure or an object already gone."""
        rc, _, err, seconds = self.execute(argv)
        already = rc != 0 and any(s in err for s in ALREADY_GONE)
        log.record_teardown({"argv": list(argv), "rc": rc, "stderr": err.strip(),
                             "already_gone": already, "duration": round(seconds, 4),
                             "time": now()})
        if already:
            gone.append(f"{phase}: already gone (`{' '.join(argv)}`)")
        elif rc != 0:
            failures.append(f"`{' '.join(argv)}` failed: {err.strip()}")


def _valid_capture(value):
    return bool(CAPTURE_VALUE.match(value)) and value != "0"
