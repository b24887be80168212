"""netplay exec LAB NODE -- CMD...: run a command inside a node, its exit code passed back.

A namespace node runs it with `ip netns exec`, a container with `docker exec`, the host
node directly. stdin, stdout and stderr are the terminal's own (netplay replaces itself
with the command), so interactive shells, pipes and exit codes behave as if typed there.
"""

import argparse
import sys

from netplay.cli.commands import common

HELP = "run a command inside a lab's node (its exit code is netplay's)"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay exec home laptop -- ip addr',
    'netplay exec home laptop -- ping -c1 10.200.1.1',
]

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


def main(args):
    from netplay.lab.nodecmd import node_argv

    argv = command_line(args)
    machine, topo, (args.node,) = common.running_lab(args, args.node)
    with common.node_machine(args, topo, machine, [args.node]) as on:  # the node's host
        full = node_argv(topo, args.node, argv, on,
                         tty=sys.stdin.isatty() and sys.stdout.isatty())
        common.replace_with(args, on, full)
