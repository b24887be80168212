"""netplay diff TOPOLOGY: what `netplay apply TOPOLOGY` would change, and its commands."""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "print what applying a topology to its running lab would change (+ ~ -), and the commands"
EXAMPLES = [
    'netplay diff lab.yaml',
    'netplay diff linear:4 --name linear-3',
]


def add_arguments(parser):
    from netplay.cli.commands.apply import add_change_options

    add_change_options(parser)


def main(args):
    from netplay.cli.commands.apply import find_drift, load, show
    from netplay.lab import apply

    args.dry_run = True
    machine = common.machine()
    topo = load(args, machine)
    cli = machine.docker() if any(n.kind == "docker" for n in topo.nodes.values()) else None
    change, _ = apply.apply(topo, machine, common.state_root(args), cli=cli,
                            ssh_config=common.ssh_config(args), dry_run=True,
                            find_drift=find_drift)
    show(change)
    return EXIT_OK
