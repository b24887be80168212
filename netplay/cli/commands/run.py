"""netplay run TOPOLOGY: build a lab."""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "build a lab from a topology (built-in name or YAML file)"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay run home',
    'netplay run --dry-run linear:3 > build.sh',
    'netplay run --etc-hosts --runtime netns --name home2 --prefix home',
]


def add_arguments(parser):
    parser.add_argument("topology", help="a built-in name (see `netplay topologies`) or a file")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the commands; change nothing (needs no root)")
    common.add_runtime_option(parser)
    common.add_name_options(parser)
    common.add_image_option(parser)
    parser.add_argument("--etc-hosts", action="store_true",
                        help="give each node a hosts file naming every node by its addresses "
                             "(/etc/netns/NODE/hosts: `ip netns exec h1 ping h2`), as the "
                             "topology's `etc_hosts: true` does")


def main(args):
    from netplay.lab import hosts, lifecycle as lab
    from netplay.plan import build as plan
    from netplay.render.bash import script_lines
    from netplay.model.runtime import uses_docker

    topo = common.resolve_named(args)  # --name, --prefix: right after loading
    if args.etc_hosts:
        topo.etc_hosts = True
    machine = common.machine()
    if not args.dry_run:  # before choosing a runtime: a user's Docker socket is root's
        from netplay.check import preflight

        preflight.require_root(machine)
    topo = lab.choose_runtime(topo, args.runtime, args.image, machine, common.notice(args))
    topo = common.on_hosts(args, topo)  # after the runtime: --runtime netns may allow hosts
    if args.dry_run:
        topo = hosts.with_addresses(topo, machine, common.ssh_config(args))
        print("\n".join(script_lines(plan.plan(topo), hosts=topo.hosts)))
        return EXIT_OK
    cli = machine.docker() if uses_docker(topo) else None
    from netplay.cli import progress as display

    shown = display.for_args(args, "up", topo.name)  # a progress line on a terminal only
    try:
        summary = lab.up(topo, machine, common.state_root(args), cli=cli,
                         echo=common.echo(args), progress=shown,
                         ssh_config=common.ssh_config(args))
    finally:
        if shown:
            shown.finish()
    if not args.quiet:
        print(summary.line())
    return EXIT_OK
