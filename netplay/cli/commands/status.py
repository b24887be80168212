"""netplay status [LAB]: the labs on this host, or one lab's nodes as the host shows them."""

from netplay.cli.commands import common
from netplay.core.errors import EXIT_OK

HELP = "list the labs on this host, or show one lab's nodes, interfaces and addresses"
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay status',
    'netplay status home',
    'netplay status --json home',
]


def add_arguments(parser):
    parser.add_argument("lab", nargs="?", help="a lab to show node by node")
    parser.add_argument("--json", action="store_true", help="print JSON")


def main(args):
    from tabulate import tabulate

    from netplay.lab import status

    root = common.state_root(args)
    if args.lab is None:
        rows = status.lab_list(root)
        if args.json:
            common.print_json(rows)
        elif not rows:
            print(f"no labs in {root}")
        else:
            print(tabulate([[r["lab"], r["status"], r["nodes"], r["runtime"], r["created"],
                             r["log"]] for r in rows],
                           headers=["LAB", "STATUS", "NODES", "RUNTIME", "CREATED", "LOG"]))
        return EXIT_OK
    from netplay.check import preflight
    from netplay.model.runtime import uses_docker

    machine = common.machine()
    preflight.require_root(machine)
    data, topo, path = status.load_lab(root, args.lab)
    cli = machine.docker() if uses_docker(topo) else None
    with common.lab_machines(args, topo, machine) as machines:
        result = status.hosts_status(topo, machines, cli, data)
    result["log"] = str(path)
    if args.json:
        common.print_json(result)
        return EXIT_OK
    print(f"lab {topo.name}: {result['status']}, {result['runtime']}, built "
          f"{result['created']}; log: {path}")
    for entry in result["nodes"]:
        print(f"\n{status.node_heading(entry)}")
        rows = status.table_rows(entry)
        if rows:
            print(tabulate(rows, headers=["INTERFACE", "TYPE", "STATE", "ADDRESSES", "PEER",
                                          "BRIDGE"]))
    return EXIT_OK
