"""netplay verify: the host compared with the topology's intent.

The pure parts are their own modules, each testable on its own: netplay.check.expect (what
the host should hold, and each fact checked against an observation), netplay.check.routing
(who reaches whom, by simulating IP routing over the topology) and netplay.check.pingplan
(which pairs to ping). Here: `observe_lab`, `run_pings`, `verify_lab`, the observations
(`ip -j`, the Docker SDK, and pings sent all at once from raw ICMP sockets inside each
source's namespace, by the machine's ping: netplay.machine.pinger on this host). Nothing
here changes the host or is logged."""

from concurrent.futures import ThreadPoolExecutor

from netplay.check import tunnels
from netplay.check.expect import Check, Observed, evaluate, forwarding_keys
from netplay.check.pingplan import ISOLATION_SAMPLE, MAX_REACH_PINGS, ping_plan
from netplay.machine import pinger
from netplay.model.hosts import on_host
from netplay.observe import containers as dockerstate, ip as observe


def default_ping_limit(machine):
    """Pairs to ping at most: a third of the kernel's neighbour table (each ping may add an
    entry at both ends, and the table is shared by every namespace), within 100..2000."""
    return max(100, min(MAX_REACH_PINGS, observe.neighbour_capacity(machine) // 3))


def lab_namespaces(topo):
    """The namespaces a lab lives in; the root one always (bridge ports, host ends)."""
    out = [None]
    out += [n.namespace for n in topo.nodes.values() if n.namespace]
    out += [b.namespace for b in topo.bridges.values() if b.namespace]
    return list(dict.fromkeys(out))


def observe_lab(topo, machine, cli=None):
    """Observed state of everything the lab's expectations look at."""
    observed = Observed(namespaces=observe.host_state(machine, lab_namespaces(topo)))
    if any(n.kind == "docker" for n in topo.nodes.values()):
        if cli is not None:
            observed.containers = {c.name: c.status
                                   for c in dockerstate.lab_containers(cli, topo.name)}
    forwarding = forwarding_keys(topo)
    for node in topo.nodes.values():
        keys = forwarding[node.name]
        if not keys:
            continue
        state = observed.namespaces.get(node.namespace)
        seen = state.forwarding if state is not None and state.forwarding is not None \
            else observe.forwarding(machine, node.namespace)  # both families, one process
        for key, _ in keys:
            observed.sysctls[(node.namespace, key)] = seen[key] if key in seen else \
                observe.sysctl(machine, node.namespace, key)
    return observed


def _ping_check(path, should, reply):
    """A ping's Check: `reach` must get a reply, `isolated` must not."""
    subject = f"{path.source} -> {path.target} {path.address}"
    if should:
        reason = f"replied ({path.reason})" if reply.replied else \
            f"{reply.reason}; expected a reply along {path.reason}"
        return Check("reach", subject, reply.replied, reason)
    reason = (f"no reply, as the topology says: {path.reason}" if not reply.replied else
              f"replied, but the topology isolates them: {path.reason}")
    return Check("isolated", subject, not reply.replied, reason)


def run_pings(topo, machine, reach, isolated, deadline=pinger.PING_DEADLINE):
    """Ping every planned pair at once from its source's namespace on the machine: one
    Check per ping."""
    jobs = [(p, True) for p in reach] + [(p, False) for p in isolated]
    replies = machine.ping([(topo.nodes[p.source].namespace, p.address) for p, _ in jobs],
                           deadline)
    return [_ping_check(path, should, reply) for (path, should), reply in zip(jobs, replies)]


def verify_lab(topo, machine, cli=None, pings=True, sample=ISOLATION_SAMPLE,
               limit=MAX_REACH_PINGS):
    """Every check of a lab, its state then its reachability, and the ping plan (None
    without pings)."""
    checks = evaluate(topo, observe_lab(topo, machine, cli))
    plan = None
    if pings:
        plan = ping_plan(topo, sample, limit)
        checks += run_pings(topo, machine, plan.reach, plan.isolated)
    return checks, plan


def verify_hosts(topo, machines, cli=None, pings=True, sample=ISOLATION_SAMPLE,
                 limit=MAX_REACH_PINGS):
    """verify_lab for a lab on this host ({"local": machine}); for a lab on several hosts,
    each host's part observed and checked on its own machine (hosts at once), then its
    tunnels (both ends, MTUs, a full-size ping through each), then the pings, each sent
    from its source's host. Returns (checks, ping plan or None)."""
    if not topo.hosts:
        return verify_lab(topo, next(iter(machines.values())), cli, pings, sample, limit)
    names = list(topo.hosts)
    parts = {h: on_host(topo, h) for h in names}
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        seen = dict(zip(names, pool.map(lambda h: observe_lab(parts[h], machines[h]), names)))
    checks = [c for h in names for c in evaluate(parts[h], seen[h])]
    states = {h: seen[h].namespaces for h in names}
    checks += [tunnels.check_end(end, states[end.host]) for end in tunnels.expected_ends(topo)]
    checks += tunnels.check_mtus(topo, states)
    plan = None
    if pings:
        checks += tunnels.run_full_pings(topo, machines)
        plan = ping_plan(topo, sample, limit)
        checks += run_host_pings(topo, machines, plan.reach, plan.isolated)
    return checks, plan


def run_host_pings(topo, machines, reach, isolated, deadline=pinger.PING_DEADLINE):
    """run_pings with each ping sent from its source's host, hosts at once."""
    jobs = [(p, True) for p in reach] + [(p, False) for p in isolated]
    by_host = {}
    for i, (path, _) in enumerate(jobs):
        by_host.setdefault(topo.host_of(path.source), []).append(i)

    def send(host):
        targets = [(topo.nodes[jobs[i][0].source].namespace, jobs[i][0].address)
                   for i in by_host[host]]
        return machines[host].ping(targets, deadline)

    replies = [None] * len(jobs)
    with ThreadPoolExecutor(max_workers=max(1, len(by_host))) as pool:
        for host, answers in zip(by_host, pool.map(send, by_host)):
            for i, reply in zip(by_host[host], answers):
                replies[i] = reply
    return [_ping_check(path, should, reply) for (path, should), reply in zip(jobs, replies)]
