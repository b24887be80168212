"""FakeMachine: a Machine that records what it is asked and answers from a table.

For tests of netplay's own logic (the runner's batching, rollback, failure parsing, the
flow of captured values), fast and without root. It never touches the host, so it proves
nothing about what a command does on one: tests that claim a feature works on a host use
LocalMachine and the real kernel.

    fake = FakeMachine(missing={"brctl"}, dirs={"/var/run/netns": ["a"]})
    fake.answer(["docker", "inspect", "-f", "{{.State.Pid}}", "a"], out="4242\\n")
    fake.answer(lambda argv, stdin: "-batch" in argv, rc=1, err="Command failed -:2\\n")
    ...
    assert fake.argvs() == [...]
"""

import io
import threading
from dataclasses import dataclass
from typing import (Any, Callable, Dict, Iterable, List, NoReturn, Optional, Sequence, Tuple,
                    Union)

from netplay.machine.base import (EXIT_NOT_FOUND, Machine, Outcome, Reply, Stream, Target,
                                  check_argv)

Predicate = Callable[[List[str], Optional[str]], bool]  # (argv, stdin) -> does it match
Responder = Callable[[List[str], Optional[str]], Outcome]  # (argv, stdin) -> the outcome


@dataclass
class Call:
    """One command the fake was asked to run, in the order asked."""

    argv: List[str]
    stdin: Optional[str] = None
    kind: str = "run"  # "run", "exec" (exec_interactive), "attached" (run_attached), "stream"


class Replaced(Exception):
    """Raised by FakeMachine.exec_interactive where a real machine would replace netplay."""

    def __init__(self, argv: List[str]) -> None:
        super().__init__(argv)
        self.argv = argv


class FakeStream(Stream):
    """A started command's canned output, read from memory; stop() is recorded."""

    def __init__(self, data: bytes, rc: int) -> None:
        self.stdout = io.BytesIO(data)
        self.rc = rc
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True

    def wait(self) -> int:
        return self.rc


class FakeMachine(Machine):
    """A host that exists only as tables: programs it lacks, files, directories, the
    answers of commands. Every run is recorded; unmatched commands succeed silently."""

    def __init__(self, host: str = "fake", missing: Iterable[str] = (),
                 files: Optional[Dict[str, str]] = None,
                 dirs: Optional[Dict[str, List[str]]] = None, euid: int = 0,
                 docker: Optional[Any] = None,
                 replies: Optional[Callable[[Target], Reply]] = None) -> None:
        self.host = host
        self.missing = set(missing)  # programs not installed: which() is False, run 127
        self.files = dict(files or {})  # path -> text
        self.dirs = {path: list(names) for path, names in (dirs or {}).items()}
        self._euid = euid
        self._docker = docker  # what docker() hands out (None: no daemon answers)
        self._replies = replies  # target -> Reply; default: every target replies
        self.calls: List[Call] = []
        self.pinged: List[Target] = []
        self._rules: List[Tuple[Union[List[str], Predicate], Responder]] = []
        self._feeds: Dict[Tuple[str, ...], Tuple[bytes, int]] = {}  # stream argv -> output
        self.streams: List[FakeStream] = []  # every stream started, in order
        self._lock = threading.Lock()  # the runner runs docker commands from threads

    def answer(self, match: Union[List[str], Predicate], rc: int = 0, out: str = "",
               err: str = "", reply: Optional[Responder] = None) -> None:
        """Answer commands that match (an argv, exactly, or a predicate of (argv, stdin))
        with (rc, out, err), or with what reply(argv, stdin) returns. A later rule wins
        over an earlier one that matches the same command."""
        responder = reply or (lambda argv, stdin: (rc, out, err))
        self._rules.append((match if callable(match) else list(match), responder))

    def feed(self, argv: List[str], data: bytes, rc: int = 0) -> None:
        """What stream(argv) writes to its stdout (bytes), and its exit code."""
        self._feeds[tuple(argv)] = (data, rc)

    def argvs(self, kind: str = "run") -> List[List[str]]:
        """The argv of every call of this kind, in order."""
        return [c.argv for c in self.calls if c.kind == kind]

    def _outcome(self, argv: List[str], stdin: Optional[str]) -> Outcome:
        if argv[0] in self.missing:
            return EXIT_NOT_FOUND, "", f"{argv[0]}: command not found (fake)"
        for match, responder in reversed(self._rules):
            if match(argv, stdin) if callable(match) else match == argv:
                return responder(argv, stdin)
        return 0, "", ""

    def _record(self, argv: List[str], stdin: Optional[str], kind: str) -> List[str]:
        argv = check_argv(argv)
        with self._lock:
            self.calls.append(Call(argv, stdin, kind))
        return argv

    def run(self, argv: List[str], stdin: Optional[str] = None) -> Outcome:
        argv = self._record(argv, stdin, "run")
        return self._outcome(argv, stdin)

    def which(self, program: str) -> bool:
        return program not in self.missing

    def read_text(self, path: str) -> Optional[str]:
        return self.files.get(path)

    def list_dir(self, path: str) -> Optional[List[str]]:
        names = self.dirs.get(path)
        return None if names is None else sorted(names)

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs

    def euid(self) -> int:
        return self._euid

    def docker(self, timeout: float = 10) -> Optional[Any]:
        return self._docker

    def ping(self, targets: Sequence[Target], deadline: float) -> List[Reply]:
        with self._lock:
            self.pinged.extend(targets)
        answer = self._replies or (lambda target: Reply(True, "replied"))
        return [answer(target) for target in targets]

    def exec_interactive(self, argv: List[str]) -> NoReturn:
        raise Replaced(self._record(argv, None, "exec"))

    def run_attached(self, argv: List[str]) -> int:
        argv = self._record(argv, None, "attached")
        return self._outcome(argv, None)[0]

    def stream(self, argv: List[str]) -> Stream:
        argv = self._record(argv, None, "stream")
        data, rc = self._feeds.get(tuple(argv), (b"", 0))
        if argv[0] in self.missing:
            data, rc = b"", EXIT_NOT_FOUND
        handle = FakeStream(data, rc)
        self.streams.append(handle)
        return handle
