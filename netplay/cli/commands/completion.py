"""netplay completion bash|zsh: print the shell completion script (generated from the parser)."""

import argparse

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "print shell completion for bash or zsh (`source <(netplay completion bash)`)"


def add_arguments(parser):
    from netplay.cli.completion import LISTS, SHELLS

    parser.add_argument("shell", nargs="?", choices=SHELLS, default="bash",
                        help="the shell to complete in (default bash)")
    # what the script itself calls while completing: names that change (labs, nodes)
    parser.add_argument("--list", choices=LISTS, help=argparse.SUPPRESS)
    parser.add_argument("--lab", help=argparse.SUPPRESS)


def main(args):
    from netplay.cli import completion

    if args.list:
        for name in completion.names(args.list, common.state_root(args), args.lab):
            print(name)
        return EXIT_OK
    from netplay.cli.app import build_parser

    print(completion.script(args.shell, build_parser()), end="")
    return EXIT_OK
