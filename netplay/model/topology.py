"""The topology model: a pure graph of nodes, bridges and links, validated before use.

A topology is read from YAML (or a dict) into typed objects; every name, address and
reference is checked here, so that planning and running never meet a bad value.
`to_dict` gives the normalized form that the step log stores and that loads back unchanged.
"""

import gc
import ipaddress
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import yaml

from netplay.core import cidr
from netplay.model import impairment as impairments
from netplay.core.errors import InputError
from netplay.model.impairment import Impairment
from netplay.core.names import check_ifname, check_name, check_new_ifname
from netplay.core.userfile import (MAX_DEPTH, MAX_VALUES, TOPOLOGY_LIMIT, check_depth, read_bytes,
                              too_big, too_deep)

NODE_KINDS = ("netns", "host", "docker")
RUNTIMES = ("netns", "docker")
ROLES = ("router",)
DEFAULT_IMAGE = "ubuntu"
_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*\Z")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class Interface:
    name: str
    addresses: List[str] = field(default_factory=list)
    up: bool = True
    mac: Optional[str] = None  # its MAC address; None: the kernel's random one
    mtu: Optional[int] = None  # None: the link's mtu, else the kernel's default
    kind: str = "veth"  # "veth": made by a link; "dummy": made alone (`type dummy`)
    impair: Optional[Impairment] = None  # delay/loss/rate on what it sends (its link's too)


@dataclass
class Route:
    to: str  # "default" or a CIDR
    via: Optional[str] = None
    dev: Optional[str] = None
    onlink: bool = False  # the gateway is on dev's link though no route says so

    @property
    def family(self):
        if self.to == "default":
            return cidr.address(self.via)[0] if self.via else 4
        return cidr.interface(self.to).version


@dataclass
class Node:
    name: str
    kind: str = "netns"
    interfaces: Dict[str, Interface] = field(default_factory=dict)
    routes: List[Route] = field(default_factory=list)
    forwarding: bool = False
    loopback: bool = True  # bring lo up
    image: Optional[str] = None  # docker: None means the topology's image
    cmd: Optional[List[str]] = None  # docker: None means a quiet long sleep
    dns: List[str] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)
    exec: List[List[str]] = field(default_factory=list)  # argvs run in it once links are up
    binds: List[str] = field(default_factory=list)  # docker: `-v SRC:DST[:OPTS]`
    role: Optional[str] = None  # "router": forwarding (IPv4 and IPv6), no reverse-path filter
    nat: List[str] = field(default_factory=list)  # interfaces it masquerades out of

    @property
    def namespace(self):
        """The network namespace name this node's interfaces live in (None: the root one)."""
        return None if self.kind == "host" else self.name


@dataclass
class Bridge:
    name: str
    namespace: Optional[str] = None  # a netns node to build it in; None: the root namespace
    interfaces: Dict[str, Interface] = field(default_factory=dict)  # its own, and its ports
    up: bool = True
    addresses: List[str] = field(default_factory=list)
    subnets: List[str] = field(default_factory=list)  # networks its nodes' addresses come from


@dataclass(frozen=True)
class Endpoint:
    node: str
    iface: str

    def __str__(self):
        return f"{self.node}:{self.iface}"


@dataclass
class Link:
    a: Endpoint
    b: Endpoint
    mtu: Optional[int] = None  # both ends' MTU (an interface's own mtu wins)
    impair: Optional[Impairment] = None  # both ends' impairment (an end's own keys win)
    subnets: List[str] = field(default_factory=list)  # networks both ends' addresses come from


@dataclass
class Topology:
    name: str
    nodes: Dict[str, Node] = field(default_factory=dict)
    bridges: Dict[str, Bridge] = field(default_factory=dict)
    links: List[Link] = field(default_factory=list)
    image: str = DEFAULT_IMAGE
    description: str = ""
    # False: no device of the lab gets an automatic IPv6 link-local address (each one's
    # address checks, multicast reports and router requests flood every bridge: O(N^2)
    # frames in a chain of N bridges). Addresses the topology gives still work.
    ipv6_link_local: bool = True

    def namespace_of(self, name):
        """The namespace of a node or bridge by name (None: root)."""
        if name in self.bridges:
            return self.bridges[name].namespace
        return self.nodes[name].namespace

    def is_bridge(self, name):
        return name in self.bridges

    def image_of(self, node):
        return node.image or self.image

    def to_dict(self):
        return to_dict(self)


# --- reading YAML --------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses duplicate keys instead of keeping the last one silently, and
    nesting deeper than userfile.MAX_DEPTH before composing it (PyYAML composes a node's
    children recursively: a file of 100000 `[` would exhaust Python's stack), and more
    than MAX_VALUES values (a dense 16 MiB file would take minutes and gigabytes)."""

    _depth = 0
    _values = 0

    def compose_node(self, parent, index):
        # a node below MAX_DEPTH + 1 collections is refused before it is composed;
        # check_depth refuses the rest (an empty collection that deep, aliases)
        if self._depth > MAX_DEPTH:
            raise too_deep(f"line {self.peek_event().start_mark.line + 1}")
        self._values += 1
        if self._values > MAX_VALUES:  # pure-Python YAML costs about 700 bytes a value
            raise InputError(f"line {self.peek_event().start_mark.line + 1}: more than "
                             f"{MAX_VALUES} values (netplay's largest generated topology "
                             "has 400000); is this the right file?")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, (dict, list)):  # `{{}}: x`: YAML allows it, a name cannot be
                raise InputError(f"line {line}: a key must be a name, not a "
                                 f"{'mapping' if isinstance(key, dict) else 'list'}")
            if key in seen:
                raise InputError(f"line {line}: duplicate key {key!r}; each name may appear once")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text, source):
    """YAML text to plain data, with the line of any syntax error in the message; data
    nested deeper than userfile.MAX_DEPTH (directly or through aliases) is refused."""
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no object construction
    except InputError as err:
        raise InputError(f"{source}: {err}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise InputError(f"{source}: malformed YAML at {where}: {err.problem}") from None
    except yaml.YAMLError as err:
        raise InputError(f"{source}: malformed YAML: {err}") from None
    except RecursionError:  # not expected past the depth check: still one line
        raise too_deep(source) from None
    except MemoryError:
        raise too_big(source) from None
    check_depth(data, source)
    return data


def read_text(path):
    """A topology file's text, or one line saying why it cannot be read (not a regular
    file, larger than userfile.TOPOLOGY_LIMIT, not UTF-8)."""
    data = read_bytes(path, "topology file", TOPOLOGY_LIMIT, example="topo.yaml")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: the topology file is not UTF-8 text") from None


def load_file(path):
    return from_dict(parse_yaml(read_text(path), path), source=str(path))


# --- validation ----------------------------------------------------------------------------


def as_mapping(value, where, allowed=None, required=()):
    """A dict whose keys are all in allowed (any keys when allowed is None)."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping of keys, got {type(value).__name__}")
    for key in value:
        if allowed is not None and key not in allowed:
            raise InputError(
                f"{where}: unknown key {key!r}; allowed keys: {', '.join(allowed)}"
            )
    for key in required:
        if key not in value:
            raise InputError(f"{where}: missing required key {key!r}")
    return value


def as_list(value, where):
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _bool(value, where):
    if not isinstance(value, bool):
        raise InputError(f"{where}: expected true or false, got {value!r}")
    return value


def _string(value, where):
    if not isinstance(value, str) or "\n" in value or "\0" in value:
        raise InputError(f"{where}: expected a one-line string, got {value!r}")
    return value


PRIVATE_HINT = "use a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fd00::/8)"


def check_cidr(value, where):
    """An interface address with its prefix length, e.g. 10.0.0.1/24 or fd00::1/64; not one
    the kernel refuses on an interface or treats as a martian (unspecified, loopback,
    multicast). A link-local address may be given (fe80::1 as a gateway); see _subnets."""
    if not isinstance(value, str) or "/" not in value:
        raise InputError(f"{where}: {value!r} is not an address with a prefix (e.g. 10.0.0.1/24)")
    try:
        parsed = cidr.interface(value)
    except ValueError:
        raise InputError(f"{where}: {value!r} is not a valid IPv4 or IPv6 CIDR address") from None
    what = cidr.special(parsed.version, parsed.ip, parsed.ip, cidr.NOT_AN_INTERFACE)
    if what:
        raise InputError(f"{where}: {value} is in {what}, which is not an address for a lab's "
                         f"interface; {PRIVATE_HINT}")
    return value


def _address(value, where):
    try:
        if isinstance(value, str):
            return cidr.address_text(value)
        return str(ipaddress.ip_address(value))  # a YAML number is an address too
    except (ValueError, TypeError):
        raise InputError(f"{where}: {value!r} is not a valid IP address") from None


IFACE_KINDS = ("veth", "dummy")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}\Z")


def check_mac(value, where):
    """A unicast MAC address (the kernel refuses others on an interface), lower case."""
    mac = value.lower() if isinstance(value, str) else value
    if not isinstance(mac, str) or not _MAC.match(mac):
        raise InputError(f"{where}: {value!r} is not a MAC address (e.g. 02:00:00:00:00:01)")
    if int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
        raise InputError(f"{where}: {value!r} is a multicast or zero MAC address; an "
                         "interface needs a unicast one (first byte even, e.g. 02:...)")
    return mac


def check_mtu(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or not 68 <= value <= 65535:
        raise InputError(f"{where}: {value!r} is not an MTU (a whole number, 68 to 65535)")
    return value


def _interface(name, raw, where):
    check_new_ifname(name, where)
    raw = as_mapping(raw, where, ("addresses", "up", "mac", "mtu", "kind", "impair"))
    addresses = [check_cidr(a, f"{where}.addresses") for a in as_list(raw.get("addresses"), where)]
    iface = Interface(name, addresses, _bool(raw.get("up", True), f"{where}.up"))
    if raw.get("mac") is not None:
        iface.mac = check_mac(raw["mac"], f"{where}.mac")
    if raw.get("mtu") is not None:
        iface.mtu = check_mtu(raw["mtu"], f"{where}.mtu")
    iface.kind = raw.get("kind", "veth")
    if iface.kind not in IFACE_KINDS:
        raise InputError(f"{where}.kind: unknown interface kind {iface.kind!r}; use veth (made "
                         "by a link) or dummy (made alone, connected to nothing)")
    iface.impair = impairments.from_dict(raw.get("impair"), f"{where}.impair")
    return iface


def _route(raw, where):
    raw = as_mapping(raw, where, ("to", "via", "dev", "onlink"), required=("to",))
    to = raw["to"]
    if to != "default":
        try:
            to = cidr.network_text(to) if isinstance(to, str) and "/" in to else None
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
             "image", "cmd", "dns", "env", "exec", "binds", "role", "nat")


def _node(name, raw, where):
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
    node.routes = [_route(r, f"{where}.routes[{i}]")
                   for i, r in enumerate(as_list(raw.get("routes"), f"{where}.routes"))]
    node.forwarding = _bool(raw.get("forwarding", False), f"{where}.forwarding")
    node.loopback = _bool(raw.get("loopback", True), f"{where}.loopback")
    _routing_fields(node, raw, where)
    if kind == "host" and node.forwarding:
        raise InputError(f"{where}: netplay does not change the host's own forwarding; "
                         "use a netns node as the router")
    _docker_fields(node, raw, where)
    node.exec = _exec(raw.get("exec"), f"{where}.exec")
    if node.exec and kind == "host":
        raise InputError(f"{where}.exec: netplay runs no commands in the root namespace; "
                         "use a netns or docker node")
    return node


def _routing_fields(node, raw, where):
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
    nat = as_mapping(raw.get("nat"), f"{where}.nat", ("masquerade",))
    out = nat.get("masquerade")
    out = [out] if isinstance(out, str) else as_list(out, f"{where}.nat.masquerade")
    node.nat = [check_ifname(i, f"{where}.nat.masquerade") for i in out]
    if node.nat and node.kind == "host":
        raise InputError(f"{where}.nat: netplay does not change the host's own NAT; "
                         "masquerade in a netns node (role: router)")
    if node.nat and not node.forwarding:
        raise InputError(f"{where}.nat: a node that masquerades must forward packets; "
                         "add role: router (or forwarding: true)")


def _exec(value, where):
    """Commands (each an argv list) run inside the node once the lab's links are up."""
    out = []
    for i, argv in enumerate(as_list(value, where)):
        if not isinstance(argv, list) or not argv:
            raise InputError(f"{where}[{i}]: expected a non-empty list of arguments (argv), "
                             "e.g. [ip, route, add, default, via, 10.0.0.1]")
        out.append([_string(a, f"{where}[{i}]") for a in argv])
    return out


_BIND = re.compile(r"/[^:\n\0]*:/[^:\n\0]*(:[a-zA-Z,]+)?\Z")


def _binds(value, where):
    """Docker bind mounts, `HOST_PATH:CONTAINER_PATH[:OPTIONS]`, both paths absolute."""
    out = []
    for bind in as_list(value, where):
        if not isinstance(bind, str) or not _BIND.match(bind):
            raise InputError(f"{where}: {bind!r} is not HOST_PATH:CONTAINER_PATH[:ro], with "
                             "both paths absolute (e.g. /srv/lab:/lab:ro)")
        out.append(bind)
    return out


def _docker_fields(node, raw, where):
    docker_keys = [k for k in ("image", "cmd", "dns", "env", "binds") if k in raw]
    if docker_keys and node.kind != "docker":
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


def check_image(value, where):
    if not isinstance(value, str) or not _IMAGE.match(value) or len(value) > 255:
        raise InputError(f"{where}: {value!r} is not a valid image reference (e.g. ubuntu:22.04)")
    return value


def _bridge(name, raw, where):
    check_new_ifname(name, where)
    raw = as_mapping(raw, where, ("namespace", "up", "addresses", "subnet", "ports"))
    bridge = Bridge(name)
    if raw.get("namespace") is not None:
        bridge.namespace = check_name(raw["namespace"], "namespace", f"{where}.namespace")
    bridge.up = _bool(raw.get("up", True), f"{where}.up")
    bridge.addresses = [check_cidr(a, f"{where}.addresses")
                        for a in as_list(raw.get("addresses"), f"{where}.addresses")]
    bridge.subnets = _subnets(raw.get("subnet"), f"{where}.subnet")
    return bridge


def _ports(raw, where):
    """A bridge's `ports`: {PORT: {impair: ...}}, each made by a link to the bridge."""
    out = {}
    for port, praw in as_mapping(raw, where, None).items():
        check_new_ifname(port, f"{where}.{port}")
        praw = as_mapping(praw, f"{where}.{port}", ("impair",))
        out[port] = impairments.from_dict(praw.get("impair"), f"{where}.{port}.impair")
    return out


def _subnets(value, where):
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


def _endpoint(text, where, topo):
    """'node:iface', or a bridge name alone (its port is named after the other end)."""
    if not isinstance(text, str):
        raise InputError(f"{where}: an endpoint is a string 'node:iface', got {text!r}")
    node, sep, iface = text.partition(":")
    if node not in topo.nodes and node not in topo.bridges:
        check_name(node, "node name", where)
        raise InputError(f"{where}: {text!r} names node {node!r}, which is not defined")
    if not sep:
        if node not in topo.bridges:
            raise InputError(f"{where}: {text!r} needs an interface, as in '{node}:eth1'")
        return Endpoint(node, "")  # named once the other end is known
    return Endpoint(node, check_new_ifname(iface, where))


def _link(raw, where, topo):
    raw = as_mapping(raw, where, ("endpoints", "mtu", "impair", "subnet"), required=("endpoints",))
    ends = as_list(raw["endpoints"], f"{where}.endpoints")
    if len(ends) != 2:
        raise InputError(f"{where}.endpoints: a link has exactly two endpoints, got {len(ends)}")
    a, b = (_endpoint(e, f"{where}.endpoints", topo) for e in ends)
    if not b.iface:
        b = Endpoint(b.node, _port_name(a, b, where))
    if not a.iface:
        a = Endpoint(a.node, _port_name(b, a, where))
    if a.node == b.node and a.iface == b.iface:
        raise InputError(f"{where}: both endpoints are {a}")
    mtu = check_mtu(raw["mtu"], f"{where}.mtu") if raw.get("mtu") is not None else None
    link = Link(a, b, mtu)
    link.impair = impairments.from_dict(raw.get("impair"), f"{where}.impair")
    link.subnets = _subnets(raw.get("subnet"), f"{where}.subnet")
    if link.subnets and (a.node in topo.bridges or b.node in topo.bridges):
        raise InputError(f"{where}.subnet: a link to a bridge takes its addresses from the "
                         "bridge's subnet; put subnet on the bridge")
    return link


def _port_name(other, bridge_end, where):
    """The tutorial names a bridge port after what it connects: laptop:eth1 -> laptop_eth1."""
    name = f"{other.node}_{other.iface}"
    if not other.iface or len(name) > 15:
        raise InputError(
            f"{where}: the port on bridge {bridge_end.node!r} would be named {name!r}, which is "
            f"not a valid interface name (15 characters at most); name it: '{bridge_end.node}:PORT'"
        )
    return check_ifname(name, where)


TOP_KEYS = ("name", "description", "image", "ipv6_link_local", "nodes", "bridges", "links")


@contextmanager
def gc_paused():
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


def from_dict(raw, source="topology"):
    """Validate plain data (as parsed from YAML) into a Topology, or raise InputError."""
    with gc_paused():
        return _from_dict(raw, source)


def _from_dict(raw, source):
    raw = as_mapping(raw, source, TOP_KEYS, required=("name",))
    name = check_name(raw["name"], "lab name", f"{source}: name", limit=32)
    topo = Topology(name, description=_string(raw.get("description", ""), f"{source}: description"))
    if raw.get("image") is not None:
        topo.image = check_image(raw["image"], f"{source}: image")
    topo.ipv6_link_local = _bool(raw.get("ipv6_link_local", True), f"{source}: ipv6_link_local")
    for nname, nraw in as_mapping(raw.get("nodes"), f"{source}: nodes").items():
        topo.nodes[nname] = _node(nname, nraw, f"{source}: nodes.{nname}")
    ports = {}
    for bname, braw in as_mapping(raw.get("bridges"), f"{source}: bridges").items():
        if bname in topo.nodes:
            raise InputError(f"{source}: bridges.{bname}: a node has that name already")
        topo.bridges[bname] = _bridge(bname, braw, f"{source}: bridges.{bname}")
        ports[bname] = _ports(braw.get("ports") if isinstance(braw, dict) else None,
                              f"{source}: bridges.{bname}.ports")
    for i, lraw in enumerate(as_list(raw.get("links"), f"{source}: links")):
        topo.links.append(_link(lraw, f"{source}: links[{i}]", topo))
    _check_graph(topo, source)
    _place_impairments(topo, ports, source)
    used, repeated = _addresses_given(topo)
    _assign_addresses(topo, source, used)
    if repeated:  # else no address is given twice anywhere, let alone on one segment
        _check_unique_addresses(topo, source)
    _check_routing(topo, source)
    return topo


def _check_graph(topo, source):
    """Cross-references: one host node, bridges placed in real namespaces, names unique."""
    hosts = [n.name for n in topo.nodes.values() if n.kind == "host"]
    if len(hosts) > 1:
        raise InputError(f"{source}: nodes {', '.join(hosts)} are all of kind host; "
                         "there is one root namespace, so keep one host node")
    for bridge in topo.bridges.values():
        ns = bridge.namespace
        if ns is not None and (ns not in topo.nodes or topo.nodes[ns].kind == "host"):
            raise InputError(f"{source}: bridges.{bridge.name}.namespace: {ns!r} is not a "
                             "netns or docker node of this topology")
    _place_interfaces(topo, source)
    own_bridges = {(b.namespace, b.name) for b in topo.bridges.values() if b.namespace}
    for node in topo.nodes.values():
        for i, route in enumerate(node.routes):
            # a route may leave by one of the node's interfaces or a bridge in its namespace
            if route.dev and route.dev not in node.interfaces and \
                    (node.name, route.dev) not in own_bridges:
                raise InputError(f"{source}: nodes.{node.name}.routes[{i}].dev: {node.name} "
                                 f"has no interface {route.dev!r}")


def _place_interfaces(topo, source):
    """Give every link end its Interface and refuse two devices of one name in a namespace."""
    declared = {n.name: dict(n.interfaces) for n in topo.nodes.values()}
    owner = {}  # (namespace, ifname) -> what made it

    def claim(ns, ifname, what):
        key = (ns, ifname)
        if key in owner:
            where = f"namespace {ns}" if ns else "the root namespace"
            raise InputError(f"{source}: {what} and {owner[key]} both make interface "
                             f"{ifname!r} in {where}; rename one")
        owner[key] = what

    for bridge in topo.bridges.values():
        claim(bridge.namespace, bridge.name, f"bridge {bridge.name}")
    for node in topo.nodes.values():
        for ifname, iface in list(declared[node.name].items()):
            if iface.kind == "dummy":  # made alone, not by a link
                if node.kind == "host":
                    raise InputError(f"{source}: nodes.{node.name}.interfaces.{ifname}: dummy "
                                     "interfaces are made in netns or docker nodes only")
                claim(node.namespace, ifname, f"dummy interface {node.name}:{ifname}")
                del declared[node.name][ifname]
    for i, link in enumerate(topo.links):
        for end in (link.a, link.b):
            claim(topo.namespace_of(end.node), end.iface, f"links[{i}] ({end})")
            if end.node in topo.bridges:
                topo.bridges[end.node].interfaces[end.iface] = Interface(end.iface)
            else:
                iface = declared[end.node].pop(end.iface, None) or Interface(end.iface)
                topo.nodes[end.node].interfaces[end.iface] = iface
    for nname, rest in declared.items():
        for ifname in rest:
            raise InputError(f"{source}: nodes.{nname}.interfaces.{ifname}: no link creates "
                             f"this interface; add a link with endpoint '{nname}:{ifname}'")


def _end_interface(topo, end):
    owner = topo.bridges.get(end.node) or topo.nodes[end.node]
    return owner.interfaces[end.iface]


def _place_impairments(topo, ports, source):
    """Bridge ports' own impairments, then each link's on both its ends (an end's own
    settings win key by key), each checked whole."""
    for bname, declared in ports.items():
        bridge = topo.bridges[bname]
        for port, imp in declared.items():
            if port not in bridge.interfaces:
                raise InputError(f"{source}: bridges.{bname}.ports.{port}: no link makes this "
                                 f"port; add a link with endpoint '{bname}:{port}'")
            bridge.interfaces[port].impair = imp
    for i, link in enumerate(topo.links):
        if link.impair:
            impairments.check_complete(link.impair, f"{source}: links[{i}].impair")
            for end in (link.a, link.b):
                iface = _end_interface(topo, end)
                iface.impair = link.impair.merged(iface.impair)
    for node in list(topo.nodes.values()) + list(topo.bridges.values()):
        kind = "bridges" if node.name in topo.bridges else "nodes"
        for iface in node.interfaces.values():
            if iface.impair is not None and not iface.impair:
                iface.impair = None  # an empty mapping: no impairment
            impairments.check_complete(
                iface.impair, f"{source}: {kind}.{node.name}.interfaces.{iface.name}.impair")


def _usable(net):
    """The addresses of net that interfaces may hold, lowest first (a /31 or /127 has two,
    a /32 or /128 one; otherwise IPv4 skips the network and broadcast addresses and
    IPv6 the subnet-router anycast address)."""
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.max_prefixlen - net.prefixlen >= 2:
        first += 1
        if net.version == 4:
            last -= 1
    return first, last


def _addresses_given(topo):
    """The addresses the topology gives to interfaces and bridges, {version: {ip}}, and
    whether any address is given twice."""
    used, count = {4: set(), 6: set()}, 0
    lists = [i.addresses for n in topo.nodes.values() for i in n.interfaces.values()]
    lists += [b.addresses for b in topo.bridges.values()]
    for addresses in lists:
        for a in addresses:
            parsed = cidr.interface(a)
            used[parsed.version].add(parsed.ip)
            count += 1
    return used, count > len(used[4]) + len(used[6])


def _assign_addresses(topo, source, used):
    """Addresses from subnets: every node interface on a bridge (or link) with a subnet
    gets the lowest free address of each subnet it has none of, in the order of the
    topology's links, so the same topology always gets the same addresses. used:
    {version: {ip}} of the addresses already given, which it adds its own to."""
    jobs = []  # (where, subnet, [Interface]) in topology order
    members = {name: [] for name in topo.bridges}
    for link in topo.links:
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if other.node in topo.bridges and end.node in topo.nodes:
                members[other.node].append(topo.nodes[end.node].interfaces[end.iface])
    for bridge in topo.bridges.values():
        for net in bridge.subnets:
            jobs.append((f"bridges.{bridge.name}.subnet", net, members[bridge.name]))
    for i, link in enumerate(topo.links):
        for net in link.subnets:
            jobs.append((f"links[{i}].subnet", net, [_end_interface(topo, link.a),
                                                     _end_interface(topo, link.b)]))
    for where, text, ifaces in jobs:
        net = ipaddress.ip_network(text)
        subnet, version = cidr.network(text), net.version
        first, last = _usable(net)
        cursor = first
        for iface in ifaces:
            if any(cidr.interface(a)[:2] in subnet for a in iface.addresses):
                continue
            while cursor <= last and cursor in used[version]:
                cursor += 1
            if cursor > last:
                raise InputError(f"{source}: {where}: {net} has no free address left for "
                                 f"{iface.name} ({len(ifaces)} interfaces share it); use a "
                                 "shorter prefix")
            used[version].add(cursor)
            iface.addresses.append(f"{cidr.text(version, cursor)}/{net.prefixlen}")


def _segments(topo):
    """The layer-2 segment of every device that holds addresses: {(owner, ifname): key}.
    A link joins its two ends; a bridge joins itself, its ports and, through links between
    bridges, other bridges. A device on no link (a dummy) is a segment of its own."""
    parent = {name: name for name in topo.bridges}

    def find(name):
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for link in topo.links:
        if link.a.node in topo.bridges and link.b.node in topo.bridges:
            parent[find(link.a.node)] = find(link.b.node)
    out = {(name, name): ("bridge", find(name)) for name in topo.bridges}
    for i, link in enumerate(topo.links):
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if end.node in topo.nodes:
                out[(end.node, end.iface)] = ("bridge", find(other.node)) \
                    if other.node in topo.bridges else ("link", i)
    return out


def _check_unique_addresses(topo, source):
    """No address twice on one layer-2 segment: the kernel takes both, and then whichever
    answers ARP or neighbour discovery first gets the other's traffic."""
    devices = [((n.name, i.name), i.addresses) for n in topo.nodes.values()
               for i in n.interfaces.values() if i.addresses]
    devices += [((b.name, b.name), b.addresses) for b in topo.bridges.values() if b.addresses]
    segments = _segments(topo)
    seen = {}  # (segment, version, ip) -> the device that holds it
    for device, addresses in devices:
        segment = segments.get(device, device)
        for a in addresses:
            key = (segment, *cidr.interface(a)[:2])
            first = seen.get(key)
            if first is None:
                seen[key] = device
                continue
            ip = a.split("/")[0]
            label = _device_label(topo, device)
            if first == device:
                raise InputError(f"{source}: {label} has address {ip} twice; give it once")
            raise InputError(f"{source}: {_device_label(topo, first)} and {label} both have "
                             f"address {ip} on one layer-2 segment (a link, or bridges and "
                             "what they join); give each its own address")


def _device_label(topo, device):
    owner, ifname = device
    return f"bridge {owner}" if owner in topo.bridges else f"{owner}:{ifname}"


def _check_routing(topo, source):
    """NAT names a real interface; every gateway is on a link the node can reach (an
    address's subnet or a route with `dev` only), as the kernel requires."""
    bridges_in = {}  # namespace -> its bridges, so each node looks at its own only
    for bridge in topo.bridges.values():
        bridges_in.setdefault(bridge.namespace, []).append(bridge)
    for node in topo.nodes.values():
        where = f"{source}: nodes.{node.name}"
        for ifname in node.nat:
            if ifname not in node.interfaces:
                raise InputError(f"{where}.nat.masquerade: {node.name} has no interface "
                                 f"{ifname!r}")
        if node.kind == "host":
            continue  # the host's own routes may cover its gateways
        for i, r in _unreachable_gateways(node, bridges_in.get(node.name, ())):
            version, ip = cidr.address(r.via)
            if cidr.is_link_local(version, ip):
                raise InputError(f"{where}.routes[{i}]: the link-local gateway {r.via} needs "
                                 "'dev' (which link it is on)")
            raise InputError(
                f"{where}.routes[{i}].via: gateway {r.via} is on none of {node.name}'s links "
                f"(no address's subnet and no 'dev' route holds it); add a route "
                f"{{to: {r.via}/{cidr.BITS[version]}, dev: IFACE}} before it, or onlink: true")


def _unreachable_gateways(node, bridges):
    """(index, route) of each route whose gateway the node cannot reach:
    on no connected subnet and no device route, or link-local without `dev`. The node's
    networks are indexed by (version, prefix length), so each gateway costs one lookup
    per prefix length the node uses, not one per network."""
    nets = {4: {}, 6: {}}  # version -> {netmask: {network}}
    addresses = [a for i in node.interfaces.values() for a in i.addresses]
    addresses += [a for b in bridges for a in b.addresses]
    connected = [cidr.interface(a) for a in addresses]
    connected += [cidr.interface(r.to) if r.to != "default" else cidr.Cidr(r.family, 0, 0)
                  for r in node.routes if r.via is None]
    for c in connected:
        nets[c.version].setdefault(cidr.mask(c.version, c.prefixlen), set()).add(c.network)
    for i, r in enumerate(node.routes):
        if r.via is None or r.onlink:
            continue
        version, ip = cidr.address(r.via)
        if cidr.is_link_local(version, ip):
            if r.dev is None:
                yield i, r
            continue
        if not any(ip & netmask in networks for netmask, networks in nets[version].items()):
            yield i, r


# --- normalized form -----------------------------------------------------------------------


def _iface_dict(iface):
    out = {"up": iface.up}
    if iface.addresses:
        out["addresses"] = list(iface.addresses)
    for key in ("mac", "mtu"):
        if getattr(iface, key) is not None:
            out[key] = getattr(iface, key)
    if iface.kind != "veth":
        out["kind"] = iface.kind
    if iface.impair:
        out["impair"] = iface.impair.to_dict()
    return out


def _node_dict(node):
    out = {"kind": node.kind}
    if node.interfaces:
        out["interfaces"] = {i.name: _iface_dict(i) for i in node.interfaces.values()}
    if node.routes:
        out["routes"] = [{k: v for k, v in vars(r).items() if v is not None and v is not False}
                         for r in node.routes]
    if node.role:
        out["role"] = node.role
    if node.forwarding:
        out["forwarding"] = True
    if node.nat:
        out["nat"] = {"masquerade": list(node.nat)}
    if not node.loopback:
        out["loopback"] = False
    for key in ("image", "cmd", "dns", "env", "exec", "binds"):
        if getattr(node, key):
            out[key] = getattr(node, key)
    return out


def _bridge_dict(bridge):
    out = {}
    if bridge.namespace:
        out["namespace"] = bridge.namespace
    if not bridge.up:
        out["up"] = False
    if bridge.addresses:
        out["addresses"] = list(bridge.addresses)
    if bridge.subnets:
        out["subnet"] = list(bridge.subnets)
    ports = {p.name: {"impair": p.impair.to_dict()} for p in bridge.interfaces.values()
             if p.impair}
    if ports:
        out["ports"] = ports
    return out


def _link_dict(link):
    out = {"endpoints": [str(link.a), str(link.b)]}
    if link.mtu is not None:
        out["mtu"] = link.mtu
    if link.impair:
        out["impair"] = link.impair.to_dict()
    if link.subnets:
        out["subnet"] = list(link.subnets)
    return out


def to_dict(topo):
    """The normalized topology: every default filled in, loadable by from_dict."""
    out = {"name": topo.name}
    if topo.description:
        out["description"] = topo.description
    out["image"] = topo.image
    if not topo.ipv6_link_local:
        out["ipv6_link_local"] = False
    out["nodes"] = {n.name: _node_dict(n) for n in topo.nodes.values()}
    if topo.bridges:
        out["bridges"] = {b.name: _bridge_dict(b) for b in topo.bridges.values()}
    out["links"] = [_link_dict(link) for link in topo.links]
    return out


# --- choosing a runtime --------------------------------------------------------------------


def uses_docker(topo):
    return any(n.kind == "docker" for n in topo.nodes.values())


def with_runtime(topo, runtime, image=None):
    """The same topology with its container nodes on `runtime` (None: as they are), and
    `image` (None: unchanged) as the default image.

    netns and docker nodes are interchangeable: both are a named network namespace, one
    held by `ip netns add`, the other by a container's process.
    """
    if runtime is not None and runtime not in RUNTIMES:
        raise InputError(f"--runtime: unknown runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    data = to_dict(topo)
    if image:
        data["image"] = check_image(image, "--image")
    for node in data["nodes"].values():
        if runtime and node["kind"] in RUNTIMES:
            node["kind"] = runtime
    return from_dict(data, source=topo.name)
