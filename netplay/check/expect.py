"""What a lab's topology promises about the host, and each promise against what was observed.

- `expected_state(topo)` (pure): what the host should hold, one Expect per fact:
  namespaces, containers, interfaces and their up/down state, addresses, veth peers,
  bridge ports, routes, forwarding.
- `evaluate(topo, observed)` (pure): each Expect against an observed host (an Observed,
  read by netplay.check.verify), one Check each."""

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

from netplay.model.topology import Route
from netplay.observe import ip as observe
from netplay.plan import build as planner


@dataclass
class Expect:
    kind: str  # namespace container interface address peer member route forwarding
    subject: str  # what a person reads: "laptop:eth1", "home (bridge)"
    ns: Optional[str] = None  # the namespace to look in (None: root)
    ifname: str = ""
    up: Optional[bool] = None
    address: str = ""
    bridge: str = ""
    peer: Optional[Tuple[Optional[str], str]] = None  # (namespace, ifname)
    route: Optional[Route] = None
    node: str = ""
    key: str = ""  # forwarding: the sysctl
    want: str = ""  # forwarding: its value, "1" (a forwarding node) or "0" (any other)


@dataclass
class Check:
    kind: str
    subject: str
    ok: bool
    reason: str

    @property
    def result(self):
        return "PASS" if self.ok else "FAIL"

    def to_dict(self):
        return {"check": self.kind, "subject": self.subject, "result": self.result,
                "reason": self.reason}


def endpoint_labels(topo):
    """(namespace, ifname) -> how the topology names that device: "laptop:eth1"."""
    out = {}
    for node in topo.nodes.values():
        for ifname in node.interfaces:
            out[(node.namespace, ifname)] = f"{node.name}:{ifname}"
    for bridge in topo.bridges.values():
        out[(bridge.namespace, bridge.name)] = f"{bridge.name} (bridge)"
        for port in bridge.interfaces:
            out[(bridge.namespace, port)] = f"{bridge.name}:{port}"
    return out


def route_text(route):
    text = route.to
    if route.via:
        text += f" via {route.via}"
    if route.dev:
        text += f" dev {route.dev}"
    if route.onlink:
        text += " onlink"
    return text


def forwarding_keys(topo):
    """{node: [(sysctl, value)]} that `run` sets for forwarding: 1 on a forwarding node, 0
    on the others that could forward (plan.forwarding_off). The planner decides, verify
    reads."""
    off = planner.forwarding_off(topo)
    settings = {n.name: planner.forwarding_on(n) if n.forwarding else off.get(n.name, [])
                for n in topo.nodes.values()}
    return {name: [tuple(kv.split("=", 1)) for kv in kvs] for name, kvs in settings.items()}


def expected_state(topo):
    """Every fact the topology promises about the host, in the order they were built."""
    out = []
    for node in topo.nodes.values():
        if node.kind in ("netns", "docker"):
            out.append(Expect("namespace", node.name, ns=node.name, node=node.name))
        if node.kind == "docker":
            out.append(Expect("container", node.name, node=node.name))
    for node in topo.nodes.values():
        ns = node.namespace
        if node.loopback and ns:
            out.append(Expect("interface", f"{node.name}:lo", ns, "lo", up=True, node=node.name))
        for iface in node.interfaces.values():
            subject = f"{node.name}:{iface.name}"
            out.append(Expect("interface", subject, ns, iface.name, up=iface.up, node=node.name))
            out += [Expect("address", f"{subject} {a}", ns, iface.name, address=a,
                           node=node.name) for a in iface.addresses]
    for bridge in topo.bridges.values():
        ns = bridge.namespace
        subject = f"{bridge.name} (bridge)"
        out.append(Expect("interface", subject, ns, bridge.name, up=bridge.up,
                          bridge=bridge.name))
        out += [Expect("address", f"{subject} {a}", ns, bridge.name, address=a,
                       bridge=bridge.name) for a in bridge.addresses]
        for port in bridge.interfaces:
            out.append(Expect("interface", f"{bridge.name}:{port}", ns, port, up=bridge.up,
                              bridge=bridge.name))
            out.append(Expect("member", f"{bridge.name}:{port}", ns, port,
                              bridge=bridge.name))
    for link in topo.links:
        ns_a, ns_b = topo.namespace_of(link.a.node), topo.namespace_of(link.b.node)
        out.append(Expect("peer", f"{link.a} -- {link.b}", ns_a, link.a.iface,
                          peer=(ns_b, link.b.iface)))
    forwarding = forwarding_keys(topo)
    for node in topo.nodes.values():
        for route in node.routes:
            out.append(Expect("route", f"{node.name}: {route_text(route)}", node.namespace,
                              route.dev or "", route=route, node=node.name))
        out += [Expect("forwarding", f"{node.name}: {key}", node.namespace, key=key,
                       node=node.name, want=want) for key, want in forwarding[node.name]]
    return out


# --- comparing with what was observed -------------------------------------------------------


@dataclass
class Observed:
    """The host as verify saw it; built by observe_lab, or by hand in tests."""

    namespaces: Dict[Optional[str], observe.NamespaceState] = field(default_factory=dict)
    containers: Optional[Dict[str, str]] = None  # name -> docker status; None: no daemon
    sysctls: Dict[Tuple[Optional[str], str], Optional[str]] = field(default_factory=dict)


def _where(ns):
    return f"namespace {ns}" if ns else "the root namespace"


def _link(observed, exp):
    """(LinkState, None) or (None, why it cannot be looked at)."""
    state = observed.namespaces.get(exp.ns)
    if state is None or not state.present:
        return None, f"{_where(exp.ns)} is missing"
    link = state.links.get(exp.ifname)
    if link is None:
        return None, f"interface {exp.ifname} is missing from {_where(exp.ns)}"
    return link, None


def _check_namespace(exp, observed, labels):
    state = observed.namespaces.get(exp.ns)
    if state is None or not state.present:
        return False, f"namespace {exp.ns} is missing (not in `ip netns list`)"
    return True, "present"


def _check_container(exp, observed, labels):
    if observed.containers is None:
        return False, "no Docker daemon answers, so the container cannot be seen"
    status = observed.containers.get(exp.node)
    if status is None:
        return False, f"container {exp.node} is gone"
    if status != "running":
        return False, f"container {exp.node} is {status}, expected running"
    return True, "running"


def _check_interface(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    want = "up" if exp.up else "down"
    have = "up" if link.up else "down"
    if want != have:
        return False, f"{exp.ifname} is {have}, expected {want}"
    if link.up and link.operstate not in ("UP", "UNKNOWN"):
        return True, f"up (no carrier: {link.operstate.lower()}, its peer is down)"
    return True, have


def _check_address(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    if exp.address in link.addresses:
        return True, "present"
    has = ", ".join(link.addresses) or "no address"
    return False, f"{exp.address} is missing from {exp.ifname} (it has {has})"


def _check_peer(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    want = labels.get(exp.peer, f"{exp.peer[1]} in {_where(exp.peer[0])}")
    if link.kind and link.kind != "veth":
        return False, f"{exp.ifname} is a {link.kind}, not one end of a veth pair"
    if link.peer is None:
        peer_state = observed.namespaces.get(exp.peer[0])
        if peer_state is None or not peer_state.present:
            return False, f"its peer should be {want}, but {_where(exp.peer[0])} is missing"
        return False, f"its peer should be {want}, which is not there"
    if link.peer != exp.peer:
        have = labels.get(link.peer, f"{link.peer[1]} in {_where(link.peer[0])}")
        return False, f"its peer is {have}, expected {want}"
    return True, "connected"


def _check_member(exp, observed, labels):
    link, why = _link(observed, exp)
    if link is None:
        return False, why
    if link.master == exp.bridge:
        return True, f"a port of {exp.bridge}"
    if link.master is None:
        return False, f"{exp.ifname} is detached from bridge {exp.bridge} (it has no master)"
    return False, f"{exp.ifname} is a port of {link.master}, expected {exp.bridge}"


def _route_matches(route, seen):
    if seen.family != route.family or seen.dst != route.to:
        return False
    if route.via and seen.gateway != route.via:
        return False
    return not route.dev or seen.dev == route.dev


def _route_device(node_interfaces, route):
    """The interface a route leaves by: its dev, or the one whose subnet holds its gateway."""
    if route.dev:
        return route.dev
    via = ipaddress.ip_address(route.via)
    for iface in node_interfaces.values():
        for addr in iface.addresses:
            net = ipaddress.ip_interface(addr).network
            if net.version == via.version and via in net:
                return iface.name
    return None


def _check_route(exp, observed, labels, topo=None):
    state = observed.namespaces.get(exp.ns)
    if state is None or not state.present:
        return False, f"{_where(exp.ns)} is missing"
    route = exp.route
    if any(_route_matches(route, seen) for seen in state.routes):
        return True, "present"
    why = "missing"
    node = topo.nodes.get(exp.node) if topo else None
    dev = _route_device(node.interfaces, route) if node else route.dev
    link = state.links.get(dev) if dev else None
    if dev and link is None:
        why += f", and so is its interface {dev}"
    elif link is not None and not link.up:
        why += f" because {dev} is down (the kernel drops a device's routes with it)"
    elif link is not None and route.via:
        via = ipaddress.ip_address(route.via)
        if not any(via in ipaddress.ip_interface(a).network for a in link.addresses
                   if ipaddress.ip_interface(a).version == via.version):
            why += f" because no address on {dev} holds the gateway {route.via}"
    others = [s for s in state.routes if s.family == route.family and s.dst == route.to]
    if others:
        have = others[0]
        why += f" (the table has {have.dst}" + (f" via {have.gateway}" if have.gateway else "")
        why += f" dev {have.dev})" if have.dev else ")"
    return False, why


def _check_forwarding(exp, observed, labels):
    value = observed.sysctls.get((exp.ns, exp.key))
    if value is None:
        return False, f"{exp.key} cannot be read in {_where(exp.ns)}"
    if value != exp.want:
        return False, f"{exp.key} is {value}, expected {exp.want}"
    return True, "on" if exp.want == "1" else "off"


_CHECKERS = {"namespace": _check_namespace, "container": _check_container,
             "interface": _check_interface, "address": _check_address,
             "peer": _check_peer, "member": _check_member, "route": _check_route,
             "forwarding": _check_forwarding}


def evaluate(topo, observed, expects=None):
    """Each expected fact against the observed host: one Check each, in order."""
    labels = endpoint_labels(topo)
    checks = []
    for exp in expects if expects is not None else expected_state(topo):
        if exp.kind == "route":
            ok, reason = _check_route(exp, observed, labels, topo)
        else:
            ok, reason = _CHECKERS[exp.kind](exp, observed, labels)
        checks.append(Check(exp.kind, exp.subject, ok, reason))
    return checks
