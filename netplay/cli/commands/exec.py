"""netplay exec LAB NODE -- CMD...: run a command inside a node, its exit code passed back.

A namespace node runs it with `ip netns exec`, a container with `docker exec`, the host
node directly. stdin, stdout and stderr are the terminal's own (netplay replaces itself
with the command), so interactive shells, pipes and exit codes behave as if typed there.
"""

import argparse
import sys

from netplay.cli.commands import common
from netplay.core.errors import NetplayError

HELP = "run a command inside a lab's node (its exit code is netplay's)"
EXIT_NOT_FOUND = 127  # as a shell says "command not found"


class CommandNotFound(NetplayError):
    exit_code = EXIT_NOT_FOUND


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")
    parser.add_argument("node", help="a node of the lab")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD...",
                        help="the command and its arguments, after --")


def command_line(args):
    """The argv after `--`; InputError when there is none."""
    from netplay.core.errors import InputError

    argv = list(args.argv)
    if argv and argv[0].startswith("-") and argv[0] != "--" and "--" in argv:
        # options after NODE and before --: parse them as if given before
        cut = argv.index("--")
        sub = argparse.ArgumentParser(prog="netplay exec LAB NODE", add_help=False)
        sub.add_argument("-v", "--verbose", action="store_true", default=args.verbose)
        sub.add_argument("-q", "--quiet", action="store_true", default=args.quiet)
        sub.add_argument("--state-dir", default=args.state_dir)
        later = sub.parse_args(argv[:cut])
        args.verbose, args.quiet, args.state_dir = later.verbose, later.quiet, later.state_dir
        argv = argv[cut:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise InputError(f"exec: no command given; put it after --, as in "
                         f"`netplay exec {args.lab} {args.node} -- ip addr`")
    return argv


def node_argv(topo, node_name, argv, machine, cli=None):
    """The argv that runs argv inside node_name on machine, after checking the node is
    there."""
    from netplay.observe import containers as dockerstate, ip as observe
    from netplay.core.errors import InputError

    node = topo.nodes.get(node_name)
    if node is None:
        raise InputError(f"lab {topo.name!r} has no node {node_name!r}; its nodes are "
                         f"{', '.join(topo.nodes) or 'none'}")
    if node.kind == "docker":
        cli = cli or machine.docker()
        if cli is None:
            raise InputError(f"node {node.name} is a container and no Docker daemon answers")
        status = {c.name: c.status for c in dockerstate.lab_containers(cli, topo.name)}
        if status.get(node.name) != "running":
            raise InputError(f"node {node.name}: its container is "
                             f"{status.get(node.name, 'gone')}, not running "
                             f"(`netplay verify {topo.name}` says what else is wrong)")
        tty = ["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else []
        return ["docker", "exec", "-i", *tty, node.name, *argv]
    if "/" not in argv[0] and not machine.which(argv[0]):
        raise CommandNotFound(f"{argv[0]}: command not found on this host (a namespace "
                              f"node runs the host's programs)")
    if node.kind == "host":
        return list(argv)
    if node.name not in observe.netns_names(machine):
        raise InputError(f"node {node.name}: namespace {node.name} is missing "
                         f"(`netplay verify {topo.name}` says what else is wrong)")
    return ["ip", "netns", "exec", node.name, *argv]


def main(args):
    from netplay.check import preflight
    from netplay.lab import status
    from netplay.core.errors import HostError

    argv = command_line(args)
    machine = common.machine()
    preflight.require_root(machine)
    data, topo, _ = status.load_lab(common.state_root(args), args.lab)
    status.require_up(data, args.lab)
    args.node = common.node_name(topo, args.node)  # a prefixed lab's short name too
    with common.node_machine(args, topo, machine, [args.node]) as on:  # the node's host
        full = node_argv(topo, args.node, argv, on)
        if args.verbose:
            common.echo(args)(full)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            on.exec_interactive(full)
        except OSError as err:
            raise HostError(f"cannot run {full[0]}: {err.strerror}") from None
