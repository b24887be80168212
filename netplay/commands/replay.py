"""netplay replay LOG.json: run a recorded log's steps again on this host, or undo them."""

import sys

from netplay.commands import common
from netplay.errors import EXIT_OK

HELP = "run a recorded step log again on this host (--undo: tear down what it built)"


def add_arguments(parser):
    parser.add_argument("log", metavar="LOG.json",
                        help="a step log (STATE_DIR/labs/LAB/log.json, or a copy of one)")
    parser.add_argument("--undo", action="store_true",
                        help="tear down what the log built: `down` of its lab, refused when "
                             "that lab is up from other steps")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands; change nothing (needs no root)")


def main(args):
    from netplay import replay
    from netplay.export import script_lines

    checked = replay.load(args.log)
    if args.dry_run:
        lines = replay.undo_lines(checked) if args.undo else script_lines(checked.steps)
        if lines:
            print("\n".join(lines))
        return EXIT_OK
    if args.undo:
        gone = replay.undo(checked, common.machine(), common.state_root(args),
                           echo=common.echo(args))
        if gone is None:
            print(f"lab {checked.lab} is not up; nothing to do")
            return EXIT_OK
        for note in gone:
            print(f"netplay: {checked.lab}: {note}", file=sys.stderr)
        if not args.quiet:
            print(f"lab {checked.lab} is down")
        return EXIT_OK
    summary = replay.replay(checked, common.machine(), common.state_root(args),
                            echo=common.echo(args))
    if not args.quiet:
        print(summary.line())
    return EXIT_OK
