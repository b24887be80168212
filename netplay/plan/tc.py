"""tc's command lines for link impairments (see netplay.model.impairment): pure argv.

A qdisc belongs to its device: every device netplay impairs is a veth end the lab made,
deleted with its namespace or by the link's own undo, so no impairment needs an undo.
Changing an impairment at run time is `tc qdisc replace`, clearing it `tc qdisc del ... root`.
"""

from typing import List, Optional

from netplay.model.impairment import End, Impairment, rate_bits

TBF_LATENCY = "50ms"  # how long a packet may wait in tbf's queue before it is dropped
MIN_BURST = 16384  # bytes: above any MTU's packet, so tbf never drops a packet for its size


def tc(ns: Optional[str], *args: str) -> List[str]:
    """`tc` in namespace ns (None: the root namespace)."""
    return ["tc", "-n", ns, *args] if ns else ["tc", *args]


def qdisc(imp: Impairment, mtu: Optional[int] = None) -> List[str]:
    """The qdisc as tc arguments after `root`."""
    if imp.uses_netem:
        out = ["netem"]
        if imp.delay is not None:
            out += ["delay", imp.delay]
            if imp.jitter is not None:
                out.append(imp.jitter)
        if imp.loss is not None:
            out += ["loss", imp.loss]
        if imp.rate is not None:
            out += ["rate", imp.rate]
        return out
    if imp.rate is None:
        raise ValueError("an empty impairment has no qdisc; clear_argv removes one")
    # tbf: a burst of 10 ms at the rate, never less than a few large packets
    burst = max(rate_bits(imp.rate) // 800, MIN_BURST, 2 * (mtu or 1500))
    return ["tbf", "rate", imp.rate, "burst", str(burst), "latency", TBF_LATENCY]


def set_argv(ns: Optional[str], dev: str, imp: Impairment, verb: str = "add",
             mtu: Optional[int] = None) -> List[str]:
    return tc(ns, "qdisc", verb, "dev", dev, "root", *qdisc(imp, mtu))


def clear_argv(ns: Optional[str], dev: str) -> List[str]:
    return tc(ns, "qdisc", "del", "dev", dev, "root")


def change_argv(end: End, imp: Optional[Impairment]) -> List[str]:
    """The command that sets an end's impairment to imp (None or empty: clears it)."""
    if not imp:
        return clear_argv(end.namespace, end.dev)
    return set_argv(end.namespace, end.dev, imp, verb="replace", mtu=end.mtu)
