"""The Machine interface: the one way netplay reaches a host.

A Machine runs commands (argv lists, never a shell string), finds programs, reads files,
lists directories, says which user it acts as, hands out a client of its Docker daemon,
and does the host-side operations that are not one command with a result: echo
requests from inside namespaces (verify), an interactive command that takes over the
terminal (exec), a command streaming to the terminal until stopped (capture), and
commands whose output netplay reads as it comes (capture of several interfaces).

Everything netplay does to or reads from a host goes through these methods, so a host can
be this one (LocalMachine), a recording fake (FakeMachine) or, later, a remote host over
SSH: an implementation fills in every abstract method below, keeping the side effects each
one documents and no others.
"""

from abc import ABC, abstractmethod
from typing import IO, Any, Dict, List, NamedTuple, NoReturn, Optional, Sequence, Tuple

Outcome = Tuple[int, str, str]  # a finished command: (exit code, stdout, stderr)
Target = Tuple[Optional[str], str]  # what to ping: (namespace, None for the root one; address)
EXIT_NOT_FOUND = 127  # as a shell says "command not found"


class Reply(NamedTuple):
    """How one echo request went."""

    replied: bool
    reason: str  # one line: "replied", or why not


def check_argv(argv: List[str]) -> List[str]:
    """argv as a new list, after checking it is a non-empty list of strings (checked at
    run time too, for callers without type checks): a single string would be a shell
    command line, which no Machine runs."""
    if isinstance(argv, (str, bytes)) or not argv or \
            not all(isinstance(a, str) for a in argv):
        raise TypeError(f"a command is a non-empty list of strings, not {argv!r}")
    return list(argv)


class Stream(ABC):
    """A command started by Machine.stream, running on the host: its standard output
    to read as it comes, a way to ask it to stop, its end to wait for."""

    stdout: IO[bytes]  # the command's standard output, bytes, read as they are written

    @abstractmethod
    def stop(self) -> None:
        """Ask the command to stop (SIGINT), if it still runs; it may flush and exit."""

    @abstractmethod
    def wait(self) -> int:
        """Wait for the command's end: its exit code (128 + N when signal N ended it)."""


Request = Tuple[List[str], Optional[str]]  # a command to run: (argv, stdin text or None)


class Machine(ABC):
    """A host netplay builds on, observes and runs programs on."""

    host: str = "local"  # the name steps use for it (Step.host)
    # whether run_many saves anything over one run per command (a round trip each): the
    # runner then sends runs of commands together
    pipelines: bool = False

    def run_many(self, requests: Sequence[Request]) -> List[Outcome]:
        """Run each (argv, stdin) in order as run() does, stopping after the first that
        exits non-zero: one Outcome per command run. Here, one run() each; a remote host
        runs them all in one round trip.

        Side effects: those of the commands run; nothing else."""
        out: List[Outcome] = []
        for argv, stdin in requests:
            out.append(self.run(argv, stdin))
            if out[-1][0] != 0:
                break
        return out

    def read_namespaces(self, namespaces: Sequence[Optional[str]]
                        ) -> Optional[List[Dict[str, Any]]]:
        """The state of each network namespace (None: the root one) as
        netplay.machine.nsprobe.read_namespaces gives it, read all at once (one `ip`
        process per namespace), or None when this machine cannot: the caller then reads
        each namespace with run(). Here, None.

        Side effects: none (the `ip` processes only read)."""
        return None

    @abstractmethod
    def run(self, argv: List[str], stdin: Optional[str] = None) -> Outcome:
        """Run argv on the host to its end, with stdin (text) as its standard input, or
        an empty one. Returns (exit code, stdout, stderr); a program that is not there
        is (127, "", a message), not an exception. argv is never given to a shell.

        Side effects: whatever argv does to the host; nothing else."""

    @abstractmethod
    def which(self, program: str) -> bool:
        """Whether program can be run on the host (found on its PATH). No side effects."""

    @abstractmethod
    def read_text(self, path: str) -> Optional[str]:
        """The text of the host's file at path (e.g. a sysctl under /proc/sys), as it
        is, or None when it cannot be read. No side effects."""

    @abstractmethod
    def list_dir(self, path: str) -> Optional[List[str]]:
        """The names in the host's directory path, sorted; None when there is no such
        directory. No side effects."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """Whether anything (file, directory, ...) is at path on the host. No side
        effects."""

    @abstractmethod
    def euid(self) -> int:
        """The effective user id netplay's commands run as on the host. No side effects."""

    @abstractmethod
    def docker(self, timeout: float = 10) -> Optional[Any]:
        """A docker SDK client (docker.DockerClient) of the host's Docker daemon that
        has just answered a ping, or None when no daemon answers within timeout seconds.

        Side effects: a connection to the daemon and one ping; nothing is changed."""

    @abstractmethod
    def ping(self, targets: Sequence[Target], deadline: float) -> List[Reply]:
        """An echo request to each (namespace, address), sent from inside that named
        network namespace on the host (None: the root one), all at once: one Reply per
        target, in order. A target gets deadline seconds from its first request.

        Side effects: ICMP echo requests in those namespaces (and the neighbour entries
        they add); nothing else is changed and nothing is left behind."""

    @abstractmethod
    def exec_interactive(self, argv: List[str]) -> NoReturn:
        """Replace netplay by argv run on the host, with the terminal's stdin, stdout and
        stderr, so that its exit code is netplay's. Does not return; raises OSError when
        argv cannot be started.

        Side effects: netplay's process ends here; whatever argv does."""

    @abstractmethod
    def run_attached(self, argv: List[str]) -> int:
        """Run argv on the host with the terminal's stdin, stdout and stderr (its output
        streams as it comes) until it exits; SIGINT and SIGTERM received meanwhile are
        passed on to it, so that it can stop cleanly. Returns its exit code (128 + N
        when signal N ended it).

        Side effects: whatever argv does; signal handlers are restored afterwards."""

    @abstractmethod
    def stream(self, argv: List[str]) -> Stream:
        """Start argv on the host with an empty stdin, its stdout a pipe netplay reads
        (bytes, as they are written) and its stderr the terminal's, and return at once.

        Side effects: whatever argv does, until it exits or Stream.stop asks it to."""
