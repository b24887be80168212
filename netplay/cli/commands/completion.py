"""netplay completion bash|zsh|fish: print the shell completion script (shtab, from the parser)."""

import argparse

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "print shell completion for bash, zsh or fish (`source <(netplay completion bash)`)"
EXAMPLES = [  # the epilog of --help: real command lines
    'source <(netplay completion bash)',
    'netplay completion zsh > ~/.zfunc/_netplay',
    'netplay completion fish > ~/.config/fish/completions/netplay.fish',
]


def add_arguments(parser):
    from netplay.cli.completion import LISTS, SHELLS  # shtab itself only when a script is made

    parser.add_argument("shell", nargs="?", choices=SHELLS, default="bash",
                        help="the shell to complete in (default bash)")
    # what the scripts call while completing: names that change (labs, nodes, ends), for
    # the lab named by --lab or among the words of --line (the command line so far)
    parser.add_argument("--list", nargs="+", choices=LISTS, help=argparse.SUPPRESS)
    parser.add_argument("--lab", help=argparse.SUPPRESS)
    parser.add_argument("--line", nargs=argparse.REMAINDER, default=None, help=argparse.SUPPRESS)


def main(args):
    from netplay.cli import completion
    from netplay.cli.app import build_parser

    if args.list:
        state_dir, lab = completion.context(build_parser({}), args.line or [])
        root = common.state_root(argparse.Namespace(state_dir=state_dir or args.state_dir))
        for name in completion.names(args.list, root, args.lab or lab):
            print(name)
        return EXIT_OK
    print(completion.script(args.shell, build_parser()), end="")
    return EXIT_OK
