"""Observations of the host: a command plus a parser of its structured output.

Nothing here changes the host and nothing here is logged: these are facts (pyinfra's word),
read with `ip -j` and the Docker Engine API, used by preflight checks, verify and status.
Every one is read through the machine (netplay.machine) it is about.
"""

import json
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from netplay.core.consts import NETNS_DIR


def ip_json(machine, ns, *args):
    """Parsed `ip -j [-n ns] ARGS`; [] when the namespace or device is not there."""
    argv = ["ip", "-j", *(["-n", ns] if ns else []), *args]
    rc, out, _ = machine.run(argv)
    if rc != 0 or not out.strip():
        return []
    return json.loads(out)


def netns_names(machine):
    """Named namespaces, as `ip netns list` sees them (the files in /var/run/netns)."""
    return machine.list_dir(NETNS_DIR) or []


def links(machine, ns=None):
    return ip_json(machine, ns, "link", "show")


def link_names(machine, ns=None):
    return {link["ifname"] for link in links(machine, ns)}


def addresses(machine, ns=None):
    return ip_json(machine, ns, "addr", "show")


def routes(machine, ns=None, family="-4"):
    return ip_json(machine, ns, family, "route", "show")


# --- one namespace as data: links, addresses, routes, peers ---------------------------------
#
# The parsers below are pure (JSON in, dataclasses out) so that verify and status can be
# tested on recorded `ip -j` output; `namespace` and `host_state` run the commands.


@dataclass
class LinkState:
    """One network device as `ip -d -j addr show` reports it."""

    name: str
    ifindex: int
    up: bool  # administratively up: the UP flag (`ip link set DEV up`)
    operstate: str  # the kernel's view: UP, DOWN, LOWERLAYERDOWN (a veth whose peer is down)
    kind: str = ""  # veth, bridge, loopback, ... ("" when ip does not say)
    addresses: List[str] = field(default_factory=list)  # "10.0.0.1/24", link-local left out
    master: Optional[str] = None  # the bridge it is a port of
    peer_index: Optional[int] = None  # a veth's peer: its ifindex ...
    peer_nsid: Optional[int] = None  # ... in this namespace's id for the peer's namespace
    peer_name: Optional[str] = None  # a peer in the same namespace is named instead
    peer: Optional[Tuple[Optional[str], str]] = None  # (namespace, ifname), once resolved
    mtu: Optional[int] = None
    vxlan: Optional["Vxlan"] = None  # a VXLAN device's tunnel, as the kernel holds it

    @property
    def state(self):
        """UP or DOWN as the admin set it, with the carrier when that differs."""
        if not self.up:
            return "DOWN"
        if self.operstate in ("UP", "UNKNOWN"):
            return "UP"
        return f"UP (no carrier: {self.operstate})"


@dataclass(frozen=True)
class Vxlan:
    """A VXLAN device's tunnel: `ip -d -j` linkinfo's info_data."""

    vni: Optional[int]
    local: Optional[str]
    remote: Optional[str]
    port: Optional[int]


def parse_vxlan(linkinfo):
    """The Vxlan of a device's linkinfo, or None when it is not a VXLAN device."""
    if not isinstance(linkinfo, dict) or linkinfo.get("info_kind") != "vxlan":
        return None
    data = linkinfo.get("info_data") or {}
    return Vxlan(data.get("id"), data.get("local"), data.get("remote"), data.get("port"))


@dataclass
class RouteState:
    """A route as `ip -j route` shows it in a namespace."""

    family: int  # 4 or 6
    dst: str  # "default" or a CIDR (a host route gets /32 or /128)
    gateway: Optional[str] = None
    dev: Optional[str] = None
    protocol: str = ""
    flags: List[str] = field(default_factory=list)


@dataclass
class NamespaceState:
    """What one namespace holds as `ip -j` shows it: links, addresses, routes."""

    name: Optional[str]  # None: the root namespace
    present: bool = True
    links: Dict[str, LinkState] = field(default_factory=dict)
    routes: List[RouteState] = field(default_factory=list)
    nsids: Dict[int, Optional[str]] = field(default_factory=dict)  # nsid -> netns name
    # the forwarding sysctls `ip netconf` reports ({"net.ipv4.ip_forward": "1", ...}) when
    # they were read with the rest; None: not read (observe.forwarding reads them)
    forwarding: Optional[Dict[str, str]] = None

    def addresses(self):
        """Every address here: ip -> interface name."""
        return {a.split("/")[0]: link.name for link in self.links.values()
                for a in link.addresses}


def parse_links(data):
    """`ip -d -j addr show` output into {ifname: LinkState}."""
    out = {}
    for raw in data or []:
        flags = raw.get("flags", [])
        addrs = [f"{a['local']}/{a['prefixlen']}" for a in raw.get("addr_info", [])
                 if "local" in a and a.get("scope") != "link"
                 and a.get("family") in ("inet", "inet6")]
        kind = (raw.get("linkinfo") or {}).get("info_kind", "")
        if not kind and raw.get("link_type") == "loopback":
            kind = "loopback"
        peer_index = raw.get("link_index")
        peer_name = raw.get("link") if isinstance(raw.get("link"), str) else None
        out[raw["ifname"]] = LinkState(
            name=raw["ifname"], ifindex=raw.get("ifindex", 0), up="UP" in flags,
            operstate=raw.get("operstate", "UNKNOWN"), kind=kind, addresses=addrs,
            master=raw.get("master"), peer_index=peer_index, peer_nsid=raw.get("link_netnsid"),
            peer_name=peer_name, mtu=raw.get("mtu"), vxlan=parse_vxlan(raw.get("linkinfo")))
    return out


def _route_dst(dst, family):
    if dst == "default" or "/" in dst:
        return dst
    return f"{dst}/{32 if family == 4 else 128}"


def parse_routes(data, family):
    """`ip -j -4|-6 route show` output into RouteStates (multipath routes keep their first
    hop; netplay plans none)."""
    out = []
    for raw in data or []:
        if "dst" not in raw:
            continue
        gateway, dev = raw.get("gateway"), raw.get("dev")
        if raw.get("nexthops"):
            gateway = gateway or raw["nexthops"][0].get("gateway")
            dev = dev or raw["nexthops"][0].get("dev")
        out.append(RouteState(family, _route_dst(raw["dst"], family), gateway, dev,
                              raw.get("protocol", ""), list(raw.get("flags", []))))
    return out


def parse_nsids(data):
    """`ip -j netns list-id` output into {nsid: name or None}."""
    return {raw["nsid"]: raw.get("name") for raw in data or [] if "nsid" in raw}


def namespace(machine, ns):
    """The state of one namespace (None: the root one); present=False when it is gone."""
    if ns is not None and ns not in netns_names(machine):
        return NamespaceState(ns, present=False)
    state = NamespaceState(ns)
    state.links = parse_links(ip_json(machine, ns, "-d", "addr", "show"))
    for family in (4, 6):
        state.routes += parse_routes(ip_json(machine, ns, f"-{family}", "route", "show"), family)
    state.nsids = parse_nsids(ip_json(machine, ns, "netns", "list-id"))
    return state


def resolve_peers(states):
    """Fill in each veth's peer as (namespace, ifname) across the observed namespaces.

    A veth names its peer by ifindex and by this namespace's id for the peer's namespace
    (or by name, when both ends are in one namespace); the id maps to a name through
    `ip netns list-id`. The root namespace has no name, so an
    id without one is matched against the root namespace, and every match must point back.
    """
    for state in states.values():
        for link in state.links.values():
            if link.kind != "veth":
                continue
            if link.peer_name is not None:  # both ends here: ip names the peer
                if link.peer_name in state.links:
                    link.peer = (state.name, link.peer_name)
                continue
            if link.peer_index is None:
                continue
            # no nsid: the peer is here; an nsid without a name: the root namespace; an
            # nsid not listed: a namespace that was not looked at
            if link.peer_nsid is not None and link.peer_nsid not in state.nsids:
                continue
            where = state.name if link.peer_nsid is None else state.nsids[link.peer_nsid]
            other = states.get(where)
            if other is None or not other.present:
                continue
            for peer in other.links.values():
                if peer.ifindex == link.peer_index and peer.peer_index == link.ifindex:
                    link.peer = (where, peer.name)
                    break
    return states


def _route_family(raw):
    """4 or 6 for a route of `ip -j -d route show table all`, which says neither: IPv6
    routes carry a preference (the kernel sends RTA_PREF with every one), and addresses
    with a colon are IPv6 ones."""
    if "pref" in raw:
        return 6
    hops = [raw] + [h for h in raw.get("nexthops") or [] if isinstance(h, dict)]
    for hop in hops:
        for key in ("dst", "gateway", "prefsrc"):
            value = hop.get(key)
            if isinstance(value, str) and ":" in value:
                return 6
    return 4


def split_route_dump(data):
    """`ip -j -d route show table all` output into the main table's routes of each family,
    (IPv4, IPv6), each as `ip -j -4|-6 route show` prints it: without the protocol `boot`,
    which only -d prints."""
    out = {4: [], 6: []}
    for raw in data or []:
        if raw.get("table", "main") != "main":
            continue
        raw = {k: v for k, v in raw.items() if k != "table"}
        if raw.get("protocol") == "boot":
            del raw["protocol"]
        out[_route_family(raw)].append(raw)
    return out[4], out[6]


def state_of(raw):
    """A NamespaceState from one entry of Machine.read_namespaces (netplay.machine.nsprobe):
    the same facts `namespace` reads with one command each, and forwarding."""
    ns = raw.get("ns")
    if not raw.get("present"):
        return NamespaceState(ns, present=False)
    state = NamespaceState(ns)
    state.links = parse_links(raw.get("links"))
    v4, v6 = split_route_dump(raw.get("routes"))
    state.routes = parse_routes(v4, 4) + parse_routes(v6, 6)
    state.nsids = {int(nsid): name for nsid, name in raw.get("nsids") or []}
    state.forwarding = parse_netconf(raw.get("netconf"))
    return state


def host_state(machine, namespaces):
    """The states of the given namespaces (None: root), veth peers resolved among them:
    all read at once by the machine (one `ip` process per namespace) when it can, else
    with a few commands per namespace."""
    namespaces = list(dict.fromkeys(namespaces))
    found = machine.read_namespaces(namespaces)
    if found is not None and len(found) == len(namespaces):
        states = {ns: state_of(raw) for ns, raw in zip(namespaces, found)}
    else:
        states = {ns: namespace(machine, ns) for ns in namespaces}
    return resolve_peers(states)


NETCONF_KEYS = {"inet": "net.ipv4.ip_forward", "inet6": "net.ipv6.conf.all.forwarding"}


def parse_netconf(data):
    """`ip -j netconf show` output into the forwarding sysctls it reports for the whole
    namespace (interface "all"), as sysctl writes them: {"net.ipv4.ip_forward": "1", ...}."""
    out = {}
    for raw in data or []:
        key = NETCONF_KEYS.get(raw.get("family"))
        if key and raw.get("interface") == "all" and "forwarding" in raw:
            value = raw["forwarding"]
            out[key] = "1" if value in (True, 1, "on", "1") else "0"
    return out


def forwarding(machine, ns):
    """IPv4 and IPv6 forwarding inside namespace ns, read in one `ip -j netconf show`
    (not one process per sysctl); {} when the namespace is not there."""
    if ns is not None and ns not in netns_names(machine):
        return {}
    return parse_netconf(ip_json(machine, ns, "netconf", "show"))


def sysctl(machine, ns, key):
    """A sysctl's value inside namespace ns (None: root), or None when it cannot be read."""
    path = "/proc/sys/" + key.replace(".", "/")
    if ns is None:
        text = machine.read_text(path)
        return None if text is None else text.strip()
    if ns not in netns_names(machine):
        return None
    rc, out, _ = machine.run(["ip", "netns", "exec", ns, "cat", path])
    return out.strip() if rc == 0 else None


# --- reachability: what bounds the pings ----------------------------------------------------


def neighbour_capacity(machine):
    """How many neighbour (ARP/NDP) entries the kernel keeps before it refuses new ones.

    The table is one for all namespaces (gc_thresh3, 1024 by default): a lab's pings each
    add an entry at both ends, and past that limit resolution fails and pings time out."""
    try:
        return int(machine.read_text("/proc/sys/net/ipv4/neigh/default/gc_thresh3") or "")
    except ValueError:  # unreadable, or not a number
        return 1024


def parse_all_netns(text):
    """`ip -all netns exec ip -j ...` output into {namespace: parsed JSON}: each
    namespace's output follows a `netns: NAME` line."""
    out, name, chunk = {}, None, []
    for line in text.splitlines():
        if line.startswith("netns: "):
            if name is not None:
                out[name] = _json_or_empty("\n".join(chunk))
            name, chunk = line[len("netns: "):], []
        elif name is not None:
            chunk.append(line)
    if name is not None:
        out[name] = _json_or_empty("\n".join(chunk))
    return out


def _json_or_empty(text):
    try:
        return json.loads(text) if text.strip() else []
    except ValueError:
        return []


def vxlans(machine):
    """Every VXLAN device on the host, in its root namespace and in each named one:
    {(vni, port): "DEV" or "DEV in NS"}. Two commands, however many namespaces."""
    found = {}
    named = {}
    if netns_names(machine):
        rc, out, _ = machine.run(["ip", "-all", "netns", "exec", "ip", "-d", "-j", "link",
                                  "show", "type", "vxlan"])
        named = parse_all_netns(out) if rc == 0 else {}
    for ns, data in [(None, ip_json(machine, None, "-d", "link", "show", "type", "vxlan")),
                     *named.items()]:
        for name, link in parse_links(data).items():
            if link.vxlan is not None:
                found[(link.vxlan.vni, link.vxlan.port)] = name if ns is None else f"{name} in {ns}"
    return found
