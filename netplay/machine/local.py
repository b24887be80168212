"""LocalMachine: the host netplay runs on, through plumbum's local machine.

Commands go through plumbum (`local[argv[0]][argv[1:]]`, no shell), the way an SshMachine
runs them on another host. plumbum and docker are imported on first use only, so that
commands which never run anything on the host (`--help`, `show`, `--dry-run`) start fast.
"""

import importlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import types
from typing import Any, ClassVar, Dict, List, NoReturn, Optional, Sequence, Set, Tuple

from netplay.machine import nsprobe, pinger
from netplay.machine.base import (EXIT_NOT_FOUND, Machine, Outcome, Reply, Stream, Target,
                                  check_argv)


class _OnFirstUse(types.ModuleType):
    """A stand-in for a module, in sys.modules while plumbum is imported: the first name
    asked of it imports the real module, which then answers."""

    def __getattr__(self, name: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


_IMPORTING = threading.Lock()
DEFERRED = ("urllib.request",)


def import_plumbum() -> None:
    """Import plumbum, once, without the modules it imports but netplay never uses.

    plumbum's path module imports urllib.request at its top for one function
    (pathname2url, in LocalPath.as_uri), and urllib.request imports http.client, email,
    ssl and hashlib: 10-30 ms of an `apply` that should take under 0.3 s. While plumbum is
    first imported, urllib.request is an _OnFirstUse stand-in; it leaves sys.modules after,
    so that any later import gets the real module, as does plumbum on first use.

    plumbum's LocalMachine also reads platform.uname()[0] as it is defined, and indexing
    a uname_result reads all its fields, the processor too, which Python 3.11 finds by
    running `uname -p` (6-8 ms). Meanwhile the processor reads as unknown (''); it is
    found for real when anything asks for it after.
    """
    with _IMPORTING:
        if "plumbum" in sys.modules:
            return
        stand_ins = {name: _OnFirstUse(name) for name in DEFERRED if name not in sys.modules}
        sys.modules.update(stand_ins)
        uname = _uname_fields()
        unread = "processor" not in uname
        if unread:
            uname["processor"] = ""
        try:
            import plumbum  # noqa: F401
        finally:
            for name, module in stand_ins.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
            if unread:
                uname.pop("processor", None)


def _uname_fields() -> Dict[str, Any]:
    """The fields platform.uname() (cached by platform) has read so far: where it keeps its
    processor once found (a dict of no use on a Python that keeps them otherwise)."""
    import platform

    fields: Dict[str, Any] = getattr(platform.uname(), "__dict__", {})
    return fields


def run_forwarding_signals(argv: List[str]) -> int:
    """Run argv here with the terminal's stdin, stdout and stderr until it exits, passing
    on SIGINT and SIGTERM received meanwhile (its exit code; 128 + N for signal N)."""
    proc = subprocess.Popen(argv)

    def forward(signum: int, frame: Any) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                rc = proc.wait()
                break
            except InterruptedError:
                continue
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    return 128 - rc if rc < 0 else rc


class LocalStream(Stream):
    """A process of this host whose stdout netplay reads through a pipe."""

    def __init__(self, argv: List[str]) -> None:
        # bufsize 0: read() hands out what the pipe holds, so packets pass as they come
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      bufsize=0)
        assert self._proc.stdout is not None
        self.stdout = self._proc.stdout

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)

    def wait(self) -> int:
        rc = self._proc.wait()
        return 128 - rc if rc < 0 else rc


class LocalMachine(Machine):
    """This host: the kernel netplay runs on, its programs, files and Docker daemon."""

    host = "local"
    _found: ClassVar[Set[Tuple[str, str]]] = set()  # (program, PATH) seen, as plumbum keeps

    def run(self, argv: List[str], stdin: Optional[str] = None) -> Outcome:
        argv = check_argv(argv)
        import_plumbum()
        from plumbum import local

        try:
            cmd = local[argv[0]][argv[1:]]
        except Exception as exc:  # plumbum's CommandNotFound and friends
            return EXIT_NOT_FOUND, "", f"{argv[0]}: command not found ({exc.__class__.__name__})"
        rc, out, err = (cmd if stdin is None else cmd << stdin).run(retcode=None)
        return rc, out, err

    def which(self, program: str) -> bool:
        # the PATH search plumbum's local.which makes, without importing plumbum (tens of
        # ms), so that `netplay exec` checks its program as quickly as before; a program
        # found is remembered (the runner asks for nsenter before every batch)
        key = (program, os.environ.get("PATH", ""))
        if key in self._found:
            return True
        if shutil.which(program) is None:
            return False
        self._found.add(key)
        return True

    def read_text(self, path: str) -> Optional[str]:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None

    def list_dir(self, path: str) -> Optional[List[str]]:
        try:
            return sorted(os.listdir(path))
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def euid(self) -> int:
        return os.geteuid()

    def docker(self, timeout: float = 10) -> Optional[Any]:
        try:
            import docker

            cli = docker.from_env(timeout=timeout)
            cli.ping()
            return cli
        except Exception:  # no socket, permission, daemon down: all mean "not reachable"
            return None

    def ping(self, targets: Sequence[Target], deadline: float) -> List[Reply]:
        # raw ICMP sockets opened inside each namespace by threads that setns() there
        replies: List[Reply] = pinger.ping_many(list(targets), deadline)
        return replies

    def read_namespaces(self, namespaces: Sequence[Optional[str]]
                        ) -> Optional[List[Dict[str, Any]]]:
        # threads that setns() into each namespace and run one `ip -batch` there
        return nsprobe.read_namespaces(namespaces)

    def exec_interactive(self, argv: List[str]) -> NoReturn:
        argv = check_argv(argv)
        os.execvp(argv[0], argv)

    def run_attached(self, argv: List[str]) -> int:
        return run_forwarding_signals(check_argv(argv))

    def stream(self, argv: List[str]) -> Stream:
        return LocalStream(check_argv(argv))
