"""netplay doctor: check this host for what netplay needs, with a fix for each problem."""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK, EXIT_USAGE

HELP = "check this host (root, iproute2, brctl, iptables, Docker, images, firewall, " \
       "leftovers) and say how to fix what is wrong"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay doctor',
    'netplay doctor --json --image netplay-busybox',
]


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--image",
                        help="the default image to look for ($NETPLAY_IMAGE, else ubuntu)")


def main(args):
    from netplay.lab import doctor
    from netplay.model.topology import DEFAULT_IMAGE

    checks = doctor.run_checks(common.machine(), common.state_root(args),
                               args.image or DEFAULT_IMAGE)
    blocked = doctor.blocking(checks)
    if args.json:
        common.print_json({"ok": not blocked, "checks": [c.row() for c in checks]})
    else:
        print(doctor.render(checks))
        if not args.quiet:
            print()
            if blocked:
                print(f"{len(blocked)} problem(s) block `netplay run`: "
                      f"{', '.join(c.check for c in blocked)}")
            else:
                print("nothing blocks `netplay run` on this host")
    # the exit code `run` itself would give on a host it cannot use
    return EXIT_USAGE if blocked else EXIT_OK
