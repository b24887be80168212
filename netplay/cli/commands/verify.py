"""netplay verify LAB: compare the host with the lab's topology; exit 0 only if all pass."""

import sys

from netplay.cli.commands import common
from netplay.core.errors import EXIT_FAILED, EXIT_OK

HELP = ("check that a lab is on the host as its topology says: interfaces, states, "
        "addresses, routes, bridge ports, containers, and pings between nodes")
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay verify home',
    'netplay verify --no-ping --failed home',
    'netplay verify --max-pings 0 linear:50   # every pair',
]


def add_arguments(parser):
    parser.add_argument("lab", help="the lab's name (`netplay status` lists them)")
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    parser.add_argument("--no-ping", action="store_true",
                        help="check the state only; send no pings")
    parser.add_argument("--sample", type=int, default=None, metavar="N",
                        help="how many pairs that must NOT reach each other to ping "
                             "(default 6)")
    parser.add_argument("--max-pings", type=int, default=None, metavar="N",
                        help="ping at most N of the pairs that reach each other, spread over "
                             "all nodes (default: a third of the kernel's neighbour table, "
                             "341 unless tuned; 0: no limit)")
    parser.add_argument("--failed", action="store_true",
                        help="list only the checks that fail (the summary counts all)")


def main(args):
    from netplay.check import pingplan, preflight, verify
    from netplay.lab import status
    from netplay.core.errors import InputError
    from netplay.model.runtime import uses_docker

    machine = common.machine()
    preflight.require_root(machine)
    if args.sample is not None and args.sample < 0:
        raise InputError(f"--sample: expected 0 or more pairs, got {args.sample}")
    if args.max_pings is not None and args.max_pings < 0:
        raise InputError(f"--max-pings: expected 0 (no limit) or more, got {args.max_pings}")
    data, topo, path = status.load_lab(common.state_root(args), args.lab)
    status.require_up(data, args.lab)
    cli = machine.docker() if uses_docker(topo) else None
    sample = pingplan.ISOLATION_SAMPLE if args.sample is None else args.sample
    limit = verify.default_ping_limit(machine) if args.max_pings is None else \
        (args.max_pings or None)
    with common.lab_machines(args, topo, machine) as machines:
        checks, plan = verify.verify_hosts(topo, machines, cli, pings=not args.no_ping,
                                           sample=sample, limit=limit)
    note = None
    if plan is not None and len(plan.reach) < plan.reach_total:
        note = (f"pinged {len(plan.reach)} of the {plan.reach_total} pairs that reach each "
                "other (--max-pings 0 pings them all)")
    failed = [c for c in checks if not c.ok]
    if args.json:
        common.print_json({"lab": topo.name, "log": str(path), "ok": not failed,
                           "checks": [c.to_dict() for c in checks],
                           "passed": len(checks) - len(failed), "failed": len(failed),
                           "pings": None if plan is None else {
                               "reach": len(plan.reach), "reach_total": plan.reach_total,
                               "isolated": len(plan.isolated)}})
    else:
        shown = failed if args.failed else checks
        if shown:
            from tabulate import tabulate  # 37 ms of imports: not for --json

            # every cell is text: telling numbers apart took 0.25 s of linear:50's 2,600 rows
            print(tabulate([[c.kind, c.subject, c.result, c.reason] for c in shown],
                           headers=["CHECK", "SUBJECT", "RESULT", "REASON"],
                           disable_numparse=True))
        if not args.quiet or failed:
            print("\n" + summary(topo.name, checks))
            if note:
                print(f"netplay: {note}", file=sys.stderr)
            hint = _neighbour_hint(plan, machine) if failed and not topo.hosts else None
            if hint:
                print(f"netplay: {hint}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _neighbour_hint(plan, machine):
    """Why pings past the kernel's neighbour table fail, when verify pinged that many: the
    table is one for all namespaces, and each pinged pair needs an entry (Mininet raises
    the limit as it starts; netplay leaves the host's settings alone)."""
    from netplay.observe import ip as observe

    capacity = observe.neighbour_capacity(machine)
    if plan is None or len(plan.reach) <= capacity:
        return None
    return (f"{len(plan.reach)} pairs were pinged, but the kernel keeps at most {capacity} "
            "neighbour entries for all namespaces (net.ipv4.neigh.default.gc_thresh3), so "
            "pings past that fail; ping fewer (--max-pings), or raise it: `sysctl -w "
            f"net.ipv4.neigh.default.gc_thresh3={2 * len(plan.reach)}`")


def summary(lab, checks):
    """One line: all pass, or what broke (state) and how many pings fail."""
    failed = [c for c in checks if not c.ok]
    if not failed:
        return f"verify {lab}: all {len(checks)} checks pass"
    broken = [c for c in failed if c.kind not in ("reach", "isolated")]
    pings = [c for c in failed if c.kind in ("reach", "isolated")]
    parts = []
    if broken:
        shown = "; ".join(f"{c.subject}: {c.reason}" for c in broken[:6])
        parts.append(f"broken: {shown}" + ("; ..." if len(broken) > 6 else ""))
    if pings:
        parts.append(f"{len(pings)} ping{'s' if len(pings) > 1 else ''} "
                     f"{'do' if len(pings) > 1 else 'does'} not behave as the topology says")
    return f"verify {lab}: {len(failed)} of {len(checks)} checks FAIL; " + "; ".join(parts)
