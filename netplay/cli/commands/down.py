"""netplay down LAB: undo a lab's logged steps in reverse."""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "tear a lab down by undoing its logged steps (a second down does nothing)"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay down home',
    'netplay down linear:3   # the lab `netplay run linear:3` made',
]


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")


def main(args):
    import time

    from netplay.lab import lifecycle as lab
    from netplay.check import preflight
    from netplay.cli import progress as display

    machine = common.machine()
    preflight.require_root(machine)
    start = time.monotonic()
    shown = display.for_args(args, "down", args.lab)  # a progress line on a terminal only
    try:
        gone, data = lab.down_read(args.lab, machine, common.state_root(args),
                                   echo=common.echo(args), progress=shown,
                                   ssh_config=common.ssh_config(args))
    finally:
        if shown:
            shown.finish()
    if gone is None:
        print(f"lab {args.lab} is not up; nothing to do")
        return EXIT_OK
    common.report_down(args, args.lab, gone, _counts(data), time.monotonic() - start)
    return EXIT_OK


def _counts(data):
    """'3 nodes, 1 bridges, 3 links ' from a log's topology, as run's summary says it."""
    from netplay.lab.lifecycle import sizes

    from netplay.run.log import current_topology

    if not isinstance(data, dict) or not isinstance(data.get("topology"), dict):
        return ""
    topo = current_topology(data)
    return sizes(*(len(topo.get(k) or ()) for k in ("nodes", "bridges", "links"))) + " "
