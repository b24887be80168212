"""netplay diff TOPOLOGY: what `netplay apply TOPOLOGY` would change, and its commands."""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "print what applying a topology to its running lab would change (+ ~ -), and the commands"
EXAMPLES = [
    'netplay diff lab.yaml',
    'netplay diff linear:4 --name linear-3',
]


def add_arguments(parser):
    parser.add_argument("topology", help="a built-in name or a file")
    parser.add_argument("--name", metavar="NAME",
                        help="the running lab to compare with (default: the topology's name)")
    parser.add_argument("--runtime", choices=["netns", "docker"],
                        help="container nodes on plain namespaces or on Docker containers")
    parser.add_argument("--image", help="default image for docker nodes ($NETPLAY_IMAGE)")


def main(args):
    from netplay.cli.commands.apply import load, show
    from netplay.lab import apply

    args.dry_run = True
    machine = common.machine()
    topo = load(args, machine)
    cli = machine.docker() if any(n.kind == "docker" for n in topo.nodes.values()) else None
    change, _ = apply.apply(topo, machine, common.state_root(args), cli=cli,
                            ssh_config=common.ssh_config(args), dry_run=True)
    show(change)
    return EXIT_OK
