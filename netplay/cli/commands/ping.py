"""netplay ping LAB A B [-c N] [-4|-6] [--json]: echo requests from node A to node B (or
B:IFACE, or an address), by name; exit 0 when every request got its reply, 1 otherwise.
"""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_FAILED, EXIT_OK

HELP = "ping from one node of a running lab to another, by name (exit 0 on replies)"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay ping home laptop router',
    'netplay ping -c 3 home laptop verizon',
    'netplay ping -4 home laptop router:eth0',
]


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")
    parser.add_argument("node", help="the node the requests are sent from")
    parser.add_argument("dest", metavar="TARGET",
                        help="a node (its address on a network the source shares, one per IP "
                             "version), NODE:IFACE (that interface's), or an IP address")
    parser.add_argument("-c", "--count", type=int, default=1, metavar="N",
                        help="rounds of requests, one a second (default 1)")
    common.add_family_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _line(source, outcome):
    target = outcome.target
    where = f"{source} -> {target.label}" + \
        (f" ({target.address})" if target.label != target.address else "")
    if outcome.replies == outcome.sent:
        return f"{where}: reply" if outcome.sent == 1 else \
            f"{where}: {outcome.replies}/{outcome.sent} replies"
    if outcome.sent == 1:
        return f"{where}: no reply ({outcome.reason})"
    return f"{where}: {outcome.replies}/{outcome.sent} replies ({outcome.reason})"


def main(args):
    from netplay.core.errors import InputError
    from netplay.lab import ping

    if args.count < 1:
        raise InputError(f"ping: -c {args.count}: give a count of at least 1")
    machine, topo, (args.node, args.dest) = common.running_lab(args, args.node, args.dest)
    with common.node_machine(args, topo, machine, [args.node]) as source_host:
        outcomes = ping.ping(topo, source_host, args.node, args.dest, args.family,
                             args.count)
    ok = all(o.replies == o.sent for o in outcomes)
    if args.json:
        common.print_json({"lab": args.lab, "source": args.node, "ok": ok, "targets": [
            {"target": o.target.label, "address": o.target.address, "sent": o.sent,
             "replies": o.replies, "reason": o.reason} for o in outcomes]})
    elif not args.quiet or not ok:
        for outcome in outcomes:
            print(_line(args.node, outcome))
    return EXIT_OK if ok else EXIT_FAILED
