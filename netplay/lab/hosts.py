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

from netplay.core.errors import HostError, InputError, NetplayError
from netplay.machine.base import Machine
from netplay.run import state

LOCAL = "local"
ENV_SSH_CONFIG = "NETPLAY_SSH_CONFIG"
ENV_HOSTS = "NETPLAY_HOSTS"


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


def _connect(name: str, host, root, config: Optional[str]) -> Machine:
    from netplay.machine.ssh import SshMachine

    machine = SshMachine(name, host.ssh, ssh_config=config, control_dir=control_dir(root),
                         sudo=host.sudo)
    try:
        machine.euid()  # the first command opens the ControlMaster: unreachable is said now
    except BaseException:
        machine.close()
        raise
    return machine


def connect_each(topo, root, config: Optional[str] = None
                 ) -> Tuple[Dict[str, Machine], Dict[str, str]]:
    """Connect to every host of topo at once: (machines by host, one-line reasons by host
    for those that could not be reached). Callers close the machines."""
    names = list(topo.hosts)

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
def connected(topo, local: Machine, root, config: Optional[str] = None
              ) -> Iterator[Dict[str, Machine]]:
    """The lab's machines for the duration: {"local": local} for a lab on this host, else
    one per host of topo.hosts, all of them reached (HostError naming the first that
    is not: nothing has been changed anywhere yet)."""
    if not topo.hosts:
        yield {LOCAL: local}
        return
    machines, failed = connect_each(topo, root, config)
    try:
        if failed:
            name = next(iter(failed))
            raise HostError(f"host {name} ({topo.hosts[name].ssh}) cannot be reached: "
                            f"{failed[name]}")
        yield machines
    finally:
        close_all(machines)
