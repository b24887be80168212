"""Finding and removing what netplay left behind, by its ownership marks alone.

Used when a lab has no usable log (deleted, corrupt, or a crash before it was written).
Only objects that carry netplay's mark are listed: a namespace whose lo has the alias
`netplay:LAB`, a root-namespace device with that alias, a container with the label
`netplay.lab=LAB`, a FORWARD rule (iptables or ip6tables) with the comment `netplay:LAB`.
Look-alike names without the mark are never touched.
"""

from concurrent.futures import ThreadPoolExecutor
import dataclasses
import shlex
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import List, Mapping

from netplay.core.consts import FIREWALLS, LAB_LABEL
from netplay.core.errors import HostError, InputError
from netplay.model.topology import LOCAL
from netplay.observe import ip as observe
from netplay.run import log as steplog, state
from netplay.run.runner import Runner

MARK_PREFIX = "netplay:"
# Removal order: containers hold namespaces, namespaces hold veth peers, bridges hold ports.
ORDER = ("container", "namespace", "interface", "bridge", "firewall rule")


@dataclass
class Leftover:
    kind: str
    name: str
    lab: str
    remove: List[str] = field(default_factory=list)  # the argv that removes it
    host: str = LOCAL  # the host it was found on

    def row(self):
        where = {} if self.host == LOCAL else {"host": self.host}
        return {**where, "kind": self.kind, "name": self.name, "lab": self.lab,
                "remove": shlex.join(self.remove)}


def _lab_of(alias):
    if isinstance(alias, str) and alias.startswith(MARK_PREFIX):
        return alias[len(MARK_PREFIX):]
    return None


def namespaces(machine):
    out = []
    for ns in observe.netns_names(machine):
        lo = observe.ip_json(machine, ns, "link", "show", "lo")
        lab = _lab_of(lo[0].get("ifalias")) if lo else None
        if lab:
            out.append(Leftover("namespace", ns, lab, ["ip", "netns", "delete", ns]))
    return out


def root_devices(machine):
    out = []
    for link in observe.ip_json(machine, None, "-d", "link", "show"):
        lab = _lab_of(link.get("ifalias"))
        if lab:
            kind = "bridge" if link.get("linkinfo", {}).get("info_kind") == "bridge" \
                else "interface"
            out.append(Leftover(kind, link["ifname"], lab, ["ip", "link", "delete", link["ifname"]]))
    return out


def firewall_rules(machine):
    """FORWARD rules whose comment is netplay's mark, with the -D that removes each; an
    ip6tables rule's name starts with "IPv6"."""
    found = []
    for program in FIREWALLS:
        if not machine.which(program):
            continue
        rc, out, _ = machine.run([program, "-S", "FORWARD"])
        for line in out.splitlines() if rc == 0 else []:
            args = shlex.split(line)
            if args[:2] != ["-A", "FORWARD"] or "--comment" not in args:
                continue
            lab = _lab_of(args[args.index("--comment") + 1])
            if lab:
                name = " ".join(args[2:])
                found.append(Leftover("firewall rule", name if program == "iptables" else
                                      f"IPv6 {name}", lab, [program, "-D", *args[1:]]))
    return found


def containers(cli):
    if cli is None:
        return []
    out = []
    for c in cli.containers.list(all=True, filters={"label": LAB_LABEL}):
        out.append(Leftover("container", c.name, c.labels.get(LAB_LABEL, "?"),
                            ["docker", "rm", "-f", c.name]))
    return out


def find(machine, cli=None, lab=None):
    """Every object carrying netplay's mark (of `lab` only, if given), in removal order."""
    found = (containers(cli) + namespaces(machine) + root_devices(machine)
             + firewall_rules(machine))
    if lab:
        found = [f for f in found if f.lab == lab]
    return sorted(found, key=lambda f: ORDER.index(f.kind))


def find_hosts(machines, lab=None):
    """find() on each host of machines ({host: Machine}, none with Docker), hosts at once:
    each object naming its host, in removal order within each host."""
    names = list(machines)
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        results = list(pool.map(lambda h: find(machines[h], None, lab), names))
    return [dataclasses.replace(item, host=host)
            for host, found in zip(names, results) for item in found]


def remove(found, machine, root, log_path, echo=None):
    """Remove found objects, lab by lab under each lab's lock, logging every command, each
    on its host: machine is this host's Machine, or {host: Machine} for objects found on
    several (find_hosts).

    Returns (removed, skipped labs, failures). A lab whose lock is held (a run or down in
    progress) is skipped whole: its objects may be in use.
    """
    machines = machine if isinstance(machine, Mapping) else {LOCAL: machine}
    runners = {host: Runner(m, echo) for host, m in machines.items()}
    log = steplog.StepLog.create(log_path, "clean", {}, [], action="clean")
    removed, skipped, failures = [], [], []
    with ExitStack() as locks:
        for lab in sorted({f.lab for f in found}):
            try:
                locks.enter_context(state.lab_lock(root, lab))
            except HostError:
                skipped.append(lab)
        for item in found:
            if item.lab not in skipped:
                runners[item.host].teardown(log, item.remove, f"{item.kind} {item.name}",
                                            failures, [])
                removed.append(item)
        for lab in {f.lab for f in removed}:
            _mark_down(root, lab)
    log.set_status(steplog.DOWN)
    return removed, skipped, failures


def _mark_down(root, lab):
    """A lab whose objects were cleaned is down; its log (if readable) says so."""
    try:
        data = state.read_lab(root, lab)
    except InputError:
        return  # an unusable log is reported by `down`/`status`, not trusted here
    if data and data.get("status") != steplog.DOWN:
        steplog.StepLog(state.log_path(root, lab), data).set_status(steplog.DOWN)
