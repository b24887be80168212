"""The hosts a lab spans: its `hosts:` section, which node lives where, and placement.

A topology without `hosts:` is a lab on the machine netplay runs on, exactly as before
labs could span hosts. With it, every node and every root-namespace bridge lives on one
host, named by its `host:` key or placed by `placement: auto` (place(): pure and
deterministic, so `show` and `--dry-run` print where each node goes and it can be
pinned). Links between nodes of different hosts become VXLAN tunnels (model/tunnels.py).
"""

import dataclasses
import ipaddress
from typing import Any, Dict, List, Mapping, Optional, Tuple

from netplay.core.errors import InputError
from netplay.core.names import check_name
from netplay.core.consts import UNDERLAY_MTU
from netplay.model.topology import LOCAL, Host, Topology
from netplay.model.tunnels import set_tunnel_mtus

HOST_KEYS = ("ssh", "address", "sudo", "mtu")
PLACEMENTS = ("manual", "auto")
MIN_UNDERLAY_MTU = 1280  # IPv6's minimum: a tunnel needs room for its headers above it


def _as_dict(value: Any, where: str, allowed: Optional[Tuple[str, ...]] = None) -> Dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping, got {type(value).__name__}")
    for key in value:
        if allowed is not None and key not in allowed:
            raise InputError(f"{where}: unknown key {key!r}; allowed keys: {', '.join(allowed)}")
    return value


def check_destination(value: Any, where: str) -> str:
    """An ssh destination: [user@]host, one word that ssh cannot read as an option."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: an ssh destination is a non-empty string, e.g. "
                         f"root@10.0.0.5, got {value!r}")
    if value.startswith("-"):
        raise InputError(f"{where}: ssh destination {value!r} starts with '-', which ssh "
                         "would read as an option; give [user@]host")
    if len(value) > 255 or not all(c.isalnum() or c in "@._-:[]%" for c in value):
        raise InputError(f"{where}: ssh destination {value!r} may use only letters, digits "
                         "and @._-:[]% (give [user@]host or a Host of your ssh configuration)")
    return value


def check_address(value: Any, where: str) -> str:
    try:
        parsed = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.is_unspecified or parsed.is_multicast or parsed.is_loopback:
        raise InputError(f"{where}: {value!r} is not a unicast IP address (the host's "
                         "underlay address, e.g. 10.0.0.5)")
    return str(parsed)


def host_from_dict(name: Any, raw: Any, where: str) -> Host:
    """One entry of `hosts:`, checked."""
    check_name(name, "host name", where, limit=32)
    if name == LOCAL:
        raise InputError(f"{where}: host name {LOCAL!r} is netplay's name for this machine "
                         "in a lab without hosts; choose another")
    raw = _as_dict(raw, where, HOST_KEYS)
    if "ssh" not in raw:
        raise InputError(f"{where}: a host needs `ssh:` (an ssh destination, e.g. "
                         "root@10.0.0.5)")
    host = Host(name, check_destination(raw["ssh"], f"{where}.ssh"))
    if raw.get("address") is not None:
        host.address = check_address(raw["address"], f"{where}.address")
    else:  # an IP literal needs nothing looked up (a name: lab/hosts.with_addresses)
        host.address = default_address(host)
    sudo = raw.get("sudo", False)
    if not isinstance(sudo, bool):
        raise InputError(f"{where}.sudo: expected true or false, got {sudo!r}")
    host.sudo = sudo
    mtu = raw.get("mtu", UNDERLAY_MTU)
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not \
            MIN_UNDERLAY_MTU <= mtu <= 65535:
        raise InputError(f"{where}.mtu: the underlay's MTU is a whole number from "
                         f"{MIN_UNDERLAY_MTU} to 65535, got {mtu!r}")
    host.mtu = mtu
    return host


def hosts_from_dict(raw: Any, where: str) -> Dict[str, Host]:
    return {name: host_from_dict(name, hraw, f"{where}.{name}")
            for name, hraw in _as_dict(raw, where).items()}


def check_placement(topo: Topology, source: str) -> None:
    """Every node and root-namespace bridge on a host of the topology, and none placed in
    a topology without hosts; a bridge inside a node lives on that node's host."""
    for kind, things in (("nodes", topo.nodes), ("bridges", topo.bridges)):
        for name, thing in things.items():
            where = f"{source}: {kind}.{name}.host"
            if thing.host is None:
                continue
            if not topo.hosts:
                raise InputError(f"{where}: the topology has no `hosts:`; add one naming "
                                 f"host {thing.host!r}, or remove `host:`")
            if thing.host not in topo.hosts:
                raise InputError(f"{where}: {thing.host!r} is not a host of this topology "
                                 f"(its hosts: {', '.join(topo.hosts)})")
    if not topo.hosts:
        return
    if topo.placement == "auto":
        place(topo)
    for bridge in topo.bridges.values():
        if bridge.namespace and bridge.host is not None and \
                bridge.host != topo.nodes[bridge.namespace].host:
            raise InputError(f"{source}: bridges.{bridge.name}.host: the bridge lives inside "
                             f"node {bridge.namespace}, so on its host; remove `host:`")
    for kind, things in (("nodes", topo.nodes), ("bridges", topo.bridges)):
        for name, thing in things.items():
            if topo.host_of(name) == "":
                raise InputError(f"{source}: {kind}.{name}: no host; give it `host: NAME` "
                                 f"(one of {', '.join(topo.hosts)}) or set `placement: auto`")


def refuse_containers(topo: Topology) -> None:
    """Container nodes on hosts of `hosts:` are not supported yet: InputError naming the
    first. Checked when planning, after --runtime had its say (netns builds them)."""
    if not topo.hosts:
        return
    for node in topo.nodes.values():
        if node.kind == "docker":
            raise InputError(f"{topo.name}: nodes.{node.name}: container nodes on hosts of "
                             "`hosts:` are not supported yet (each host's own Docker daemon "
                             "would run them); use --runtime netns, kind netns, or a lab "
                             "without hosts")


def place(topo: Topology) -> None:
    """Place every node (and root-namespace bridge) that has no host, deterministically:
    nodes joined by a root-namespace bridge stay together with it (a bridge cannot span
    hosts without a tunnel per member), groups are taken in topology order so that chains
    stay contiguous, and cut into one run per host, balanced by the nodes' weight (pinned
    nodes count for their host). Changes topo in place."""
    groups = _groups(topo)
    free = [g for g in groups if not any(_pinned(topo, m) for m in g)]
    load = {h: 0 for h in topo.hosts}
    for group in groups:
        pinned = next((_pinned(topo, m) for m in group if _pinned(topo, m)), None)
        if pinned is not None:
            load[pinned] += _weight(topo, group)
            for member in group:
                _set_host(topo, member, pinned)
    total = sum(load.values()) + sum(_weight(topo, g) for g in free)
    names = list(topo.hosts)
    share = total / len(names)
    i = 0
    for group in free:
        # the next host once this group would take this one past its share by more than
        # half the group (load counts its pinned nodes too)
        weight = _weight(topo, group)
        while i < len(names) - 1 and load[names[i]] + weight / 2 >= share:
            i += 1
        load[names[i]] += weight
        for member in group:
            _set_host(topo, member, names[i])


def _groups(topo: Topology) -> List[List[str]]:
    """Nodes and root bridges in topology order, those joined by a root bridge together."""
    parent: Dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    roots = {b for b, bridge in topo.bridges.items() if not bridge.namespace}
    for link in topo.links:
        for end, other in ((link.a, link.b), (link.b, link.a)):
            if end.node in roots:
                parent[find(other.node)] = find(end.node)
    order: Dict[str, List[str]] = {}
    for name in list(topo.nodes) + sorted(roots, key=list(topo.bridges).index):
        order.setdefault(find(name), []).append(name)
    return list(order.values())


def _pinned(topo: Topology, name: str) -> Optional[str]:
    return (topo.bridges[name] if name in topo.bridges else topo.nodes[name]).host


def _weight(topo: Topology, group: List[str]) -> int:
    return sum(topo.nodes[m].weight for m in group if m in topo.nodes)


def _set_host(topo: Topology, name: str, host: str) -> None:
    (topo.bridges[name] if name in topo.bridges else topo.nodes[name]).host = host


def missing_addresses(topo: Topology) -> List[Host]:
    """The hosts whose underlay address is not known yet."""
    return [h for h in topo.hosts.values() if h.address is None]


def default_address(host: Host) -> Optional[str]:
    """The underlay address an ssh destination gives by itself: its IP literal, if it is
    one (user@10.0.0.5, [fd00::5]); None for a name."""
    name = host.ssh.rpartition("@")[2]
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return None


def fill_addresses(topo: Topology, found: Mapping[str, str]) -> Topology:
    """topo with the underlay addresses in found given to its hosts (a new Topology)."""
    hosts = {n: dataclasses.replace(h, address=found.get(n, h.address))
             for n, h in topo.hosts.items()}
    out = dataclasses.replace(topo, hosts=hosts)
    set_tunnel_mtus(out, topo.name)  # an IPv6 underlay's tunnels carry 20 bytes less
    return out


def with_hosts(topo: Topology, raw: Any, source: str) -> Topology:
    """topo on other machines: a hosts file (`hosts: {NAME: {ssh: ..., address: ...}}`,
    `--hosts FILE`) gives some or all of its hosts new destinations; a host given anew
    without an address has its address found again from its destination."""
    where = f"{source}: hosts"
    data = _as_dict(raw, source, ("hosts",))
    new = hosts_from_dict(data.get("hosts"), where)
    if not topo.hosts:
        raise InputError(f"{source}: topology {topo.name!r} has no `hosts:`, so there is "
                         "nothing to map; drop --hosts (or $NETPLAY_HOSTS)")
    for name in new:
        if name not in topo.hosts:
            raise InputError(f"{where}.{name}: topology {topo.name!r} has no host {name!r} "
                             f"(its hosts: {', '.join(topo.hosts)})")
    hosts = {n: new.get(n, h) for n, h in topo.hosts.items()}
    return dataclasses.replace(topo, hosts=hosts)


def on_host(topo: Topology, host: str) -> Topology:
    """The part of topo that host holds: its nodes and bridges, the links within it (a
    link between hosts is a tunnel, checked on both: check/tunnels.py)."""
    nodes = {n: node for n, node in topo.nodes.items() if topo.host_of(n) == host}
    bridges = {b: bridge for b, bridge in topo.bridges.items() if topo.host_of(b) == host}
    links = [link for link in topo.links
             if topo.host_of(link.a.node) == host and topo.host_of(link.b.node) == host]
    return dataclasses.replace(topo, nodes=nodes, bridges=bridges, links=links)
