"""`netplay.Lab`: build, use and take down a lab from Python (docs/api.md).

A Lab is the CLI's lab as an object: `Lab.up` does what `netplay run` does (resolve, name,
runtime, root check, build under the lab's lock, log to the state directory), `Lab.attach`
picks up a lab `netplay run` built, and `exec`, `verify`, `address` and `down` are
`netplay exec`, `verify`, the topology's addresses and `netplay down`. Errors are the
CLI's, one exception type per exit code: UsageError (2: bad input or an unusable host,
nothing changed) and StepFailed (1: a command failed; what was built is rolled back).
"""

import ipaddress
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess
from types import TracebackType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Type, Union

from netplay.check import preflight, verify as verifier
from netplay.check.expect import Check
from netplay.core.errors import InputError
from netplay.lab import apply as applying, drift, hosts, lifecycle, nodecmd, status
from netplay.load.resolve import resolve
from netplay.machine.base import Machine
from netplay.machine.local import LocalMachine
from netplay.model import prefix as naming
from netplay.model.runtime import uses_docker
from netplay.model.topology import Topology
from netplay.model.validate import from_dict
from netplay.run import state

RUNTIMES = ("netns", "docker")
ENV_IMAGE = "NETPLAY_IMAGE"  # `netplay run --image`'s default too
TopologySpec = Union[str, "os.PathLike[str]", Topology, Mapping[str, Any]]
log = logging.getLogger("netplay")


@dataclass
class VerifyResult:
    """What `netplay verify` found: every check, each with its kind, subject and reason."""

    lab: str
    checks: List[Check] = field(default_factory=list)

    @property
    def failed(self) -> List[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def summary(self) -> str:
        """One line for an assertion's message: all pass, or the first failures."""
        failed = self.failed
        if not failed:
            return f"verify {self.lab}: all {len(self.checks)} checks pass"
        shown = "; ".join(f"{c.kind} {c.subject}: {c.reason}" for c in failed[:5])
        more = "; ..." if len(failed) > 5 else ""
        return f"verify {self.lab}: {len(failed)} of {len(self.checks)} checks FAIL: {shown}{more}"


def load_topology(topology: TopologySpec, name: Optional[str] = None,
                  prefix: bool = False) -> Topology:
    """A validated Topology from what a caller names: a built-in name, a generator spec
    (`linear:3`), a file path, plain data (a dict as YAML would give) or a Topology (its
    data validated again, so that one built by hand gets the CLI's checks); renamed
    `name` and prefixed as `netplay run --name NAME --prefix` does."""
    if isinstance(topology, (str, os.PathLike)):
        loaded: Topology = resolve(os.fspath(topology), name=name, prefix=prefix)
        return loaded
    if isinstance(topology, Topology):
        topo = from_dict(topology.to_dict(), "topology")
    elif isinstance(topology, Mapping):
        topo = from_dict(dict(topology), "topology")
    else:
        raise InputError(f"topology: expected a built-in name, a path, a dict or a "
                         f"Topology, got {type(topology).__name__}")
    return naming.named(topo, name, prefix) if name is not None or prefix else topo


def short_names(topo: Topology) -> Dict[str, str]:
    """{short name: the lab's name} of its nodes: in a prefixed lab (`prefix:` recorded
    in its topology) LAB-NODE is NODE, as netplay.model.prefix.node_name reads it."""
    head = f"{topo.prefix}-" if topo.prefix else ""
    return {n[len(head):] if head and n.startswith(head) else n: n for n in topo.nodes}


def _check_runtime(runtime: Optional[str]) -> None:
    if runtime is not None and runtime not in RUNTIMES:
        raise InputError(f"runtime: expected one of {', '.join(RUNTIMES)}, got {runtime!r}")


class Lab:
    """A lab that is up on this host (or on its hosts): a context manager whose exit takes
    it down, even when the body raised."""

    def __init__(self, topo: Topology, root: Path, machine: Machine,
                 ssh_config: Optional[str] = None) -> None:
        self._topo, self._root, self._machine = topo, root, machine
        self._ssh_config = ssh_config
        self._short = short_names(topo)
        self._down = False

    @classmethod
    def up(cls, topology: TopologySpec, *, name: Optional[str] = None, prefix: bool = False,
           runtime: Optional[str] = None, image: Optional[str] = None,
           state_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
           ssh_config: Optional[str] = None) -> "Lab":
        """Build a lab as `netplay run TOPOLOGY` does, named `name` (default: the
        topology's), every host-visible name prefixed with it when prefix is true."""
        _check_runtime(runtime)
        topo = load_topology(topology, name, prefix)
        machine = LocalMachine()
        preflight.require_root(machine)  # before the runtime: Docker's socket is root's
        topo = lifecycle.choose_runtime(topo, runtime, image or os.environ.get(ENV_IMAGE)
                                        or None, machine, notice=log.warning)
        config = hosts.ssh_config(ssh_config)
        root = state.state_dir(os.fspath(state_dir) if state_dir is not None else None)
        cli = machine.docker() if uses_docker(topo) else None
        lifecycle.up(topo, machine, root, cli=cli, ssh_config=config)
        return cls(cls._built(root, topo.name), root, machine, config)

    @classmethod
    def attach(cls, name: str, state_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
               *, ssh_config: Optional[str] = None) -> "Lab":
        """The lab `name` that is up (built by `netplay run` or another program), found
        in the state directory."""
        machine = LocalMachine()
        preflight.require_root(machine)
        root = state.state_dir(os.fspath(state_dir) if state_dir is not None else None)
        data, topo, _ = status.load_lab(root, name)
        status.require_up(data, name)
        return cls(topo, root, machine, hosts.ssh_config(ssh_config))

    @staticmethod
    def _built(root: Path, name: str) -> Topology:
        """The topology as its log records it (hosts' addresses filled in): what
        verify, status and attach read."""
        topo: Topology = status.load_lab(root, name)[1]
        return topo

    @property
    def name(self) -> str:
        return self._topo.name

    @property
    def nodes(self) -> List[str]:
        """The nodes' names: the short ones (as in the topology) for a prefixed lab."""
        return list(self._short)

    @property
    def topology(self) -> Topology:
        """The lab's topology as built (its names prefixed for a prefixed lab)."""
        return self._topo

    @property
    def state_dir(self) -> Path:
        return self._root

    def node_name(self, node: str) -> str:
        """The host-visible name of a node named as in `nodes` (or already in full)."""
        if node in self._topo.nodes:
            return node
        if node in self._short:
            return self._short[node]
        raise nodecmd.no_such_node(self._topo, node)

    def exec(self, node: str, argv: Sequence[str], check: bool = False,
             input: Optional[str] = None) -> "CompletedProcess[str]":
        """Run argv inside node (its namespace or container, on its host) to its end,
        stdout and stderr captured as text; like subprocess.run(capture_output=True,
        text=True), check=True raises CalledProcessError on a non-zero exit. A program
        the host lacks is exit code 127."""
        args = self._argv(argv)
        self._require_up()
        full = self.node_name(node)
        only = [self._topo.host_of(full)] if self._topo.hosts else None
        with hosts.connected(self._topo, self._machine, self._root, self._ssh_config,
                             only=only) as machines:
            rc, out, err = nodecmd.run_in(self._topo, full, args,
                                          next(iter(machines.values())), input)
        done = CompletedProcess(args, rc, out, err)
        if check:
            done.check_returncode()
        return done

    @staticmethod
    def _argv(argv: Sequence[str]) -> List[str]:
        """argv as a list, refused in one line if it is a command line string: no shell."""
        if isinstance(argv, (str, bytes)) or not argv or \
                not all(isinstance(a, str) for a in argv):
            raise InputError(f"exec: a command is a non-empty list of strings (argv, no "
                             f"shell), got {argv!r}")
        return list(argv)

    def verify(self, pings: bool = True) -> VerifyResult:
        """`netplay verify`: the host compared with the topology, then pings (unless
        pings is false) between the pairs that should and should not reach each other."""
        self._require_up()
        cli = self._machine.docker() if uses_docker(self._topo) else None
        limit = verifier.default_ping_limit(self._machine)
        with hosts.connected(self._topo, self._machine, self._root,
                             self._ssh_config) as machines:
            checks, _ = verifier.verify_hosts(self._topo, machines, cli, pings=pings,
                                              limit=limit)
        return VerifyResult(self.name, list(checks))

    def address(self, node: str, iface: str, family: Optional[int] = None) -> str:
        """The first address of node's interface iface (of IP version family, 4 or 6,
        when given), without its prefix length: as the topology gives or assigns it."""
        if family not in (None, 4, 6):
            raise InputError(f"address: family is 4 or 6, got {family!r}")
        full = self.node_name(node)
        ifaces = self._topo.nodes[full].interfaces
        if iface not in ifaces:
            raise InputError(f"node {node} of lab {self.name!r} has no interface {iface!r}; "
                             f"its interfaces are {', '.join(ifaces) or 'none'}")
        found = [a.split("/")[0] for a in ifaces[iface].addresses
                 if family is None or ipaddress.ip_interface(a).version == family]
        if not found:
            which = f"IPv{family} " if family else ""
            raise InputError(f"{node}:{iface} of lab {self.name!r} has no {which}address")
        return found[0]

    def apply(self, topology: TopologySpec, *, runtime: Optional[str] = None,
              image: Optional[str] = None, dry_run: bool = False) -> List[str]:
        """`netplay apply`: change the lab into topology in place, by the fewest commands,
        as a new generation of its log (an unchanged topology repairs what was changed by
        hand). Returns the change's lines (`+ node h3`, ..., `Plan: ...`); with dry_run,
        nothing runs. A failed change is undone (StepFailed)."""
        self._require_up()
        _check_runtime(runtime)
        topo = load_topology(topology, self.name)
        topo = lifecycle.choose_runtime(topo, runtime, image or os.environ.get(ENV_IMAGE)
                                        or None, self._machine, notice=log.warning)
        cli = self._machine.docker() if uses_docker(topo) else None
        change, _ = applying.apply(topo, self._machine, self._root, echo=None, cli=cli,
                                   ssh_config=self._ssh_config, dry_run=dry_run,
                                   find_drift=drift.find)
        if not dry_run:
            self._topo = self._built(self._root, self.name)
            self._short = short_names(self._topo)
        found: List[str] = change.lines()
        return found

    def down(self) -> None:
        """`netplay down`: undo the lab's logged steps; a second call does nothing."""
        if self._down:
            return
        lifecycle.down(self.name, self._machine, self._root, ssh_config=self._ssh_config)
        self._down = True

    def _require_up(self) -> None:
        if self._down:
            raise InputError(f"lab {self.name!r} is down; build it with `netplay run` first")

    def __enter__(self) -> "Lab":
        return self

    def __exit__(self, kind: Optional[Type[BaseException]], value: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.down()

    def __repr__(self) -> str:
        return f"<netplay.Lab {self.name!r}{' (down)' if self._down else ''}>"
