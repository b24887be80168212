"""The machines a lab lives on: this host, or one SshMachine per host of its `hosts:`.

A topology without `hosts:` lives on this machine, under the host name "local", exactly as
before labs could span hosts. With `hosts:`, every host is reached over ssh through a
ControlMaster of netplay's own (its socket in STATE_DIR/ssh, root-only), opened for one
command's duration and closed at its end. Hosts are connected at once: a lab of four hosts
waits for the slowest handshake, not for the sum of them.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
import os
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Tuple, Union

import ipaddress

from netplay.core.errors import HostError, InputError, NetplayError
from netplay.machine.base import Machine
from netplay.machine.ssh import SshMachine
from netplay.model.hosts import default_address, fill_addresses, missing_addresses
from netplay.model.topology import LOCAL, Topology
from netplay.run import state

ENV_SSH_CONFIG = "NETPLAY_SSH_CONFIG"


def ssh_config(option: Optional[str]) -> Optional[str]:
    """The ssh configuration file to use: --ssh-config, else $NETPLAY_SSH_CONFIG, else
    ssh's own default (None)."""
    path = option or os.environ.get(ENV_SSH_CONFIG) or None
    if path is not None and not os.path.isfile(path):
        raise InputError(f"--ssh-config {path}: no such file; give an ssh_config(5) file")
    return path


def control_dir(root: Union[str, Path]) -> str:
    """The root-only directory of netplay's ControlMaster sockets."""
    return str(state.private_dir(root, "ssh"))


def ssh_argv(config: Optional[str], *argv: str) -> list:
    """An ssh command of this host's with the lab's configuration file, if any."""
    return ["ssh", *(["-F", config] if config else []), *argv]


def with_addresses(topo: Topology, local: Machine, config: Optional[str] = None
                   ) -> Topology:
    """topo with every host's underlay address known: as given, else the IP literal of
    its ssh destination, else what ssh's configuration names as its HostName (`ssh -G`,
    which connects nowhere), resolved by this host's resolver (`getent ahosts`)."""
    found = {}
    for host in missing_addresses(topo):
        found[host.name] = default_address(host) or _resolved(host, local, config)
    return fill_addresses(topo, found) if found else topo


def _resolved(host, local: Machine, config: Optional[str]) -> str:
    fix = f"give it as hosts.{host.name}.address"
    rc, out, err = local.run(ssh_argv(config, "-G", host.ssh))
    if rc != 0:
        raise HostError(f"host {host.name}: `ssh -G {host.ssh}` failed "
                        f"({(err.strip().splitlines() or ['exit code ' + str(rc)])[-1]}); "
                        f"{fix}")
    name = next((line.split(None, 1)[1] for line in out.splitlines()
                 if line.startswith("hostname ")), host.ssh)
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    rc, out, _ = local.run(["getent", "ahosts", name])
    if rc != 0 or not out.split():
        raise HostError(f"host {host.name}: {name} (its ssh HostName) does not resolve on "
                        f"this machine; {fix}")
    return out.split()[0]


def _connect(name: str, host, root, config: Optional[str]) -> Machine:
    machine = SshMachine(name, host.ssh, ssh_config=config, control_dir=control_dir(root),
                         sudo=host.sudo)
    try:
        machine.euid()  # the first command opens the ControlMaster: unreachable is said now
    except BaseException:
        machine.close()
        raise
    return machine


def connect_each(topo, root, config: Optional[str] = None, only=None
                 ) -> Tuple[Dict[str, Machine], Dict[str, str]]:
    """Connect to every host of topo (or those named in only) at once: (machines by
    host, one-line reasons by host for those that could not be reached). Callers close
    the machines."""
    names = [name for name in topo.hosts if only is None or name in only]

    def attempt(name: str):
        try:
            return _connect(name, topo.hosts[name], root, config), None
        except NetplayError as err:
            return None, str(err)

    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        results = list(pool.map(attempt, names))
    machines = {n: m for n, (m, _) in zip(names, results) if m is not None}
    failed = {n: why for n, (_, why) in zip(names, results) if why is not None}
    return machines, failed


def close_all(machines: Mapping[str, Machine]) -> None:
    for machine in machines.values():
        close = getattr(machine, "close", None)
        if close is not None and machine.host != LOCAL:
            close()


@contextmanager
def connected(topo, local: Machine, root, config: Optional[str] = None, only=None
              ) -> Iterator[Dict[str, Machine]]:
    """The lab's machines for the duration: {"local": local} for a lab on this host, else
    one per host of topo.hosts (or of those named in only), all of them reached
    (HostError naming the first that is not: nothing has been changed anywhere yet)."""
    if not topo.hosts:
        yield {LOCAL: local}
        return
    machines, failed = connect_each(topo, root, config, only=only)
    try:
        if failed:
            name = next(iter(failed))
            raise HostError(f"host {name} ({topo.hosts[name].ssh}) cannot be reached: "
                            f"{failed[name]}")
        yield machines
    finally:
        close_all(machines)
