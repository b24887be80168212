"""containerlab topology files (`*.clab.yml`) read into netplay's own topology.

The file is converted to the plain data netplay's own YAML would give (see
docs/containerlab.md for the mapping) and then validated by
`netplay.model.validate.from_dict`, like any netplay file. What netplay models is kept:
`name`; `prefix` (a non-empty one prefixes the lab as `--prefix` does: wants_prefix);
nodes of kind `linux` (a container, or a namespace with `--runtime netns`), `bridge`
(netplay creates it) and `host`; the node fields `image`, `cmd`, `env`, `exec`, `binds` and
`dns` with containerlab's inheritance defaults -> kinds -> groups -> node; links in the
brief and the extended forms (`veth`, `host`, `dummy`) with `mac`, `mtu` and endpoint
`ipv4`/`ipv6`. Everything else is named in one warning line each and left out; a vendor kind
is an error naming the node.

Pure: reads the file, runs nothing.
"""

import os
import shlex

from netplay.core.consts import VXLAN_PORT
from netplay.core.errors import InputError, one_line
from netplay.core.names import check_ifname, check_name
from netplay.model.prefix import named
from netplay.model.validate import as_list, as_mapping, check_cidr, check_mac, check_mtu, from_dict

SUFFIXES = (".clab.yml", ".clab.yaml")
KINDS = ("linux", "bridge", "host")  # the containerlab kinds netplay builds
NODE_FIELDS = ("kind", "group", "image", "cmd", "env", "exec", "binds", "dns")
HOST = "host"  # containerlab's name for the host namespace in a link endpoint

# containerlab fields netplay leaves out, with why (anything else unknown gets a generic line).
UNMODELED = {
    "mgmt": "the management network is not modeled: nodes get no management interface",
    "settings": "lab settings (certificates, ...) are not modeled",
    "mgmt-ipv4": "the management network is not modeled",
    "mgmt-ipv6": "the management network is not modeled",
    "ports": "port publishing is not modeled (containers run with --net=none)",
    "publish": "port publishing is not modeled (containers run with --net=none)",
    "healthcheck": "health checks are not modeled",
    "labels": "container labels are not modeled (netplay sets netplay.lab only)",
    "startup-config": "startup configurations are for vendor kinds",
    "network-mode": "netplay containers always run with --net=none",
    "entrypoint": "the image's entrypoint is kept",
}
LINK_TYPES = ("veth", "host", "dummy", "vxlan")
SKIPPED_LINK_TYPES = ("mgmt-net", "macvlan", "vxlan-stitch")


def is_clab_data(path, data):
    """True when data, parsed from the file at path, is a containerlab topology."""
    return str(path).endswith(SUFFIXES) or \
        (isinstance(data, dict) and "topology" in data and "nodes" not in data)


def _print_warning(message):
    import sys

    # one_line: a key of the file is in the message, and may hold a newline or an escape
    print(f"netplay: warning: {one_line(message)}", file=sys.stderr)


def load_data(data, path, warn=None, name=None, prefix=False):
    """A Topology from a containerlab file's parsed data (binds relative to its directory),
    renamed `name` (None: the file's) and prefixed (netplay.model.prefix.named) when
    prefix is true or the file's `prefix:` is a non-empty string."""
    warn = warn or _print_warning
    prefix = wants_prefix(data, str(path), warn) or prefix
    data = convert(data, str(path), base_dir=os.path.dirname(os.path.abspath(path)),
                   warn=warn)
    topo = from_dict(data, source=str(path))
    return named(topo, name, prefix) if name is not None or prefix else topo


def wants_prefix(raw, source, warn=_print_warning):
    """containerlab's top-level `prefix:`: "" (or none) builds the lab unprefixed, as netplay
    always did; any other string prefixes it as `--prefix` does, LAB-NODE (containerlab:
    PREFIX-LAB-NODE; its `__lab-name` is LAB-NODE too)."""
    value = raw.get("prefix") if isinstance(raw, dict) else None
    if value is None or value == "":
        return False
    if not isinstance(value, str):
        raise InputError(f"{source}: prefix: expected a string (\"\" for none), got {value!r}")
    if value != "__lab-name":
        warn(f"{source}: prefix: {value!r}: netplay names the lab's containers and "
             f"namespaces LAB-NODE, not {value}-LAB-NODE")
    return True


def convert(raw, source, base_dir=".", warn=_print_warning):
    """containerlab data (as parsed from YAML) to netplay's own topology data."""
    return _Converter(source, base_dir, warn).convert(raw)


# --- small checks -----------------------------------------------------------------------------


def _text(value, where):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"{where}: expected a string, got {value!r}")
    return str(value)


def _argv(value, where):
    """A containerlab command string split as containerlab splits it (shell words)."""
    try:
        argv = shlex.split(_text(value, where))
    except ValueError as err:
        raise InputError(f"{where}: cannot split {value!r} into arguments: {err}") from None
    if not argv:
        raise InputError(f"{where}: the command is empty")
    return argv


def _addresses(value, where):
    """An endpoint's ipv4/ipv6: one CIDR string or a list of them."""
    if value is None or value == "":
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if not isinstance(v, str) or "/" not in v:
            raise InputError(f"{where}: {v!r} is not an address with a prefix "
                             "(e.g. 10.0.0.1/24)")
        out.append(check_cidr(v, where))
    return out


# --- conversion -------------------------------------------------------------------------------


class _Converter:
    def __init__(self, source, base_dir, warn):
        self.source = source
        self.base_dir = base_dir
        self.warn = warn
        self.nodes = {}  # netplay nodes (data)
        self.bridges = {}  # netplay bridges (data)
        self.kinds = {}  # containerlab node name -> its kind
        self.host = None  # the netplay node standing for the host namespace

    def where(self, path):
        return f"{self.source}: {path}"

    def left_out(self, path, key, why=None):
        why = why or UNMODELED.get(key, "not modeled by netplay")
        self.warn(f"{self.source}: {f'{path}.{key}' if path else key}: ignored; {why}")

    def convert(self, raw):
        raw = as_mapping(raw, self.source)
        if "name" not in raw:
            raise InputError(f"{self.source}: missing the lab's `name`")
        for key in raw:
            if key not in ("name", "topology", "prefix"):
                self.left_out("", key, UNMODELED.get(
                    key, "not a containerlab key netplay knows"))
        topo = as_mapping(raw.get("topology"), self.where("topology"))
        for key in topo:
            if key not in ("nodes", "links", "defaults", "kinds", "groups"):
                self.left_out("topology", key)
        self.defaults = as_mapping(topo.get("defaults"), self.where("topology.defaults"))
        self.kind_defs = as_mapping(topo.get("kinds"), self.where("topology.kinds"))
        self.groups = as_mapping(topo.get("groups"), self.where("topology.groups"))
        nodes = as_mapping(topo.get("nodes"), self.where("topology.nodes"))
        self._check_layers(nodes)
        for name, node in nodes.items():
            self._node(name, as_mapping(node, self.where(f"topology.nodes.{name}")))
        links = []
        for i, link in enumerate(as_list(topo.get("links"), self.where("topology.links"))):
            links += self._link(link, f"topology.links[{i}]")
        out = {"name": raw["name"],
               "description": f"imported from containerlab file {os.path.basename(self.source)}",
               "nodes": self.nodes}
        if self.bridges:
            out["bridges"] = self.bridges
        out["links"] = links
        return out

    # --- nodes and inheritance ----------------------------------------------------------------

    def _check_layers(self, nodes):
        """One warning per field netplay leaves out, where it is written."""
        sections = [("topology.defaults", self.defaults)]
        sections += [(f"topology.kinds.{k}", as_mapping(v, self.where(f"topology.kinds.{k}")))
                     for k, v in self.kind_defs.items() if k in KINDS]
        sections += [(f"topology.groups.{g}", as_mapping(v, self.where(f"topology.groups.{g}")))
                     for g, v in self.groups.items()]
        sections += [(f"topology.nodes.{n}", as_mapping(v, self.where(f"topology.nodes.{n}")))
                     for n, v in nodes.items()]
        for path, section in sections:
            for key, value in section.items():
                if key == "dns":
                    for sub in as_mapping(value, self.where(f"{path}.dns")):
                        if sub != "servers":
                            self.left_out(f"{path}.dns", sub, "only DNS servers are modeled")
                elif key not in NODE_FIELDS:
                    self.left_out(path, key)

    def _kind_of(self, name, node):
        """containerlab's order: the node's kind, its group's, the default group's, the
        default kind."""
        if node.get("kind"):
            return node["kind"]
        for group in (self._group(node, f"topology.nodes.{name}"),
                      self._group(self.defaults, "topology.defaults")):
            gdef = self.groups.get(group) if group else None
            if isinstance(gdef, dict) and gdef.get("kind"):
                return gdef["kind"]
        if self.defaults.get("kind"):
            return self.defaults["kind"]
        raise InputError(self.where(f"topology.nodes.{name}: no kind; set `kind: linux` on "
                                    "the node or under topology.defaults"))

    def _group(self, layer, path):
        """A layer's `group`: the name of one group (containerlab puts a node in one), or
        None."""
        group = layer.get("group")
        if group is None or group == "":
            return None
        if not isinstance(group, str):
            raise InputError(self.where(f"{path}.group: expected the name of one group under "
                                        f"topology.groups, got {group!r}"))
        return group

    def _layers(self, name, node, kind):
        """The definitions that apply to a node, least specific first: defaults, kind,
        group, node."""
        kind_def = as_mapping(self.kind_defs.get(kind), self.where(f"topology.kinds.{kind}"))
        group = self._group(node, f"topology.nodes.{name}") \
            or self._group(kind_def, f"topology.kinds.{kind}") \
            or self._group(self.defaults, "topology.defaults")
        if group and group not in self.groups:
            raise InputError(self.where(f"topology.nodes.{name}.group: no group {group!r} "
                                        "under topology.groups"))
        return [self.defaults, kind_def,
                as_mapping(self.groups.get(group), self.where(f"topology.groups.{group}")), node]

    def _node(self, name, node):
        where = f"topology.nodes.{name}"
        check_name(name, "node name", self.where(where))
        kind = self._kind_of(name, node)
        if not isinstance(kind, str) or kind not in KINDS:
            hint = " (use kind: bridge; netplay makes Linux bridges)" if kind == "ovs-bridge" \
                else " (use kind: linux with an image)"
            raise InputError(self.where(
                f"{where}: kind {kind!r} is not one netplay can build: it models containerlab "
                f"kinds {', '.join(KINDS)}{hint}"))
        self.kinds[name] = kind
        if kind != "linux":
            used = [k for k in ("image", "cmd", "env", "exec", "binds", "dns") if k in node]
            for key in used:
                self.left_out(where, key, f"applies to linux nodes only, not kind {kind}")
        if kind == "bridge":
            check_ifname(name, self.where(f"{where} (a bridge's name is an interface name)"))
            self.bridges[name] = {}
            return
        if kind == "host":
            if self.host is not None:
                raise InputError(self.where(f"{where}: nodes {self.host} and {name} are both "
                                            "of kind host; there is one host namespace"))
            self.host = name
            self.nodes[name] = {"kind": "host"}
            return
        self.nodes[name] = self._linux(name, node, self._layers(name, node, kind), where)

    def _linux(self, name, node, layers, where):
        out = {"kind": "docker"}
        image = self._first(layers, "image")
        if image is not None:
            out["image"] = _text(image, self.where(f"{where}.image"))
        cmd = self._first(layers, "cmd")
        if cmd is not None:
            out["cmd"] = _argv(cmd, self.where(f"{where}.cmd"))
        env = {}
        for layer in layers:  # maps merge, the more specific value winning
            for key, value in as_mapping(layer.get("env"), self.where(f"{where}.env")).items():
                env[str(key)] = str(value).lower() if isinstance(value, bool) else \
                    _text(value, self.where(f"{where}.env.{key}"))
        if env:
            out["env"] = env
        execs = [_argv(cmd, self.where(f"{where}.exec"))  # lists concatenate
                 for layer in layers for cmd in as_list(layer.get("exec"), self.where(where))]
        if execs:
            out["exec"] = execs
        binds = self._binds(layers, where)
        if binds:
            out["binds"] = binds
        dns = self._first(layers, "dns")
        if dns is not None:
            servers = as_list(as_mapping(dns, self.where(f"{where}.dns")).get("servers"),
                            self.where(f"{where}.dns.servers"))
            if servers:
                out["dns"] = [_text(s, self.where(f"{where}.dns.servers")) for s in servers]
        return out

    @staticmethod
    def _first(layers, key):
        """A single value: the most specific layer that sets it."""
        for layer in reversed(layers):
            if layer.get(key) not in (None, "", [], {}):
                return layer[key]
        return None

    def _binds(self, layers, where):
        """Binds of every layer, one per container path, the more specific winning; host
        paths relative to the topology file's directory, as containerlab resolves them."""
        by_dst = {}
        for layer in layers:
            for bind in as_list(layer.get("binds"), self.where(f"{where}.binds")):
                text = _text(bind, self.where(f"{where}.binds"))
                if "__clab" in text:
                    self.warn(f"{self.source}: {where}.binds: {text!r} ignored; containerlab's "
                              "lab directory (__clabDir__, __clabNodeDir__) does not exist "
                              "under netplay")
                    continue
                parts = text.split(":")
                if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
                    raise InputError(self.where(f"{where}.binds: {text!r} is not "
                                                "HOST_PATH:CONTAINER_PATH[:OPTIONS]"))
                src = os.path.expanduser(parts[0])
                if not os.path.isabs(src):
                    src = os.path.normpath(os.path.join(self.base_dir, src))
                by_dst[parts[1]] = ":".join([src, *parts[1:]])
        return list(by_dst.values())

    # --- links ----------------------------------------------------------------------------------

    def _link(self, raw, where):
        """netplay links (zero or one) for one containerlab link."""
        raw = as_mapping(raw, self.where(where))
        ltype = raw.get("type")
        for key in ("labels", "vars"):
            if key in raw:
                self.left_out(where, key, "link labels and variables are for templates, "
                                          "which netplay does not render")
        if ltype is None or ltype == "brief":
            return self._brief(raw, where)
        if ltype in SKIPPED_LINK_TYPES:
            self.warn(f"{self.source}: {where}: link of type {ltype} left out; netplay "
                      "models veth, host, dummy and vxlan links")
            return []
        if ltype not in LINK_TYPES:
            raise InputError(self.where(f"{where}.type: unknown link type {ltype!r}; "
                                        f"containerlab's are veth, host, dummy, vxlan, "
                                        f"{', '.join(SKIPPED_LINK_TYPES)}"))
        allowed = {"veth": ("type", "endpoints", "mtu", "labels", "vars"),
                   "host": ("type", "endpoint", "host-interface", "mtu", "labels", "vars"),
                   "dummy": ("type", "endpoint", "mtu", "labels", "vars"),
                   "vxlan": ("type", "endpoint", "remote", "vni", "udp-port", "mtu", "labels",
                             "vars")}[ltype]
        for key in raw:
            if key not in allowed:
                self.left_out(where, key, f"not a field of a {ltype} link")
        mtu = raw.get("mtu")
        if ltype == "veth":
            ends = as_list(raw.get("endpoints"), self.where(f"{where}.endpoints"))
            if len(ends) != 2:
                raise InputError(self.where(f"{where}.endpoints: a veth link has exactly two "
                                            f"endpoints, got {len(ends)}"))
            ends = [self._endpoint(e, f"{where}.endpoints[{i}]") for i, e in enumerate(ends)]
            return [self._veth(ends, mtu)]
        end = self._endpoint(raw.get("endpoint"), f"{where}.endpoint")
        if ltype == "host":
            hostif = raw.get("host-interface")
            if not hostif:
                raise InputError(self.where(f"{where}: a host link needs `host-interface`"))
            check_ifname(hostif, self.where(f"{where}.host-interface"))
            return [self._veth([end, {"node": self._host(), "iface": hostif}], mtu)]
        # dummy: an interface of its own in the node, connected to nothing; vxlan: one
        # whose frames go to a remote VTEP
        if self.kinds.get(end["node"]) != "linux":
            raise InputError(self.where(f"{where}.endpoint: a {ltype} interface belongs in a "
                                        "linux node"))
        iface = self._iface(end)
        iface["kind"] = ltype
        if ltype == "vxlan":
            for key in ("remote", "vni"):
                if raw.get(key) is None:
                    raise InputError(self.where(f"{where}: a vxlan link needs `{key}`"))
            iface["vxlan"] = {"id": raw["vni"], "remote": raw["remote"],
                              "port": raw.get("udp-port", VXLAN_PORT)}
        if mtu is not None:
            iface["mtu"] = check_mtu(mtu, self.where(f"{where}.mtu"))
        return []

    def _brief(self, raw, where):
        for key in raw:
            if key not in ("type", "endpoints", "mtu", "labels", "vars", "ipv4", "ipv6"):
                self.left_out(where, key, "not a field of a link")
        ends = as_list(raw.get("endpoints"), self.where(f"{where}.endpoints"))
        if len(ends) != 2:
            raise InputError(self.where(f"{where}.endpoints: a link has exactly two endpoints, "
                                        f"got {len(ends)}"))
        for i, text in enumerate(ends):
            if not isinstance(text, str) or ":" not in text:
                raise InputError(self.where(f"{where}.endpoints[{i}]: {text!r} is not "
                                            "'node:interface'"))
            node = text.split(":", 1)[0]
            if node in ("mgmt-net", "macvlan") and node not in self.kinds:
                self.warn(f"{self.source}: {where}: link to {node} left out; netplay models "
                          "veth, host, dummy and vxlan links")
                return []
        parsed = []
        for i, text in enumerate(ends):
            node, iface = text.split(":", 1)
            end = {"node": node, "interface": iface}
            for family in ("ipv4", "ipv6"):
                values = as_list(raw.get(family), self.where(f"{where}.{family}"))
                if values and len(values) != 2:
                    raise InputError(self.where(f"{where}.{family}: one entry per endpoint "
                                                f"(two), got {len(values)}"))
                if values:
                    end[family] = values[i]
            parsed.append(self._endpoint(end, f"{where}.endpoints[{i}]"))
        return [self._veth(parsed, raw.get("mtu"))]

    def _host(self):
        """The netplay node of the host namespace, made on first use of `host:IF`."""
        if self.host is None:
            self.host = HOST
            self.nodes[HOST] = {"kind": "host"}
            self.kinds[HOST] = "host"
        return self.host

    def _endpoint(self, raw, where):
        """{node, iface} with the endpoint's mac and addresses put on its interface."""
        raw = as_mapping(raw, self.where(where))
        for key in raw:
            if key not in ("node", "interface", "mac", "ipv4", "ipv6"):
                self.left_out(where, key, "not a field of an endpoint")
        node, iface = raw.get("node"), raw.get("interface")
        if not node or not iface:
            raise InputError(self.where(f"{where}: an endpoint needs `node` and `interface`"))
        if not isinstance(node, str):
            raise InputError(self.where(f"{where}.node: expected a node name, got {node!r}"))
        if node == HOST and self.kinds.get(HOST, "host") == "host":
            node = self._host()
        elif node not in self.kinds:
            raise InputError(self.where(f"{where}: node {node!r} is not defined under "
                                        "topology.nodes"))
        check_ifname(iface, self.where(where))
        end = {"node": node, "iface": iface}
        addresses = _addresses(raw.get("ipv4"), self.where(f"{where}.ipv4")) + \
            _addresses(raw.get("ipv6"), self.where(f"{where}.ipv6"))
        if self.kinds[node] == "bridge":
            for key in ("mac", "ipv4", "ipv6"):
                if raw.get(key):
                    self.left_out(where, key, "a bridge port carries no MAC or address of its "
                                              "own in netplay")
            return end
        if raw.get("mac"):
            self._iface(end)["mac"] = check_mac(raw["mac"], self.where(f"{where}.mac"))
        if addresses:
            self._iface(end).setdefault("addresses", []).extend(addresses)
        return end

    def _iface(self, end):
        interfaces = self.nodes[end["node"]].setdefault("interfaces", {})
        return interfaces.setdefault(end["iface"], {})

    def _veth(self, ends, mtu):
        link = {"endpoints": [f"{e['node']}:{e['iface']}" for e in ends]}
        if mtu is not None:
            link["mtu"] = mtu
        return link
