"""Link impairments: delay, jitter, loss and rate on one end of a link, as a tc qdisc.

An impairment shapes what leaves one interface (its egress), so a delay set on both ends of
a link is paid once each way: 50 ms on each end is about 100 ms of ping round trip. The
qdisc is the one a person would type:

    tc -n NS qdisc add dev IF root netem delay 50ms 5ms loss 1% rate 10mbit   # delay/loss
    tc -n NS qdisc add dev IF root tbf rate 10mbit burst 16384 latency 50ms   # rate alone

A rate alone uses tbf (a token bucket: bytes beyond the rate wait, then drop); anything
with delay, jitter or loss uses netem, with netem's own `rate` for a rate. Changing an
impairment at run time is `tc qdisc replace`, clearing it `tc qdisc del ... root`.

This module is the value type and its checks, and finds an end in a topology; it is pure.
The tc commands are netplay.plan.tc's, changing a running lab is netplay.lab.link's, and
whether the kernel has netem is netplay.observe.kernel's to say.
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:  # for annotations only: the topology's types hold Impairments
    from netplay.model.topology import Topology

from netplay.core.errors import InputError

KEYS = ("delay", "jitter", "loss", "rate")
_TIME = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s)\Z")
_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)\Z")
_RATE_BITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
              "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9,
              "tbps": 8 * 10**12}


@dataclass(frozen=True)
class Impairment:
    """What one end does to the traffic it sends; None: not set."""

    delay: Optional[str] = None  # "50ms"
    jitter: Optional[str] = None  # "5ms": delay varies by up to this much (needs a delay)
    loss: Optional[str] = None  # "1%": of the packets sent
    rate: Optional[str] = None  # "10mbit"

    def __bool__(self) -> bool:
        return any(getattr(self, k) is not None for k in KEYS)

    def to_dict(self) -> Dict[str, str]:
        return {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}

    def merged(self, other: Optional["Impairment"]) -> "Impairment":
        """This impairment with other's settings on top (other wins key by key)."""
        if other is None:
            return self
        return Impairment(**{k: getattr(other, k) if getattr(other, k) is not None
                             else getattr(self, k) for k in KEYS})

    def describe(self) -> str:
        """One line as a person would say it: 'delay 50ms jitter 5ms loss 1% rate 10mbit'."""
        return " ".join(f"{k} {getattr(self, k)}" for k in KEYS
                        if getattr(self, k) is not None) or "none"

    @property
    def uses_netem(self) -> bool:
        return any(getattr(self, k) is not None for k in ("delay", "jitter", "loss"))


def rate_bits(rate: str) -> int:
    """A tc rate ("10mbit") in bits per second."""
    match = _RATE.match(rate)
    if match is None:
        raise ValueError(f"{rate!r} is not a tc rate")
    number, unit = match.groups()
    return int(float(number) * _RATE_BITS[unit])


# --- validation ----------------------------------------------------------------------------


def check_time(value: Any, where: str) -> str:
    text = str(value).strip().lower() if isinstance(value, str) else value
    match = _TIME.match(text) if isinstance(text, str) else None
    if match is None:
        raise InputError(f"{where}: {value!r} is not a time with a unit (e.g. 50ms, 1.5ms, "
                         "500us or 1s)")
    number, unit = match.groups()
    seconds = float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
    if seconds > 60:
        raise InputError(f"{where}: {value!r} is more than 60 s; use a shorter time")
    return text


def check_loss(value: Any, where: str) -> str:
    text: Optional[str] = value if isinstance(value, str) else None
    if isinstance(value, bool):
        text = None
    elif isinstance(value, (int, float)):
        text = f"{value}%"
    elif isinstance(value, str):
        text = value.strip()
        if not text.endswith("%"):
            text = None
    try:
        number = float(text[:-1]) if text else -1.0
    except ValueError:
        number = -1.0
    if text is None or not 0 <= number <= 100 or not re.fullmatch(r"[0-9]+(\.[0-9]+)?%", text):
        raise InputError(f"{where}: {value!r} is not a loss percentage (e.g. 1% or 0.5%, "
                         "0 to 100)")
    return text


MAX_RATE_BITS = 10 ** 12  # tbf's burst (10 ms at the rate) must fit tc's 32-bit byte count


def check_rate(value: Any, where: str) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not _RATE.match(text) or \
            not 8000 <= rate_bits(text) <= MAX_RATE_BITS:
        raise InputError(f"{where}: {value!r} is not a rate from 8kbit to 1000gbit with a unit "
                         "(e.g. 10mbit, 512kbit, 1gbit; bps units are bytes per second)")
    return text


def from_dict(raw: Any, where: str) -> Optional[Impairment]:
    """An Impairment from a mapping with keys delay, jitter, loss, rate; one-line errors."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping such as {{delay: 50ms, loss: 1%}}, "
                         f"got {type(raw).__name__}")
    for key in raw:
        if key not in KEYS:
            raise InputError(f"{where}: unknown key {key!r}; allowed keys: {', '.join(KEYS)}")
    values = {}
    if raw.get("delay") is not None:
        values["delay"] = check_time(raw["delay"], f"{where}.delay")
    if raw.get("jitter") is not None:
        values["jitter"] = check_time(raw["jitter"], f"{where}.jitter")
    if raw.get("loss") is not None:
        values["loss"] = check_loss(raw["loss"], f"{where}.loss")
    if raw.get("rate") is not None:
        values["rate"] = check_rate(raw["rate"], f"{where}.rate")
    return Impairment(**values)


def check_complete(imp: Optional[Impairment], where: str) -> Optional[Impairment]:
    """Checks on a whole impairment, once an end's own settings and its link's are merged."""
    if imp is not None and imp.jitter is not None and imp.delay is None:
        raise InputError(f"{where}: jitter {imp.jitter} needs a delay to vary around; "
                         "add delay (e.g. delay: 50ms)")
    return imp


# --- the impairments of a lab --------------------------------------------------------------


def endpoints(topo: "Topology") -> Dict[str, Impairment]:
    """Every impaired end of a Topology: {'node:iface': Impairment}, in topology order."""
    out = {}
    for node in topo.nodes.values():
        for iface in node.interfaces.values():
            if iface.impair:
                out[f"{node.name}:{iface.name}"] = iface.impair
    for bridge in topo.bridges.values():
        for port in bridge.interfaces.values():
            if port.impair:
                out[f"{bridge.name}:{port.name}"] = port.impair
    return out


@dataclass
class End:
    """One impairable end of a lab: a node's interface or a bridge's port."""

    name: str  # "node:iface" or "bridge:port"
    namespace: Optional[str]  # None: the root namespace
    dev: str
    mtu: Optional[int] = None


def find_end(topo: "Topology", spec: str) -> End:
    """The End named 'node:iface' (or 'bridge:port') in topo; InputError naming the choices."""
    owner, sep, dev = spec.partition(":")
    ends = {}
    for node in topo.nodes.values():
        for iface in node.interfaces.values():
            ends[f"{node.name}:{iface.name}"] = End(f"{node.name}:{iface.name}", node.namespace,
                                                   iface.name, iface.mtu)
    for bridge in topo.bridges.values():
        for port in bridge.interfaces.values():
            ends[f"{bridge.name}:{port.name}"] = End(f"{bridge.name}:{port.name}",
                                                     bridge.namespace, port.name)
    if not sep or spec not in ends:
        if owner in topo.nodes or owner in topo.bridges:
            mine = [e for e in ends if e.startswith(owner + ":")]
            raise InputError(f"{spec!r}: lab {topo.name} has no such end; {owner}'s are "
                             f"{', '.join(mine) or 'none'}")
        raise InputError(f"{spec!r}: lab {topo.name} has no node or bridge {owner!r}; give "
                         "NODE:IFACE (`netplay status` shows them)")
    end = ends[spec]
    end.mtu = topo.end_mtus().get(spec, end.mtu)
    return end
