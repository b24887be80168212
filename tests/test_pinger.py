"""netplay.machine.pinger: packets, parsing and reply matching without root; then real echo
requests from real namespaces (IPv4 and IPv6), an address nobody holds and an isolated
pair failing within the deadline, and the calling thread left in its own namespace with
no descriptor left open."""

import json
import os
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import write_topology
from netplay.machine import pinger

TOKEN = b"12345678"


# --- packets (pure) -------------------------------------------------------------------------


def test_checksum_is_rfc1071s_and_a_packet_with_its_checksum_sums_to_zero():
    assert pinger.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D  # RFC 1071's example
    packet = pinger.echo_request(4, 0x1234, 7, b"odd")  # an odd length is padded with 0
    assert pinger.checksum(packet) == 0


def test_echo_requests_of_both_versions():
    v4 = pinger.echo_request(4, 0xBEEF, 513, TOKEN)
    kind, code, _, ident, seq = struct.unpack("!BBHHH", v4[:8])
    assert (kind, code, ident, seq, v4[8:]) == (8, 0, 0xBEEF, 513, TOKEN)
    v6 = pinger.echo_request(6, 0xBEEF, 513, TOKEN)
    assert struct.unpack("!BBHHH", v6[:8]) == (128, 0, 0, 0xBEEF, 513)  # kernel's checksum


def ipv4(src, dst, payload, proto=1, options=b""):
    ihl = 5 + len(options) // 4
    header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(options) + len(payload), 0,
                         0, 64, proto, 0, socket.inet_aton(src), socket.inet_aton(dst))
    return header + options + payload


def ipv6(src, dst, payload, proto=58):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), proto, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def icmp(kind, code, ident, seq, payload=b""):
    return struct.pack("!BBHHH", kind, code, 0, ident, seq) + payload


def test_an_ipv4_reply_is_named_by_its_ip_header_even_with_options():
    data = ipv4("10.61.0.2", "10.61.0.1", icmp(0, 0, 7, 3, TOKEN), options=b"\x01" * 4)
    msg = pinger.parse(4, data, "10.61.0.99")
    assert msg == pinger.Message("reply", 7, 3, "10.61.0.2", "10.61.0.2", TOKEN)


def test_an_ipv6_reply_is_named_by_its_sender():
    msg = pinger.parse(6, icmp(129, 0, 7, 3, TOKEN), "fd00:61::2")
    assert (msg.kind, msg.ident, msg.seq, msg.address, msg.payload) == \
        ("reply", 7, 3, "fd00:61::2", TOKEN)


def test_errors_quoting_an_echo_request_name_its_destination_and_who_sent_them():
    quoted = ipv4("10.61.0.1", "10.99.0.1", icmp(8, 0, 7, 3, TOKEN))
    data = ipv4("10.61.0.254", "10.61.0.1", icmp(3, 1, 0, 0, quoted))
    assert pinger.parse(4, data, "10.61.0.254") == pinger.Message(
        "error", 7, 3, "10.99.0.1", "10.61.0.254", text="Destination Host Unreachable")
    ttl = pinger.parse(4, ipv4("10.61.0.254", "10.61.0.1", icmp(11, 0, 0, 0, quoted)), "x")
    assert ttl.text == "Time to live exceeded" and ttl.address == "10.99.0.1"
    quoted6 = ipv6("fd00:61::1", "fd00:99::1", icmp(128, 0, 7, 3, TOKEN))
    msg = pinger.parse(6, icmp(1, 0, 0, 0, quoted6), "fd00:61::fe")
    assert (msg.kind, msg.address, msg.sender, msg.text) == \
        ("error", "fd00:99::1", "fd00:61::fe", "Destination unreachable: No route")


@pytest.mark.parametrize("version, data", [
    (4, ipv4("10.61.0.1", "10.61.0.2", icmp(8, 0, 7, 3))),  # a request, seen on its way out
    (4, ipv4("10.61.0.254", "10.61.0.1",  # an error about a UDP datagram
             icmp(3, 3, 0, 0, ipv4("10.61.0.1", "10.99.0.1", b"\0" * 8, proto=17)))),
    (4, ipv4("10.61.0.2", "10.61.0.1", b"\0\0")),  # too short
    (4, b"\x45\0"),
    (6, icmp(135, 0, 0, 0)),  # neighbour solicitation
    (6, icmp(1, 0, 0, 0, b"\0" * 20)),  # an error quoting too little
])
def test_anything_else_is_not_a_message(version, data):
    assert pinger.parse(version, data, "fd00:61::2" if version == 6 else "10.61.0.2") is None


def test_the_filters_let_through_replies_and_errors_only():
    (v4,) = struct.unpack("=I", pinger._filter_mask((0, 3, 11), 32))
    assert v4 == 0xFFFFFFFF & ~(1 | 1 << 3 | 1 << 11)
    v6 = struct.unpack("=8I", pinger._filter_mask((129, 1, 3), 256))
    assert v6[0] == 0xFFFFFFFF & ~(1 << 1 | 1 << 3) and v6[4] == 0xFFFFFFFF & ~(1 << 1)
    assert all(w == 0xFFFFFFFF for i, w in enumerate(v6) if i not in (0, 4))


def test_sources_are_shared_among_threads_whole_and_evenly():
    probes = [pinger._Probe(ns, f"10.61.0.{i}", 4) for ns, count in
              (("a", 5), ("b", 3), ("c", 2), (None, 1)) for i in range(count)]
    groups = pinger._groups(probes, 2)
    assert sorted(len(g) for g in groups) == [5, 6]
    assert all(len({p.ns for p in g} & {p.ns for p in h}) == 0
               for g in groups for h in groups if g is not h)  # a source in one thread
    assert len(pinger._groups(probes, 8)) == 4  # no more threads than sources
    assert pinger._groups([], 2) == [[]]


# --- matching replies to probes (no root: a stand-in socket) --------------------------------


class FakeSocket:
    """Hands out queued datagrams, then says there is nothing more, as a non-blocking
    socket does."""

    def __init__(self, datagrams):
        self.datagrams = list(datagrams)

    def fileno(self):
        return 99

    def recvfrom(self, size):
        if not self.datagrams:
            raise BlockingIOError
        return self.datagrams.pop(0)


def batch_of(*addresses, deadline=2):
    probes = [pinger._Probe("a", a, 6 if ":" in a else 4, ident=7, seq=i)
              for i, a in enumerate(addresses)]
    from contextlib import ExitStack

    stack = ExitStack()
    batch = pinger._Batch(probes, deadline, stack)
    batch.token = TOKEN
    for p in probes:
        batch.by_key[(99, p.ident, p.seq, p.address)] = p
    return batch, probes, stack


def reply4(src, ident, seq, payload=TOKEN):
    return ipv4(src, "10.61.0.1", icmp(0, 0, ident, seq, payload)), (src, 0)


def test_a_reply_settles_only_the_probe_of_its_identifier_sequence_and_address():
    batch, (p0, p1), stack = batch_of("10.61.0.2", "10.61.0.3")
    with stack:
        batch.receive(FakeSocket([
            reply4("10.61.0.3", 7, 0),  # p0's numbers, from p1's address
            reply4("10.61.0.2", 8, 0),  # another identifier
            reply4("10.61.0.2", 7, 5),  # another sequence
            reply4("10.61.0.2", 7, 0, b"somebody else's ping"),  # not our payload
        ]), 4)
        assert p0.result is None and p1.result is None and batch.unsettled == 2
        batch.receive(FakeSocket([reply4("10.61.0.2", 7, 0), reply4("10.61.0.2", 7, 0)]), 4)
        assert p0.result == pinger.Reply(True, "replied") and p1.result is None
        assert batch.unsettled == 1  # the duplicate reply counted once


def test_an_ipv6_reply_matches_however_the_address_was_written():
    batch, (probe,), stack = batch_of(pinger._canon("fd00:0061:0::0002"))
    with stack:
        batch.receive(FakeSocket([(icmp(129, 0, 7, 0, TOKEN), ("fd00:61::2", 0, 0, 0))]), 6)
        assert probe.result == pinger.Reply(True, "replied")


def test_an_icmp_error_is_the_reason_when_no_reply_comes():
    batch, (probe,), stack = batch_of("10.99.0.1")
    quoted = ipv4("10.61.0.1", "10.99.0.1", icmp(8, 0, 7, 0, TOKEN))
    with stack:
        batch.receive(FakeSocket([(ipv4("10.61.0.254", "10.61.0.1", icmp(3, 0, 0, 0, quoted)),
                                   ("10.61.0.254", 0))]), 4)
        assert probe.result is None  # a later request may still be answered
        batch.expire(probe)
    assert probe.result == pinger.Reply(
        False, "no reply within 2 s (Destination Net Unreachable from 10.61.0.254)")


# --- the real thing -------------------------------------------------------------------------

# a and b share a bridge in sw (IPv4 and IPv6); r is a router on that segment with no route
# beyond it; c reaches only d, through which its default route goes (d does not forward)
PINGLAB = """
name: pinglab
nodes:
  pgsw: {}
  pga:
    interfaces: {eth0: {addresses: [10.61.0.1/24, "fd00:61::1/64"]}}
    routes: [{to: 10.99.0.0/16, via: 10.61.0.254}, {to: "fd00:99::/64", via: "fd00:61::fe"}]
  pgb:
    interfaces: {eth0: {addresses: [10.61.0.2/24, "fd00:61::2/64"]}}
  pgr:
    forwarding: true
    interfaces: {eth0: {addresses: [10.61.0.254/24, "fd00:61::fe/64"]}}
  pgc:
    interfaces: {eth0: {addresses: [10.62.0.1/24]}}
    routes: [{to: default, via: 10.62.0.2}]
  pgd:
    interfaces: {eth0: {addresses: [10.62.0.2/24]}}
bridges:
  pgbr: {namespace: pgsw}
links:
  - endpoints: [pga:eth0, pgbr]
  - endpoints: [pgb:eth0, pgbr]
  - endpoints: [pgr:eth0, pgbr]
  - endpoints: [pgc:eth0, pgd:eth0]
"""


def settled(namespaces, within=10.0):
    """Wait until no IPv6 address of these namespaces is still tentative (duplicate
    address detection): until then the kernel will not send from it."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        flags = [a for ns in namespaces for link in json.loads(subprocess.run(
            ["ip", "-j", "-n", ns, "-6", "addr", "show"], capture_output=True, text=True,
            check=True).stdout or "[]") for a in link.get("addr_info", [])
            if a.get("tentative")]
        if not flags:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def pinglab(lab, tmp_path):
    lab(write_topology(tmp_path, PINGLAB, "pinglab.yaml"), name="pinglab")
    assert settled(["pga", "pgb", "pgr"])


def here():
    return os.readlink("/proc/thread-self/ns/net"), sorted(os.listdir("/proc/self/fd"))


@pytest.mark.root
def test_real_replies_in_ipv4_and_ipv6_from_real_namespaces(pinglab):
    targets = [("pga", "10.61.0.2"), ("pga", "fd00:61::2"), ("pgb", "10.61.0.1"),
               ("pgb", "fd00:61:0::1"), ("pga", "10.61.0.1"), ("pgc", "10.62.0.2"),
               ("pga", "10.61.0.2")]  # the same pair twice: one probe, two answers
    start = time.monotonic()
    replies = pinger.ping_many(targets)
    assert replies == [pinger.Reply(True, "replied")] * len(targets)
    assert time.monotonic() - start < 1.5


@pytest.mark.root
def test_addresses_nobody_holds_fail_within_the_deadline(pinglab):
    start = time.monotonic()
    replies = pinger.ping_many([("pga", "10.61.0.99"), ("pga", "fd00:61::99"),
                                ("pga", "10.61.0.2")], deadline=1)
    took = time.monotonic() - start
    assert replies[:2] == [pinger.Reply(False, "no reply within 1 s")] * 2
    assert replies[2].replied  # one silent address holds up no other pair
    assert 1 <= took < 1.6


@pytest.mark.root
def test_isolated_pairs_stay_unanswered_and_say_why(pinglab):
    replies = pinger.ping_many([
        ("pgc", "10.61.0.2"),  # out through d, which has no route there either
        ("pgb", "10.62.0.1"),  # b has no route at all: refused at once, as ping was
        ("pga", "10.99.0.1"),  # the router has no route onward and says so
        ("pga", "fd00:99::1"),
    ], deadline=1)
    assert not replies[0].replied and replies[0].reason.startswith("no reply within 1 s")
    assert replies[1] == pinger.Reply(False, "cannot send: Network is unreachable")
    assert replies[2] == pinger.Reply(
        False, "no reply within 1 s (Destination Net Unreachable from 10.61.0.254)")
    assert replies[3] == pinger.Reply(
        False, "no reply within 1 s (Destination unreachable: No route from fd00:61::fe)")


@pytest.mark.root
@pytest.mark.parametrize("threads", [1, 3])  # the calling thread alone, or three more
def test_the_calling_thread_comes_back_and_no_descriptor_stays_open(pinglab, threads):
    pinger.ping_many([("pga", "10.61.0.2")])  # imports and first-use caches out of the way
    before = here()
    replies = pinger.ping_many([("pga", "10.61.0.2"), ("pgb", "fd00:61::1"),
                                ("no-such-namespace", "10.61.0.1")], deadline=1,
                               threads=threads)
    assert [r.replied for r in replies] == [True, True, False]
    assert replies[2].reason == "namespace no-such-namespace is missing"
    assert here() == before
    with pytest.raises(RuntimeError):
        with pinger.inside("pga"):
            assert os.readlink("/proc/thread-self/ns/net") != before[0]
            raise RuntimeError("inside")
    assert here() == before


@pytest.mark.root
def test_another_thread_may_ping_without_moving_this_one(pinglab):
    mine = os.readlink("/proc/thread-self/ns/net")
    out = {}

    def worker():
        own = os.readlink("/proc/thread-self/ns/net")
        out["replies"] = pinger.ping_many([("pgb", "10.61.0.1")])
        out["back"] = os.readlink("/proc/thread-self/ns/net") == own

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert out == {"replies": [pinger.Reply(True, "replied")], "back": True}
    assert os.readlink("/proc/thread-self/ns/net") == mine
