"""The machine seam does not leak: only netplay/machine/ reaches a host directly.

Read from the source with ast, so that a new `os.listdir`, `subprocess.Popen`,
`docker.from_env`, `open("/proc/...")`, `setns` or plumbum-style `machine["ip"]` outside
the machine implementations fails here, before it makes netplay impossible to run on a
remote host or to test without root. The few exceptions are listed with their reason,
and an exception no longer needed fails too, so that the list stays true.
"""

import ast
import pathlib

import netplay

PACKAGE = pathlib.Path(netplay.__file__).parent
MACHINE_DIR = PACKAGE / "machine"

# Reaching a host other than through a Machine: processes, programs, files, directories,
# users, Docker, namespaces.
FORBIDDEN = {
    "os.listdir", "os.scandir", "os.walk", "os.geteuid", "os.getuid", "os.system",
    "os.popen", "os.fork", "os.execv", "os.execve", "os.execvp", "os.execvpe", "os.execl",
    "os.execlp", "os.open", "open", "shutil.which", "subprocess", "plumbum", "ctypes",
    "docker", "netplay.machine.pinger.ping_many",
}
# the SDK's exception classes, to read a client's answers; the result type of the Python
# API's Lab.exec (a command run through the Machine, returned as subprocess.run returns one)
ALLOWED = {"docker.errors", "subprocess.CompletedProcess"}
HOST_PATHS = ("/proc", "/sys", "/var/run", "/run/", "/lib/modules", "/dev")

# module -> {what it uses directly: why that is not a host access}
EXCEPTIONS = {
    "run/state.py": dict.fromkeys(
        ("os.geteuid", "os.open"),
        "the state directory and its lock files are the controller's, not a host's"),
    "render/graph.py": dict.fromkeys(
        ("shutil.which", "subprocess"),
        "Graphviz's dot is the controller's renderer: the picture is drawn where the user "
        "is, whichever host the lab runs on"),
    "run/log.py": dict.fromkeys(("os.open",), "step logs live on the controller"),
    "core/userfile.py": dict.fromkeys(("os.open",), "the topology, containerlab and log files the "
                                 "user names, read on the controller"),
    "cli/commands/export.py": dict.fromkeys(("os.open",), "the script written for the user"),
    "cli/commands/graph.py": dict.fromkeys(("open",), "the picture written for the user"),
}


def _aliases(tree):
    """Local name -> the qualified name it stands for, from the module's imports."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name.split(".")[0]] = \
                    alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.level:  # from . import pinger
            for alias in node.names:
                out[alias.asname or alias.name] = f"netplay.{alias.name}"
    return out


def _dotted(node, aliases):
    """The qualified name an expression like os.path.join or sp.Popen refers to, or None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = aliases.get(node.id, node.id)
    return ".".join([base, *reversed(parts)])


def _forbidden(name):
    """The FORBIDDEN entry name falls under (a module or one of its members), or None."""
    if name in ALLOWED or any(name.startswith(a + ".") for a in ALLOWED):
        return None
    for entry in FORBIDDEN:
        if name == entry or name.startswith(entry + "."):
            return entry
    return None


def _host_path(node):
    """A literal host path given straight to a call: "/proc/...", or NETNS_DIR."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return next((p.rstrip("/") for p in HOST_PATHS if node.value.startswith(p)), None)
    if isinstance(node, ast.Name) and node.id == "NETNS_DIR":
        return "/var/run"
    return None


def leaks(source):
    """(what, line) for each direct host access in a module's source."""
    tree = ast.parse(source)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                entry = _forbidden(alias.name)
                if entry:
                    found.append((entry, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                entry = _forbidden(f"{node.module}.{alias.name}")
                if entry:
                    found.append((entry, node.lineno))
        elif isinstance(node, (ast.Attribute, ast.Name)) and isinstance(node.ctx, ast.Load):
            name = _dotted(node, aliases)
            if name and "." in name:
                entry = _forbidden(name)
                if entry and entry != name.split(".")[0]:  # the module alone is its import
                    found.append((entry, node.lineno))
            elif name == "open" and isinstance(node, ast.Name):
                found.append(("open", node.lineno))
            if (node.attr if isinstance(node, ast.Attribute) else node.id) in ("setns", "_setns"):
                found.append(("setns", node.lineno))
        if isinstance(node, ast.Subscript) and _names_machine(node.value):
            found.append(("machine[...]", node.lineno))  # plumbum's indexing of a program
        if isinstance(node, ast.Call) and _file_function(node.func, aliases):
            for arg in node.args:
                path = _host_path(arg)
                if path:
                    found.append((path, node.lineno))
    return sorted(set(found), key=lambda f: (f[1], f[0]))


def _names_machine(node):
    return (isinstance(node, ast.Name) and node.id == "machine") or \
        (isinstance(node, ast.Attribute) and node.attr == "machine")


def _file_function(func, aliases):
    """A function of the controller's own file system (open, os.*, os.path.*, Path): a
    host path given to one is read here, not on the machine."""
    name = _dotted(func, aliases) or ""
    return name in ("open", "io.open", "pathlib.Path") or name.startswith("os.")


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        if MACHINE_DIR not in path.parents:
            yield path.relative_to(PACKAGE).as_posix(), path.read_text(encoding="utf-8")


def test_only_the_machine_reaches_a_host():
    unexplained, used = [], set()
    for module, source in _modules():
        allowed = EXCEPTIONS.get(module, {})
        for what, line in leaks(source):
            if what in allowed:
                used.add((module, what))
            else:
                unexplained.append(f"netplay/{module}:{line}: {what}")
    assert not unexplained, ("direct host access outside netplay/machine/ (go through the "
                             "Machine, or add an exception with its reason):\n  "
                             + "\n  ".join(unexplained))
    stale = sorted(f"{m}: {w}" for m, whats in EXCEPTIONS.items() for w in whats
                   if (m, w) not in used)
    assert not stale, f"exceptions no longer needed (remove them): {stale}"


def test_the_check_sees_each_kind_of_leak():
    source = '''
import os, shutil, subprocess as sp
from plumbum import local
import docker
import docker.errors
from os import listdir
from netplay.machine import pinger
def f(machine, path):
    os.listdir("/var/run/netns")
    os.geteuid()
    shutil.which("ip")
    os.execvp("ip", ["ip"])
    sp.Popen(["tcpdump"])
    docker.from_env()
    open("/proc/sys/net/ipv4/ip_forward")
    _libc.setns(3, 0)
    machine["ip"]["link"].run()
    self.machine["ip"]
    pinger.ping_many([])
    os.path.isdir(NETNS_DIR)
    machine.read_text("/proc/sys/x")
    machine.list_dir(NETNS_DIR)
    docker.errors.ImageNotFound
    Check(NETNS_DIR, "ok")
'''
    got = {what for what, _ in leaks(source)}
    assert got == {"os.listdir", "os.geteuid", "shutil.which", "os.execvp", "subprocess",
                   "plumbum", "docker", "open", "setns", "machine[...]",
                   "netplay.machine.pinger.ping_many", "/var/run", "/proc"}
    lines = {line for what, line in leaks(source)}
    assert not lines & {21, 22, 23, 24}  # machine calls, the SDK's errors, a path as a name
