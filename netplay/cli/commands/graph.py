"""netplay graph TOPOLOGY|LAB: draw a topology as DOT, Mermaid, SVG, PNG or HTML."""

import os
import sys

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "draw a topology or a lab: nodes, bridges, links, interface names and addresses"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay graph home -o home.svg',
    'netplay graph tree:2,2 --format mermaid',
    'netplay graph home | dot -Tpng > home.png',
]


def add_arguments(parser):
    parser.add_argument("source", metavar="TOPOLOGY|LAB",
                        help="a built-in name, a YAML file, or a lab on this host")
    parser.add_argument("--format", "-f", choices=("dot", "mermaid", "svg", "png", "html"),
                        help="what to write (default: from -o's extension, else dot); "
                             "svg, png and html (one page that pans and zooms) need "
                             "Graphviz's dot")
    parser.add_argument("-o", "--output", metavar="FILE", help="write here, not to stdout")
    parser.add_argument("--layout", choices=("auto", "tiers", "flat"), default="auto",
                        help="tiers: top to bottom, hosts at the bottom, long chains wrapped "
                             "into rows; flat: left to right; auto (default): tiers for a "
                             "lab with bridges inside nodes or more than 16 boxes")
    parser.add_argument("--compact", action="store_true",
                        help="no addresses, routes or NAT in the boxes: names only")


def load_source(spec, root):
    """A file or built-in topology, or the topology a lab on this host was built from.

    A lab wins over a built-in of the same name: it is what is on the host (its runtime)."""
    from netplay.lab import status
    from netplay.load.resolve import resolve
    from netplay.run import state
    from netplay.core.errors import InputError

    looks_like_file = os.sep in spec or spec.endswith((".yaml", ".yml")) or os.path.exists(spec)
    if not looks_like_file:
        try:
            has_lab = state.log_path(root, spec).exists()
        except (OSError, InputError):  # a state directory this user may not read; a
            has_lab = False  # spec that cannot name a lab (linear:3 is a generator's)
        if has_lab:
            return status.load_lab(root, spec)[1]
    try:
        return resolve(spec)
    except InputError:
        if looks_like_file or ":" in spec:  # a generator spec's own error says how to fix it
            raise
        from netplay.load import builtins

        raise InputError(f"{spec!r} is neither a lab on this host, a built-in topology "
                         f"({', '.join(builtins.names())}) nor a topology file") from None


def main(args):
    from netplay.render import graph
    from netplay.core.errors import InputError

    fmt = args.format
    if fmt is None and args.output:
        fmt = graph.EXTENSIONS.get(os.path.splitext(args.output)[1].lower())
        if fmt is None:
            raise InputError(f"-o {args.output}: cannot tell the format from the extension; "
                             "add --format dot, mermaid, svg, png or html")
    fmt = fmt or "dot"
    topo = common.on_hosts(args, load_source(args.source, common.state_root(args)))
    # a lab on several hosts: each host a cluster
    data = graph.output(topo, fmt, layout=args.layout, compact=args.compact)
    if args.output:
        try:
            with open(args.output, "wb") as f:
                f.write(data)
        except OSError as err:
            raise InputError(f"-o {args.output}: cannot write: {err.strerror}") from None
        if not args.quiet:
            print(f"wrote {args.output} ({fmt}, {len(data)} bytes)", file=sys.stderr)
    else:
        if fmt == "png" and sys.stdout.isatty():
            raise InputError("--format png writes binary data; give -o FILE.png or "
                             "redirect stdout")
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return EXIT_OK
