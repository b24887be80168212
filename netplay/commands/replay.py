"""netplay replay LOG.json: run a recorded log's steps again on this host, or undo them."""

import time

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
    from netplay import progress as display, replay
    from netplay.export import script_lines

    checked = replay.load(args.log)
    if args.dry_run:
        lines = replay.undo_lines(checked) if args.undo else script_lines(checked.steps)
        if lines:
            print("\n".join(lines))
        return EXIT_OK
    start = time.monotonic()
    shown = display.for_args(args, "down" if args.undo else "up", checked.lab)
    try:
        if args.undo:
            gone = replay.undo(checked, common.machine(), common.state_root(args),
                               echo=common.echo(args), progress=shown)
        else:
            summary = replay.replay(checked, common.machine(), common.state_root(args),
                                    echo=common.echo(args), progress=shown)
    finally:
        if shown:
            shown.finish()
    if args.undo:
        if gone is None:
            print(f"lab {checked.lab} is not up; nothing to do")
            return EXIT_OK
        topo = checked.topology
        counts = f"{len(topo.nodes)} nodes, {len(topo.bridges)} bridges, {len(topo.links)} links "
        common.report_down(args, checked.lab, gone, counts, time.monotonic() - start)
        return EXIT_OK
    if not args.quiet:
        print(summary.line())
    return EXIT_OK
