"""Echo requests from inside named network namespaces, and which of them got replies.

One raw ICMP (or ICMPv6) socket per source namespace and address family sends every echo
request of that source, instead of one `ip netns exec NS ping` process per pair: on
linear:50 that is 100 sockets instead of 2450 processes. A socket belongs for good to the
namespace it was created in, so each is opened by a thread that setns() into
/var/run/netns/NS and back; sending and receiving then work from anywhere. The sources are
shared among one thread per CPU, since the kernel does most of the work of a ping on the
CPU that sent it.

The kernel gives a raw ICMP socket a copy of every ICMP message its namespace receives, so
a reply is ours only when it echoes our identifier, sequence number and random payload and
comes from the address we pinged. Requests go again every RESEND seconds until the first
reply or the pair's deadline, as `ping -c 1 -i 0.2 -w 2` did, so that a first request lost
while ARP or neighbour discovery resolves does not count as unreachable.
"""

import errno
import functools
import heapq
import ipaddress
import os
import random
import selectors
import socket
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import (Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple,
                    Union, cast)

from netplay.machine.base import Reply  # what Machine.ping returns
from netplay.core.consts import NETNS_DIR

CLONE_NEWNET = 0x40000000
PING_DEADLINE = 2  # seconds a pair gets from its first request to a reply
RESEND = 0.2  # seconds between requests to a pair that has not answered
RCVBUF = 1 << 20  # replies wait here between reads (the kernel caps it at rmem_max)
BURST = 64  # requests sent between two reads of the sockets

SOL_RAW = 255  # not in Python's socket module
ICMP_FILTER = 1  # SOL_RAW: a bit per ICMP type (< 32) the socket does not want
ICMP6_FILTER = 1  # IPPROTO_ICMPV6: struct icmp6_filter, 256 bits, set = blocked

# (echo request, echo reply, destination unreachable, time exceeded) per IP version
ECHO_REQUEST = {4: 8, 6: 128}
ECHO_REPLY = {4: 0, 6: 129}
UNREACHABLE = {4: 3, 6: 1}
TIME_EXCEEDED = {4: 11, 6: 3}

# what ping(8) prints for an ICMP error, by (version, type, code)
ERROR_TEXT = {
    (4, 3, 0): "Destination Net Unreachable", (4, 3, 1): "Destination Host Unreachable",
    (4, 3, 2): "Destination Protocol Unreachable", (4, 3, 3): "Destination Port Unreachable",
    (4, 3, 9): "Destination Net Prohibited", (4, 3, 10): "Destination Host Prohibited",
    (4, 3, 13): "Packet filtered",
    (6, 1, 0): "Destination unreachable: No route",
    (6, 1, 1): "Destination unreachable: Administratively prohibited",
    (6, 1, 3): "Destination unreachable: Address unreachable",
    (6, 1, 4): "Destination unreachable: Port unreachable",
    (6, 1, 6): "Destination unreachable: Reject route to destination",
}


# --- entering a namespace -------------------------------------------------------------------

_libc: Any = None


def _setns(fd: int) -> None:
    # ctypes is imported when the first namespace is entered, not by every command that
    # imports this module (2 ms of an `apply`)
    import ctypes
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


@contextmanager
def inside(ns: Optional[str]) -> Iterator[None]:
    """The calling thread in network namespace ns (None: stay where it is), and back in
    its own namespace afterwards, whatever happens inside."""
    if ns is None:
        yield
        return
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)  # if this fails the thread is lost: let it raise
    finally:
        os.close(own)


def open_socket(ns: Optional[str], version: int) -> socket.socket:
    """A raw ICMP (4) or ICMPv6 (6) socket created in namespace ns, non-blocking, that
    receives only echo replies and the errors that may answer an echo request."""
    family, proto = ((socket.AF_INET, socket.IPPROTO_ICMP) if version == 4
                     else (socket.AF_INET6, socket.IPPROTO_ICMPV6))
    with inside(ns):
        sock = socket.socket(family, socket.SOCK_RAW, proto)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        wanted = (ECHO_REPLY[version], UNREACHABLE[version], TIME_EXCEEDED[version])
        if version == 4:
            sock.setsockopt(SOL_RAW, ICMP_FILTER, _filter_mask(wanted, 32))
        else:  # the kernel computes ICMPv6 checksums itself on raw ICMPv6 sockets
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, _filter_mask(wanted, 256))
    except BaseException:
        sock.close()
        raise
    return sock


def _filter_mask(wanted: Iterable[int], bits: int) -> bytes:
    """The kernel's ICMP filter: 32-bit words in host order, a bit set per type blocked."""
    words = [0xFFFFFFFF] * (bits // 32)
    for t in wanted:
        words[t // 32] &= ~(1 << (t % 32))
    return struct.pack(f"={len(words)}I", *words)


# --- packets (pure) -------------------------------------------------------------------------


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(version: int, ident: int, seq: int, payload: bytes) -> bytes:
    """An ICMP echo request; for ICMPv6 the checksum is left 0 for the kernel to fill."""
    header = struct.pack("!BBHHH", ECHO_REQUEST[version], 0, 0, ident, seq)
    if version == 6:
        return header + payload
    return struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload


class Message(NamedTuple):
    """An ICMP message received that may concern one of our requests."""

    kind: str  # "reply" or "error"
    ident: int
    seq: int
    address: str  # the pinged address: a reply's source, an error's original destination
    sender: str  # who sent the message
    payload: bytes = b""  # a reply's echoed data
    text: str = ""  # an error, as ping prints it


def parse(version: int, data: bytes, sender: str) -> Optional["Message"]:
    """One received datagram (IPv4: with its IP header; IPv6: the ICMPv6 message alone,
    as raw sockets give them) as a Message, or None when it is neither an echo reply nor
    an error quoting an echo request."""
    if version == 4:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        sender = socket.inet_ntoa(data[12:16])
        data = data[(data[0] & 0x0F) * 4:]
    if len(data) < 8:
        return None
    kind, code, _, ident, seq = struct.unpack("!BBHHH", data[:8])
    if kind == ECHO_REPLY[version]:
        return Message("reply", ident, seq, sender, sender, data[8:])
    if kind not in (UNREACHABLE[version], TIME_EXCEEDED[version]):
        return None
    quoted = _quoted_echo(version, data[8:])
    if quoted is None:
        return None
    text = ERROR_TEXT.get((version, kind, code)) or (
        "Time to live exceeded" if kind == TIME_EXCEEDED[version]
        else f"Destination unreachable, code {code}")
    return Message("error", quoted[1], quoted[2], quoted[0], sender, text=text)


def _quoted_echo(version: int, inner: bytes) -> Optional[Tuple[str, int, int]]:
    """(destination, ident, seq) of the echo request an ICMP error quotes, or None."""
    if version == 4:
        if len(inner) < 28 or inner[0] >> 4 != 4 or inner[9] != socket.IPPROTO_ICMP:
            return None
        dst, icmp = socket.inet_ntoa(inner[16:20]), inner[(inner[0] & 0x0F) * 4:]
    else:
        if len(inner) < 48 or inner[0] >> 4 != 6 or inner[6] != socket.IPPROTO_ICMPV6:
            return None
        dst, icmp = socket.inet_ntop(socket.AF_INET6, inner[24:40]), inner[40:]
    if len(icmp) < 8 or icmp[0] != ECHO_REQUEST[version]:
        return None
    _, _, _, ident, seq = struct.unpack("!BBHHH", icmp[:8])
    return dst, ident, seq


# --- pinging many pairs at once -------------------------------------------------------------


@dataclass
class _Probe:
    """One echo request: the namespace it goes from, where to, and what came back."""

    ns: Optional[str]
    address: str  # canonical text, as replies name it
    version: int
    sock: Optional[socket.socket] = None
    ident: int = 0
    seq: int = 0
    deadline: float = 0.0  # set at the first request
    result: Optional[Reply] = None
    last_error: str = ""  # the last ICMP error or failed send, for the reason


class _Batch:
    """One ping_many call: its sockets, its probes, and the replies matched so far."""

    def __init__(self, probes: List["_Probe"], deadline: float, stack: ExitStack) -> None:
        self.probes, self.deadline, self.stack = probes, deadline, stack
        self.token = os.urandom(8)  # echoed back: tells our replies from anybody else's
        self.by_key: Dict[Tuple[int, int, int, str], _Probe] = {}
        self.selector = stack.enter_context(selectors.DefaultSelector())
        self.unsettled = len(probes)

    def settle(self, probe: "_Probe", replied: bool, reason: str) -> None:
        probe.result = Reply(replied, reason)
        self.unsettled -= 1

    def open(self) -> None:
        """A socket per (namespace, version), each probe numbered on its socket; a probe
        whose socket cannot be opened fails at once, saying why."""
        sockets: Dict[Tuple[Optional[str], int], Union[socket.socket, str]] = {}  # or why not
        counts: Dict[Tuple[Optional[str], int], int] = {}
        base = random.randrange(0x10000)
        for probe in self.probes:
            key = (probe.ns, probe.version)
            if key not in sockets:
                sockets[key] = self._open(*key)
            sock = sockets[key]
            if isinstance(sock, str):
                self.settle(probe, False, sock)
                continue
            n = counts[key] = counts.get(key, -1) + 1
            probe.sock, probe.seq = sock, n & 0xFFFF  # 65536 sequence numbers per ident
            probe.ident = (base + (n >> 16)) & 0xFFFF
            self.by_key[(sock.fileno(), probe.ident, probe.seq, probe.address)] = probe

    def _open(self, ns: Optional[str], version: int) -> Union[socket.socket, str]:
        try:
            sock = self.stack.enter_context(open_socket(ns, version))
        except FileNotFoundError:
            return f"namespace {ns} is missing"
        except OSError as exc:
            where = f"namespace {ns}" if ns else "the root namespace"
            return f"cannot open an ICMP socket in {where}: {exc.strerror or exc}"
        self.selector.register(sock, selectors.EVENT_READ, version)
        return sock

    def send(self, probe: "_Probe", now: float) -> bool:
        """One echo request; False when it cannot be sent and never will (no route)."""
        if not probe.deadline:
            probe.deadline = now + self.deadline
        packet = echo_request(probe.version, probe.ident, probe.seq, self.token)
        assert probe.sock is not None  # open() gave one to every probe not settled
        try:
            probe.sock.sendto(packet, (probe.address, 0))
        except OSError as exc:
            why = os.strerror(exc.errno) if exc.errno else str(exc)
            if exc.errno == errno.ENETUNREACH:  # as ping's connect() said: no route at all
                self.settle(probe, False, f"cannot send: {why}")
                return False
            probe.last_error = f"last send failed: {why}"  # a full buffer, DAD: try again
        return True

    def expire(self, probe: "_Probe") -> None:
        why = f"no reply within {self.deadline:g} s"
        self.settle(probe, False, f"{why} ({probe.last_error})" if probe.last_error else why)

    def poll(self, timeout: float) -> None:
        """Wait up to timeout seconds for datagrams, and read all that have come."""
        for key, _ in self.selector.select(timeout):
            self.receive(cast(socket.socket, key.fileobj), key.data)

    def receive(self, sock: socket.socket, version: int) -> None:
        """Read every datagram waiting on sock and settle the probes they answer."""
        while True:
            try:
                data, sender = sock.recvfrom(65535)
            except OSError:  # nothing more waiting (BlockingIOError)
                return
            msg = parse(version, data, sender[0])
            if msg is None:
                continue
            probe = self.by_key.get((sock.fileno(), msg.ident, msg.seq, _canon(msg.address)))
            if probe is None or probe.result is not None:
                continue
            if msg.kind == "reply" and msg.payload.startswith(self.token):
                self.settle(probe, True, "replied")
            elif msg.kind == "error":
                probe.last_error = f"{msg.text} from {msg.sender}"


@functools.lru_cache(maxsize=4096)  # a lab's few addresses, asked of at every request
def _canon(address: str) -> str:
    """An address as one text, so that replies match what was asked (fd00::01 == fd00::1)."""
    try:
        return str(ipaddress.ip_address(address.split("%")[0]))
    except ValueError:
        return address


def ping_many(targets: Sequence[Tuple[Optional[str], str]], deadline: float = PING_DEADLINE,
              resend: float = RESEND, threads: Optional[int] = None) -> List[Reply]:
    """Ping every (namespace, address) in targets (namespace None: the current one), all
    at once: one Reply per target, in order. A target gets `deadline` seconds from its
    first request; unanswered requests are sent again every `resend` seconds. The sources
    are shared among `threads` threads (default: one per CPU)."""
    probes: Dict[Tuple[Optional[str], str], _Probe] = {}
    for ns, address in targets:
        canon = _canon(address)
        if (ns, canon) not in probes:
            probes[(ns, canon)] = _Probe(ns, canon, ipaddress.ip_address(canon).version)
    groups = _groups(probes.values(), threads or len(os.sched_getaffinity(0)))
    if len(groups) == 1:
        _ping_group(groups[0], deadline, resend)
    else:
        with ThreadPoolExecutor(len(groups)) as pool:
            list(pool.map(lambda group: _ping_group(group, deadline, resend), groups))
    # every probe is settled by now: a reply, an expiry or a failure to send
    return [cast(Reply, probes[(ns, _canon(a))].result) for ns, a in targets]


def _groups(probes: Iterable["_Probe"], n: int) -> List[List["_Probe"]]:
    """Probes split by source into at most n groups of about the same size. The kernel
    does most of a ping's work (the veths and bridges it crosses, the reply) on the CPU
    that sent the request, so senders on every CPU share it: linear:50 pings in 0.22 s
    from two threads on two CPUs, 0.37 s from one."""
    by_source: Dict[Optional[str], List[_Probe]] = {}
    for probe in probes:
        by_source.setdefault(probe.ns, []).append(probe)
    groups: List[List[_Probe]] = [[] for _ in range(max(1, min(n, len(by_source))))]
    for source in sorted(by_source.values(), key=len, reverse=True):
        min(groups, key=len).extend(source)
    return groups


def _ping_group(probes: List["_Probe"], deadline: float, resend: float) -> None:
    with ExitStack() as stack:
        batch = _Batch(probes, deadline, stack)
        batch.open()
        _run(batch, resend)


def _run(batch: "_Batch", resend: float) -> None:
    """Send, resend and receive until every probe is answered or past its deadline."""
    due = [(0.0, i) for i, p in enumerate(batch.probes) if p.result is None]  # a heap
    while batch.unsettled:
        sent = 0
        while due and due[0][0] <= time.monotonic():
            _, i = heapq.heappop(due)
            probe, now = batch.probes[i], time.monotonic()
            if probe.result is not None:
                continue
            if probe.deadline and now >= probe.deadline:
                batch.expire(probe)
            elif batch.send(probe, now):
                heapq.heappush(due, (min(now + resend, probe.deadline), i))
                sent += 1
                if sent % BURST == 0:  # read replies between bursts: no buffer overflows
                    batch.poll(0)
        if batch.unsettled:
            batch.poll(max(0.0, due[0][0] - time.monotonic()))
