"""`netplay shell`: an interactive shell inside a lab's node, its prompt naming the node
and the lab.

The argv is the one `netplay exec` would run for `env PS1=... SHELL -i` (netplay.lab.nodecmd):
`ip netns exec` for a namespace node, `docker exec -it` for a container, the shell itself
for the host node. The prompt comes from the environment rather than a generated rc
file, so nothing is written on the host; bash is started with --norc, or its rc files
(Debian's /etc/bash.bashrc sets PS1) would replace it. Side effects: none until the
caller execs the argv; choosing a container's shell runs `test -x` inside it.
"""

import posixpath
from typing import Any, List, Optional

from netplay.lab.nodecmd import no_such_node, node_argv
from netplay.machine.base import Machine
from netplay.model.topology import Topology

FALLBACKS = ("/bin/bash", "/bin/sh")  # when $SHELL is unset or not on the node's host


def prompt(lab: str, node: str, shell: str) -> str:
    """PS1 naming the lab and node: with the working directory where the shell expands
    bash's `\\w` (bash, busybox's ash), a plain one elsewhere (dash prints escapes as is)."""
    if posixpath.basename(shell) in ("bash", "ash", "busybox"):
        return f"[{lab} {node}] \\w# "
    return f"[{lab} {node}] # "


def shell_flags(shell: str) -> List[str]:
    """The options that make shell interactive without rc files that would set PS1."""
    return ["--norc", "-i"] if posixpath.basename(shell) == "bash" else ["-i"]


def _usable(topo: Topology, name: str, path: str, machine: Machine, cli: Any) -> bool:
    """Whether the node can run the program at path: a container has a file system of its
    own (asked with `test -x` inside it); other nodes run the host's programs."""
    if topo.nodes[name].kind == "docker":
        return machine.run(node_argv(topo, name, ["test", "-x", path], machine, cli))[0] == 0
    return machine.exists(path)


def choose_shell(topo: Topology, name: str, machine: Machine,
                 preferred: Optional[str] = None, cli: Any = None) -> str:
    """The shell to run in node `name`: preferred (the user's $SHELL, an absolute path) if
    the node has it, else /bin/bash, else /bin/sh (every image netplay runs has one)."""
    if name not in topo.nodes:
        raise no_such_node(topo, name)
    candidates = [preferred] if preferred and posixpath.isabs(preferred) else []
    for path in [*candidates, *FALLBACKS]:
        if _usable(topo, name, path, machine, cli):
            return path
    return FALLBACKS[-1]


def shell_argv(topo: Topology, name: str, machine: Machine, preferred: Optional[str] = None,
               tty: bool = True) -> List[str]:
    """The argv of an interactive shell inside node `name` of running lab topo on machine,
    its prompt `[LAB NODE] ...# ` and $NETPLAY_LAB, $NETPLAY_NODE set; InputError (one
    line) when the node is not there to run it."""
    if name not in topo.nodes:
        raise no_such_node(topo, name)
    # one Docker client for every question about a container node
    cli = machine.docker() if topo.nodes[name].kind == "docker" else None
    node_argv(topo, name, ["env"], machine, cli)  # the node is there, before probing it
    shell = choose_shell(topo, name, machine, preferred, cli)
    env = ["env", f"PS1={prompt(topo.name, name, shell)}", f"NETPLAY_LAB={topo.name}",
           f"NETPLAY_NODE={name}"]
    return node_argv(topo, name, [*env, shell, *shell_flags(shell)], machine, cli, tty=tty)
