"""Checks made before a run touches the host, so that bad input changes nothing.

Each check raises one clear error naming what is wrong and how to fix it.
"""

from concurrent.futures import ThreadPoolExecutor
import ipaddress

from netplay.core.consts import ETC_NETNS
from netplay.core.errors import HostError, InputError, NetplayError
from netplay.model.hosts import on_host
from netplay.model.runtime import uses_docker
from netplay.observe import containers as dockerstate, ip as observe, kernel
from netplay.run.runner import PACKAGES, missing_programs

NO_IMAGE_HINT = ("build a local image with scripts/build-image.sh and pass "
                 "--image netplay-busybox")


def require_root(machine):
    if machine.euid() != 0:
        raise HostError("netplay must run as root to change the host's network; "
                        "run it with sudo (--dry-run needs no root)")


def require_programs(steps, machine):
    missing = missing_programs(steps, machine)
    if missing:
        pkgs = sorted({PACKAGES.get(p, p) for p in missing})
        raise HostError(f"{', '.join(missing)} not found on this host; install "
                        f"{' '.join(pkgs)} (apt-get install {' '.join(pkgs)})")


def root_devices(topo):
    """The devices the lab makes in the root namespace: name -> what makes it."""
    out = {}
    for bridge in topo.bridges.values():
        if bridge.namespace is None:
            out[bridge.name] = f"bridge {bridge.name}"
            for port in bridge.interfaces:
                out[port] = f"port {port} of bridge {bridge.name}"
    for node in topo.nodes.values():
        if node.kind == "host":
            for iface in node.interfaces:
                out[iface] = f"interface {node.name}:{iface}"
    return out


def check_names_free(topo, machine, containers=()):
    """Nothing the lab creates may exist already: it would not be this lab's to delete."""
    taken = set(observe.netns_names(machine))
    for node in topo.nodes.values():
        if node.namespace and node.name in taken:
            raise HostError(f"namespace {node.name!r} already exists on this host and is not "
                            f"lab {topo.name!r}'s; delete it or rename node {node.name!r}")
        if node.kind == "docker" and node.name in containers:
            raise HostError(f"a container named {node.name!r} already exists and is not lab "
                            f"{topo.name!r}'s; remove it or rename node {node.name!r}")
    existing = observe.link_names(machine)
    for dev, what in root_devices(topo).items():
        if dev in existing:
            raise HostError(f"{what}: a device named {dev!r} already exists in the root "
                            "namespace and is not this lab's; rename it in the topology")


def check_etc_free(topo, machine):
    """A node's hosts file goes in /etc/netns/NODE, which must not exist: its files would
    be some other owner's, put over the node's /etc by `ip netns exec`."""
    if not topo.etc_hosts:
        return
    for node in topo.nodes.values():
        folder = f"{ETC_NETNS}/{node.namespace}"
        if node.namespace and machine.exists(folder):
            raise HostError(f"{folder} already exists on this host and is not lab "
                            f"{topo.name!r}'s (`ip netns exec {node.namespace}` puts its files "
                            f"over /etc); remove it, or set etc_hosts: false")


def check_root_addresses(topo, machine):
    """A lab address in the root namespace must not overlap the host's own networks."""
    ours = [(f"bridges.{b.name}", a) for b in topo.bridges.values()
            if b.namespace is None for a in b.addresses]
    ours += [(f"nodes.{n.name}.interfaces.{i.name}", a) for n in topo.nodes.values()
             if n.kind == "host" for i in n.interfaces.values() for a in i.addresses]
    if not ours:
        return
    host_nets = [(r["dst"], r.get("dev", "?")) for fam in ("-4", "-6")
                 for r in observe.routes(machine, None, fam) if r.get("dst") != "default"]
    for where, addr in ours:
        net = ipaddress.ip_interface(addr).network
        for dst, dev in host_nets:
            try:
                theirs = ipaddress.ip_network(dst, strict=False)
            except ValueError:
                continue
            if theirs.version == net.version and net.overlaps(theirs):
                raise InputError(f"{where}: {addr} overlaps the host's network {dst} on "
                                 f"{dev}; choose a subnet the host does not use")


def check_docker(topo, cli):
    """The daemon answers and every image the lab needs is here (pulled if possible)."""
    if cli is None:
        raise HostError("no Docker daemon answers; start it (scripts/docker-up.sh, or "
                        "`systemctl start docker`) or use --runtime netns")
    for image in sorted({topo.image_of(n) for n in topo.nodes.values() if n.kind == "docker"}):
        if not dockerstate.image_present(cli, image) and not dockerstate.pull(cli, image):
            raise HostError(f"image {image!r} is not on this host and cannot be pulled; "
                            + NO_IMAGE_HINT)


def check(topo, steps, machine, cli=None):
    """All checks for building topo with steps on machine, cheapest first."""
    require_root(machine)
    require_programs(steps, machine)
    containers = ()
    if uses_docker(topo):
        check_docker(topo, cli)
        containers = dockerstate.container_names(cli)
    check_names_free(topo, machine, containers)
    check_etc_free(topo, machine)
    check_root_addresses(topo, machine)
    kernel.check(topo, machine)  # dummy links, netem and tbf qdiscs: probed if needed


def tunnel_ids(steps):
    """{(vni, port): the device} of the VXLAN devices steps create."""
    out = {}
    for step in steps:
        argv = step.argv
        if argv[:3] == ["ip", "link", "add"] and "vxlan" in argv and "id" in argv:
            port = argv[argv.index("dstport") + 1] if "dstport" in argv else "4789"
            out[(int(argv[argv.index("id") + 1]), int(port))] = argv[3]
    return out


def check_tunnels_free(topo, host, steps, machine):
    """No VXLAN device of the host uses a VNI and port the lab's tunnels need there (the
    kernel refuses a second one), and the host holds its underlay address."""
    wanted = tunnel_ids(steps)
    if not wanted:
        return
    address = topo.hosts[host].address
    held = {a.get("local") for link in observe.addresses(machine)
            for a in link.get("addr_info", [])}
    if address not in held:
        raise HostError(f"host {host}: its underlay address {address} is on none of its "
                        f"interfaces; set hosts.{host}.address to one it holds")
    used = observe.vxlans(machine)
    for key, device in sorted(wanted.items()):
        if key in used:
            raise HostError(f"host {host}: VNI {key[0]} (UDP port {key[1]}), which {device} "
                            f"needs, is in use by {used[key]}; give the lab other VNIs "
                            "(`vxlan: {vni_base: N}`) or remove that device")


def check_host(topo, host, steps, machine, cli=None):
    """All checks for building host's part of topo with its steps on its machine."""
    part = on_host(topo, host)
    try:
        require_root(machine)
        require_programs(steps, machine)
        check_names_free(part, machine)
        check_etc_free(part, machine)
        check_root_addresses(part, machine)
        kernel.check(part, machine)
        check_tunnels_free(topo, host, steps, machine)
    except NetplayError as err:
        if str(err).startswith(f"host {host}: "):
            raise
        raise type(err)(f"host {host}: {err}") from None


def check_hosts(topo, steps, machines, cli=None):
    """check() for a lab on this host; check_host() on every host of one that spans
    several, hosts at once (the first refusal, in the hosts' order, is raised)."""
    if not topo.hosts:
        check(topo, steps, next(iter(machines.values())), cli)
        return
    per_host = {}
    for step in steps:
        per_host.setdefault(step.host, []).append(step)
    names = list(topo.hosts)
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = [pool.submit(check_host, topo, h, per_host.get(h, []), machines[h], cli)
                   for h in names]
    for future in futures:
        future.result()
