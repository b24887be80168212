"""netplay down LAB: undo a lab's logged steps in reverse."""

import sys

from netplay.commands import common
from netplay.errors import EXIT_OK

HELP = "tear a lab down by undoing its logged steps (a second down does nothing)"


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")


def main(args):
    from netplay import lab, preflight

    preflight.require_root()
    gone = lab.down(args.lab, common.machine(), common.state_root(args), echo=common.echo(args))
    if gone is None:
        print(f"lab {args.lab} is not up; nothing to do")
        return EXIT_OK
    for note in gone:
        print(f"netplay: {args.lab}: {note}", file=sys.stderr)
    if not args.quiet:
        print(f"lab {args.lab} is down")
    return EXIT_OK
