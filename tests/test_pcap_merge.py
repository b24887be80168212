"""netplay.observe.pcap and netplay.lab.capture.Merge without root: pcap streams of either
byte order and precision read record by record, merged into one stream whole, stopped
after a count. The captures are FakeMachine streams; that tcpdumps really merge is
tests/test_capture.py's job."""

import io
import struct

import pytest

from netplay.core.errors import HostError
from netplay.lab.capture import Merge
from netplay.machine.fake import FakeMachine
from netplay.observe import pcap


def stream(records, endian="<", nanoseconds=False, linktype=1, snaplen=65535, cut=0):
    """pcap bytes: a header and records [(ts_sec, ts_frac, data)], the last cut short."""
    magic = pcap.MAGIC_NSEC if nanoseconds else pcap.MAGIC_USEC
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for sec, frac, data in records:
        out += struct.pack(endian + "IIII", sec, frac, len(data), len(data) + 4) + data
    return out[:len(out) - cut]


def parse(data):
    header = pcap.parse_header(data[:24])
    return header, list(pcap.read_records(io.BytesIO(data[24:]), header))


def test_records_read_in_either_byte_order_and_precision():
    for endian in "<>":
        header, records = parse(stream([(1, 2000, b"ab"), (3, 4, b"")], endian,
                                       nanoseconds=True))
        assert header == pcap.Header(endian, True, 65535, 1)
        assert records == [pcap.Record(1, 2, b"ab", 6), pcap.Record(3, 0, b"", 4)]


def test_a_record_cut_short_is_dropped_and_a_non_pcap_refused():
    _, records = parse(stream([(1, 0, b"whole"), (2, 0, b"cut!")], cut=2))
    assert records == [pcap.Record(1, 0, b"whole", 9)]
    with pytest.raises(pcap.PcapError, match="pcapng"):
        pcap.parse_header(b"\x0a\x0d\x0d\x0a" + bytes(20))


def test_encoded_records_read_back_the_same():
    record = pcap.Record(7, 8, b"\x00\x01packet", 100)
    data = pcap.global_header(1, 1000) + pcap.encode_record(record)
    header, records = parse(data)
    assert (header.linktype, header.snaplen, header.nanoseconds) == (1, 1000, False)
    assert records == [record]


def merged(feeds, count=None):
    fake = FakeMachine()
    for argv, data in feeds.items():
        fake.feed([argv], data)
    out = io.BytesIO()
    rc = Merge(fake, [(argv, [argv]) for argv in feeds], out, count).run()
    return rc, out.getvalue(), fake


def test_streams_of_both_byte_orders_merge_into_one_whole_stream():
    rc, data, fake = merged({"a": stream([(1, 1, b"a1"), (2, 2, b"a2")], "<", snaplen=100),
                             "b": stream([(1, 5, b"b1")], ">", nanoseconds=True, snaplen=200)})
    assert rc == 0
    header, records = parse(data)
    assert (header.linktype, header.snaplen) == (1, 200)
    # each source's records in its order; between sources, as they arrived
    assert [r for r in records if r.data.startswith(b"a")] == [
        pcap.Record(1, 1, b"a1", 6), pcap.Record(2, 2, b"a2", 6)]
    assert [r for r in records if r.data.startswith(b"b")] == [pcap.Record(1, 0, b"b1", 6)]
    assert fake.argvs("stream") == [["a"], ["b"]]


def test_a_count_stops_every_capture_after_that_many_records_in_all():
    rc, data, fake = merged({"a": stream([(i, 0, b"a") for i in range(5)]),
                             "b": stream([(i, 0, b"b") for i in range(5)])}, count=3)
    assert rc == 0
    assert len(parse(data)[1]) == 3
    assert all(s.stopped for s in fake.streams)


def test_captures_of_different_link_types_are_refused():
    with pytest.raises(HostError, match="one pcap stream holds one link type"):
        merged({"a": stream([(1, 0, b"a")]), "b": stream([(1, 0, b"b")], linktype=113)})


def test_a_failing_capture_gives_its_exit_code():
    fake = FakeMachine()
    fake.feed(["a"], stream([(1, 0, b"a")]))
    fake.feed(["b"], b"", rc=1)  # tcpdump refused its filter: no header at all
    out = io.BytesIO()
    assert Merge(fake, [("a", ["a"]), ("b", ["b"])], out).run() == 1
    assert all(s.stopped for s in fake.streams)
