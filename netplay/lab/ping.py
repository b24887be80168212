"""`netplay ping`: echo requests from one node of a running lab to another, by name.

The addresses come from the lab's topology (netplay.check.pingplan.resolve_targets); the
requests are sent from inside the source node's namespace by the machine's pinger, as
verify's are (no ping program is needed in the node). Side effects: ICMP echo requests in
that namespace; nothing is changed or logged.
"""

import time
from typing import List, NamedTuple, Optional

from netplay.check.pingplan import Target, resolve_targets
from netplay.machine.base import Machine
from netplay.machine.pinger import PING_DEADLINE
from netplay.model.topology import Topology

INTERVAL = 1.0  # seconds between rounds of -c N, as ping(8)'s default


class Outcome(NamedTuple):
    target: Target
    sent: int
    replies: int
    reason: str  # "replied", or why the last request that failed did not


def ping(topo: Topology, machine: Machine, source: str, spec: str,
         family: Optional[int] = None, count: int = 1,
         deadline: float = PING_DEADLINE) -> List[Outcome]:
    """Ping spec (a node, NODE:IFACE or an address) from node source `count` times, every
    target at once in each round; one Outcome per target."""
    targets = resolve_targets(topo, source, spec, family)
    ns = topo.nodes[source].namespace
    replies = [0] * len(targets)
    reasons = ["replied"] * len(targets)
    for n in range(count):
        start = time.monotonic()
        for i, reply in enumerate(machine.ping([(ns, t.address) for t in targets], deadline)):
            replies[i] += reply.replied
            if not reply.replied:
                reasons[i] = reply.reason
        if n + 1 < count:
            time.sleep(max(0.0, INTERVAL - (time.monotonic() - start)))
    return [Outcome(t, count, r, why) for t, r, why in zip(targets, replies, reasons)]
