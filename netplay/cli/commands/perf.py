"""netplay perf LAB A B [--time S] [--udp [--bitrate R]] [-4|-6] [--json]: throughput
from node A to node B with iperf3, as Mininet's `iperf h1 h2`; exit 0 when measured, 1
when it could not be (B unreachable).
"""

import re

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "measure throughput from one node of a running lab to another with iperf3"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay perf home laptop verizon',
    'netplay perf linear-2 h1 h2 --time 5 --json',
    'netplay perf linear-2 h1 h2 --udp --bitrate 50M',
]
MAX_TIME = 3600  # seconds; a longer test is a mistyped one
BITRATE = re.compile(r"[0-9]+(\.[0-9]+)?[KMGkmg]?\Z")  # iperf3's -b: 10M, 1.5G, 800k


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")
    parser.add_argument("node", metavar="A", help="the node the client sends from")
    parser.add_argument("target", metavar="B",
                        help="the node the server runs in (NODE, or NODE:IFACE for that "
                             "interface's address); its address is the one `netplay ping` "
                             "would use")
    parser.add_argument("-t", "--time", type=int, default=10, metavar="S",
                        help="seconds to send for (default 10)")
    parser.add_argument("-u", "--udp", action="store_true",
                        help="UDP instead of TCP (reports loss and jitter)")
    parser.add_argument("-b", "--bitrate", metavar="RATE",
                        help="target rate, as iperf3's -b (10M, 1G; default: unlimited "
                             "for TCP, 1M for UDP)")
    parser.add_argument("-p", "--port", type=int, default=5201,
                        help="the server's port inside B (default 5201)")
    common.add_family_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON")


def _check(args):
    from netplay.core.errors import InputError

    if not 1 <= args.time <= MAX_TIME:
        raise InputError(f"perf: --time {args.time}: give 1 to {MAX_TIME} seconds")
    if not 1 <= args.port <= 65535:
        raise InputError(f"perf: --port {args.port}: give a port from 1 to 65535")
    if args.bitrate is not None and not BITRATE.match(args.bitrate):
        raise InputError(f"perf: --bitrate {args.bitrate!r}: give a number with an optional "
                         "K, M or G, as in 10M")


def _line(result):
    from netplay.lab.perf import rate

    where = f"{result.source} -> {result.target} ({result.address})"
    if result.protocol == "udp":
        return (f"{where}: {rate(result.sender_bps)} (sender), {rate(result.receiver_bps)} "
                f"(receiver), {result.lost_percent or 0:.2f}% lost, jitter "
                f"{result.jitter_ms or 0:.3f} ms")
    return (f"{where}: {rate(result.sender_bps)} (sender), {rate(result.receiver_bps)} "
            f"(receiver)")


def main(args):
    from netplay.lab import perf

    _check(args)
    machine, topo, (args.node, args.target) = common.running_lab(args, args.node,
                                                                 args.target)
    nodes = [args.node, args.target.partition(":")[0]]
    with common.node_machine(args, topo, machine, nodes) as on:
        result = perf.measure(topo, on, args.node, args.target, args.time, args.udp,
                              args.bitrate, args.family, args.port)
    if args.json:
        common.print_json({"lab": args.lab, **result._asdict()})
    elif not args.quiet:
        print(_line(result))
    return EXIT_OK
