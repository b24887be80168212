"""Changing a built lab into another topology's lab by the fewest commands. Pure.

Both topologies are planned (netplay.plan.build); the two step lists are compared command
for command. A step in both is kept: its effect is already on the host. A step only in the
old plan is taken back; a step only in the new plan is run. What taking a step back means
depends on its kind (netplay.plan.objects): its undo when it has one (a namespace, a
root-namespace device, a firewall rule), else its inverse in place (`addr add` -> `addr
del`, `link set up` -> `link set down`, `route add` -> `route del`, a forwarding sysctl
back to 0, `tc qdisc add` -> `tc qdisc del`, a NAT rule's -A -> -D).

Some effects cannot be taken back in place, so their object is made again:
- a namespace whose creation-time settings (the sysctls its devices inherit) change,
- a device whose `addrgenmode` changes (it applies as the device comes up),
- a container whose `docker run` changes (image, command, binds, env, DNS).
Deleting an object takes what stands on it: a namespace its devices, a veth end its peer,
a container the namespace named after it. Every kept step that stood on a lost object runs
again, and routes in a namespace whose devices or addresses changed are put back with
`ip route replace` (a lost device takes the routes through it, whatever their `dev`).

The result, taken back in the old plan's reverse order and then run in the new plan's
order, leaves what `netplay run` of the new topology leaves (tests/test_apply.py checks
that on the real kernel for generated pairs of topologies).

Two impairments of one end are changed with `tc qdisc replace`, a device's MTU or MAC
address with `ip link set DEV mtu M address MAC`, and a forwarding-only change of a
namespace's settings in place. A node's own commands (`exec`) are never taken
back: they run when they are new, or when their node is made again.
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from netplay.plan.objects import CTR, DEV, NS, Facts, Obj, facts, may_create, pid_owners
from netplay.plan.steps import Ref, Step

Key = Tuple[Any, ...]
FORWARDING = ("net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")


def key(step: Step) -> Key:
    """What makes two planned steps the same command (their heading may differ)."""
    return (step.host, tuple(step.argv), tuple(step.undo) if step.undo else None,
            step.capture, step.node_command, step.stdin)


class LazyFacts:
    """A plan's steps' facts, each read from its argv when first asked for: a change of
    one link in a lab of thousands reads a few dozen."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = steps
        self.owners = pid_owners(steps)
        self.known: List[Optional[Facts]] = [None] * len(steps)

    def __getitem__(self, i: int) -> Facts:
        found = self.known[i]
        if found is None:
            found = self.known[i] = facts(self.steps[i], self.owners)
        return found

    def __iter__(self) -> Iterator[Facts]:
        return (self[i] for i in range(len(self.steps)))


@dataclass
class Side:
    """One plan, its steps' facts, and which of its steps the other plan also has."""

    steps: Sequence[Step]
    facts: LazyFacts
    shared: List[bool] = field(default_factory=list)
    _unshared: Optional[List[int]] = None
    _creators: Optional[Dict[str, List[int]]] = None

    @classmethod
    def of(cls, steps: Sequence[Step]) -> "Side":
        return cls(steps, LazyFacts(steps))

    def share(self, shared: List[bool]) -> None:
        self.shared = shared
        self._unshared = [i for i, kept in enumerate(shared) if not kept]

    def creators(self, name: str) -> List[int]:
        """The steps that may create objects and name `name` (a word of their argv)."""
        if self._creators is None:
            self._creators = {}
            for i, step in enumerate(self.steps):
                if may_create(step):
                    for word in set(map(str, step.argv)):
                        self._creators.setdefault(word, []).append(i)
        return self._creators.get(name, [])

    def unshared(self) -> List[int]:
        """The indices of the steps the other plan does not have (read many times: a
        change of one link in a plan of 20,000 steps has a few dozen)."""
        if self._unshared is None:
            raise ValueError("unshared() before share()")
        return self._unshared

    def indices(self, kinds: Iterable[str]) -> List[int]:
        """The unshared steps of these kinds."""
        wanted = set(kinds)
        return [i for i in self.unshared() if self.facts[i].kind in wanted]


def match(old: Side, new: Side) -> None:
    """Mark each step as shared or not, matching equal commands one for one."""
    old_keys, new_keys = [key(s) for s in old.steps], [key(s) for s in new.steps]
    old.share(_take(old_keys, Counter(new_keys)))
    new.share(_take(new_keys, Counter(k for k, kept in zip(old_keys, old.shared) if kept)))


def _take(keys: List[Key], counts: "Counter[Key]") -> List[bool]:
    """For each key in turn, whether counts still has one (and take it)."""
    out = []
    for k in keys:
        left = counts[k]
        out.append(left > 0)
        counts[k] = left - 1
    return out


@dataclass
class Delta:
    """The commands that turn the old lab into the new one: first what is taken back (in
    the old plan's reverse order), then what is brought (in the new plan's order)."""

    back: List[Step]
    back_from: List[int]  # for each step of back, the old plan's step it takes back
    forward: List[Step]
    remade: Set[Obj]  # objects deleted and made again (whole, with what stands on them)
    removed: Set[Obj]  # objects of the old lab the new one does not have
    # what the commands reach beyond the steps that differ (netplay.plan.local reads
    # them): the objects deleted, the namespaces whose routes are put back, the devices
    # set down, and the namespaces of the steps that differ
    lost: Set[Obj] = field(default_factory=set)
    touched: Set[Tuple[str, Any]] = field(default_factory=set)
    downed: Set[Obj] = field(default_factory=set)
    spaces: Set[Tuple[str, Any]] = field(default_factory=set)

    @property
    def steps(self) -> List[Step]:
        return self.back + self.forward


def diff(old_steps: Sequence[Step], new_steps: Sequence[Step]) -> Delta:
    """The commands that change a lab built by old_steps into one built by new_steps."""
    old, new = Side.of(old_steps), Side.of(new_steps)
    match(old, new)
    in_place = _in_place(old, new)
    made_new = {o for i in new.unshared() if i not in in_place.new
                for o in new.facts[i].creates}
    roots = {o for i in old.unshared() if i not in in_place.old
             for o in old.facts[i].creates}
    remade = _forced(old, new, in_place, made_new | roots)
    lost = _cascade(roots | remade, old, new)
    back, back_from = _take_back(old, lost, in_place)
    touched, downed = _touched(old, new, lost, in_place), _downed(old, lost)
    forward = _bring(new, lost, in_place, touched=touched, downed=downed)
    spaces = {(side.steps[i].host, side.facts[i].ns) for side in (old, new)
              for i in side.unshared()}
    return Delta(back, back_from, forward, {o for o in lost if o in made_new or o in remade},
                 {o for o in roots if o not in made_new}, lost, touched, downed, spaces)


def repair(steps: Sequence[Step], lost: Set[Obj], redo: Set[int]) -> List[Step]:
    """The commands that put back, in a lab built by steps, the lost objects (and what
    stands on them) and the effects of the steps at the indices redo: drift repair, and
    an apply's rollback. Each lost object must already be gone from the host."""
    side = Side.of(steps)
    side.share([True] * len(steps))
    lost = _cascade(set(lost), side, side)
    again = {i for i, f in enumerate(side.facts)
             if set(f.needs) & lost or set(f.creates) & lost}
    touched = {(steps[i].host, side.facts[i].ns) for i in again | redo
               if side.facts[i].kind != "route"}
    touched |= {(o.host, o.ns) for o in lost if o.kind == DEV}
    out = []
    for i, step in enumerate(steps):
        f = side.facts[i]
        if i in again or i in redo:
            out.append(_replace(step) if f.kind == "route" and i not in again else step)
        elif f.kind == "route" and (step.host, f.ns) in touched:
            out.append(_replace(step))
    return _with_captures(out, steps)


# -- what changes in place ----------------------------------------------------------------

@dataclass
class InPlace:
    """Pairs of old and new steps changed in place, by index, and the commands for each."""

    old: Set[int] = field(default_factory=set)
    new: Dict[int, List[Step]] = field(default_factory=dict)  # at a new step's position
    forced: Set[Obj] = field(default_factory=set)


def _in_place(old: Side, new: Side) -> InPlace:
    out = InPlace()
    _pair(old, new, "qdisc", _qdisc_slot, out, _qdisc_change)
    _pair(old, new, "setting", lambda s, f: (s.host, f.ns), out, _setting_change)
    _pair(old, new, "create", _device_slot, out, _options_change)
    return out


OPTIONS = ("address", "mtu")  # a device's options `ip link set` changes in place
DEFAULT_MTU = "1500"  # a veth's, a dummy's: what an end without `mtu` is made with


def _ends(argv: Sequence[Any]) -> List[List[str]]:
    """The option words of each end of an `ip link add`: before `type`, and after `peer`."""
    words = [str(a) for a in argv]
    ends = [words[:words.index("type")]]
    if "peer" in words:
        ends.append(words[words.index("peer") + 1:])
    return ends


def _options(end: List[str]) -> Dict[str, str]:
    return {w: end[i + 1] for i, w in enumerate(end[:-1]) if w in OPTIONS}


def _without_options(argv: Sequence[Any]) -> Tuple[str, ...]:
    words = [str(a) for a in argv]
    skip = {i for i, w in enumerate(words[:-1]) if w in OPTIONS}
    return tuple(w for i, w in enumerate(words) if i not in skip and i - 1 not in skip)


def _device_slot(step: Step, f: Facts) -> Key:
    """Two create steps of the same devices that differ only in options: one slot."""
    if not f.creates or f.creates[0].kind != DEV or step.argv[0] != "ip":
        return (step.host, "not a device", id(step))  # a slot of its own: never paired
    return (step.host, _without_options(step.argv))


def _options_change(before: Step, after: Step, f: Facts, out: InPlace) -> List[Step]:
    """`ip link set DEV mtu M address MAC` for each end whose options changed (an MTU no
    longer given goes back to the kernel's default; a MAC address no longer given is
    kept: a new device would get a random one)."""
    steps = []
    for dev, was, now in zip(f.creates, _ends(before.argv), _ends(after.argv)):
        old, new = _options(was), _options(now)
        if old.get("mtu") and not new.get("mtu"):
            new["mtu"] = DEFAULT_MTU
        words = [w for k in OPTIONS if new.get(k) and new.get(k) != old.get(k)
                 for w in (k, new[k])]
        if words:
            steps.append(Step(_ip(dev.ns, "link", "set", "dev", dev.name, *words),
                              phase=f"change {after.phase}", host=after.host))
    return steps


def _qdisc_slot(step: Step, f: Facts) -> Key:
    return (step.host, f.ns, f.needs[-1].name)


def _pair(old: Side, new: Side, kind: str, slot: Any, out: InPlace, change: Any) -> None:
    """Match a removed old step of kind with an added new one in the same slot."""
    gone = {slot(old.steps[i], old.facts[i]): i for i in old.indices([kind])}
    for j in new.indices([kind]):
        i = gone.get(slot(new.steps[j], new.facts[j]))
        if i is not None:
            out.old.add(i)
            out.new[j] = change(old.steps[i], new.steps[j], new.facts[j], out)


def _qdisc_change(before: Step, after: Step, f: Facts, out: InPlace) -> List[Step]:
    argv = list(after.argv)
    argv[argv.index("add")] = "replace"
    return [Step(argv, phase=f"change {after.phase}", host=after.host)]


def _sysctls(step: Step) -> Dict[str, str]:
    return dict(str(a).split("=", 1) for a in step.argv if "=" in str(a))


def _setting_change(before: Step, after: Step, f: Facts, out: InPlace) -> List[Step]:
    """Settings that differ only in forwarding are set in place; any other difference
    (what devices inherit as they are made) makes the namespace again."""
    was, now = _sysctls(before), _sysctls(after)
    differ = {k for k in set(was) | set(now) if was.get(k) != now.get(k)}
    if differ - set(FORWARDING):
        out.forced.add(f.needs[0])
        return []
    keys = [f"{k}={now[k]}" for k in now if k in differ]
    return [Step(_with_keys(after, keys), phase=f"change {after.phase}", host=after.host)] \
        if keys else []


def _with_keys(step: Step, keys: List[str]) -> List[str]:
    argv = [str(a) for a in step.argv]
    return argv[:argv.index("-w") + 1] + keys


def _forced(old: Side, new: Side, in_place: InPlace, coming_or_going: Set[Obj]) -> Set[Obj]:
    """Objects that stay but must be made again: an effect only their creation gives
    changed (addrgenmode, creation-time settings)."""
    forced = set(in_place.forced)
    for side in (old, new):
        for i in side.indices(["genmode", "setting"]):
            f = side.facts[i]
            if side is old and i in in_place.old or side is new and i in in_place.new:
                continue
            if not f.needs or f.kind == "setting" and _forwarding_only(side.steps[i]):
                continue  # the root namespace's; or forwarding only: set in place
            owner = f.needs[-1]
            if owner not in coming_or_going:
                forced.add(owner)
    return forced


def _forwarding_only(step: Step) -> bool:
    return all(k in FORWARDING for k in _sysctls(step))


def _cascade(lost: Set[Obj], *sides: Side) -> Set[Obj]:
    """lost, with everything that goes with it: a container's namespace, a namespace's
    devices, a veth end's peer (read from the create steps that name each lost object:
    not from every step's facts)."""
    if not lost:
        return lost
    todo = list(lost)
    out = set(lost)
    distinct = list({id(side): side for side in sides}.values())
    while todo:
        o = todo.pop()
        more: List[Obj] = []
        if o.kind == CTR:
            more.append(Obj(NS, o.host, None, o.name))
        for side in distinct:
            found = side.creators(o.name)
            if o.kind == DEV and o.ns:  # of the devices of that name, those in its namespace
                found = sorted(set(found) & set(side.creators(o.ns)))
            for i in found:
                made = side.facts[i].creates
                if o.kind == NS:
                    more += [d for d in made if d.kind == DEV and d.host == o.host
                             and d.ns == o.name]
                elif len(made) == 2 and o in made:
                    more += [d for d in made if d != o]
        for m in more:
            if m not in out:
                out.add(m)
                todo.append(m)
    return out


# -- taking back and bringing ---------------------------------------------------------------

def _take_back(old: Side, lost: Set[Obj], in_place: InPlace) -> Tuple[List[Step], List[int]]:
    """The old plan's removed effects and lost objects, in its reverse order, and for
    each command the index of the old step it takes back."""
    out: List[Step] = []
    origin: List[int] = []
    covered = _covered(old, lost)
    # the steps removed, and those that create a lost object (read through their names)
    candidates = set(old.unshared()) | {i for o in lost for i in old.creators(o.name)}
    for i in sorted(candidates, reverse=True):
        step = old.steps[i]
        if (old.shared[i] or i in in_place.old) and not may_create(step):
            continue  # kept, or changed in place: nothing to take back
        f = old.facts[i]
        if f.kind == "create":
            mine = [o for o in f.creates if o in lost]
            if mine and not all(o in covered for o in f.creates):
                out.append(removal(step, f, {o.name for o in lost if o.kind == NS}))
                origin.append(i)
            continue
        if old.shared[i] or i in in_place.old or set(f.needs) & lost:
            continue
        undo = inverse(step, f)
        out += undo
        origin += [i] * len(undo)
    return out, origin


def _covered(old: Side, lost: Set[Obj]) -> Set[Obj]:
    """Lost devices that go without a command of their own: every end is in a namespace
    that is deleted. A veth with an end in a namespace that stays is deleted by a command:
    the kernel frees a deleted namespace's devices in the background, so that end would
    linger, its name taken, while the change goes on."""
    spaces = {(o.host, o.name) for o in lost if o.kind == NS}
    out: Set[Obj] = set()
    if not spaces:
        return out
    for i in sorted({i for _, ns in spaces for i in old.creators(ns)}):
        f = old.facts[i]
        if f.kind == "create" and f.creates and f.creates[0].kind == DEV:
            if all(o.ns and (o.host, o.ns) in spaces for o in f.creates):
                out.update(f.creates)
    return out


def removal(step: Step, f: Facts, spaces: Iterable[Optional[str]] = ()) -> Step:
    """The command that deletes what a create step made (a veth from its end outside
    spaces, the namespaces being deleted)."""
    spaces = set(spaces)
    phase = f"remove {step.phase}"
    if step.undo:
        return Step(list(step.undo), phase=phase, host=step.host)
    dev = f.creates[-1] if spaces and f.creates[0].ns in spaces else f.creates[0]
    return Step(_ip(dev.ns, "link", "delete", dev.name), phase=phase, host=step.host)


def _ip(ns: Optional[str], *args: str) -> List[str]:
    return ["ip", "-n", ns, *args] if ns else ["ip", *args]


def inverse(step: Step, f: Facts) -> List[Step]:
    """The commands that take back one effect in place (none for a read, a mark, a node's
    own command)."""
    phase = f"remove {step.phase}"
    argv = [str(a) for a in step.argv]
    if step.undo:
        return [Step(list(step.undo), phase=phase, host=step.host)]
    if f.kind == "address":
        out = argv[:argv.index("add")] + ["del", argv[argv.index("add") + 1], "dev",
                                           argv[argv.index("dev") + 1]]
    elif f.kind == "state":
        out = argv[:-1] + ["down"]
    elif f.kind == "route":
        out = argv[:argv.index("add")] + ["del"] + argv[argv.index("add") + 1:]
    elif f.kind == "sysctl":  # forwarding on: off again
        out = _with_keys(step, [f"{k}=0" for k in _sysctls(step)])
    elif f.kind == "nat":
        out = [("-D" if a == "-A" else a) for a in argv]
    elif f.kind == "qdisc":
        out = argv[:argv.index("qdisc")] + ["qdisc", "del", "dev",
                                           argv[argv.index("dev") + 1], "root"]
    elif f.kind == "port":
        out = ["brctl", "delif", *argv[2:4]] if argv[0] == "brctl" else \
            argv[:argv.index("master")] + ["nomaster"]
    else:
        return []
    return [Step(out, phase=phase, host=step.host)]


def _touched(old: Side, new: Side, lost: Set[Obj], in_place: InPlace) -> Set[Tuple[str, Any]]:
    """(host, namespace) whose devices or addresses change: its routes are put back."""
    out = {(o.host, o.ns) for o in lost if o.kind == DEV}
    for side, moved in ((old, in_place.old), (new, set(in_place.new))):
        for i in side.unshared():
            f = side.facts[i]
            if f.kind in ("route", "exec", "capture", "mark", "prelim", "firewall", "qdisc",
                          "sysctl", "nat"):
                continue  # no device or address changes
            if side is old and f.kind == "state":
                continue  # a device going down: the kernel drops its routes, as a new
                # lab could not add routes through a device that is down
            out.add((side.steps[i].host, f.ns))
    return out


def _downed(old: Side, lost: Set[Obj]) -> Set[Obj]:
    """Devices set down that stay: the kernel deletes their IPv6 addresses as they go down
    (keep_addr_on_down is 0), which a device made down keeps."""
    out = set()
    for i in old.indices(["state"]):
        dev = old.facts[i].needs[-1]
        if dev.kind == DEV and dev not in lost:
            out.add(dev)
    return out


def _bring(new: Side, lost: Set[Obj], in_place: InPlace,
           touched: Set[Tuple[str, Any]], downed: Set[Obj]) -> List[Step]:
    """The new plan's added effects, in-place changes, and everything standing on a lost
    object again, in its order."""
    out: List[Step] = []
    spaces = {ns for _, ns in touched}
    wanted = [(o.name, o.ns if o.kind == DEV else None) for o in lost] + \
        [(f"--name={o.name}", None) for o in lost if o.kind == CTR]
    for i, step in enumerate(new.steps):
        if lost and _may_stand_on(step, wanted) and _stands_on(new.facts[i], lost):
            out.append(step)  # made again: its change in place is moot
        elif i in in_place.new:
            out += in_place.new[i]
        elif not new.shared[i]:
            out.append(step)
        elif downed and "nodad" in step.argv and new.facts[i].needs[-1] in downed:
            out.append(step)  # an IPv6 address the device lost as it went down
        elif "route" in step.argv and _ns_word(step) in spaces:
            f = new.facts[i]
            if f.kind == "route" and (step.host, f.ns) in touched:
                out.append(_replace(step))
    return _with_captures(out, new.steps)


def _may_stand_on(step: Step, wanted: List[Tuple[str, Optional[str]]]) -> bool:
    """Cheap, before a step's facts: whether it names a lost object (a word of it is the
    object's name and, for a device in a namespace, another is the namespace's: a step
    acting there names it; `docker run` says --name=NAME), or it uses a captured value
    (a container's PID: the container's name is not in it)."""
    words = set(step.argv)
    if step.node_command or any(isinstance(a, Ref) for a in words):
        return True
    return any(name in words and (ns is None or ns in words) for name, ns in wanted)


def _stands_on(f: Facts, lost: Set[Obj]) -> bool:
    return any(o in lost for o in f.needs) or any(o in lost for o in f.creates)


def _ns_word(step: Step) -> Optional[str]:
    """The namespace `ip -n NS` names (cheap: before reading a step's facts)."""
    return str(step.argv[2]) if step.argv[1:2] == ["-n"] else None


def _replace(step: Step) -> Step:
    argv = [("replace" if a == "add" else a) for a in step.argv]
    return Step(argv, undo=step.undo, phase=step.phase, host=step.host)


def _with_captures(out: List[Step], steps: Sequence[Step]) -> List[Step]:
    """out, with the `docker inspect` that captures each value a step of it uses put
    before the first such step (a read: the container's PID is read again)."""
    have = {s.capture for s in out if s.capture}
    wanted = {v for s in out for v in s.refs()} - have
    if not wanted:
        return out
    reads = {s.capture: s for s in steps if s.capture in wanted}
    result: List[Step] = []
    for step in out:
        for var in step.refs():
            if var in wanted:
                result.append(reads[var])
                wanted.discard(var)
        result.append(step)
    return result
