"""A command run inside a lab's node: `netplay exec`'s, and the Python API's `Lab.exec`
(its output captured).

The argv that runs a command in a node is the one `netplay exec` execs: `ip netns exec`
for a namespace node, `docker exec -i` for a container, the command itself for the host
node; each refused in one line when the node is not there to run it.
"""

from typing import List, Optional

from netplay.core.errors import InputError, NetplayError
from netplay.machine.base import EXIT_NOT_FOUND, Machine, Outcome
from netplay.model.topology import Topology
from netplay.observe import containers as dockerstate, ip as observe


class CommandNotFound(NetplayError):
    """The program is not on the node's host (a namespace node runs the host's)."""

    exit_code = EXIT_NOT_FOUND


def no_such_node(topo: Topology, name: str) -> InputError:
    return InputError(f"lab {topo.name!r} has no node {name!r}; its nodes are "
                      f"{', '.join(topo.nodes) or 'none'}")


def node_argv(topo: Topology, name: str, argv: List[str], machine: Machine,
              cli: Optional[object] = None, tty: bool = False) -> List[str]:
    """The argv that runs argv inside node `name` on machine, after checking that the
    node is there to run it (InputError), and its program too (CommandNotFound). tty: a
    container's command gets a terminal (`netplay exec` from one)."""
    node = topo.nodes.get(name)
    if node is None:
        raise no_such_node(topo, name)
    if node.kind == "docker":
        cli = cli or machine.docker()
        if cli is None:
            raise InputError(f"node {node.name} is a container and no Docker daemon answers")
        status = {c.name: c.status for c in dockerstate.lab_containers(cli, topo.name)}
        if status.get(node.name) != "running":
            raise InputError(f"node {node.name}: its container is "
                             f"{status.get(node.name, 'gone')}, not running "
                             f"(`netplay verify {topo.name}` says what else is wrong)")
        return ["docker", "exec", "-i", *(["-t"] if tty else []), node.name, *argv]
    if "/" not in argv[0] and not machine.which(argv[0]):
        raise CommandNotFound(f"{argv[0]}: command not found on this host (a namespace "
                              f"node runs the host's programs)")
    if node.kind == "host":
        return list(argv)
    if node.name not in observe.netns_names(machine):
        raise InputError(f"node {node.name}: namespace {node.name} is missing "
                         f"(`netplay verify {topo.name}` says what else is wrong)")
    return ["ip", "netns", "exec", node.name, *argv]


def run_in(topo: Topology, name: str, argv: List[str], machine: Machine,
           stdin: Optional[str] = None) -> Outcome:
    """(exit code, stdout, stderr) of argv run to its end inside node `name`; a program
    the host lacks is exit code 127 with the reason on stderr, as a shell says it."""
    try:
        full = node_argv(topo, name, argv, machine)
    except CommandNotFound as err:
        return EXIT_NOT_FOUND, "", f"{err}\n"
    return machine.run(full, stdin)
