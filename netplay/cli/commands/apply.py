"""netplay apply TOPOLOGY: change a running lab into the topology's, in place."""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = ("change a running lab into a topology by the fewest commands (an unchanged "
        "topology: repair what was changed by hand)")
EXAMPLES = [
    'netplay apply lab.yaml --dry-run',
    'netplay apply lab.yaml',
    'netplay apply linear:4 --name linear-3',
]


def add_arguments(parser):
    add_change_options(parser)
    parser.add_argument("--dry-run", action="store_true",
                        help="print the change (+ ~ -) and its commands; change nothing")


def add_change_options(parser):
    """The lab's new topology, and how to read it: apply's and diff's."""
    parser.add_argument("topology", help="a built-in name or a file: the lab's new topology")
    parser.add_argument("--name", metavar="NAME",
                        help="the running lab to change (default: the topology's name)")
    common.add_runtime_option(parser)
    common.add_image_option(parser)


def load(args, machine):
    """The topology args name, on the runtime and hosts they ask for."""
    from netplay.lab import lifecycle
    from netplay.load.resolve import resolve

    topo = resolve(args.topology, name=args.name)
    topo = lifecycle.choose_runtime(topo, args.runtime, args.image, machine,
                                    common.notice(args))
    return common.on_hosts(args, topo)


def find_drift(topo, plan, machine, cli=None):
    """netplay.lab.drift.find, imported only when an unchanged topology is applied (see
    netplay.lab.apply.FindDrift)."""
    from netplay.lab import drift

    return drift.find(topo, plan, machine, cli)


def show(change, commands=True):
    from netplay.render.bash import script_lines

    print("\n".join(change.lines()))
    if commands and change.steps:
        print()
        print("\n".join(script_lines(change.steps, hosts=change.new.hosts)))


def main(args):
    from netplay.lab import apply

    machine = common.machine()
    topo = load(args, machine)
    cli = machine.docker() if any(n.kind == "docker" for n in topo.nodes.values()) else None
    change, seconds = apply.apply(topo, machine, common.state_root(args), echo=common.echo(args),
                                  ssh_config=common.ssh_config(args), cli=cli,
                                  dry_run=args.dry_run, find_drift=find_drift)
    if args.dry_run:
        show(change)
    elif not args.quiet:
        show(change, commands=False)
        if change.steps:
            print(f"lab {change.lab} changed: {len(change.steps)} commands in {seconds:.2f} s")
    return EXIT_OK
