"""Plain data (as parsed from YAML) validated field by field into a Topology: one-line
errors naming where the bad value is and how to fix it. from_dict then runs the graph
checks (wiring), assigns addresses (addressing) and checks routes (routing)."""

import gc
import ipaddress
import re
from contextlib import contextmanager
from typing import Any, Dict, Iterable, Iterator, List, Optional

from netplay.core import cidr
from netplay.core.consts import VXLAN_PORT
from netplay.core.errors import InputError
from netplay.core.names import check_ifname, check_name, check_new_ifname
from netplay.model import impairment as impairments
from netplay.model.addressing import addresses_given, assign_addresses, check_unique_addresses
from netplay.model.hosts import PLACEMENTS, check_address, check_placement, hosts_from_dict
from netplay.model.impairment import Impairment
from netplay.model.routing import check_root_routes, check_routing
from netplay.model.topology import (NODE_KINDS, ROLES, Bridge, Endpoint, Interface, Link, Node,
                                    Route, Topology, Tunnel)
from netplay.model.tunnels import MAX_VNI, set_tunnel_mtus
from netplay.model.wiring import check_graph, place_impairments

_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*\Z")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def as_mapping(value: Any, where: str, allowed: Optional[Iterable[str]] = None,
               required: Iterable[str] = ()) -> Dict[Any, Any]:
    """A dict whose keys are all in allowed (any keys when allowed is None)."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping of keys, got {type(value).__name__}")
    if allowed is not None:
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                raise InputError(f"{where}: unknown key {key!r}; {did_you_mean(key, allowed)}"
                                 f"allowed keys: {', '.join(allowed)}")
    for key in required:
        if key not in value:
            raise InputError(f"{where}: missing required key {key!r}")
    return value


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """'did you mean 'addresses'? ' for the choice closest to a misspelled word, or ''."""
    import difflib  # here: only a mistake needs it

    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f"did you mean {close[0]!r}? " if close else ""


def as_list(value: Any, where: str) -> List[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{where}: expected true or false, got {value!r}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or "\n" in value or "\0" in value:
        raise InputError(f"{where}: expected a one-line string, got {value!r}")
    return value


PRIVATE_HINT = "use a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fd00::/8)"


def check_cidr(value: Any, where: str) -> str:
    """An interface address with its prefix length, e.g. 10.0.0.1/24 or fd00::1/64; not one
    the kernel refuses on an interface or treats as a martian (unspecified, loopback,
    multicast). A link-local address may be given (fe80::1 as a gateway); see _subnets."""
    if not isinstance(value, str) or "/" not in value:
        raise InputError(f"{where}: {value!r} is not an address with a prefix (e.g. 10.0.0.1/24)")
    prefix = value.rpartition("/")[2]
    if "%" in value or not (prefix.isascii() and prefix.isdigit()):  # `ip addr` takes neither
        raise InputError(f"{where}: {value!r}: give the address with a prefix length and no "
                         "zone, e.g. 10.0.0.1/24 or fe80::1/64")
    try:
        parsed = cidr.interface(value)
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a valid IPv4 or IPv6 CIDR address") from None
    what = cidr.special(parsed.version, parsed.ip, parsed.ip, cidr.NOT_AN_INTERFACE)
    if what:
        raise InputError(f"{where}: {value} is in {what}, which is not an address for a lab's "
                         f"interface; {PRIVATE_HINT}")
    return value


def _address(value: Any, where: str) -> str:
    try:
        if isinstance(value, str):
            return cidr.address_text(value)
        return str(ipaddress.ip_address(value))  # a YAML number is an address too
    except (ValueError, TypeError):
        raise InputError(f"{where}: {value!r} is not a valid IP address") from None


IFACE_KINDS = ("veth", "dummy", "vxlan")
# The keys each mapping of a topology takes (netplay.model.schema builds its JSON Schema
# from these, so the schema and the validator know the same keys).
IFACE_KEYS = ("addresses", "up", "mac", "mtu", "kind", "impair", "vxlan")
TUNNEL_KEYS = ("id", "remote", "port")
ROUTE_KEYS = ("to", "via", "dev", "onlink")
NAT_KEYS = ("masquerade",)
BRIDGE_KEYS = ("namespace", "up", "addresses", "subnet", "ports", "host")
PORT_KEYS = ("impair",)
LINK_KEYS = ("endpoints", "mtu", "impair", "subnet")
VXLAN_KEYS = ("port", "vni_base")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")


def check_mac(value: Any, where: str) -> str:
    """A unicast MAC address (the kernel refuses others on an interface), lower case."""
    mac = value.lower() if isinstance(value, str) else value
    if not isinstance(mac, str) or not _MAC.match(mac):
        raise InputError(f"{where}: {value!r} is not a MAC address (e.g. 02:00:00:00:00:01)")
    if int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise InputError(f"{where}: {value!r} is a multicast or zero MAC address; an "
                         "interface needs a unicast one (first byte even, e.g. 02:...)")
    return mac


def check_mtu(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 68 <= value <= 65535:
        raise InputError(f"{where}: {value!r} is not an MTU (a whole number, 68 to 65535)")
    return value


def _interface(name: str, raw: Any, where: str) -> Interface:
    check_new_ifname(name, where)
    raw = as_mapping(raw, where, IFACE_KEYS)
    at = f"{where}.addresses"
    addresses = [check_cidr(a, at) for a in as_list(raw.get("addresses"), where)]
    iface = Interface(name, addresses)
    if "up" in raw:
        iface.up = _bool(raw["up"], f"{where}.up")
    if raw.get("mac") is not None:
        iface.mac = check_mac(raw["mac"], f"{where}.mac")
    if raw.get("mtu") is not None:
        iface.mtu = check_mtu(raw["mtu"], f"{where}.mtu")
    iface.kind = raw.get("kind", "veth")
    if iface.kind not in IFACE_KINDS:
        raise InputError(f"{where}.kind: unknown interface kind {iface.kind!r}; use veth (made "
                         "by a link), dummy (made alone, connected to nothing) or vxlan (a "
                         "tunnel to a remote VTEP)")
    if (iface.kind == "vxlan") != (raw.get("vxlan") is not None):
        raise InputError(f"{where}: an interface of kind vxlan, and only one, takes "
                         "`vxlan: {id: VNI, remote: ADDRESS, port: 4789}`")
    if iface.kind == "vxlan":
        iface.tunnel = _tunnel(raw["vxlan"], f"{where}.vxlan")
    if raw.get("impair") is not None:
        iface.impair = impairments.from_dict(raw["impair"], f"{where}.impair")
    return iface


def _tunnel(raw: Any, where: str) -> Tunnel:
    raw = as_mapping(raw, where, TUNNEL_KEYS, required=("id", "remote"))
    vni, port = raw["id"], raw.get("port", VXLAN_PORT)
    if isinstance(vni, bool) or not isinstance(vni, int) or not 0 <= vni <= MAX_VNI:
        raise InputError(f"{where}.id: a VNI from 0 to {MAX_VNI}, got {vni!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InputError(f"{where}.port: a UDP port from 1 to 65535, got {port!r}")
    return Tunnel(vni, check_address(raw["remote"], f"{where}.remote"), port)


def _route(raw: Any, where: str) -> Route:
    raw = as_mapping(raw, where, ROUTE_KEYS, required=("to",))
    to = raw["to"]
    if to != "default":
        try:
            to = cidr.network_text(to) if isinstance(to, str) and "/" in to and \
                "%" not in to and to.rpartition("/")[2].isdigit() else None
        except ValueError:
            to = None
        if to is None:
            raise InputError(f"{where}.to: {raw['to']!r} is not 'default' or a CIDR network")
    via = _address(raw["via"], f"{where}.via") if raw.get("via") is not None else None
    dev = check_ifname(raw["dev"], f"{where}.dev") if raw.get("dev") is not None else None
    if via is None and dev is None:
        raise InputError(f"{where}: a route needs 'via', 'dev' or both")
    route = Route(to, via, dev, _bool(raw.get("onlink", False), f"{where}.onlink"))
    if via and route.to != "default" and cidr.address(via)[0] != route.family:
        raise InputError(f"{where}: 'via' {via} is not of the same IP family as {to}")
    if route.onlink and not (via and dev):
        raise InputError(f"{where}: onlink needs both 'via' and 'dev' (the gateway is on "
                         "that device's link)")
    return route


NODE_KEYS = ("kind", "interfaces", "routes", "forwarding", "loopback",
             "image", "cmd", "dns", "env", "exec", "binds", "role", "nat", "host", "weight")


def _node(name: str, raw: Any, where: str) -> Node:
    check_name(name, "node name", where)
    raw = as_mapping(raw, where, NODE_KEYS)
    kind = raw.get("kind", "netns")
    if kind not in NODE_KINDS:
        raise InputError(f"{where}.kind: unknown kind {kind!r}; use one of {', '.join(NODE_KINDS)}")
    if kind == "docker" and len(name) < 2:
        raise InputError(f"{where}: Docker needs container names of two characters or more; "
                         f"rename node {name!r}")
    if kind == "docker" and name.startswith("_"):  # Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]+
        raise InputError(f"{where}: Docker refuses container names that start with '_'; "
                         f"rename node {name!r} to start with a letter or digit")
    node = Node(name, kind)
    ifaces = as_mapping(raw.get("interfaces"), f"{where}.interfaces", None)
    for ifname, iraw in ifaces.items():
        node.interfaces[ifname] = _interface(ifname, iraw, f"{where}.interfaces.{ifname}")
    # a key left out keeps the Node's default without a look (1000 nodes give few keys)
    if raw.get("routes") is not None:
        node.routes = [_route(r, f"{where}.routes[{i}]")
                       for i, r in enumerate(as_list(raw["routes"], f"{where}.routes"))]
    if "forwarding" in raw:
        node.forwarding = _bool(raw["forwarding"], f"{where}.forwarding")
    if "loopback" in raw:
        node.loopback = _bool(raw["loopback"], f"{where}.loopback")
    if raw.get("role") is not None or raw.get("nat") is not None:
        _routing_fields(node, raw, where)
    if kind == "host" and node.forwarding:
        raise InputError(f"{where}: netplay does not change the host's own forwarding; "
                         "use a netns node as the router")
    _docker_fields(node, raw, where)
    if raw.get("exec") is not None:
        node.exec = _exec(raw["exec"], f"{where}.exec")
    if raw.get("host") is not None:
        node.host = _host_name(raw["host"], f"{where}.host")
    weight = raw.get("weight", 1)
    if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 1000000:
        raise InputError(f"{where}.weight: a whole number from 1 to 1000000, got {weight!r}")
    node.weight = weight
    if node.exec and kind == "host":
        raise InputError(f"{where}.exec: netplay runs no commands in the root namespace; "
                         "use a netns or docker node")
    return node


def _host_name(value: Any, where: str) -> Optional[str]:
    return None if value is None else check_name(value, "host name", where, limit=32)


def _routing_fields(node: Node, raw: Dict[Any, Any], where: str) -> None:
    """role (router) and nat (masquerade out of some interfaces)."""
    if raw.get("role") is not None:
        if raw["role"] not in ROLES:
            raise InputError(f"{where}.role: unknown role {raw['role']!r}; use one of "
                             f"{', '.join(ROLES)}")
        node.role = raw["role"]
        if node.kind == "host":
            raise InputError(f"{where}: netplay does not turn the host itself into a router; "
                             "use a netns node as the router")
        if raw.get("forwarding") is False:
            raise InputError(f"{where}: role router forwards packets, but forwarding is "
                             "false; remove one of them")
        node.forwarding = True
    nat = as_mapping(raw.get("nat"), f"{where}.nat", NAT_KEYS)
    out = nat.get("masquerade")
    out = [out] if isinstance(out, str) else as_list(out, f"{where}.nat.masquerade")
    node.nat = [check_ifname(i, f"{where}.nat.masquerade") for i in out]
    if node.nat and node.kind == "host":
        raise InputError(f"{where}.nat: netplay does not change the host's own NAT; "
                         "masquerade in a netns node (role: router)")
    if node.nat and not node.forwarding:
        raise InputError(f"{where}.nat: a node that masquerades must forward packets; "
                         "add role: router (or forwarding: true)")


def _exec(value: Any, where: str) -> List[List[str]]:
    """Commands (each an argv list) run inside the node once the lab's links are up."""
    out = []
    for i, argv in enumerate(as_list(value, where)):
        if not isinstance(argv, list) or not argv:
            raise InputError(f"{where}[{i}]: expected a non-empty list of arguments (argv), "
                             "e.g. [ip, route, add, default, via, 10.0.0.1]")
        out.append([_string(a, f"{where}[{i}]") for a in argv])
    return out


_BIND = re.compile(r"/[^:\n\0]*:/[^:\n\0]*(:[a-zA-Z,]+)?\Z")


def _binds(value: Any, where: str) -> List[str]:
    """Docker bind mounts, `HOST_PATH:CONTAINER_PATH[:OPTIONS]`, both paths absolute."""
    out = []
    for bind in as_list(value, where):
        if not isinstance(bind, str) or not _BIND.match(bind):
            raise InputError(f"{where}: {bind!r} is not HOST_PATH:CONTAINER_PATH[:OPTIONS], "
                             "both paths absolute, OPTIONS as `docker run -v` takes them "
                             "(e.g. /srv/lab:/lab:ro)")
        out.append(bind)
    return out


def _docker_fields(node: Node, raw: Dict[Any, Any], where: str) -> None:
    docker_keys = [k for k in ("image", "cmd", "dns", "env", "binds") if k in raw]
    if not docker_keys:
        return
    if node.kind != "docker":
        # Allowed so that one file serves both runtimes; ignored on netns nodes.
        if node.kind == "host":
            raise InputError(f"{where}: {docker_keys[0]!r} applies to docker nodes only")
    if raw.get("image") is not None:
        node.image = check_image(raw["image"], f"{where}.image")
    if raw.get("cmd") is not None:
        cmd = raw["cmd"]
        if not isinstance(cmd, list) or not cmd:
            raise InputError(f"{where}.cmd: expected a non-empty list of arguments (argv)")
        node.cmd = [_string(c, f"{where}.cmd") for c in cmd]
    node.dns = [_address(d, f"{where}.dns") for d in as_list(raw.get("dns"), f"{where}.dns")]
    node.binds = _binds(raw.get("binds"), f"{where}.binds")
    env = as_mapping(raw.get("env"), f"{where}.env", None)
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_KEY.match(key):
            raise InputError(f"{where}.env: {key!r} is not a valid variable name")
        node.env[key] = _string(str(value) if isinstance(value, (int, float)) else value,
                                f"{where}.env.{key}")


def check_image(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _IMAGE.match(value) or len(value) > 255:
        raise InputError(f"{where}: {value!r} is not a valid image reference (e.g. ubuntu:22.04)")
    return value


def _bridge(name: str, raw: Any, where: str) -> Bridge:
    check_new_ifname(name, where)
    raw = as_mapping(raw, where, BRIDGE_KEYS)
    bridge = Bridge(name)
    if raw.get("host") is not None:  # a key left out keeps the default without a look
        bridge.host = _host_name(raw["host"], f"{where}.host")
    if raw.get("namespace") is not None:
        bridge.namespace = check_name(raw["namespace"], "namespace", f"{where}.namespace")
    if "up" in raw:
        bridge.up = _bool(raw["up"], f"{where}.up")
    if raw.get("addresses") is not None:
        at = f"{where}.addresses"
        bridge.addresses = [check_cidr(a, at) for a in as_list(raw["addresses"], at)]
    if raw.get("subnet") is not None:
        bridge.subnets = _subnets(raw["subnet"], f"{where}.subnet")
    return bridge


def _ports(raw: Any, where: str) -> Dict[str, Optional[Impairment]]:
    """A bridge's `ports`: {PORT: {impair: ...}}, each made by a link to the bridge."""
    out = {}
    for port, praw in as_mapping(raw, where, None).items():
        check_new_ifname(port, f"{where}.{port}")
        praw = as_mapping(praw, f"{where}.{port}", PORT_KEYS)
        out[port] = impairments.from_dict(praw.get("impair"), f"{where}.{port}.impair")
    return out


def _subnets(value: Any, where: str) -> List[str]:
    """`subnet`: one network or a list (e.g. [10.0.1.0/24, "fd00:1::/64"]), one per family."""
    values = [value] if isinstance(value, str) else as_list(value, where)
    out, families = [], set()
    for v in values:
        try:
            net = ipaddress.ip_network(v, strict=True) if isinstance(v, str) and "/" in v \
                else None
        except ValueError:
            try:
                fixed = ipaddress.ip_network(v, strict=False)
            except ValueError:
                fixed = None
            hint = f"; did you mean {fixed}?" if fixed else ""
            raise InputError(f"{where}: {v!r} is not a network address with a prefix{hint} "
                             "(e.g. 10.0.1.0/24 or fd00:1::/64)") from None
        if net is None:
            raise InputError(f"{where}: {v!r} is not a network with a prefix (e.g. 10.0.1.0/24)")
        if net.version in families:
            raise InputError(f"{where}: two IPv{net.version} subnets; give at most one per "
                             "family")
        what = cidr.special(net.version, int(net.network_address), int(net.broadcast_address),
                            cidr.NOT_A_SUBNET)
        if what:
            raise InputError(f"{where}: {net} overlaps {what}, whose addresses are not handed "
                             f"to a lab's interfaces; {PRIVATE_HINT}")
        families.add(net.version)
        out.append(str(net))
    return out


def _endpoint(text: Any, where: str, topo: Topology) -> Endpoint:
    """'node:iface', or a bridge name alone (its port is named after the other end)."""
    if not isinstance(text, str):
        raise InputError(f"{where}: an endpoint is a string 'node:iface', got {text!r}")
    node, sep, iface = text.partition(":")
    if node not in topo.nodes and node not in topo.bridges:
        check_name(node, "node name", where)
        hint = did_you_mean(node, [*topo.nodes, *topo.bridges]).strip()
        raise InputError(f"{where}: {text!r} names node {node!r}, which is not defined"
                         + (f"; {hint}" if hint else ""))
    if not sep:
        if node not in topo.bridges:
            raise InputError(f"{where}: {text!r} needs an interface, as in '{node}:eth1'")
        return Endpoint(node, "")  # named once the other end is known
    return Endpoint(node, check_new_ifname(iface, where))


def _link(raw: Any, where: str, topo: Topology) -> Link:
    raw = as_mapping(raw, where, LINK_KEYS, required=("endpoints",))
    at = f"{where}.endpoints"
    ends = as_list(raw["endpoints"], at)
    if len(ends) != 2:
        raise InputError(f"{at}: a link has exactly two endpoints, got {len(ends)}")
    a, b = _endpoint(ends[0], at, topo), _endpoint(ends[1], at, topo)
    if not b.iface:
        b = Endpoint(b.node, _port_name(a, b, where))
    if not a.iface:
        a = Endpoint(a.node, _port_name(b, a, where))
    if a.node == b.node and a.iface == b.iface:
        raise InputError(f"{where}: both endpoints are {a}")
    mtu = check_mtu(raw["mtu"], f"{where}.mtu") if raw.get("mtu") is not None else None
    link = Link(a, b, mtu)
    if raw.get("impair") is not None:  # (a lab of 1000 nodes has 2000 links without)
        link.impair = impairments.from_dict(raw["impair"], f"{where}.impair")
    if raw.get("subnet") is not None:
        link.subnets = _subnets(raw["subnet"], f"{where}.subnet")
    if link.subnets and (a.node in topo.bridges or b.node in topo.bridges):
        raise InputError(f"{where}.subnet: a link to a bridge takes its addresses from the "
                         "bridge's subnet; put subnet on the bridge")
    return link


def _port_name(other: Endpoint, bridge_end: Endpoint, where: str) -> str:
    """The tutorial names a bridge port after what it connects: laptop:eth1 -> laptop_eth1."""
    name = f"{other.node}_{other.iface}"
    if not other.iface or len(name) > 15:
        raise InputError(
            f"{where}: the port on bridge {bridge_end.node!r} would be named {name!r}, which is "
            f"not a valid interface name (15 characters at most); name it: '{bridge_end.node}:PORT'"
        )
    return check_ifname(name, where)


TOP_KEYS = ("name", "prefix", "description", "image", "ipv6_link_local", "etc_hosts", "hosts",
            "placement", "vxlan", "nodes", "bridges", "links")


def _hosts_fields(topo: Topology, raw: Dict[Any, Any], source: str) -> None:
    """`hosts:`, `placement:` and `vxlan: {port, vni_base}`."""
    topo.hosts = hosts_from_dict(raw.get("hosts"), f"{source}: hosts")
    placement = raw.get("placement", "manual")
    if placement not in PLACEMENTS:
        raise InputError(f"{source}: placement: {placement!r} is not one of "
                         f"{', '.join(PLACEMENTS)}")
    topo.placement = placement
    vxlan = as_mapping(raw.get("vxlan"), f"{source}: vxlan", VXLAN_KEYS)
    port = vxlan.get("port", VXLAN_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InputError(f"{source}: vxlan.port: a UDP port from 1 to 65535, got {port!r}")
    topo.vxlan_port = port
    base = vxlan.get("vni_base")
    if base is not None and (isinstance(base, bool) or not isinstance(base, int)
                             or not 1 <= base <= MAX_VNI):
        raise InputError(f"{source}: vxlan.vni_base: a VNI from 1 to {MAX_VNI}, got {base!r}")
    topo.vni_base = base
    if base is not None and base + len(topo.links) > MAX_VNI + 1:
        raise InputError(f"{source}: vxlan.vni_base: {base} leaves too few VNIs for the "
                         f"lab's links (the last VNI is {MAX_VNI}); give a smaller base")


def _prefix(value: Any, topo: Topology, source: str) -> str:
    """`prefix:` records that the lab's names are prefixed (netplay.model.prefix.named):
    every node is named PREFIX-NODE."""
    if value == "":
        return ""
    prefix = check_name(value, "prefix", f"{source}: prefix", limit=32)
    for name in topo.nodes:
        if not name.startswith(prefix + "-"):
            raise InputError(f"{source}: nodes.{name}: `prefix: {prefix}` says every node is "
                             f"named {prefix}-NODE, but {name!r} is not; rename it "
                             f"{prefix}-{name}, or drop `prefix:` and run the topology with "
                             "--prefix")
    return prefix


@contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused: making tens of thousands of small objects
    (a 574-node fabric has 33,000 interfaces) sets off full collections that walk all of
    them again and again, which took half the time of loading that fabric. Nothing made
    here needs collecting meanwhile; the collector runs again when the outermost exits."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def from_dict(raw: Any, source: str = "topology") -> Topology:
    """Validate plain data (as parsed from YAML) into a Topology, or raise InputError."""
    with gc_paused():
        return _from_dict(raw, source)


def _from_dict(raw: Any, source: str) -> Topology:
    raw = as_mapping(raw, source, TOP_KEYS, required=("name",))
    name = check_name(raw["name"], "lab name", f"{source}: name", limit=32)
    topo = Topology(name, description=_string(raw.get("description", ""), f"{source}: description"))
    if raw.get("image") is not None:
        topo.image = check_image(raw["image"], f"{source}: image")
    topo.ipv6_link_local = _bool(raw.get("ipv6_link_local", True), f"{source}: ipv6_link_local")
    topo.etc_hosts = _bool(raw.get("etc_hosts", False), f"{source}: etc_hosts")
    _hosts_fields(topo, raw, source)
    for nname, nraw in as_mapping(raw.get("nodes"), f"{source}: nodes").items():
        topo.nodes[nname] = _node(nname, nraw, f"{source}: nodes.{nname}")
    if raw.get("prefix") is not None:
        topo.prefix = _prefix(raw["prefix"], topo, source)
    ports = {}
    for bname, braw in as_mapping(raw.get("bridges"), f"{source}: bridges").items():
        if bname in topo.nodes:
            raise InputError(f"{source}: bridges.{bname}: a node has that name already")
        topo.bridges[bname] = _bridge(bname, braw, f"{source}: bridges.{bname}")
        ports[bname] = _ports(braw.get("ports") if isinstance(braw, dict) else None,
                              f"{source}: bridges.{bname}.ports")
    for i, lraw in enumerate(as_list(raw.get("links"), f"{source}: links")):
        topo.links.append(_link(lraw, f"{source}: links[{i}]", topo))
    check_graph(topo, source)
    check_placement(topo, source)
    set_tunnel_mtus(topo, source)
    place_impairments(topo, ports, source)
    used, repeated = addresses_given(topo)
    assign_addresses(topo, source, used)
    if repeated:  # else no address is given twice anywhere, let alone on one segment
        check_unique_addresses(topo, source)
    check_routing(topo, source)
    check_root_routes(topo, source)
    return topo
