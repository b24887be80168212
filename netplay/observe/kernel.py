"""What this host's kernel can build, probed before a run changes anything.

Kernels differ in the link types and qdiscs they have (this one has no dummy and no
netem), and a lab that needs a missing one used to fail at its first such command, half
built. Each feature is probed by running the command that needs it inside `unshare
--net`: a network namespace of its own, gone with everything in it when the command
exits, so a probe changes nothing on the host. A probe runs only when the topology needs
its feature, at most once per machine per process (one command).

The one place that knows what the topology asks of the kernel is `requirements`; the one
place that knows how to ask the kernel is `available`.
"""

from dataclasses import dataclass
from typing import Dict, List, Tuple

from netplay.core.errors import HostError
from netplay.model.impairment import endpoints


@dataclass(frozen=True)
class Feature:
    """A kernel feature a lab may need, and how to tell whether this kernel has it."""

    probe: Tuple[str, ...]  # a command that needs the feature, run in a throwaway namespace
    missing: str  # "this kernel has no ...", with how to get it
    fix: str  # what the user can do instead


NO_NETEM = ("this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM; try `modprobe sch_netem`), "
            "which delay, jitter and loss need; a rate alone works (tbf)")

FEATURES: Dict[str, Feature] = {
    "dummy": Feature(("ip", "link", "add", "np-probe", "type", "dummy"),
                     "this kernel has no dummy link type (CONFIG_DUMMY; try `modprobe dummy`)",
                     "remove the dummy interface (containerlab: the `type: dummy` link) or run "
                     "it on a kernel with dummy"),
    "netem": Feature(("tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"),
                     NO_NETEM, "remove delay, jitter and loss from the topology or run it on "
                               "a kernel with netem"),
    "tbf": Feature(("tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "1mbit",
                    "burst", "16384", "latency", "50ms"),
                   "this kernel has no tbf qdisc (CONFIG_NET_SCH_TBF; try `modprobe sch_tbf`), "
                   "which a rate alone uses", "remove the rate or run it on a kernel with tbf"),
}

_known: Dict[tuple, bool] = {}  # (machine, feature) -> the probe's answer


def available(machine, feature: str) -> bool:
    """Can the kernel of `machine` build `feature` (a key of FEATURES)? Probed once."""
    try:
        return _known[(machine, feature)]
    except KeyError:
        pass
    except TypeError:  # a machine that cannot be a key is probed every time
        return _probe(machine, feature)
    _known[(machine, feature)] = answer = _probe(machine, feature)
    return answer


def _probe(machine, feature):
    if not machine.which("unshare"):  # assume yes, and let the command itself say if not
        return True
    rc, _, _ = machine.run(["unshare", "--net", *FEATURES[feature].probe])
    return rc == 0


def requirements(topo) -> List[Tuple[str, str, str]]:
    """What the topology asks of the kernel, in topology order: (feature, the end that asks,
    what it asks for)."""
    out = [("dummy", f"{node.name}:{iface.name}", "is a dummy interface")
           for node in topo.nodes.values() for iface in node.interfaces.values()
           if iface.kind == "dummy"]
    for end, imp in endpoints(topo).items():
        out.append(("netem" if imp.uses_netem else "tbf", end, f"asks for {imp.describe()}"))
    return out


def check(topo, machine):
    """Before a run changes anything: refuse, in one line naming the first end that needs
    it, a topology that needs what the kernel cannot build."""
    asked = {}
    for feature, end, what in requirements(topo):
        asked.setdefault(feature, (end, what))
    for feature, (end, what) in asked.items():
        if not available(machine, feature):
            spec = FEATURES[feature]
            raise HostError(f"{topo.name}: {end} {what}, but {spec.missing}; {spec.fix}")
