"""SshMachine: another host, reached over the system's OpenSSH through plumbum's SshMachine.

Every command is `ssh DEST -- env -- ARGV` (`sudo -n env -- ARGV` with sudo), each argument
quoted by plumbum for the remote shell, through one ControlMaster per host that netplay
starts and ends (`close()`): about 8 ms a command instead of 220 ms for a new connection.
ssh never asks anything (BatchMode), trusts only known host keys, forwards nothing, and
gives up on a host that does not answer within ConnectTimeout (the configuration's, else
CONNECT_TIMEOUT). `env` runs the program, so that one missing says 127 as a shell would.

plumbum's ParamikoMachine is not used: it sends an empty stdin, so `ip -batch -` would
silently do nothing. plumbum is imported on first use, by local.import_plumbum.
"""

import inspect
import json
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Set

from netplay.core.consts import NETNS_DIR
from netplay.core.errors import HostError, InputError
from netplay.machine import nsprobe, pinger
from netplay.machine.local import import_plumbum, run_forwarding_signals
from netplay.machine.base import (EXIT_NOT_FOUND, Machine, Outcome, Reply, Request, Stream,
                                  Target, check_argv)

CONNECT_TIMEOUT = 10  # seconds, unless the ssh configuration sets ConnectTimeout
PERSIST = 30  # seconds a master outlives its last client (should netplay die without close)
SESSION_TIMEOUT = 60  # seconds plumbum waits for the first shell prompt
PARALLEL_PINGS = 8  # ping processes at once, with plumbum's session below MaxSessions (10)
SUN_PATH = 107  # bytes in a Unix socket's path
SSH_EXIT = 255  # ssh's own failure (or the program's 255: `ssh -O check` tells them apart)
# a file to which close() appends one JSON line {"host": NAME, "commands": N}: the commands
# run() sent over this connection, one ssh session each (scripts/benchmark.py counts them)
STATS_ENV = "NETPLAY_SSH_STATS"


def _last_line(text: str, default: str = "no message") -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else default


def probe_script(targets: Sequence[Target], deadline: float) -> str:
    """pinger.py as a stdlib-only Python program for `python3 -` on another host, which
    pings targets and prints one [replied, reason] per target as JSON."""
    lines = []
    for line in inspect.getsource(pinger).splitlines():
        if line.startswith("from netplay.machine.base import Reply"):
            line = "Reply = NamedTuple('Reply', [('replied', bool), ('reason', str)])"
        elif line.startswith("from netplay.core.consts import NETNS_DIR"):
            line = f"NETNS_DIR = {NETNS_DIR!r}"
        elif re.match(r"\s*(from|import) netplay", line):
            raise RuntimeError(f"pinger.py imports more of netplay than the probe has: {line}")
        lines.append(line)
    args = json.dumps({"targets": [list(t) for t in targets], "deadline": deadline})
    lines += ["", "import json as _json", f"_args = _json.loads({args!r})",
              "print(_json.dumps([list(r) for r in ping_many("
              "[tuple(t) for t in _args['targets']], _args['deadline'])]))", ""]
    return "\n".join(lines)


# Run on the host by run_many: each [argv, stdin] in order, as `env -- ARGV` would (127 for
# a program that is not there), stopping after the first that fails; prints the outcomes
# as JSON [[rc, stdout, stderr], ...]. The commands are data (main's argument), never
# code or a shell line.
RUN_MANY = """
import json, subprocess, sys

def main(data):
    out = []
    for argv, stdin in json.loads(data):
        try:
            p = subprocess.run(argv, input=stdin, capture_output=True, encoding="utf-8",
                               errors="replace")
            out.append([p.returncode, p.stdout, p.stderr])
        except OSError as exc:
            out.append([127, "", "%s: %s" % (argv[0], exc.strerror)])
        if out[-1][0] != 0:
            break
    sys.stdout.write(json.dumps(out))
"""


class SshStream(Stream):
    """A command on another host whose stdout netplay reads through ssh. The remote shell
    says the command's process id first, so that stop() can send it SIGINT there."""

    def __init__(self, machine: "SshMachine", argv: List[str]) -> None:
        self._machine = machine
        self._stopped = False
        wrapped = ["sh", "-c", 'echo "$$"; exec "$@"', "sh", *argv]  # a fixed script
        self._proc = subprocess.Popen(machine.ssh_argv(wrapped, tty=False),
                                      stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      bufsize=0)
        assert self._proc.stdout is not None
        self.stdout = self._proc.stdout
        line = b""
        while not line.endswith(b"\n"):
            byte = self.stdout.read(1)
            if not byte:
                break
            line += byte
        self._pid = line.strip().decode() if line.strip().isdigit() else None

    def stop(self) -> None:
        if self._proc.poll() is None and self._pid is not None:
            self._stopped = True
            self._machine.run(["kill", "-INT", self._pid])

    def wait(self) -> int:
        rc = self._proc.wait()
        if rc == SSH_EXIT and self._stopped:  # ssh's exit for a command a signal ended
            return 128 + signal.SIGINT
        return 128 - rc if rc < 0 else rc


class SshMachine(Machine):
    """A host reached over ssh at destination (an ssh_config Host, [user@]host or address),
    named name in the lab's steps. Connects at once: HostError when it cannot."""

    pipelines = True  # a command costs a round trip: run_many sends many in one

    def __init__(self, name: str, destination: str, ssh_config: Optional[str] = None,
                 control_dir: Optional[str] = None, sudo: bool = False) -> None:
        if not destination or destination.startswith("-") or \
                any(not c.isprintable() or c.isspace() for c in destination):
            raise InputError(f"host {name}: ssh destination {destination!r} is not a host "
                             "name or address (it must not start with '-' or hold spaces)")
        self.host = name
        self.destination = destination
        self.sudo = sudo
        import hashlib  # here, not at the top: with tempfile, 4 ms of every `apply`
        import tempfile

        # the socket's name: short (a Unix socket's path has at most 107 bytes, and ssh
        # adds 17 while it creates one), the same for the same configuration and host
        name = hashlib.sha256(f"{ssh_config}\0{destination}".encode()).hexdigest()[:16]
        self._own_dir = control_dir is None or len(control_dir) + len(name) + 18 > SUN_PATH
        self._dir = tempfile.mkdtemp(prefix="netplay-ssh-") if self._own_dir \
            else str(control_dir)
        self.control_path = os.path.join(self._dir, name)
        self._options = [*(["-F", ssh_config] if ssh_config else []),
                         "-o", "ControlMaster=auto", "-o", f"ControlPath={self.control_path}",
                         "-o", f"ControlPersist={PERSIST}", "-o", "BatchMode=yes",
                         "-o", "StrictHostKeyChecking=yes", "-o", "ForwardAgent=no",
                         "-o", "ForwardX11=no", "-o", "ClearAllForwardings=yes",
                         "-o", "PasswordAuthentication=no",
                         "-o", "KbdInteractiveAuthentication=no",
                         "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        self._remote: Any = None  # plumbum's SshMachine, while connected
        self._env: Any = None  # its command for env (or sudo)
        self._master = False
        self.commands = 0  # run() calls so far (STATS_ENV)
        self._found: Set[str] = set()  # programs which() found there
        self._count = threading.Lock()
        try:
            if self._settings().get("connecttimeout", "none") == "none":
                self._options += ["-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
            self._master = not os.path.exists(self.control_path)  # else another's: keep it
            self._connect()
        except BaseException:
            self.close()
            raise

    # --- connection ---------------------------------------------------------------------

    def _fail(self, what: str, stderr: str) -> HostError:
        return HostError(f"host {self.host}: {what} ({self.destination}): "
                         f"{_last_line(stderr)}")

    def _settings(self) -> "dict[str, str]":
        """ssh's configuration for the destination (`ssh -G`, which connects nowhere)."""
        try:
            proc = subprocess.run(["ssh", *self._options, "-G", self.destination],
                                  capture_output=True, text=True, timeout=30)
        except OSError as exc:
            raise self._fail("cannot run ssh on this machine", str(exc)) from None
        if proc.returncode != 0:
            raise self._fail("ssh cannot use its configuration", proc.stderr)
        pairs = (line.split(None, 1) for line in proc.stdout.splitlines() if " " in line)
        return {key: value for key, value in pairs}

    def _connect(self) -> None:
        import_plumbum()
        from plumbum import SshMachine as PlumbumSsh, local
        from plumbum.commands.processes import CommandNotFound

        try:
            self._remote = PlumbumSsh(self.destination, ssh_command=local["ssh"],
                                      ssh_opts=self._options, connect_timeout=SESSION_TIMEOUT)
            self._env = self._remote["sudo" if self.sudo else "env"]
        except CommandNotFound as exc:
            raise self._fail("cannot run commands", f"{exc.program}: not found on its PATH"
                             + (" (sudo: true asks for it)" if self.sudo else "")) from None
        except Exception as exc:  # plumbum's SSHCommsError, EOFError, timeouts, ...
            stderr = getattr(exc, "stderr", None)
            raise self._fail("cannot connect over ssh",
                             stderr if isinstance(stderr, str) and stderr.strip()
                             else str(exc)) from None

    def connected(self) -> bool:
        """Whether the ControlMaster answers (`ssh -O check`)."""
        proc = subprocess.run(["ssh", *self._options, "-O", "check", self.destination],
                              capture_output=True, timeout=30)
        return proc.returncode == 0

    def close(self) -> None:
        """End the connection and the ControlMaster this machine started."""
        remote, self._remote = self._remote, None
        stats = os.environ.get(STATS_ENV)
        if stats and remote is not None:
            try:
                with open(stats, "a") as f:
                    f.write(json.dumps({"host": self.host, "commands": self.commands}) + "\n")
            except OSError:
                pass
        try:
            if remote is not None:
                remote.close()
            if self._master and os.path.exists(self.control_path):
                subprocess.run(["ssh", *self._options, "-O", "exit", self.destination],
                               capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            pass  # the master ends by itself PERSIST seconds after its last client
        if self._own_dir:
            try:
                os.rmdir(self._dir)
            except OSError:
                pass

    def _command(self, argv: List[str]) -> List[str]:
        """What runs on the host for argv: env runs it (127 when missing), under sudo -n."""
        return ["sudo", "-n", "env", "--", *argv] if self.sudo else ["env", "--", *argv]

    def ssh_argv(self, argv: List[str], tty: bool) -> List[str]:
        """This host's ssh command line running argv there (quoted for its shell)."""
        remote = [shlex.quote(a) for a in self._command(check_argv(argv))]
        return ["ssh", *self._options, "-tt" if tty else "-T", self.destination, "--",
                *remote]

    # --- Machine ------------------------------------------------------------------------

    def run(self, argv: List[str], stdin: Optional[str] = None) -> Outcome:
        argv = check_argv(argv)
        if self._remote is None:
            raise HostError(f"host {self.host}: the ssh connection is closed")
        with self._count:
            self.commands += 1
        cmd = self._env[self._command(argv)[1:]]
        rc, out, err = (cmd if stdin is None else cmd << stdin).run(retcode=None)
        if rc == SSH_EXIT and not self.connected():
            raise self._fail("lost the ssh connection", err)
        return rc, out, err

    def run_many(self, requests: Sequence[Request]) -> List[Outcome]:
        """All of requests in one round trip: RUN_MANY, a fixed stdlib-only program, run
        by the host's python3 with the commands as JSON data; one run() each on a host
        without python3."""
        requests = [(check_argv(argv), stdin) for argv, stdin in requests]
        if len(requests) < 2:
            return super().run_many(requests)
        data = json.dumps([[argv, stdin or ""] for argv, stdin in requests])
        rc, out, err = self.run(["python3", "-"], stdin=f"{RUN_MANY}\nmain({data!r})\n")
        if rc == EXIT_NOT_FOUND:  # no python3 there: one round trip each
            return super().run_many(requests)
        try:
            found = [(int(r[0]), str(r[1]), str(r[2])) for r in json.loads(out)]
        except (ValueError, TypeError, IndexError):
            found = []
        if rc != 0 or not found:  # which of them ran is unknown: never run them again
            raise self._fail("python3 did not run the commands sent to it", err or out)
        return found

    def which(self, program: str) -> bool:
        if program in self._found:  # the runner asks before every batch
            return True
        rc, _, _ = self.run(["sh", "-c", 'command -v -- "$1" >/dev/null', "sh", program])
        if rc == 0:
            self._found.add(program)
        return rc == 0

    def read_text(self, path: str) -> Optional[str]:
        rc, out, _ = self.run(["cat", "--", path])
        return out if rc == 0 else None

    def list_dir(self, path: str) -> Optional[List[str]]:
        # a trailing slash: find fails on anything but a directory (or a link to one)
        rc, out, _ = self.run(["find", path.rstrip("/") + "/", "-mindepth", "1",
                               "-maxdepth", "1", "-printf", "%f\\0"])
        return sorted(n for n in out.split("\0") if n) if rc == 0 else None

    def exists(self, path: str) -> bool:
        return self.run(["test", "-e", path])[0] == 0

    def euid(self) -> int:
        rc, out, err = self.run(["id", "-u"])
        if rc != 0 or not out.strip().isdigit():
            raise self._fail("`id -u` failed", err or out)
        return int(out.strip())

    def docker(self, timeout: float = 10) -> Optional[Any]:
        """None: a remote host's Docker daemon is not supported yet (its containers cannot
        be part of a lab spanning hosts)."""
        return None

    def read_namespaces(self, namespaces: Sequence[Optional[str]]
                        ) -> Optional[List[Dict[str, Any]]]:
        """nsprobe.py run by the host's python3 (sent on its stdin), one round trip;
        None without python3 there, or when its answer does not parse."""
        namespaces = list(namespaces)
        rc, out, _ = self.run(["python3", "-"], stdin=nsprobe.script(namespaces))
        if rc != 0:
            return None
        try:
            found = json.loads(out)
        except ValueError:
            return None
        if not isinstance(found, list) or len(found) != len(namespaces):
            return None
        return found

    def ping(self, targets: Sequence[Target], deadline: float) -> List[Reply]:
        """pinger.py run by the host's python3 (sent on its stdin); without python3, one
        `ping` process per target, PARALLEL_PINGS at a time."""
        targets = list(targets)
        if not targets:
            return []
        rc, out, _ = self.run(["python3", "-"], stdin=probe_script(targets, deadline))
        if rc == 0:
            try:
                found = [Reply(bool(r[0]), str(r[1])) for r in json.loads(out)]
            except (ValueError, TypeError, IndexError):
                found = []
            if len(found) == len(targets):
                return found
        with ThreadPoolExecutor(min(PARALLEL_PINGS, len(targets))) as pool:
            return list(pool.map(lambda t: self._ping_one(t[0], t[1], deadline), targets))

    def _ping_one(self, ns: Optional[str], address: str, deadline: float) -> Reply:
        wait = str(max(1, math.ceil(deadline)))
        rc, out, err = self.run([*(["ip", "netns", "exec", ns] if ns else []), "ping", "-n",
                                 "-c", "1", "-i", "0.2", "-w", wait, address])
        if rc == 0:
            return Reply(True, "replied")
        errors = re.findall(r"^From (\S+) icmp_seq=\d+ (.+)$", out, re.MULTILINE)
        why = f"no reply within {deadline:g} s"
        if errors:
            return Reply(False, f"{why} ({errors[-1][1]} from {errors[-1][0]})")
        return Reply(False, _last_line(err, why) if rc != 1 else why)

    def exec_interactive(self, argv: List[str]) -> NoReturn:
        ssh = self.ssh_argv(argv, tty=sys.stdin.isatty())
        os.execvp(ssh[0], ssh)

    def run_attached(self, argv: List[str]) -> int:
        """argv with a terminal on the host (`ssh -tt`): Ctrl-C there reaches it as SIGINT;
        SIGINT or SIGTERM sent to netplay end the ssh client, and the hang-up ends argv."""
        return run_forwarding_signals(self.ssh_argv(argv, tty=True))

    def stream(self, argv: List[str]) -> Stream:
        return SshStream(self, check_argv(argv))
