"""netplay replay LOG.json: run a recorded log's steps again on this host, or undo them."""

import shlex
import sys
import time

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "run a recorded step log again on this host (--undo: tear down what it built)"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay replay /var/lib/netplay/labs/home/log.json',
    'netplay replay --dry-run saved-log.json',
    'netplay replay --undo saved-log.json',
]


def add_arguments(parser):
    parser.add_argument("log", metavar="LOG.json",
                        help="a step log (STATE_DIR/labs/LAB/log.json, or a copy of one)")
    parser.add_argument("--undo", action="store_true",
                        help="tear down what the log built: `down` of its lab, refused when "
                             "that lab is up from other steps")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands; change nothing (needs no root)")
    parser.add_argument("--generation", type=int, metavar="N",
                        help="the lab as of generation N of its log (0: as `run` built it; "
                             "default: the newest applied, after every `apply` and `link`)")
    parser.add_argument("--allow-exec", action="store_true",
                        help="run the nodes' own `exec` commands, which may reach outside the "
                             "lab (a log that holds any is refused without this); each is "
                             "printed on stderr before it runs")


def main(args):
    from netplay.cli import progress as display
    from netplay.lab import replay
    from netplay.render.bash import script_lines, teardown_lines

    checked = replay.load(args.log, args.generation)
    if args.dry_run:
        if not args.undo and not args.allow_exec:
            _note_node_commands(checked)
        # --undo's dry run: what undo would run, as the teardown script says it
        topo, steps = replay.planned(checked, common.machine(), **_hosts(args))
        lines = teardown_lines(steps) if args.undo else script_lines(steps, hosts=topo.hosts)
        if lines:
            print("\n".join(lines))
        return EXIT_OK
    start = time.monotonic()
    shown = display.for_args(args, "down" if args.undo else "up", checked.lab)
    try:
        if args.undo:
            gone = replay.undo(checked, common.machine(), common.state_root(args),
                               echo=common.echo(args), progress=shown,
                               ssh_config=common.ssh_config(args))
        else:
            summary = replay.replay(checked, common.machine(), common.state_root(args),
                                    echo=common.echo(args), progress=shown,
                                    allow_exec=args.allow_exec,
                                    announce=_announcer(checked.lab, shown),
                                    **_hosts(args))
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


def _hosts(args):
    """replay's options for the lab's hosts: the ssh configuration, and the machines a
    hosts file maps them onto (--hosts FILE)."""
    from netplay.load.yamlfile import read_hosts_file

    path = common.hosts_file(args)
    data = None if path is None else read_hosts_file(path)
    return {"ssh_config": common.ssh_config(args), "hosts_data": data,
            "hosts_source": path or ""}


def _note_node_commands(checked):
    """A dry run shows node commands; say on stderr that replay would need --allow-exec."""
    found = checked.node_commands()
    if found:
        first = found[0][0]
        more = f" and {len(found) - 1} more" if len(found) > 1 else ""
        print(f"netplay: {checked.source}: steps[{first}]{more} run nodes' own commands, which "
              "can reach outside the lab; replay runs them only with --allow-exec",
              file=sys.stderr)


def _announcer(lab, shown):
    """Prints each node command on stderr before it runs, even with -q: the user allowed
    these commands and is shown each one. A progress line is erased first (and redrawn by
    the next step)."""
    def announce(argv):
        if shown:
            shown.finish()
        print(f"netplay: {lab}: node command: {shlex.join(argv)}", file=sys.stderr, flush=True)

    return announce
