"""The topology model: a pure graph of nodes, bridges and links, as dataclasses.

netplay.model.validate makes them from plain data (checking every name, address and
reference, so that planning and running never meet a bad value); netplay.model.serialize
gives the normalized form that the step log stores and that loads back unchanged.
"""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from netplay.core import cidr
from netplay.core.consts import UNDERLAY_MTU, VXLAN_PORT
from netplay.model.impairment import Impairment
from netplay.model.serialize import to_dict

NODE_KINDS = ("netns", "host", "docker")
RUNTIMES = ("netns", "docker")
ROLES = ("router",)
DEFAULT_IMAGE = "ubuntu"
LOCAL = "local"  # the host of a lab without `hosts:`: the machine netplay runs on


@dataclass(frozen=True)
class Tunnel:
    """A VXLAN interface's own tunnel, to a VTEP the lab does not build (containerlab's
    `type: vxlan` link): its VNI, the remote's address and UDP port."""

    vni: int
    remote: str
    port: int = VXLAN_PORT


@dataclass
class Interface:
    """A device of a node or bridge: a link's end (veth), or made alone (dummy, vxlan)."""

    name: str
    addresses: List[str] = field(default_factory=list)
    up: bool = True
    mac: Optional[str] = None  # its MAC address; None: the kernel's random one
    mtu: Optional[int] = None  # None: the link's mtu, else the kernel's default
    kind: str = "veth"  # "veth": made by a link; "dummy", "vxlan": made alone (`type ...`)
    impair: Optional[Impairment] = None  # delay/loss/rate on what it sends (its link's too)
    tunnel: Optional[Tunnel] = None  # kind vxlan: where its frames go


@dataclass
class Route:
    """A route of a node: to a network (or default) via a gateway, a device, or both."""

    to: str  # "default" or a CIDR
    via: Optional[str] = None
    dev: Optional[str] = None
    onlink: bool = False  # the gateway is on dev's link though no route says so

    @property
    def family(self) -> int:
        if self.to == "default":
            return cidr.address(self.via)[0] if self.via else 4
        return cidr.interface(self.to).version


@dataclass
class Node:
    """A namespace of the lab (netns), a container (docker), or the host's own (host)."""

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
    host: Optional[str] = None  # which of the topology's hosts it lives on (None: no hosts)
    weight: int = 1  # its share of a host, for `placement: auto`

    @property
    def namespace(self) -> Optional[str]:
        """The network namespace name this node's interfaces live in (None: the root one)."""
        return None if self.kind == "host" else self.name


@dataclass
class Bridge:
    """A Linux bridge, in the root namespace or in a node's; links' ends are its ports."""

    name: str
    namespace: Optional[str] = None  # a netns node to build it in; None: the root namespace
    interfaces: Dict[str, Interface] = field(default_factory=dict)  # its own, and its ports
    up: bool = True
    addresses: List[str] = field(default_factory=list)
    subnets: List[str] = field(default_factory=list)  # networks its nodes' addresses come from
    host: Optional[str] = None  # a root-namespace bridge's host (one inside a node: the node's)


@dataclass
class Host:
    """A machine a lab spans, reached over ssh."""

    name: str
    ssh: str  # an ssh destination: [user@]host, or a Host of the ssh configuration
    address: Optional[str] = None  # the underlay address its tunnels use (None: not known yet)
    sudo: bool = False  # a non-root login: every command through `sudo -n`
    mtu: int = UNDERLAY_MTU  # the MTU of its underlay network


@dataclass(frozen=True)
class Endpoint:
    """One end of a link: a node's interface, or a bridge's port (node names the bridge)."""

    node: str
    iface: str

    def __str__(self) -> str:
        return f"{self.node}:{self.iface}"


@dataclass
class Link:
    """A veth pair between two endpoints, with what both its ends share."""

    a: Endpoint
    b: Endpoint
    mtu: Optional[int] = None  # both ends' MTU (an interface's own mtu wins)
    impair: Optional[Impairment] = None  # both ends' impairment (an end's own keys win)
    subnets: List[str] = field(default_factory=list)  # networks both ends' addresses come from

    def mtu_of(self, iface: Interface) -> Optional[int]:
        """The MTU of one of this link's ends: its interface's own, else the link's (None:
        the kernel's default). The one place that says which wins."""
        return iface.mtu or self.mtu


@dataclass
class Topology:
    """A lab: its nodes, bridges and links, and the settings of the lab as a whole."""

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
    # True: each node with a namespace gets /etc/netns/NODE/hosts naming every node of the
    # lab by its addresses, which `ip netns exec NODE` puts in place of /etc/hosts
    etc_hosts: bool = False
    hosts: Dict[str, Host] = field(default_factory=dict)  # empty: a lab on this machine
    vxlan_port: int = VXLAN_PORT  # the UDP port of the lab's tunnels
    vni_base: Optional[int] = None  # the first VNI of its tunnels (None: from the lab's name)
    placement: str = "manual"  # "auto": nodes without `host:` placed by netplay
    # "" or the lab's prefix (netplay.model.prefix): every node is named PREFIX-NODE and
    # the root namespace's devices carry it too; users may keep naming nodes NODE
    prefix: str = ""

    def host_of(self, name: str) -> str:
        """The host a node or bridge lives on: "local" for a lab without hosts; a bridge
        inside a node's namespace lives on that node's host."""
        if not self.hosts:
            return LOCAL
        if name in self.bridges:
            bridge = self.bridges[name]
            return self.host_of(bridge.namespace) if bridge.namespace else bridge.host or ""
        return self.nodes[name].host or ""

    def namespace_of(self, name: str) -> Optional[str]:
        """The namespace of a node or bridge by name (None: root)."""
        if name in self.bridges:
            return self.bridges[name].namespace
        return self.nodes[name].namespace

    def is_bridge(self, name: str) -> bool:
        return name in self.bridges

    def image_of(self, node: Node) -> str:
        return node.image or self.image

    def interface_at(self, end: Endpoint) -> Interface:
        """The Interface a link end makes (once the topology is validated, every end has one)."""
        owner = self.bridges.get(end.node) or self.nodes[end.node]
        return owner.interfaces[end.iface]

    def end_mtus(self) -> Dict[str, Optional[int]]:
        """The MTU of every link end: {'node:iface' (or 'bridge:port'): Link.mtu_of}."""
        return {str(end): link.mtu_of(self.interface_at(end))
                for link in self.links for end in (link.a, link.b)}

    def to_dict(self) -> Dict[str, Any]:
        return to_dict(self)
