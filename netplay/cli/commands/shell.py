"""netplay shell LAB NODE: an interactive shell inside a node, as Mininet's `h1 bash`.

The shell is $SHELL when the node has it, else /bin/bash, else /bin/sh; its prompt names
the lab and the node (`[LAB NODE] ~# `). netplay replaces itself with it (the machine's
exec_interactive: `ssh -t` for a lab on another host), so its exit code is netplay's.
"""

import sys

from netplay.cli.commands import common

HELP = "open an interactive shell inside a lab's node (prompt: [LAB NODE])"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay shell home laptop',
    'SHELL=/bin/sh netplay shell linear-2 h1',
]


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")
    parser.add_argument("node", help="a node of the lab")


def main(args):
    import os

    from netplay.lab import shell

    machine, topo, (args.node,) = common.running_lab(args, args.node)
    with common.node_machine(args, topo, machine, [args.node]) as on:  # the node's host
        # $SHELL is the user's choice here; a lab on another host may lack it (then bash)
        preferred = os.environ.get("SHELL") if on is machine else None
        full = shell.shell_argv(topo, args.node, on, preferred,
                                tty=sys.stdin.isatty() and sys.stdout.isatty())
        common.replace_with(args, on, full)
