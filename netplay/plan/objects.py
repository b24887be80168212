"""What each planned step makes, and what it stands on. Pure: reads argv, runs nothing.

A changed lab (netplay.plan.diff) needs to know which steps lose their effect when an
object goes: deleting a namespace takes its devices, addresses and routes; deleting one
end of a veth takes its peer; removing a container takes the namespace named after it. The
planner writes a small, fixed set of command shapes (netplay.plan.build), so each step's
objects are read back from its argv here rather than carried on every Step.

An object is (kind, host, namespace, name): kind "ns" (a namespace), "ctr" (a container)
or "dev" (a device; namespace None: the root namespace).
"""

from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from netplay.plan.steps import Arg, Step

NS, CTR, DEV = "ns", "ctr", "dev"


class Obj(NamedTuple):
    kind: str
    host: str
    ns: Optional[str]
    name: str

    def __str__(self) -> str:
        where = f"{self.ns}:" if self.ns else ""
        return f"{self.kind} {where}{self.name}" + (f" on {self.host}"
                                                    if self.host != "local" else "")


class Facts(NamedTuple):
    """One step's objects and what kind of effect it has.

    kind: create (makes the objects in `creates`), address, state (`link set DEV up`),
    route, setting (the sysctls a namespace's devices inherit: only at creation), sysctl
    (forwarding), nat, qdisc, port (joins a bridge), mark (the lab's alias on a device),
    genmode (addrgenmode), capture (`docker inspect`), exec (a node's own command),
    firewall (a root-namespace rule with its undo), prelim (mkdir)."""

    kind: str
    ns: Optional[str]  # the namespace it acts in (None: the root namespace)
    creates: Tuple[Obj, ...] = ()
    needs: Tuple[Obj, ...] = ()  # objects whose loss loses this step's effect


def _ns_of(argv: Sequence[Arg]) -> Tuple[Optional[str], List[Arg]]:
    """(namespace, the rest of the command) of `ip -n NS ...`, `ip netns exec NS ...`,
    `tc -n NS ...`; namespace None for a command in the root namespace."""
    if len(argv) > 2 and argv[0] in ("ip", "tc") and argv[1] == "-n":
        return str(argv[2]), [argv[0], *argv[3:]]
    if len(argv) > 3 and list(argv[:3]) == ["ip", "netns", "exec"]:
        return str(argv[3]), list(argv[4:])
    return None, list(argv)


def _after(argv: Sequence[Arg], word: str) -> Optional[str]:
    for i, arg in enumerate(argv[:-1]):
        if arg == word:
            return str(argv[i + 1])
    return None


def facts(step: Step, pid_owner: Optional[Dict[str, str]] = None) -> Facts:
    """The Facts of one planned step. pid_owner: {captured variable: container} for the
    steps that use a container's PID."""
    h, argv = step.host, step.argv
    if step.node_command:
        return _exec_facts(step, pid_owner or {})
    head = [a for a in argv[:3]]
    if head[:1] == ["mkdir"] and not step.undo:
        return Facts("prelim", None)
    if head[:1] in (["mkdir"], ["tee"]):  # a node's hosts file and its directory
        return Facts("file", None)
    if head[:2] == ["docker", "run"]:
        name = next(str(a)[7:] for a in argv if str(a).startswith("--name="))
        return Facts("create", None, creates=(Obj(CTR, h, None, name),))
    if head[:2] == ["docker", "inspect"]:
        return Facts("capture", None, needs=(Obj(CTR, h, None, str(argv[-1])),))
    if head == ["ip", "netns", "add"]:
        return Facts("create", None, creates=(Obj(NS, h, None, str(argv[3])),))
    if head == ["ip", "netns", "attach"]:
        name = str(argv[3])
        return Facts("create", None, creates=(Obj(NS, h, None, name),),
                     needs=(Obj(CTR, h, None, name),))
    if head[:1] in (["iptables"], ["ip6tables"]):
        return Facts("firewall", None)
    if head[:2] == ["brctl", "addbr"]:
        return Facts("create", None, creates=(Obj(DEV, h, None, str(argv[2])),))
    if head[:2] == ["brctl", "addif"]:
        return Facts("port", None, needs=(Obj(DEV, h, None, str(argv[2])),
                                          Obj(DEV, h, None, str(argv[3]))))
    ns, rest = _ns_of(argv)
    inside = (Obj(NS, h, None, ns),) if ns else ()
    if rest[:1] == ["sysctl"]:
        kind = "setting" if step.phase.startswith("settings ") else "sysctl"
        return Facts(kind, ns, needs=inside)
    if rest[:1] in (["iptables"], ["ip6tables"]):
        return Facts("nat", ns, needs=inside)
    if rest[:1] == ["tc"]:
        return Facts("qdisc", ns, needs=inside + (Obj(DEV, h, ns, str(_after(rest, "dev"))),))
    if rest[:1] == ["ip"]:
        return _ip_facts(h, ns, inside, [a for a in rest[1:] if a not in ("-6", "-4")])
    raise ValueError(f"no facts known for `{step.shell()}`")


def _ip_facts(h: str, ns: Optional[str], inside: Tuple[Obj, ...],
              rest: List[Arg]) -> Facts:
    def dev(name: str, where: Optional[str] = ns) -> Obj:
        return Obj(DEV, h, where, name)

    if rest[:2] == ["link", "add"]:
        first_ns = _after(rest[:rest.index("type")], "netns") or ns
        made = [dev(str(rest[2]), first_ns)]
        if _after(rest, "type") == "veth":
            peer = rest[rest.index("peer"):]
            made.append(dev(str(_after(peer, "name")), _after(peer, "netns") or ns))
        spaces = {o.ns for o in made if o.ns}
        return Facts("create", ns, creates=tuple(made),
                     needs=tuple(Obj(NS, h, None, s) for s in sorted(spaces)))
    if rest[:2] == ["link", "set"]:
        name = str(rest[2])
        own = inside if name == "lo" else inside + (dev(name),)
        if "master" in rest:
            return Facts("port", ns, needs=own + (dev(str(_after(rest, "master"))),))
        kind = {"alias": "mark", "addrgenmode": "genmode", "up": "state"}.get(str(rest[3]))
        if kind is None:
            raise ValueError(f"no facts known for `ip link set {' '.join(map(str, rest[3:]))}`")
        return Facts(kind, ns, needs=own)
    if rest[:2] == ["addr", "add"]:
        return Facts("address", ns, needs=inside + (dev(str(_after(rest, "dev"))),))
    if rest[:2] == ["route", "add"]:
        through = _after(rest, "dev")
        return Facts("route", ns, needs=inside + ((dev(through),) if through else ()))
    raise ValueError(f"no facts known for `ip {' '.join(map(str, rest))}`")


def _exec_facts(step: Step, pid_owner: Dict[str, str]) -> Facts:
    ns, _ = _ns_of(step.argv)
    refs = step.refs()
    if refs and refs[0] in pid_owner:  # nsenter --target $pid_NODE: inside that container
        return Facts("exec", pid_owner[refs[0]],
                     needs=(Obj(CTR, step.host, None, pid_owner[refs[0]]),))
    return Facts("exec", ns, needs=(Obj(NS, step.host, None, ns),) if ns else ())


def may_create(step: Step) -> bool:
    """Whether a step may create objects (cheap, from its words: true of every step whose
    facts have `creates`, and of a few others): lets a change of one link in a plan of
    20,000 steps read the facts of a few thousand."""
    a = step.argv
    return ("link" in a and "add" in a) or ("netns" in a and ("add" in a or "attach" in a)) \
        or a[:2] == ["docker", "run"] or a[:2] == ["brctl", "addbr"]


def pid_owners(steps: Sequence[Step]) -> Dict[str, str]:
    """{captured variable: its container} from a plan's `docker inspect` steps."""
    return {s.capture: str(s.argv[-1]) for s in steps if s.capture}


def all_facts(steps: Sequence[Step]) -> List[Facts]:
    owners = pid_owners(steps)
    return [facts(step, owners) for step in steps]
