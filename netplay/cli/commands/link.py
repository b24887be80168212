"""netplay link LAB [NODE:IFACE] [--delay D] [--jitter J] [--loss L] [--rate R] [--clear]:
impair one end of a running lab's link, or show what is in force; netplay link LAB
NODE:IFACE --down|--up: set the end down or up.

The options give the end's whole impairment: what is not given is off (as `tc qdisc
replace` does). The change is the lab's topology with the end's impairment or state
changed, run as `apply` runs one (a `tc` command; `ip link set` for --down/--up, and what
the kernel dropped put back) and recorded as a new generation of the lab's log.
"""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = ("change a running lab's link impairments (delay, jitter, loss, rate) or show them; "
        "set an end down or up")
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay link home',
    'netplay link home router:eth1 --delay 20ms --loss 1%',
    'netplay link home router:eth1 --down',
]


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")
    parser.add_argument("end", nargs="?", metavar="NODE:IFACE",
                        help="the end to change: its egress is impaired (a bridge port is "
                             "BRIDGE:PORT); none: list the lab's impairments")
    parser.add_argument("--delay", help="added delay, e.g. 20ms")
    parser.add_argument("--jitter", help="delay varies by up to this, e.g. 5ms (needs --delay)")
    parser.add_argument("--loss", help="packets dropped, e.g. 1%%")
    parser.add_argument("--rate", help="bandwidth limit, e.g. 10mbit")
    parser.add_argument("--clear", action="store_true", help="remove the end's impairment")
    updown = parser.add_mutually_exclusive_group()
    updown.add_argument("--down", dest="state", action="store_const", const="down",
                        help="set the end down (`ip link set IF down`); its impairment stays")
    updown.add_argument("--up", dest="state", action="store_const", const="up",
                        help="set the end up again")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the command; change nothing")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _wanted(args):
    from netplay.model import impairment as impair
    from netplay.core.errors import InputError

    given = {k: getattr(args, k) for k in impair.KEYS if getattr(args, k) is not None}
    if args.clear and given:
        raise InputError(f"link: --clear removes the impairment; drop "
                         f"--{next(iter(given))} or --clear")
    if not args.clear and not given:
        return None
    if args.clear:
        return impair.Impairment()
    imp = impair.from_dict(given, "link")
    return impair.check_complete(imp, "link")


def main(args):
    from netplay.core.errors import InputError
    from netplay.lab import link, status
    from netplay.model import impairment as impair

    root = common.state_root(args)
    if args.end is not None:  # NODE as the lab names it: a prefixed lab's short name too
        _, topo, _ = status.load_lab(root, args.lab)
        args.end = common.node_name(topo, args.end)
    if args.state:
        return _set_state(args, root)
    wanted = _wanted(args)
    if wanted is not None and args.end is None:
        raise InputError("link: say which end to change, as in "
                         f"`netplay link {args.lab} NODE:IFACE --delay 20ms`")
    if wanted is None or args.dry_run:  # only reading the log
        data, topo, _ = status.load_lab(root, args.lab)
        if args.dry_run and wanted is not None:
            steps = link.preview(topo, args.end, {"impair": wanted.to_dict() or None})
            print("\n".join(step.shell() for step in steps))
            return EXIT_OK
        now = link.current(topo, data)
        if args.end is not None:
            end = impair.find_end(topo, args.end)
            now = {end.name: now[end.name]} if end.name in now else {end.name: None}
        return _show(args, now)
    from netplay.check import preflight

    machine = common.machine()
    preflight.require_root(machine)
    with _end_machine(args, root, machine) as on:
        end, before, note = link.change(root, args.lab, args.end, wanted or None,
                                        on, echo=common.echo(args))
    if args.json:
        common.print_json({"lab": args.lab, "end": end.name,
                           "before": before.to_dict() if before else None,
                           "impair": wanted.to_dict() if wanted else None, "note": note})
    elif not args.quiet:
        now = wanted.describe() if wanted else "no impairment"
        print(f"{args.lab} {end.name}: {note}" if note else f"{args.lab} {end.name}: {now}")
    return EXIT_OK


def _end_machine(args, root, machine):
    """A context manager: the machine of the host the end's node lives on."""
    from netplay.lab import status

    _, topo, _ = status.load_lab(root, args.lab)
    return common.node_machine(args, topo, machine, [(args.end or "").partition(":")[0]])


def _set_state(args, root):
    """--down or --up: one `ip link set` in the end's namespace, recorded in the log."""
    from netplay.core.errors import InputError
    from netplay.lab import link, status
    from netplay.model import impairment as impair

    other = [f"--{k}" for k in (*impair.KEYS, "clear") if getattr(args, k) not in (None, False)]
    if other:
        raise InputError(f"link: --{args.state} sets the end's state only; change the "
                         f"impairment ({other[0]}) in a command of its own")
    if args.end is None:
        raise InputError("link: say which end to set, as in "
                         f"`netplay link {args.lab} NODE:IFACE --{args.state}`")
    up = args.state == "up"
    if args.dry_run:
        _, topo, _ = status.load_lab(root, args.lab)
        print("\n".join(step.shell() for step in link.preview(topo, args.end, {"up": up})))
        return EXIT_OK
    from netplay.check import preflight

    machine = common.machine()
    preflight.require_root(machine)
    with _end_machine(args, root, machine) as on:
        end = link.set_state(root, args.lab, args.end, up, on, echo=common.echo(args))
    if args.json:
        common.print_json({"lab": args.lab, "end": end.name, "state": args.state})
    elif not args.quiet:
        print(f"{args.lab} {end.name}: {args.state}")
    return EXIT_OK


def _show(args, now):
    if args.json:
        from netplay.cli.commands.common import print_json

        print_json({"lab": args.lab,
                    "impairments": {e: (i.to_dict() if i else None) for e, i in now.items()}})
        return EXIT_OK
    if not now:
        print(f"lab {args.lab}: no impairments")
    for end, imp in now.items():
        print(f"{end:24} {imp.describe() if imp else 'no impairment'}")
    return EXIT_OK
