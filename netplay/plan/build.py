"""Planning: a validated Topology in, an ordered list of Steps out. Pure: runs nothing.

The order is the tutorial's: namespaces (or containers and their netns links) first, then
bridges, then veth pairs created with each end directly in its namespace, then addresses,
links up, forwarding and routes. Objects inside a lab namespace need no undo of their own:
deleting the namespace (or removing the container) takes them with it. Objects in the root
namespace (bridges, veth ends, firewall rules) each get an explicit undo.
"""

import re
from dataclasses import dataclass
from typing import AbstractSet, Dict, Iterable, List, Optional, Set, Tuple

from netplay.core import cidr
from netplay.core.consts import ETC_NETNS, FIREWALLS, LAB_LABEL, NETNS_DIR, owner_mark
from netplay.core.errors import InputError
from netplay.model.hosts import refuse_containers
from netplay.model.topology import LOCAL, Bridge, Endpoint, Link, Node, Topology
from netplay.model.tunnels import vnis
from netplay.plan import tc
from netplay.plan.steps import Arg, Ref, Step

DEFAULT_CMD = ["sleep", "infinity"]  # quiet, unlike the tutorial's busy `echo` loop


def ip(ns: Optional[str], *args: str) -> List[str]:
    """`ip` in namespace ns (None: the root namespace)."""
    return ["ip", "-n", ns, *args] if ns else ["ip", *args]


def in_ns(ns: Optional[str], *argv: str) -> List[str]:
    """Any other program inside namespace ns, the way the tutorial does it."""
    return ["ip", "netns", "exec", ns, *argv] if ns else list(argv)


def mark(ns: Optional[str], dev: str, lab: str, phase: str) -> Step:
    return Step(ip(ns, "link", "set", dev, "alias", owner_mark(lab)), phase=phase)


LinkKey = Tuple[str, str]


def link_key(link: Link) -> LinkKey:
    """A link by its ends, as written: what names it across two topologies."""
    return (str(link.a), str(link.b))


def end_node(end: str) -> str:
    """The node (or bridge) of a link key's end: "h1" of "h1:eth0" (a name has no ":")."""
    return end.partition(":")[0]


@dataclass(frozen=True)
class Part:
    """Some of a topology's nodes, bridges and links, by name: plan(topo, part) gives the
    steps of just these, each as the whole plan has it and in its order (a change of a
    few objects in a lab of thousands is planned from them: netplay.plan.local)."""

    nodes: AbstractSet[str] = frozenset()
    bridges: AbstractSet[str] = frozenset()
    links: AbstractSet[LinkKey] = frozenset()

    def __or__(self, other: "Part") -> "Part":
        return Part(self.nodes | other.nodes, self.bridges | other.bridges,
                    self.links | other.links)

    def __len__(self) -> int:
        return len(self.nodes) + len(self.bridges) + len(self.links)


def plan(topo: Topology, part: Optional[Part] = None) -> List[Step]:
    """The steps that build topo, in order, each on its host (Step.host); with part, only
    the steps of its objects (and the preliminary ones)."""
    refuse_containers(topo)
    host = topo.host_of
    nodes = _nodes(topo, None if part is None else part.nodes)
    bridges = [b for b in topo.bridges.values() if part is None or b.name in part.bridges]
    steps = [s for h in (list(topo.hosts) or [LOCAL])
             for s in on(h, [Step(["mkdir", "-p", NETNS_DIR], phase="preliminary setup")])]
    pids = pid_vars(topo)
    made = [s for node in nodes for s in on(host(node.name), node_steps(topo, node, pids))]
    # every `docker run` first, then every `docker inspect`, then the rest: the runner
    # starts the containers at once, reads their PIDs at once, and names their namespaces
    # in the root namespace's one `ip -batch`
    steps += sorted(made, key=_node_step_rank)
    names = None if part is None else part.nodes
    off, ipv6 = forwarding_off(topo, names), ipv6_nodes(topo, names)
    for node in nodes:  # before any device exists, so every device inherits them
        steps += on(host(node.name), settings_steps(node, node.name in ipv6,
                                                    off.get(node.name, ())))
    for bridge in bridges:
        steps += on(host(bridge.name), bridge_steps(topo, bridge))
    tunnels = vnis(topo)
    # the first end's node of each link of part, to key only those links
    keys = None if part is None else part.links
    firsts = None if keys is None else {end_node(k[0]) for k in keys}
    links = [tunnel_steps(topo, link, tunnels[i]) if i in tunnels else
             tuple(on(host(link.a.node), piece) for piece in link_steps(topo, link))
             for i, link in enumerate(topo.links)
             if keys is None or firsts and link.a.node in firsts and link_key(link) in keys]
    # every veth first, then every bridge port: each kind runs as one batch per namespace
    steps += [s for create, _ in links for s in create]
    steps += [s for _, attach in links for s in attach]
    for node in nodes:
        mine: List[Step] = []
        if node.namespace:  # marked here, where it joins the node's other `ip -n` commands
            mine.append(mark(node.namespace, "lo", topo.name, f"configure {node.name}"))
        steps += on(host(node.name), mine + config_steps(topo, node))
    if topo.etc_hosts:  # before the nodes' own commands, which may name other nodes
        for node in nodes:
            steps += on(host(node.name), etc_hosts_steps(topo, node))
    steps += impair_steps(topo, part)
    for node in nodes:  # once every link is up and configured
        steps += on(host(node.name), exec_steps(node, pids))
    return steps


def _nodes(topo: Topology, names: Optional[AbstractSet[str]]) -> List[Node]:
    """topo's nodes (those of names, if given), in the topology's order."""
    return [n for n in topo.nodes.values() if names is None or n.name in names]


def on(host: str, steps: List[Step]) -> List[Step]:
    """steps, each set to run on host."""
    for step in steps:
        step.host = host
    return steps


def _node_step_rank(step: Step) -> int:
    ranks: Dict[Tuple[Arg, ...], int] = {("docker", "run"): 0, ("docker", "inspect"): 1}
    return ranks.get(tuple(step.argv[:2]), 2)


def pid_vars(topo: Topology) -> Dict[str, str]:
    """A shell variable name per container for its PID: pid_<name>, made unique."""
    out: Dict[str, str] = {}
    used = set()
    for node in topo.nodes.values():
        if node.kind == "docker":
            var = "pid_" + re.sub(r"[^a-z0-9_]", "_", node.name.lower())
            while var in used:
                var += "_"
            used.add(var)
            out[node.name] = var
    return out


def node_steps(topo: Topology, node: Node, pids: Dict[str, str]) -> List[Step]:
    phase = f"node {node.name}"
    if node.kind == "netns":
        return [Step(["ip", "netns", "add", node.name], undo=["ip", "netns", "delete", node.name],
                     phase=phase)]
    if node.kind == "docker":
        return docker_steps(topo, node, pids[node.name], phase)
    return []  # the host node is the root namespace: nothing to create


ROUTER_SYSCTLS = ("net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
NO_DAD_SYSCTLS = ("net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
DOCKER_IPV6_SYSCTLS = ("net.ipv6.conf.all.disable_ipv6=0", "net.ipv6.conf.default.disable_ipv6=0")


def settings_steps(node: Node, has_ipv6: bool, off: Iterable[str] = ()) -> List[Step]:
    """Kernel settings a node needs before its devices exist, so that each device inherits
    them: a router forwards whatever path a packet took to reach it (reverse-path filter
    off; a namespace inherits the host's, which may be strict), and a node with IPv6
    skips duplicate address detection, which would leave its link-local addresses
    tentative, and IPv6 through it dead, for its first two seconds; a container with IPv6
    turns it back on. has_ipv6: the node is in ipv6_nodes. `off`: the node's
    forwarding_off sysctls, in the same process."""
    keys = list(ROUTER_SYSCTLS) if node.role == "router" else []
    if node.namespace is not None and has_ipv6:
        if node.kind == "docker":  # Docker turns IPv6 off in a container it gives no network
            keys += DOCKER_IPV6_SYSCTLS
        keys += NO_DAD_SYSCTLS
    keys += off
    if not keys:
        return []
    return [Step(in_ns(node.namespace, "sysctl", "-w", *keys), phase=f"settings {node.name}")]


def ipv6_nodes(topo: Topology, names: Optional[AbstractSet[str]] = None) -> Set[str]:
    """The nodes (of names, if given) with an IPv6 address on a device of theirs or on a
    bridge in their namespace (found in one pass over the bridges: not one per node)."""
    def any_v6(addresses: Iterable[str]) -> bool:
        return any(cidr.interface(a).version == 6 for a in addresses)

    out = {n.name for n in _nodes(topo, names)
           if any(any_v6(i.addresses) for i in n.interfaces.values())}
    return out | {b.namespace for b in topo.bridges.values()
                  if b.namespace and (names is None or b.namespace in names)
                  and any_v6(b.addresses)}


def docker_steps(topo: Topology, node: Node, pid_var: str, phase: str) -> List[Step]:
    """The tutorial's three lines: run with --net=none, read the PID, name its namespace.

    `ip netns attach` names the namespace by a bind mount rather than the tutorial's
    symlink: the name then survives a PID being reused and `ip netns delete` removes it.
    """
    run = ["docker", "run", "--net=none", f"--name={node.name}", f"--hostname={node.name}",
           "--label", f"{LAB_LABEL}={topo.name}"]
    run += [f"--dns={d}" for d in node.dns]
    for key, value in node.env.items():
        run += ["-e", f"{key}={value}"]
    for bind in node.binds:
        run += ["-v", bind]
    run += ["-d", topo.image_of(node), *(node.cmd or DEFAULT_CMD)]
    return [
        Step(run, undo=["docker", "rm", "-f", node.name], phase=phase),
        Step(["docker", "inspect", "-f", "{{.State.Pid}}", node.name], capture=pid_var,
             phase=phase),
        Step(["ip", "netns", "attach", node.name, Ref(pid_var)],
             undo=["ip", "netns", "delete", node.name], phase=phase),
    ]



def bridge_steps(topo: Topology, bridge: Bridge) -> List[Step]:
    ns, name = bridge.namespace, bridge.name
    phase = f"bridge {name}"
    undo = None if ns else ["ip", "link", "delete", name]
    steps = [Step(addbr(ns, name), undo=undo, phase=phase)]
    if ns is None:
        steps.append(mark(None, name, topo.name, phase))
        # Docker sets FORWARD to DROP and makes bridged frames traverse iptables (and, with
        # bridge-nf-call-ip6tables and an ip6tables DROP policy, ip6tables): let this
        # bridge's own frames through, marked as ours so the rules are found and removed.
        rule = ["FORWARD", "-i", name, "-o", name, "-m", "comment",
                "--comment", owner_mark(topo.name), "-j", "ACCEPT"]
        for program in FIREWALLS:
            steps.append(Step([program, "-I", *rule], undo=[program, "-D", *rule], phase=phase))
    steps += [Step(ip(ns, "addr", "add", *_addr_args(a), "dev", name), phase=phase)
              for a in bridge.addresses]
    steps += activate_steps(topo, ns, name, bridge.up, phase)
    return steps


def activate_steps(topo: Topology, ns: Optional[str], dev: str, up: bool,
                   phase: str) -> List[Step]:
    """`link set DEV up` if up; before it, in a lab without IPv6 link-local addresses,
    `link set DEV addrgenmode none`. That must come first (the kernel makes the address as
    the device comes up) and on a line of its own (given with `up`, the kernel applies it
    after), and holds for a device brought up later too."""
    steps = [] if topo.ipv6_link_local else \
        [Step(ip(ns, "link", "set", dev, "addrgenmode", "none"), phase=phase)]
    return steps + ([Step(ip(ns, "link", "set", dev, "up"), phase=phase)] if up else [])


def addbr(ns: Optional[str], bridge: str) -> List[str]:
    """brctl in the root namespace, as the tutorial does; inside a namespace `ip link`,
    which joins that namespace's `ip -batch` instead of costing `ip netns exec` + brctl."""
    return ["brctl", "addbr", bridge] if ns is None else ip(ns, "link", "add", bridge,
                                                             "type", "bridge")


def addif(ns: Optional[str], bridge: str, port: str) -> List[str]:
    return ["brctl", "addif", bridge, port] if ns is None else ip(ns, "link", "set", port,
                                                                  "master", bridge)


def link_steps(topo: Topology, link: Link) -> Tuple[List[Step], List[Step]]:
    """One veth pair, each end created in its own namespace, and the steps that join a
    bridge end to its bridge: (create, attach)."""
    a, b = link.a, link.b
    ns_a, ns_b = topo.namespace_of(a.node), topo.namespace_of(b.node)
    add = ["ip", "link", "add", a.iface, *(["netns", ns_a] if ns_a else []),
           *_link_options(topo, link, a), "type", "veth", "peer", "name", b.iface,
           *(["netns", ns_b] if ns_b else []), *_link_options(topo, link, b)]
    root_end = a.iface if ns_a is None else b.iface if ns_b is None else None
    phase = f"link {a} -- {b}"
    steps = [Step(add, undo=["ip", "link", "delete", root_end] if root_end else None,
                  phase=phase)]
    if root_end:
        steps.append(mark(None, root_end, topo.name, phase))
    attach = []
    for end, ns in ((a, ns_a), (b, ns_b)):
        if topo.is_bridge(end.node):
            bridge = topo.bridges[end.node]
            attach.append(Step(addif(ns, bridge.name, end.iface), phase=phase))
            attach += activate_steps(topo, ns, end.iface, bridge.up, phase)
    return steps, attach


def tunnel_steps(topo: Topology, link: Link, vni: int) -> Tuple[List[Step], List[Step]]:
    """A link between hosts: a VXLAN device on each end's host, made directly in the end's
    namespace from the host's root namespace (whose UDP socket it keeps), each the end the
    link would have had; then, as for a veth, the steps that join a bridge end to its
    bridge: (create, attach)."""
    create: List[Step] = []
    attach: List[Step] = []
    phase = f"link {link.a} -- {link.b}"
    for end, other in ((link.a, link.b), (link.b, link.a)):
        here, there = topo.host_of(end.node), topo.host_of(other.node)
        ns = topo.namespace_of(end.node)
        add = ["ip", "link", "add", end.iface, *(["netns", ns] if ns else []),
               *_link_options(topo, link, end), "type", "vxlan", "id", str(vni),
               "local", _underlay(topo, here), "remote", _underlay(topo, there),
               "dstport", str(topo.vxlan_port)]
        made = [Step(add, undo=None if ns else ["ip", "link", "delete", end.iface],
                     phase=phase)]
        if ns is None:
            made.append(mark(None, end.iface, topo.name, phase))
        create += on(here, made)
        if topo.is_bridge(end.node):
            bridge = topo.bridges[end.node]
            attach += on(here, [Step(addif(ns, bridge.name, end.iface), phase=phase),
                                *activate_steps(topo, ns, end.iface, bridge.up, phase)])
    return create, attach


def _underlay(topo: Topology, host: str) -> str:
    address = topo.hosts[host].address
    if address is None:  # found before planning (lab/hosts.with_addresses)
        raise InputError(f"host {host}: its underlay address is not known; give it as "
                         f"hosts.{host}.address")
    return address


def _link_options(topo: Topology, link: Link, end: Endpoint) -> List[str]:
    """`address MAC` and `mtu N` for one end (its interface's own MTU, else the link's)."""
    iface = topo.interface_at(end)
    mtu = link.mtu_of(iface)
    return [*(["address", iface.mac] if iface.mac else []), *(["mtu", str(mtu)] if mtu else [])]


def exec_steps(node: Node, pids: Dict[str, str]) -> List[Step]:
    """The node's own commands, run inside it as root, as `ip netns exec` runs them in a
    namespace node. In a container they enter all its namespaces (its files, its network)
    with nsenter, since the container itself may not configure its network (containerlab's
    nodes are privileged; netplay's are not, and `docker exec --privileged` fails on hosts
    that withhold a capability)."""
    phase = f"exec {node.name}"
    if node.kind == "docker":
        return [Step(["nsenter", "--target", Ref(pids[node.name]), "--all", *argv], phase=phase,
                     node_command=True) for argv in node.exec]
    return [Step(in_ns(node.namespace, *argv), phase=phase, node_command=True)
            for argv in node.exec]


def _addr_args(address: str) -> List[str]:
    """IPv4 gets a broadcast address, as ifconfig gave one in the tutorial; IPv6 skips
    duplicate address detection, which would leave it unusable for its first seconds."""
    return [address, "brd", "+"] if cidr.interface(address).version == 4 else \
        [address, "nodad"]


def config_steps(topo: Topology, node: Node) -> List[Step]:
    """Addresses, link states, forwarding and routes inside one node."""
    ns, phase = node.namespace, f"configure {node.name}"
    steps = []
    if node.loopback and ns:
        steps.append(Step(ip(ns, "link", "set", "lo", "up"), phase=phase))
    for iface in node.interfaces.values():
        opts = [*(["address", iface.mac] if iface.mac else []),
                *(["mtu", str(iface.mtu)] if iface.mtu else [])]
        if iface.kind == "dummy":  # an interface no link makes: made here, before its addresses
            steps.append(Step(ip(ns, "link", "add", iface.name, *opts, "type", "dummy"),
                              phase=phase))
        elif iface.tunnel:  # made from the root namespace, which keeps its UDP socket
            steps.append(Step(["ip", "link", "add", iface.name, "netns", node.name, *opts,
                               "type", "vxlan", "id", str(iface.tunnel.vni), "remote",
                               iface.tunnel.remote, "dstport", str(iface.tunnel.port)],
                              phase=phase))
        steps += [Step(ip(ns, "addr", "add", *_addr_args(a), "dev", iface.name), phase=phase)
                  for a in iface.addresses]
        steps += activate_steps(topo, ns, iface.name, iface.up, phase)
    if node.forwarding:
        steps += [Step(in_ns(ns, "sysctl", "-w", key), phase=phase) for key in forwarding_on(node)]
    # routes with a device only first: a gateway may be reachable through one of them
    for route in sorted(node.routes, key=lambda r: r.via is not None):
        family = ["-6"] if route.family == 6 else []
        args = [route.to] + (["via", route.via] if route.via else [])
        args += ["dev", route.dev] if route.dev else []
        args += ["onlink"] if route.onlink else []
        undo = None if ns else ip(ns, *family, "route", "del", *args)
        steps.append(Step(ip(ns, *family, "route", "add", *args), undo=undo, phase=phase))
    steps += nat_steps(node)
    return steps


def nat_steps(node: Node) -> List[Step]:
    """Masquerade out of each NAT interface, inside the node as a home router does; IPv6
    too when that interface has an IPv6 address. Gone with the namespace: no undo."""
    steps = []
    for ifname in node.nat:
        families = {cidr.interface(a).version
                    for a in node.interfaces[ifname].addresses} or {4}
        for family in sorted(families):
            program = "iptables" if family == 4 else "ip6tables"
            steps.append(Step(in_ns(node.namespace, program, "-t", "nat", "-A", "POSTROUTING",
                                    "-o", ifname, "-j", "MASQUERADE"),
                              phase=f"nat {node.name}"))
    return steps


LOCALHOST = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def etc_hosts_steps(topo: Topology, node: Node) -> List[Step]:
    """The node's hosts file, /etc/netns/NODE/hosts, which `ip netns exec NODE` mounts
    over /etc/hosts: its directory made, then the file written by `tee` from the step's
    input; each undone (rm, rmdir: a directory left with files of another's stays)."""
    if not node.namespace:
        return []
    folder = f"{ETC_NETNS}/{node.namespace}"
    phase = f"hosts {node.name}"
    return [Step(["mkdir", "-p", folder], undo=["rmdir", folder], phase=phase),
            Step(["tee", f"{folder}/hosts"], undo=["rm", "-f", f"{folder}/hosts"],
                 phase=phase, stdin=hosts_file(topo))]


def hosts_file(topo: Topology) -> str:
    """Every node of the lab by its addresses: `ADDR NODE-IFACE`, and the node's own
    name on its first address of each family (IPv4 first), as /etc/hosts writes them."""
    lines = [LOCALHOST, f"# lab {topo.name}, written by netplay\n"]
    for node in topo.nodes.values():
        named: Set[int] = set()
        for version in (4, 6):
            for iface in node.interfaces.values():
                for address in iface.addresses:
                    if cidr.interface(address).version != version:
                        continue
                    names = f"{node.name}-{iface.name}"
                    if version not in named:
                        named.add(version)
                        names = f"{node.name} {names}"
                    lines.append(f"{address.split('/')[0]}\t{names}\n")
    return "".join(lines)


def impair_steps(topo: Topology, part: Optional[Part] = None) -> List[Step]:
    """One qdisc per impaired end, once the links are up: netem, or tbf for a rate alone
    (of part's nodes and bridges, if given). No undo: the qdisc goes with its device, a
    veth end the lab deletes."""
    owners = list(topo.nodes.values()) + list(topo.bridges.values())
    if part is not None:
        owners = [o for o in owners if o.name in (part.bridges if isinstance(o, Bridge)
                                                  else part.nodes)]
    if not any(i.impair for o in owners for i in o.interfaces.values()):
        return []
    mtus = topo.end_mtus()
    steps = []
    for owner in owners:
        ns = topo.namespace_of(owner.name)
        for iface in owner.interfaces.values():
            if iface.impair:
                mtu = mtus.get(f"{owner.name}:{iface.name}", iface.mtu)
                steps.append(Step(tc.set_argv(ns, iface.name, iface.impair, mtu=mtu),
                                  phase=f"impair {owner.name}:{iface.name}",
                                  host=topo.host_of(owner.name)))
    return steps


def forwarding_off(topo: Topology, names: Optional[AbstractSet[str]] = None
                   ) -> Dict[str, List[str]]:
    """{node: the sysctls that turn its forwarding off} for the netns and docker nodes (of
    names, if given) that do not forward.

    A new namespace takes IPv4's forwarding from the host's initial namespace (with
    net.core.devconf_inherit_init_net 0 or 1, the default 0 included), and IPv6's too with
    1; Docker turns the host's on, so such a node forwarded what was sent to it. The keys
    join the node's settings sysctl, one process before its devices exist; that process
    costs 3-5 ms a namespace (5 s on linear:1000), so a node gets one for this alone only
    when the lab could make it forward: it has an address or a route (else it has no
    route to forward by) and two or more devices (interfaces and the bridges inside
    it), or a route of the lab has one of its addresses as gateway. A node with one
    interface that no route goes through is only ever sent its own packets. IPv6's key
    only for a node with IPv6 addresses (a kernel without IPv6 has none)."""
    bridges: Dict[Optional[str], List[Bridge]] = {}
    gateways: Set[Tuple[int, int]] = set()
    for bridge in topo.bridges.values():
        bridges.setdefault(bridge.namespace, []).append(bridge)
    for node in topo.nodes.values():
        gateways.update(cidr.address(r.via) for r in node.routes if r.via)
    out = {}
    for node in _nodes(topo, names):
        if node.namespace is None or node.forwarding:
            continue
        own = bridges.get(node.name, [])
        addresses = [a for i in node.interfaces.values() for a in i.addresses]
        addresses += [a for b in own for a in b.addresses]
        parsed = [cidr.interface(a) for a in addresses]
        ipv6 = any(p.version == 6 for p in parsed)
        routed = parsed or node.routes  # without either it has no route to forward by
        if ipv6 or routed and (len(node.interfaces) + len(own) > 1 or
                               any(p[:2] in gateways for p in parsed)):
            out[node.name] = ["net.ipv4.ip_forward=0"] + \
                (["net.ipv6.conf.all.forwarding=0"] if ipv6 else [])
    return out


def forwarding_on(node: Node) -> List[str]:
    """The sysctls that make a forwarding node forward (IPv6 too on a router or a node
    with an IPv6 address)."""
    keys = ["net.ipv4.ip_forward=1"]
    if node.role == "router" or any(cidr.interface(a).version == 6
                                    for i in node.interfaces.values() for a in i.addresses):
        keys.append("net.ipv6.conf.all.forwarding=1")
    return keys
