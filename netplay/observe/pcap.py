"""Classic pcap streams read record by record and merged into one, pure.

Several tcpdumps (one per interface) each write a pcap stream; netplay hands one stream to
Wireshark. A classic pcap stream is a 24-byte global header (magic, version 2.4, thiszone,
sigfigs, snaplen, link type) and then records, each a 16-byte header (ts_sec, ts_frac,
incl_len, orig_len) and incl_len bytes, all in the byte order the magic shows. The merged
stream has one global header in this machine's byte order, microsecond timestamps, and
every record re-encoded whole in that order.
"""

import struct
from dataclasses import dataclass
from typing import IO, Iterator, Optional

HEADER_SIZE, RECORD_HEADER_SIZE = 24, 16
MAGIC_USEC, MAGIC_NSEC = 0xA1B2C3D4, 0xA1B23C4D
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144  # tcpdump's default


class PcapError(ValueError):
    """A stream that is not classic pcap, or cut inside a record."""


@dataclass(frozen=True)
class Header:
    """What a stream's global header says."""

    endian: str  # "<" or ">", for struct
    nanoseconds: bool
    snaplen: int
    linktype: int


@dataclass(frozen=True)
class Record:
    """One packet as captured: time, the bytes kept and the length it had on the wire."""

    ts_sec: int
    ts_usec: int
    data: bytes
    orig_len: int


def parse_header(raw: bytes) -> Header:
    """The global header of a pcap stream (its first 24 bytes)."""
    if len(raw) < HEADER_SIZE:
        raise PcapError(f"a pcap header is {HEADER_SIZE} bytes, got {len(raw)}")
    for endian in ("<", ">"):
        magic, major, minor, _, _, snaplen, linktype = struct.unpack(endian + "IHHiIII",
                                                                     raw[:HEADER_SIZE])
        if magic in (MAGIC_USEC, MAGIC_NSEC):
            if (major, minor) != (2, 4):
                raise PcapError(f"pcap version {major}.{minor}, expected 2.4")
            return Header(endian, magic == MAGIC_NSEC, snaplen, linktype)
    raise PcapError(f"not a pcap stream (magic {raw[:4].hex()}; pcapng is not read)")


def read_exactly(stream: IO[bytes], size: int) -> bytes:
    """size bytes from stream, fewer only at its end (a pipe hands out what it has)."""
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_records(stream: IO[bytes], header: Header) -> Iterator[Record]:
    """The records of stream after its global header, each whole, until its end; a
    record cut short at the end (its writer killed mid-write) is dropped."""
    unpack = struct.Struct(header.endian + "IIII").unpack
    while True:
        raw = read_exactly(stream, RECORD_HEADER_SIZE)
        if len(raw) < RECORD_HEADER_SIZE:
            return
        ts_sec, ts_frac, incl_len, orig_len = unpack(raw)
        data = read_exactly(stream, incl_len)
        if len(data) < incl_len:
            return
        usec = ts_frac // 1000 if header.nanoseconds else ts_frac
        yield Record(ts_sec, usec, data, orig_len)


def read_header(stream: IO[bytes]) -> Optional[Header]:
    """The global header at the start of stream; None if it ended before one came."""
    raw = read_exactly(stream, HEADER_SIZE)
    return parse_header(raw) if len(raw) == HEADER_SIZE else None


def global_header(linktype: int, snaplen: int = SNAPLEN) -> bytes:
    """The merged stream's global header: this machine's byte order, microseconds."""
    return struct.pack("=IHHiIII", MAGIC_USEC, 2, 4, 0, 0, snaplen, linktype)


def encode_record(record: Record) -> bytes:
    """record as the merged stream holds it: its 16-byte header and its bytes."""
    return struct.pack("=IIII", record.ts_sec, record.ts_usec, len(record.data),
                       record.orig_len) + record.data
