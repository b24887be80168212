"""netplay topologies: the built-in topologies, one line each."""

from netplay.core.errors import EXIT_OK

HELP = "list the built-in topologies"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay topologies',
    'netplay topologies --json',
]


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print JSON")


def main(args):
    from netplay.load import builtins
    from netplay.cli.commands.common import print_json

    rows = [{"name": n, "description": builtins.describe(n)} for n in builtins.names()]
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            print(f"{row['name']:12} {row['description']}")
    return EXIT_OK
