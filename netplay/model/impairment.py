"""Link impairments: delay, jitter, loss and rate on one end of a link, as a tc qdisc.

An impairment shapes what leaves one interface (its egress), so a delay set on both ends of
a link is paid once each way: 50 ms on each end is about 100 ms of ping round trip. The
qdisc is the one a person would type:

    tc -n NS qdisc add dev IF root netem delay 50ms 5ms loss 1% rate 10mbit   # delay/loss
    tc -n NS qdisc add dev IF root tbf rate 10mbit burst 16384 latency 50ms   # rate alone

A rate alone uses tbf (a token bucket: bytes beyond the rate wait, then drop); anything
with delay, jitter or loss uses netem, with netem's own `rate` for a rate. Changing an
impairment at run time is `tc qdisc replace`, clearing it `tc qdisc del ... root`.

A qdisc belongs to its device: every device netplay impairs is a veth end the lab made,
deleted with its namespace or by the link's own undo, so no impairment needs an undo.

This module is pure except change(); whether the kernel has netem is netplay.kernel's to
say.
"""

import re
from dataclasses import dataclass
from typing import Optional

from netplay.core.errors import InputError

KEYS = ("delay", "jitter", "loss", "rate")
_TIME = re.compile(r"([0-9]+(?:\.[0-9]+)?)(us|ms|s)\Z")
_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)\Z")
_RATE_BITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
              "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9,
              "tbps": 8 * 10**12}
TBF_LATENCY = "50ms"  # how long a packet may wait in tbf's queue before it is dropped
MIN_BURST = 16384  # bytes: above any MTU's packet, so tbf never drops a packet for its size


@dataclass(frozen=True)
class Impairment:
    """What one end does to the traffic it sends; None: not set."""

    delay: Optional[str] = None  # "50ms"
    jitter: Optional[str] = None  # "5ms": delay varies by up to this much (needs a delay)
    loss: Optional[str] = None  # "1%": of the packets sent
    rate: Optional[str] = None  # "10mbit"

    def __bool__(self):
        return any(getattr(self, k) is not None for k in KEYS)

    def to_dict(self):
        return {k: getattr(self, k) for k in KEYS if getattr(self, k) is not None}

    def merged(self, other):
        """This impairment with other's settings on top (other wins key by key)."""
        if other is None:
            return self
        return Impairment(**{k: getattr(other, k) if getattr(other, k) is not None
                             else getattr(self, k) for k in KEYS})

    def describe(self):
        """One line as a person would say it: 'delay 50ms jitter 5ms loss 1% rate 10mbit'."""
        return " ".join(f"{k} {getattr(self, k)}" for k in KEYS
                        if getattr(self, k) is not None) or "none"

    @property
    def uses_netem(self):
        return any(getattr(self, k) is not None for k in ("delay", "jitter", "loss"))

    def qdisc(self, mtu=None):
        """The qdisc as tc arguments after `root`."""
        if self.uses_netem:
            out = ["netem"]
            if self.delay is not None:
                out += ["delay", self.delay]
                if self.jitter is not None:
                    out.append(self.jitter)
            if self.loss is not None:
                out += ["loss", self.loss]
            if self.rate is not None:
                out += ["rate", self.rate]
            return out
        # tbf: a burst of 10 ms at the rate, never less than a few large packets
        burst = max(rate_bits(self.rate) // 800, MIN_BURST, 2 * (mtu or 1500))
        return ["tbf", "rate", self.rate, "burst", str(burst), "latency", TBF_LATENCY]


def rate_bits(rate):
    """A tc rate ("10mbit") in bits per second."""
    number, unit = _RATE.match(rate).groups()
    return int(float(number) * _RATE_BITS[unit])


# --- validation ----------------------------------------------------------------------------


def check_time(value, where):
    text = str(value).strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not _TIME.match(text):
        raise InputError(f"{where}: {value!r} is not a time with a unit (e.g. 50ms, 1.5ms, "
                         "500us or 1s)")
    number, unit = _TIME.match(text).groups()
    seconds = float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]
    if seconds > 60:
        raise InputError(f"{where}: {value!r} is more than 60 s; use a shorter time")
    return text


def check_loss(value, where):
    text = value
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
    if not 0 <= number <= 100 or not re.fullmatch(r"[0-9]+(\.[0-9]+)?%", text or ""):
        raise InputError(f"{where}: {value!r} is not a loss percentage (e.g. 1% or 0.5%, "
                         "0 to 100)")
    return text


def check_rate(value, where):
    text = value.strip().lower() if isinstance(value, str) else value
    if not isinstance(text, str) or not _RATE.match(text) or rate_bits(text) < 8000:
        raise InputError(f"{where}: {value!r} is not a rate of at least 8kbit with a unit "
                         "(e.g. 10mbit, 512kbit, 1gbit; bps units are bytes per second)")
    return text


def from_dict(raw, where):
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


def check_complete(imp, where):
    """Checks on a whole impairment, once an end's own settings and its link's are merged."""
    if imp is not None and imp.jitter is not None and imp.delay is None:
        raise InputError(f"{where}: jitter {imp.jitter} needs a delay to vary around; "
                         "add delay (e.g. delay: 50ms)")
    return imp


# --- commands ------------------------------------------------------------------------------


def tc(ns, *args):
    """`tc` in namespace ns (None: the root namespace)."""
    return ["tc", "-n", ns, *args] if ns else ["tc", *args]


def set_argv(ns, dev, imp, verb="add", mtu=None):
    return tc(ns, "qdisc", verb, "dev", dev, "root", *imp.qdisc(mtu))


def clear_argv(ns, dev):
    return tc(ns, "qdisc", "del", "dev", dev, "root")


# --- the impairments of a lab --------------------------------------------------------------


def endpoints(topo):
    """Every impaired end of a Topology: {'node:iface': Impairment}, in topology order."""
    out = {}
    for node in topo.nodes.values():
        for iface in node.interfaces.values():
            if getattr(iface, "impair", None):
                out[f"{node.name}:{iface.name}"] = iface.impair
    for bridge in topo.bridges.values():
        for port in bridge.interfaces.values():
            if getattr(port, "impair", None):
                out[f"{bridge.name}:{port.name}"] = port.impair
    return out


def current(data):
    """The impairments a lab's log says are in force: the topology's, then every change
    `netplay link` recorded in the log's "changes", in order. {'node:iface': Impairment}."""
    from netplay.model.topology import from_dict as topology_from_dict

    out = endpoints(topology_from_dict(data["topology"], source=f"lab {data.get('lab')}"))
    for change in data.get("changes") or []:
        if change.get("command") != "link" or not change.get("applied"):
            continue
        imp = from_dict(change.get("impair"), "change") if change.get("impair") else None
        if imp:
            out[change["endpoint"]] = imp
        else:
            out.pop(change["endpoint"], None)
    return out



# --- changing a running lab: `netplay link` ------------------------------------------------


@dataclass
class End:
    """One impairable end of a lab: a node's interface or a bridge's port."""

    name: str  # "node:iface" or "bridge:port"
    namespace: Optional[str]  # None: the root namespace
    dev: str
    mtu: Optional[int] = None


def find_end(topo, spec):
    """The End named 'node:iface' (or 'bridge:port') in topo; InputError naming the choices."""
    owner, sep, dev = spec.partition(":")
    ends = {}
    mtus = {}
    for link in topo.links:
        for e in (link.a, link.b):
            mtus[str(e)] = link.mtu
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
    end.mtu = end.mtu or mtus.get(spec)
    return end


def change_argv(end, imp):
    """The command that sets an end's impairment to imp (None or empty: clears it)."""
    if not imp:
        return clear_argv(end.namespace, end.dev)
    return set_argv(end.namespace, end.dev, imp, verb="replace", mtu=end.mtu)


ALREADY_CLEAR = "Cannot delete qdisc with handle of zero"


def change(root, lab, spec, imp, machine, echo=None):
    """Set (or, imp None, clear) the impairment of end `spec` of a running lab, recorded in
    the lab's log under "changes" with the command and its result. Returns (End, what
    was in force before, note) where note says what happened.

    The change is a command of its own, after the build: the log's "steps" and
    "topology" stay what `netplay run` did (so replay and export can check the log by
    planning its topology again), and impair.current() reads the changes on top."""
    from netplay.observe import kernel
    from netplay.run import log as steplog
    from netplay.run import state
    from netplay.core.errors import HostError, StepFailed
    from netplay.run.runner import Runner
    from netplay.plan.steps import Step
    from netplay.model.topology import from_dict as topology_from_dict

    with state.lab_lock(root, lab):
        data = state.read_lab(root, lab)
        if data is None:
            raise InputError(f"no lab named {lab!r} on this host (`netplay status` lists labs)")
        if data.get("status") != steplog.UP:
            raise HostError(f"lab {lab!r} is {data.get('status')}, not up; `netplay run` it "
                            "first")
        topo = topology_from_dict(data["topology"], source=f"lab {lab}")
        end = find_end(topo, spec)
        before = current(data).get(end.name)
        if not imp and not before:
            return end, before, "has no impairment; nothing to clear"
        feature = ("netem" if imp.uses_netem else "tbf") if imp else None
        if feature and not kernel.available(machine, feature):
            raise HostError(f"{end.name}: {kernel.FEATURES[feature].missing}")
        step = Step(change_argv(end, imp), phase=f"link {end.name}")
        rc, _, err, seconds = Runner(machine, echo).execute(step.argv)
        applied = rc == 0 or (not imp and ALREADY_CLEAR in err)
        entry = {"command": "link", "endpoint": end.name,
                 "impair": imp.to_dict() if imp else None, "applied": applied,
                 **step.to_dict(),
                 "result": {"rc": rc, "stderr": err.strip(), "duration": round(seconds, 4),
                            "time": steplog.now()}}
        data.setdefault("changes", []).append(entry)
        data["updated"] = steplog.now()
        steplog.write_json_atomic(state.log_path(root, lab), data)
        if not applied:
            raise StepFailed(f"`{step.shell()}` failed: {err.strip() or f'exit code {rc}'}")
        if rc != 0:
            return end, before, "had no qdisc left; recorded as cleared"
        return end, before, None
