"""What several commands share: the machine, the state directory, verbosity."""

import shlex
import sys
from contextlib import contextmanager


def add_name_options(parser):
    """`--name NAME` and `--prefix` (run, show): labs of one topology side by side."""
    parser.add_argument("--name", metavar="NAME",
                        help="the lab's name instead of the topology's (down, status... take it)")
    parser.add_argument("--prefix", action="store_true",
                        help="prefix the lab's namespaces, containers and root-namespace "
                             "devices with its name (NAME-NODE; a device name over 15 "
                             "characters is shortened), so it runs beside other labs of the "
                             "same topology")


def add_runtime_option(parser):
    """`--runtime` (run, apply, diff): how container nodes are built, as
    netplay.lab.lifecycle.choose_runtime decides it."""
    parser.add_argument("--runtime", choices=["netns", "docker"],
                        help="put container nodes on plain namespaces or on Docker containers "
                             "(default: as the topology says; namespaces if no daemon answers, unless a "
                             "container node holds exec, cmd, binds, env or dns)")


def add_image_option(parser):
    """`--image` (run, apply, diff): the default image of docker nodes."""
    parser.add_argument("--image",
                        help="default image for docker nodes ($NETPLAY_IMAGE, else the "
                             "topology's, else ubuntu); a node's own image wins")


def resolve_named(args):
    """The topology args.topology names, renamed by --name and prefixed by --prefix (or a
    containerlab file's `prefix:`), right after loading."""
    from netplay.load.resolve import resolve

    return resolve(args.topology, name=args.name, prefix=args.prefix)


def node_name(topo, spec):
    """spec (NODE, NODE:IFACE) with NODE as the lab names it: a prefixed lab's nodes may
    be given by their short names (netplay.model.prefix.node_name)."""
    from netplay.model.prefix import node_name as full

    node, sep, rest = spec.partition(":")
    return full(topo, node) + sep + rest


def machine():
    """This host, the one every command builds on and observes (netplay.machine)."""
    from netplay.machine.local import LocalMachine

    return LocalMachine()



def ssh_config(args):
    """The ssh configuration for the lab's hosts: --ssh-config, $NETPLAY_SSH_CONFIG or
    ssh's own (None)."""
    from netplay.lab.hosts import ssh_config as choose

    return choose(getattr(args, "ssh_config", None))


def hosts_file(args):
    """A file mapping the lab's hosts onto other machines: --hosts or $NETPLAY_HOSTS."""
    import os

    return getattr(args, "hosts_file", None) or os.environ.get("NETPLAY_HOSTS") or None


def on_hosts(args, topo):
    """topo on the machines of --hosts (or $NETPLAY_HOSTS), when given."""
    from netplay.load.resolve import on_hosts as place
    from netplay.load.yamlfile import read_hosts_file

    path = hosts_file(args)
    return topo if path is None else place(topo, read_hosts_file(path), path)


def lab_machines(args, topo, machine, only=None):
    """A context manager: the lab's machines ({host: Machine}): {"local": machine} for a
    lab on this host, else one per host (or per host named in only), over ssh."""
    from netplay.lab import hosts

    return hosts.connected(topo, machine, state_root(args), ssh_config(args), only=only)


def host_of(topo, names):
    """The one host that the nodes named live on (None for a lab on this machine); more
    than one is refused in one line."""
    from netplay.core.errors import InputError

    if not topo.hosts:
        return None
    found = {topo.host_of(n) for n in names if n in topo.nodes or n in topo.bridges}
    if len(found) > 1:
        raise InputError(f"{', '.join(names)} live on hosts {', '.join(sorted(found))}; "
                         "name nodes of one host at a time")
    return next(iter(found), next(iter(topo.hosts)))


@contextmanager
def node_machine(args, topo, machine, nodes):
    """The machine of the one host the named nodes live on, for the duration: machine
    (this host) for a lab without hosts, else that host's, over ssh."""
    with lab_machines(args, topo, machine, only=[host_of(topo, nodes)]) as machines:
        yield next(iter(machines.values()))


def running_lab(args, *nodes):
    """(this host's machine, the lab's topology, nodes as the lab names them) for a command
    acting on nodes of a lab that is up: root checked, the lab read from its log, a
    prefixed lab's short node names taken too (NODE or NODE:IFACE)."""
    from netplay.check import preflight
    from netplay.lab import status

    here = machine()
    preflight.require_root(here)
    data, topo, _ = status.load_lab(state_root(args), args.lab)
    status.require_up(data, args.lab)
    return here, topo, [node_name(topo, n) for n in nodes]


def replace_with(args, on, argv):
    """Replace netplay by argv on machine `on`, the terminal attached (exec, shell)."""
    from netplay.core.errors import HostError

    if args.verbose:
        echo(args)(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        on.exec_interactive(argv)
    except OSError as err:
        raise HostError(f"cannot run {argv[0]}: {err.strerror}") from None


def add_family_options(parser):
    """-4 and -6: one IP version only (ping, perf)."""
    family = parser.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4,
                        help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=6,
                        help="IPv6 only")


def state_root(args):
    from netplay.run.state import state_dir

    return state_dir(args.state_dir)


def echo(args):
    """A printer of each command before it runs (-v), like bash -x; None when quiet."""
    if not args.verbose:
        return None
    return lambda argv: print("+ " + shlex.join(argv), file=sys.stderr, flush=True)


def notice(args):
    """A printer of one-line notices to stderr, silent with --quiet."""
    if args.quiet:
        return lambda msg: None
    return lambda msg: print(msg, file=sys.stderr)


def print_json(data):
    """data as `json.dump(data, indent=2)` writes it, byte for byte, but several times
    faster: the standard library indents in pure Python (0.07 s of verify's 2,600
    checks on linear:50); here only the layout is Python, every value is encoded by C."""
    sys.stdout.write(indented_json(data) + "\n")


def indented_json(data) -> str:
    import json

    out: list = []
    try:
        _indented(data, "\n", out, json.encoder.encode_basestring_ascii,
                  json.JSONEncoder().encode)
    except _NotPlain:  # keys that are not text, say: the standard library's own layout
        return json.dumps(data, indent=2)
    return "".join(out)


class _NotPlain(Exception):
    pass


def _indented(value, newline, out, text, scalar):
    if type(value) is dict and value:
        inner = newline + "  "
        out.append("{")
        sep = inner
        for key, item in value.items():
            if type(key) is not str:
                raise _NotPlain()
            out.append(sep + text(key) + ": ")
            _indented(item, inner, out, text, scalar)
            sep = "," + inner
        out.append(newline + "}")
    elif type(value) in (list, tuple) and value:
        inner = newline + "  "
        out.append("[")
        sep = inner
        for item in value:
            out.append(sep)
            _indented(item, inner, out, text, scalar)
            sep = "," + inner
        out.append(newline + "]")
    elif type(value) is str:
        out.append(text(value))
    elif type(value) in (dict, list, tuple, int, float, bool) or value is None:
        out.append(scalar(value))  # an empty container, a number, true, false, null
    else:
        raise _NotPlain()


GONE_SHOWN = 10  # notes on objects already gone printed one by one; the rest are counted


def report_down(args, lab, gone, counts, seconds):
    """What `down` and `replay --undo` print once a lab is down: notes on objects that
    were already gone (a few, then how many more: each is in the log's teardown entries)
    to stderr, and the summary line."""
    for note in gone[:GONE_SHOWN]:
        print(f"netplay: {lab}: {note}", file=sys.stderr)
    if len(gone) > GONE_SHOWN:
        print(f"netplay: {lab}: and {len(gone) - GONE_SHOWN} more already gone "
              "(listed in the lab's log, under teardown)", file=sys.stderr)
    if not args.quiet:
        print(f"lab {lab} is down: {counts}in {seconds:.2f} s")
