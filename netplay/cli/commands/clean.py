"""netplay clean [LAB]: find what netplay left on this host by its marks; remove with --yes."""

import sys

from netplay.cli.commands import common
from netplay.core.errors import EXIT_FAILED, EXIT_OK

HELP = "list objects netplay left behind (by its ownership marks); remove them with --yes"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay clean',
    'netplay clean home --yes',
]


def add_arguments(parser):
    parser.add_argument("lab", nargs="?", help="only this lab's objects")
    parser.add_argument("--yes", action="store_true", help="remove what is listed")
    parser.add_argument("--json", action="store_true", help="print JSON")


def main(args):
    from netplay.lab import clean
    from netplay.check import preflight

    machine = common.machine()
    preflight.require_root(machine)
    if common.hosts_file(args) is not None:
        return _clean_hosts(args, machine)
    found = clean.find(machine, machine.docker(), args.lab)
    return _report_or_remove(args, found, machine, "on this host")


def _clean_hosts(args, machine):
    """clean on the machines of --hosts: a lab on several hosts whose log is gone."""
    from netplay.load.yamlfile import read_hosts_file
    from netplay.model.hosts import hosts_from_dict
    from netplay.model.topology import Topology
    from netplay.model.validate import as_mapping
    from netplay.lab import clean

    path = common.hosts_file(args)
    raw = as_mapping(read_hosts_file(path), path, ("hosts",))
    topo = Topology("clean", hosts=hosts_from_dict(raw.get("hosts"), f"{path}: hosts"))
    with common.lab_machines(args, topo, machine) as machines:
        found = clean.find_hosts(machines, args.lab)
        return _report_or_remove(args, found, machines, f"on {', '.join(machines)}")


def _report_or_remove(args, found, machine, where):
    from tabulate import tabulate

    from netplay.lab import clean
    from netplay.run import state

    if not args.yes:
        if args.json:
            common.print_json([f.row() for f in found])
        elif found:
            print(tabulate([f.row() for f in found], headers="keys"))
            print(f"\n{len(found)} objects; `netplay clean {args.lab or ''}--yes` removes them"
                  .replace("  ", " "))
        else:
            print(f"nothing of netplay's is left {where}")
        return EXIT_OK
    root = common.state_root(args)
    path = state.cleanup_log_path(root)
    removed, skipped, failures = clean.remove(found, machine, root, str(path),
                                              echo=common.echo(args))
    for lab in skipped:
        print(f"netplay: lab {lab} is being changed by another netplay process; skipped",
              file=sys.stderr)
    for failure in failures:
        print(f"netplay: {failure}", file=sys.stderr)
    if args.json:
        common.print_json({"removed": [f.row() for f in removed], "skipped_labs": skipped,
                           "failures": failures, "log": str(path)})
    elif not args.quiet:
        print(f"removed {len(removed)} objects; log: {path}")
    return EXIT_FAILED if failures else EXIT_OK
