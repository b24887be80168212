"""The topology file format as a JSON Schema (draft 2020-12), for editors: `netplay schema`
prints it, and `netplay show` names it in a `# yaml-language-server: $schema=...` line.

Every mapping's keys are the validator's own (netplay.model.validate, hosts, impairment):
_object() refuses a property list that names a key the validator does not take or misses
one it does, so the two cannot drift apart. The schema states the keys, the types, the
choices and the ranges; what only the validator can check (addresses, names across the
topology, the graph) is left to it. The schema must never refuse a file the validator
accepts: a null wherever the validator reads a missing value, YAML numbers where it
takes them.
"""

import json
from typing import Any, Dict, Sequence

from netplay.core.consts import UNDERLAY_MTU, VXLAN_PORT
from netplay.core.names import IFNAMSIZ, MAX_NAME
from netplay.model import hosts, impairment, validate
from netplay.model.topology import DEFAULT_IMAGE, NODE_KINDS, ROLES
from netplay.model.tunnels import MAX_VNI

SCHEMA_VERSION = "https://json-schema.org/draft/2020-12/schema"
Schema = Dict[str, Any]

# core.names.check_name's rule, in the regular-expression dialect JSON Schema uses
NAME_PATTERN = "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
ENV_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"


def _text(description: str, nullable: bool = False) -> Schema:
    return {"type": ["string", "null"] if nullable else "string", "description": description}


def _bool(description: str) -> Schema:
    return {"type": "boolean", "description": description}


def _whole(low: int, high: int, description: str, nullable: bool = False) -> Schema:
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": low,
            "maximum": high, "description": description}


def _choice(choices: Sequence[str], description: str, nullable: bool = False) -> Schema:
    return {"enum": [*choices, None] if nullable else list(choices),
            "description": description}


def _strings(description: str, min_items: int = 0) -> Schema:
    """A list of strings; null is the empty list (the validator's as_list)."""
    items: Schema = {"type": "array", "items": {"type": "string"}}
    if min_items:
        items["minItems"] = min_items
    return {"anyOf": [items, {"type": "null"}], "description": description}


def _one_or_more(description: str) -> Schema:
    """A string, or a list of them (`subnet`, `nat.masquerade`)."""
    return {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}},
                      {"type": "null"}], "description": description}


def _map_of(value: Schema, description: str, name_length: int = MAX_NAME) -> Schema:
    """A mapping of names (nodes, interfaces, bridges, hosts) to values; null is empty."""
    return {"type": ["object", "null"], "description": description,
            "propertyNames": {"pattern": NAME_PATTERN, "maxLength": name_length},
            "additionalProperties": value}


def _ref(name: str, description: str) -> Schema:
    return {"$ref": f"#/$defs/{name}", "description": description}


def _object(keys: Sequence[str], properties: Schema, description: str,
            nullable: bool = True, required: Sequence[str] = ()) -> Schema:
    """A mapping of exactly the validator's keys; unknown keys are refused."""
    if list(properties) != list(keys):
        missing = [k for k in keys if k not in properties]
        extra = [k for k in properties if k not in keys]
        raise ValueError(f"schema and validator disagree on {description!r}: the schema "
                         f"lacks {missing}, has {extra} (or lists them in another order)")
    out: Schema = {"type": ["object", "null"] if nullable else "object",
                   "description": description, "properties": properties,
                   "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def _impairment() -> Schema:
    return _object(impairment.KEYS, {
        "delay": _text("added delay with a unit: 50ms, 500us, 1s", nullable=True),
        "jitter": _text("the delay varies by up to this (needs a delay): 5ms", nullable=True),
        "loss": {"type": ["string", "number", "null"],
                 "description": "the share of packets dropped: 1% or 0.5%"},
        "rate": _text("a rate from 8kbit to 1000gbit: 10mbit, 512kbit (bps units are bytes "
                      "per second)", nullable=True),
    }, "impairment of what an end sends: delay, jitter, loss, rate")


def _interface() -> Schema:
    return _object(validate.IFACE_KEYS, {
        "addresses": _strings("CIDR addresses, IPv4 or IPv6: [10.0.0.1/24, fd00::1/64]"),
        "up": _bool("bring the interface up (default true)"),
        "mac": _text("its MAC address, unicast: 02:00:00:00:00:01", nullable=True),
        "mtu": _whole(68, 65535, "its MTU (default: the link's)", nullable=True),
        "kind": _choice(validate.IFACE_KINDS, "veth (made by a link, the default), dummy "
                        "(made alone) or vxlan (a tunnel to a remote VTEP)"),
        "impair": _ref("impairment", "impairment of what this interface sends"),
        "vxlan": _object(validate.TUNNEL_KEYS, {
            "id": _whole(0, MAX_VNI, "the VNI"),
            "remote": _text("the remote VTEP's IP address"),
            "port": _whole(1, 65535, f"its UDP port (default {VXLAN_PORT})"),
        }, "kind vxlan: {id: VNI, remote: ADDRESS, port: 4789}", required=("id", "remote")),
    }, "an interface of the node; each must be made by a link or have a kind of its own")


def _route() -> Schema:
    return _object(validate.ROUTE_KEYS, {
        "to": _text("default, or a network: 10.1.0.0/16, ::/0"),
        "via": {"type": ["string", "integer", "null"], "description": "the gateway's address"},
        "dev": _text("the interface (or a bridge inside the node) it leaves by", nullable=True),
        "onlink": _bool("the gateway is on dev's link though no route says so (needs via "
                        "and dev)"),
    }, "a route: `via`, `dev` or both", nullable=False, required=("to",))


def _node() -> Schema:
    return _object(validate.NODE_KEYS, {
        "kind": _choice(NODE_KINDS, "netns (a named network namespace, the default), host "
                        "(the root namespace) or docker (a container)"),
        "interfaces": _map_of(_ref("interface", "an interface"),
                              "interface name to interface", IFNAMSIZ),
        "routes": {"anyOf": [{"type": "array", "items": {"$ref": "#/$defs/route"}},
                             {"type": "null"}], "description": "the node's routes"},
        "forwarding": _bool("turn on IP forwarding in the node (default false)"),
        "loopback": _bool("bring lo up (default true)"),
        "image": _text("docker: this node's image, overriding the topology's", nullable=True),
        "cmd": _strings("docker: the container's command, a list of arguments", min_items=1),
        "dns": {"anyOf": [{"type": "array", "items": {"type": ["string", "integer"]}},
                          {"type": "null"}], "description": "docker: DNS servers"},
        "env": {"type": ["object", "null"], "description": "docker: environment variables",
                "propertyNames": {"pattern": ENV_PATTERN},
                "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "exec": {"anyOf": [{"type": "array", "items": {
                     "type": "array", "minItems": 1, "items": {"type": "string"}}},
                           {"type": "null"}],
                 "description": "commands run in the node once its links are up, each a "
                                "list of arguments"},
        "binds": _strings("docker: HOST_PATH:CONTAINER_PATH[:OPTIONS] bind mounts"),
        "role": _choice(ROLES, "router: forwarding (IPv4 and IPv6), no reverse-path filter",
                        nullable=True),
        "nat": _object(validate.NAT_KEYS, {
            "masquerade": _one_or_more("the interfaces it masquerades out of"),
        }, "{masquerade: IFACE or [IFACE...]}"),
        "host": _text("which of the topology's hosts it lives on", nullable=True),
        "weight": _whole(1, 1000000, "its share of a host, for placement: auto (default 1)"),
    }, "a node: a namespace, the root namespace or a container")


def _bridge() -> Schema:
    return _object(validate.BRIDGE_KEYS, {
        "namespace": _text("a netns or docker node to build the bridge in (default: the "
                           "root namespace)", nullable=True),
        "up": _bool("bring the bridge and its ports up (default true)"),
        "addresses": _strings("addresses on the bridge itself"),
        "subnet": _one_or_more("a network (or one IPv4 and one IPv6) its nodes' interfaces "
                               "get addresses from"),
        "ports": _map_of(_object(validate.PORT_KEYS, {
            "impair": _ref("impairment", "impairment of what the bridge sends out of it"),
        }, "a port of the bridge"), "port name to {impair: ...}", IFNAMSIZ),
        "host": _text("a root-namespace bridge's host", nullable=True),
    }, "a Linux bridge")


def _link() -> Schema:
    return _object(validate.LINK_KEYS, {
        "endpoints": {"type": "array", "minItems": 2, "maxItems": 2,
                      "items": {"type": "string"},
                      "description": "two ends, NODE:IFACE or BRIDGE[:PORT]"},
        "mtu": _whole(68, 65535, "both ends' MTU", nullable=True),
        "impair": _ref("impairment", "both ends' impairment"),
        "subnet": _one_or_more("a network (or one per family) its ends' addresses come from"),
    }, "a veth pair between two endpoints", nullable=False, required=("endpoints",))


def _host() -> Schema:
    return _object(hosts.HOST_KEYS, {
        "ssh": {"type": "string", "minLength": 1,
                "description": "an ssh destination: [user@]host or a Host of the ssh "
                               "configuration"},
        "address": _text("its underlay address, used by the lab's tunnels", nullable=True),
        "sudo": _bool("a non-root login: every command through sudo -n"),
        "mtu": _whole(hosts.MIN_UNDERLAY_MTU, 65535,
                      f"the MTU of its underlay network (default {UNDERLAY_MTU})"),
    }, "a machine the lab spans", nullable=False, required=("ssh",))


def topology_schema() -> Schema:
    """The JSON Schema of a netplay topology file."""
    top = _object(validate.TOP_KEYS, {
        "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 32,
                 "description": "the lab's name; `down` takes it"},
        "prefix": _text("written by netplay: every node is named PREFIX-NODE", nullable=True),
        "description": _text("one line, shown by `netplay topologies`"),
        "image": _text(f"the default image of docker nodes (default {DEFAULT_IMAGE})",
                       nullable=True),
        "ipv6_link_local": _bool("false: no device of the lab makes an IPv6 link-local "
                                 "address (default true)"),
        "etc_hosts": _bool("true: each node's /etc/netns/NODE/hosts names every node of the "
                           "lab, so `ip netns exec h1 ping h2` works by name (default false)"),
        "hosts": _map_of(_ref("host", "a host"), "host name to host: the machines the lab "
                         "spans (none: this machine)", 32),
        "placement": _choice(hosts.PLACEMENTS, "auto: netplay places nodes without `host:` "
                             "(default manual)"),
        "vxlan": _object(validate.VXLAN_KEYS, {
            "port": _whole(1, 65535, f"the UDP port of the lab's tunnels (default "
                                     f"{VXLAN_PORT})"),
            "vni_base": _whole(1, MAX_VNI, "the first VNI of its tunnels (default: from the "
                               "lab's name)", nullable=True),
        }, "the lab's tunnels between hosts"),
        "nodes": _map_of(_ref("node", "a node"), "node name to node"),
        "bridges": _map_of(_ref("bridge", "a bridge"), "bridge name to bridge", IFNAMSIZ),
        "links": {"anyOf": [{"type": "array", "items": {"$ref": "#/$defs/link"}},
                            {"type": "null"}], "description": "the links"},
    }, "a netplay topology", nullable=False, required=("name",))
    return {"$schema": SCHEMA_VERSION, "title": "netplay topology", **top,
            "$defs": {"node": _node(), "interface": _interface(), "route": _route(),
                      "bridge": _bridge(), "link": _link(), "host": _host(),
                      "impairment": _impairment()}}


def schema_text() -> str:
    """The schema as `netplay schema` prints it and the package ships it: JSON, indented."""
    return json.dumps(topology_schema(), indent=2) + "\n"
