"""netplay capture LAB NODE:IFACE... [-w FILE.pcap|-] [-c N] [-- FILTER]: tcpdump in a node.

tcpdump runs in the node's namespace (`ip netns exec`, for containers too: their
namespace is named), printing packets or writing a pcap file that Wireshark opens, or
with `-w -` a pcap stream on stdout (`| wireshark -k -i -`). It stops after -c N packets,
or cleanly on Ctrl-C or SIGTERM, which are passed to tcpdump so that it flushes the file
and prints its counts. Several NODE:IFACE are captured by one tcpdump each, merged into
one pcap stream (`-w -` only; netplay.lab.capture).
"""

import argparse
import os
import re
import sys

from netplay.cli.commands import common

HELP = "capture packets on a node's interface with tcpdump (print them or write a pcap)"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay capture home router:eth1',
    'netplay capture -c 10 home router:eth1 -- icmp',
    'netplay capture home router:eth1 laptop:eth1 -w - | wireshark -k -i -',
]


def _options(parser):
    parser.add_argument("-w", "--write", metavar="FILE.pcap",
                        help="write packets to this pcap file instead of printing them; "
                             "- streams pcap to stdout (e.g. | wireshark -k -i -)")
    parser.add_argument("-c", "--count", type=int, metavar="N",
                        help="stop after N packets")


# another NODE:IFACE after the first: one colon, so that neither an IPv6 address nor a MAC
# (which a filter holds after a keyword anyway) is taken for one
_TARGET = re.compile(r"[^\s:-][^\s:]*:[^\s:]+")


def split_rest(args):
    """More NODE:IFACE (into args.targets), options after them, and the filter after `--`.

    Everything after the first NODE:IFACE reaches us unparsed (so that a filter may hold
    words that look like options), so the options there are parsed here, before `--`."""
    rest = list(args.filter)
    args.targets = [args.target]
    while rest and _TARGET.fullmatch(rest[0]):
        args.targets.append(rest.pop(0))
    if "--" in rest:
        cut = rest.index("--")
        opts, expression = rest[:cut], rest[cut + 1:]
    elif rest and rest[0].startswith("-"):
        opts, expression = rest, []
    else:  # argparse drops a `--` that comes right after NODE:IFACE
        opts, expression = [], rest
    if opts:
        sub = argparse.ArgumentParser(prog="netplay capture LAB NODE:IFACE", add_help=False)
        _options(sub)
        sub.add_argument("-v", "--verbose", action="store_true", default=args.verbose)
        sub.add_argument("-q", "--quiet", action="store_true", default=args.quiet)
        sub.add_argument("--state-dir", default=args.state_dir)
        later, unknown = sub.parse_known_args(opts)
        if unknown:
            sub.error(f"unrecognized arguments: {' '.join(unknown)} (put a filter after --, "
                      f"as in `-- icmp`)")
        for key in ("write", "count"):
            if getattr(later, key) is not None:
                setattr(args, key, getattr(later, key))
        args.verbose, args.quiet, args.state_dir = later.verbose, later.quiet, later.state_dir
    return expression


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")
    parser.add_argument("target", metavar="NODE:IFACE",
                        help="the interface to listen on, e.g. router:eth1 or home:laptop_eth1 "
                             "(a bridge alone means the bridge device); more NODE:IFACE may "
                             "follow, merged into one pcap stream with -w -")
    _options(parser)
    parser.add_argument("filter", nargs=argparse.REMAINDER, metavar="-- FILTER",
                        help="a tcpdump filter expression after --, e.g. -- icmp")


def parse_target(topo, text):
    """(namespace, ifname, display name) of NODE:IFACE in topo; InputError if unknown."""
    from netplay.core.errors import InputError

    name, sep, ifname = text.partition(":")
    if name in topo.bridges and not sep:
        ifname = name
    elif not sep or not ifname:
        raise InputError(f"{text!r}: name an interface as NODE:IFACE, e.g. "
                         f"{next(iter(topo.nodes), 'node')}:eth1")
    if name not in topo.nodes and name not in topo.bridges:
        raise InputError(f"lab {topo.name!r} has no node or bridge {name!r}; it has "
                         f"{', '.join([*topo.nodes, *topo.bridges])}")
    return topo.namespace_of(name), ifname, f"{name}:{ifname}"


def tcpdump_argv(ns, ifname, write=None, count=None, expression=()):
    """The tcpdump command line, run inside namespace ns (None: root)."""
    # --immediate-mode: each packet is handed over as it comes, not a block a second later,
    # so a capture stopped right after some traffic still holds that traffic
    argv = ["tcpdump", "-i", ifname, "-n", "--immediate-mode"]
    argv += ["-U", "-w", write] if write else ["-l"]
    if count is not None:
        argv += ["-c", str(count)]
    argv += list(expression)
    return ["ip", "netns", "exec", ns, *argv] if ns else argv


def check_target(machine, topo, text):
    """(namespace, ifname, shown) of NODE:IFACE, after checking it is there on the host."""
    from netplay.core.errors import InputError
    from netplay.observe import ip as observe

    ns, ifname, shown = parse_target(topo, text)
    if ns is not None and ns not in observe.netns_names(machine):
        raise InputError(f"{shown}: namespace {ns} is missing "
                         f"(`netplay verify {topo.name}` says what else is wrong)")
    names = observe.link_names(machine, ns)
    if ifname not in names:
        raise InputError(f"{shown}: no interface {ifname} in "
                         f"{'namespace ' + ns if ns else 'the root namespace'}; it has "
                         f"{', '.join(sorted(names)) or 'none'}")
    return ns, ifname, shown


def check_write(args):
    """The -w argument as tcpdump gets it: "-" (stdout), an absolute path, or None."""
    from netplay.core.errors import InputError

    if len(args.targets) > 1 and args.write != "-":
        raise InputError(f"{' '.join(args.targets)}: several interfaces are captured into "
                         f"one pcap stream on stdout only; add -w - (e.g. `-w - > both.pcap` "
                         f"or `-w - | wireshark -k -i -`)")
    if len(set(args.targets)) < len(args.targets):
        raise InputError(f"{' '.join(args.targets)}: an interface is named twice")
    if args.write in (None, "-"):
        return args.write
    write = os.path.abspath(args.write)
    if not os.path.isdir(os.path.dirname(write)):
        raise InputError(f"-w {args.write}: no such directory {os.path.dirname(write)}")
    return write


def merge(machine, captures, count):
    """Several tcpdumps merged into one pcap stream on stdout; Ctrl-C and SIGTERM stop
    every one (each flushes and prints its counts on stderr)."""
    import signal

    from netplay.lab.capture import Merge

    merged = Merge(machine, captures, sys.stdout.buffer, count)
    old = {s: signal.signal(s, lambda signum, frame: merged.stop())
           for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return merged.run()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def main(args):
    from netplay.check import preflight
    from netplay.lab import status
    from netplay.core.errors import InputError

    expression = split_rest(args)
    if args.count is not None and args.count < 1:
        raise InputError(f"-c: expected a number of packets of 1 or more, got {args.count}")
    write = check_write(args)
    local = common.machine()
    preflight.require_root(local)
    data, topo, _ = status.load_lab(common.state_root(args), args.lab)
    status.require_up(data, args.lab)
    args.targets = [common.node_name(topo, t) for t in args.targets]  # short names too
    nodes = [t.partition(":")[0] for t in args.targets]
    host = common.host_of(topo, nodes)
    if host is not None and write not in (None, "-"):
        raise InputError(f"-w {args.write}: the lab's node lives on host {host}, where "
                         "tcpdump would write the file; stream it here with "
                         f"`-w - > {args.write}`")
    with common.node_machine(args, topo, local, nodes) as machine:
        return _capture(args, topo, machine, write, expression)


def _capture(args, topo, machine, write, expression):
    """Capture args.targets with tcpdump on machine, their host."""
    from netplay.core.errors import HostError

    if not machine.which("tcpdump"):
        raise HostError("tcpdump not found on the lab's host; install it "
                        "(apt-get install tcpdump)")
    captures = []
    for text in args.targets:
        ns, ifname, shown = check_target(machine, topo, text)
        captures.append((shown, tcpdump_argv(ns, ifname, write, args.count, expression)))
    if args.verbose:
        for _, argv in captures:
            common.echo(args)(argv)
    sys.stdout.flush()
    # a pcap stream from another host comes through ssh's pipe, not a terminal (which
    # would mangle its bytes): the merge's path, with one capture
    if len(captures) > 1 or (write == "-" and machine.host != "local"):
        return merge(machine, captures, args.count)
    rc = machine.run_attached(captures[0][1])  # Ctrl-C and SIGTERM go to tcpdump, which flushes
    if write not in (None, "-") and rc == 0 and not args.quiet:
        print(f"netplay: wrote {write}", file=sys.stderr)
    return rc
