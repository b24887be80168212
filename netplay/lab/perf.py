"""`netplay perf`: throughput from one node of a running lab to another, with iperf3.

A one-off iperf3 server (`iperf3 -s -1`) is started inside node B, bound to the address
`netplay ping` would send to (netplay.check.pingplan.resolve_targets), and the client
`iperf3 -c ADDR -J` inside node A; the client's JSON gives the figures. Both run as the
host's iperf3 in the node's named namespace (`ip netns exec NODE`), a container's too
(netplay names its namespace after the node), so an image needs no iperf3; a `host` node
runs it in the root namespace. Both are started through the machine's stream (a remote
host's over ssh) and stopped by their PID whatever happens: failure, Ctrl-C, SIGTERM.

Side effects: the two processes and their traffic, for the test's duration; nothing is
changed or logged.
"""

import ipaddress
import json
import threading
import time
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

from netplay.check.pingplan import resolve_targets
from netplay.core.errors import EXIT_FAILED, HostError, InputError, NetplayError
from netplay.lab.nodecmd import no_such_node
from netplay.machine.base import Machine, Stream
from netplay.model.topology import Topology
from netplay.observe import ip as observe

PORT = 5201  # iperf3's own default
READY_TIMEOUT = 10.0  # seconds the server gets to listen: the client tries again meanwhile
FIRST_TRY = 0.05  # seconds before the client's first try: the server listens within ms
RETRY = 0.1  # seconds between tries while the server is not listening yet
REFUSED = "Connection refused"  # iperf3's error when nothing listens (yet)
CONNECT_TIMEOUT_MS = 3000  # the client's control connection, so a black hole fails soon
END_TIMEOUT = 5.0  # seconds the server gets to finish on its own after the test


class PerfFailed(NetplayError):
    """The measurement could not be made (B unreachable, iperf3 failed): exit 1."""

    exit_code = EXIT_FAILED


class Result(NamedTuple):
    source: str
    target: str  # as the user named it: NODE or NODE:IFACE
    address: str  # the server's
    protocol: str  # "tcp" or "udp"
    seconds: float  # the test's measured duration
    sender_bps: float
    receiver_bps: float
    retransmits: Optional[int]  # TCP
    lost_percent: Optional[float]  # UDP
    jitter_ms: Optional[float]  # UDP


def iperf_argv(topo: Topology, name: str, argv: List[str], machine: Machine) -> List[str]:
    """argv (an iperf3 command) run as the host's iperf3 inside node name's namespace;
    InputError when the node or its namespace is not there, HostError without iperf3."""
    node = topo.nodes.get(name)
    if node is None:
        raise no_such_node(topo, name)
    if not machine.which("iperf3"):
        raise HostError(f"iperf3 is not installed on host {machine.host} (nodes run the "
                        "host's); install it with `apt-get install iperf3`")
    if node.namespace is None:
        return list(argv)
    if node.namespace not in observe.netns_names(machine):
        raise InputError(f"node {name}: namespace {node.namespace} is missing "
                         f"(`netplay verify {topo.name}` says what else is wrong)")
    return ["ip", "netns", "exec", node.namespace, *argv]


def server_address(topo: Topology, source: str, spec: str, family: Optional[int]) -> str:
    """The address of node spec (NODE or NODE:IFACE) the server binds to and A reaches:
    the one `netplay ping` would send to (IPv4 first when both)."""
    try:
        ipaddress.ip_address(spec)
    except ValueError:
        node = spec.partition(":")[0]
        if node not in topo.nodes:
            raise no_such_node(topo, node) from None
        return str(resolve_targets(topo, source, spec, family)[0].address)
    raise InputError(f"perf: {spec} is an address, but the server runs inside a node: "
                     "name the node (NODE or NODE:IFACE)")


def _collect(stream: Stream, out: List[bytes], ended: threading.Event) -> None:
    """Read a command's output to its end (so that its pipe never fills), then say so."""
    try:
        out.append(stream.stdout.read())
    finally:
        ended.set()


def _stop(stream: Optional[Stream]) -> None:
    if stream is not None:
        stream.stop()  # SIGINT to its PID, if it still runs
        stream.wait()


def measure(topo: Topology, machine: Machine, source: str, spec: str, seconds: int = 10,
            udp: bool = False, bitrate: Optional[str] = None, family: Optional[int] = None,
            port: int = PORT) -> Result:
    """iperf3 from node source to node spec for `seconds`; PerfFailed when it could not
    measure (one line, iperf3's reason), InputError for a node that is not there."""
    target = spec.partition(":")[0]
    address = server_address(topo, source, spec, family)
    # -J: the server's messages (an interrupt, a failed bind) go to its stdout, read here,
    # rather than to the terminal
    server = iperf_argv(topo, target, ["iperf3", "-s", "-1", "-J", "-B", address,
                                       "-p", str(port)], machine)
    client = iperf_argv(topo, source, [
        "iperf3", "-c", address, "-p", str(port), "-J", "-t", str(seconds),
        "--connect-timeout", str(CONNECT_TIMEOUT_MS), *(["-u"] if udp else []),
        *(["-b", bitrate] if bitrate else [])], machine)
    started: Optional[Stream] = None
    try:
        started = machine.stream(server)
        said: List[bytes] = []
        ended = threading.Event()
        threading.Thread(target=_collect, args=(started, said, ended), daemon=True).start()
        out, rc = _run_client(machine, client, ended)
        if out is None:  # the server ended before any client reached it
            raise PerfFailed(f"iperf3 server in node {target} could not listen on "
                             f"{address} port {port}: {_error(b''.join(said))}")
        if rc == 0:
            ended.wait(END_TIMEOUT)  # the one-off server ends after its one test
    finally:
        _stop(started)
    return _result(source, spec, address, udp, out or "", rc)


def _run_client(machine: Machine, argv: List[str],
                server_ended: threading.Event) -> Tuple[Optional[str], int]:
    """The client's (JSON output, exit code), run again while the server is not yet
    listening (refused) for up to READY_TIMEOUT; (None, 0) when the server ended first."""
    deadline = time.monotonic() + READY_TIMEOUT
    time.sleep(FIRST_TRY)
    while True:
        if server_ended.is_set():
            return None, 0
        running = machine.stream(argv)
        try:
            out = running.stdout.read().decode("utf-8", "replace")
            rc = running.wait()
        finally:
            _stop(running)
        if REFUSED not in out or time.monotonic() > deadline:
            return out, rc
        time.sleep(RETRY)


def _error(out: bytes) -> str:
    """The error an iperf3 JSON report states, or what it wrote."""
    text = out.decode("utf-8", "replace")
    try:
        return str(json.loads(text).get("error") or "no error stated")
    except (ValueError, AttributeError):
        return text.strip().splitlines()[-1] if text.strip() else "it ended saying nothing"


def _result(source: str, spec: str, address: str, udp: bool, out: str, rc: int) -> Result:
    """The Result of the client's JSON; PerfFailed on its error or none."""
    where = f"{source} -> {spec} ({address})"
    try:
        data: Dict[str, Any] = json.loads(out)
    except ValueError:
        raise PerfFailed(f"{where}: iperf3 exited {rc} without a report") from None
    if data.get("error") or rc != 0:
        raise PerfFailed(f"{where}: {data.get('error') or f'iperf3 exited {rc}'}")
    return parse_report(source, spec, address, udp, data)


def parse_report(source: str, spec: str, address: str, udp: bool,
                 data: Dict[str, Any]) -> Result:
    """The figures of an iperf3 client's JSON report (`iperf3 -c ... -J`): TCP's
    sum_sent and sum_received; UDP's sum (older iperf3) or sum_sent and sum_received."""
    end = data.get("end") or {}
    total = end.get("sum") or {}
    sent = end.get("sum_sent") or total
    received = end.get("sum_received") or total
    if "bits_per_second" not in sent or "bits_per_second" not in received:
        raise PerfFailed(f"{source} -> {spec} ({address}): iperf3's report has no "
                         "throughput")
    return Result(
        source, spec, address, "udp" if udp else "tcp",
        float(sent.get("seconds") or received.get("seconds") or 0.0),
        float(sent["bits_per_second"]), float(received["bits_per_second"]),
        None if udp else sent.get("retransmits"),
        received.get("lost_percent") if udp else None,  # the receiver's view
        received.get("jitter_ms") if udp else None)


def rate(bps: float) -> str:
    """bits per second as iperf3 writes them: 9.41 Gbit/s, 812.50 Kbit/s."""
    for unit, size in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("Kbit/s", 1e3)):
        if bps >= size:
            return f"{bps / size:.2f} {unit}"
    return f"{bps:.0f} bit/s"
