"""IP addresses and networks as integers, each text parsed once.

Validating a large topology touches every address several times (its syntax, the subnets
it is handed out from, the gateways it holds, the segment it shares): a 574-node fabric
has 65,000 of them, and `ipaddress` takes about 14 microseconds to parse one. Here an
address is parsed once (the result is cached by its text) into plain integers, and the
checks compare integers.

`ipaddress` stays the definition of what is valid: socket.inet_pton, in C and about ten
times faster, accepts a subset of its syntax (dotted quads without leading zeros, RFC 4291
text), so it is tried first, and anything it refuses goes to `ipaddress`, which either
accepts it (a netmask prefix, an IPv6 scope) or says it is invalid. Text comes back out
of socket.inet_ntop, whose form is `ipaddress`'s except for the dotted tail it gives some
IPv6 addresses; those are formatted by `ipaddress`.
"""

import ipaddress
import socket
from functools import lru_cache
from typing import NamedTuple, Optional, Tuple

BITS = {4: 32, 6: 128}
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_CACHE = 1 << 18  # texts kept parsed: a few times the addresses of the largest generated lab


class Cidr(NamedTuple):
    """An address with its prefix length (10.0.0.1/24), as integers."""

    version: int  # 4 or 6
    ip: int
    prefixlen: int

    @property
    def network(self) -> int:
        """The network's first address (the address with its host bits cleared)."""
        return self.ip & mask(self.version, self.prefixlen)

    def __contains__(self, address: Tuple[int, int]) -> bool:
        """Is (version, ip) inside this network?"""
        version, ip = address
        return version == self.version and ip & mask(version, self.prefixlen) == self.network


@lru_cache(maxsize=None)
def mask(version: int, prefixlen: int) -> int:
    bits = BITS[version]
    return ((1 << bits) - 1) ^ ((1 << (bits - prefixlen)) - 1)


@lru_cache(maxsize=_CACHE)
def _fast(host: str) -> Optional[Tuple[int, int]]:
    """(version, ip) by inet_pton, or None when it refuses the text."""
    version = 6 if ":" in host else 4
    try:
        return version, int.from_bytes(socket.inet_pton(_FAMILY[version], host), "big")
    except (OSError, ValueError, UnicodeError):
        return None


def address(text: str) -> Tuple[int, int]:
    """(version, ip) of an address such as 10.0.0.1 or fd00::1; ValueError if invalid."""
    fast = _fast(text) if isinstance(text, str) else None
    if fast is not None:
        return fast
    parsed = ipaddress.ip_address(text)
    return parsed.version, int(parsed)


@lru_cache(maxsize=_CACHE)
def interface(text: str) -> Cidr:
    """An address with an optional prefix (10.0.0.1/24; none: /32 or /128) as a Cidr;
    ValueError if `ipaddress.ip_interface` would refuse it."""
    host, slash, prefix = text.partition("/")
    fast = _fast(host)
    if fast is not None and (not slash or (prefix.isascii() and prefix.isdigit())):
        version, ip = fast
        plen = int(prefix) if slash else BITS[version]
        if plen <= BITS[version]:
            return Cidr(version, ip, plen)
    parsed = ipaddress.ip_interface(text)
    return Cidr(parsed.version, int(parsed.ip), parsed.network.prefixlen)


def network(text: str, strict: bool = True) -> Cidr:
    """A network (10.0.1.0/24) as the Cidr of its first address; ValueError if
    `ipaddress.ip_network(text, strict)` would refuse it (strict: host bits set)."""
    cidr = interface(text)
    if strict and cidr.ip != cidr.network:
        raise ValueError(f"{text!r} has host bits set")
    return Cidr(cidr.version, cidr.network, cidr.prefixlen)


def text(version: int, ip: int) -> str:
    """An address as `str(ipaddress.ip_address(...))` writes it."""
    out = socket.inet_ntop(_FAMILY[version], ip.to_bytes(BITS[version] // 8, "big"))
    if version == 6 and "." in out:  # ::ffff:1.2.3.4 and the like: ipaddress writes hex
        return str(ipaddress.IPv6Address(ip))
    return out


@lru_cache(maxsize=_CACHE)
def address_text(value: str) -> str:
    """`str(ipaddress.ip_address(value))`: the address in its usual form."""
    fast = _fast(value)
    return text(*fast) if fast is not None else str(ipaddress.ip_address(value))


@lru_cache(maxsize=_CACHE)
def network_text(value: str) -> str:
    """`str(ipaddress.ip_network(value, strict=False))`: the network holding value."""
    host, slash, prefix = value.partition("/")
    if slash and prefix.isascii() and prefix.isdigit() and _fast(host) is not None:
        parsed = interface(value)
        return f"{text(parsed.version, parsed.network)}/{parsed.prefixlen}"
    return str(ipaddress.ip_network(value, strict=False))


# Ranges that are never a lab's addresses: (version, first, last, what they are).
def _range(net: str, what: str):
    parsed = ipaddress.ip_network(net)
    return parsed.version, int(parsed.network_address), int(parsed.broadcast_address), what


UNSPECIFIED = (_range("0.0.0.0/8", "the unspecified ('this network') range 0.0.0.0/8"),
               _range("::/128", "the unspecified address ::"))
LOOPBACK = (_range("127.0.0.0/8", "the loopback range 127.0.0.0/8"),
            _range("::1/128", "the loopback address ::1"))
MULTICAST = (_range("224.0.0.0/4", "the multicast range 224.0.0.0/4"),
             _range("ff00::/8", "the multicast range ff00::/8"))
LINK_LOCAL = (_range("169.254.0.0/16", "the link-local range 169.254.0.0/16"),
              _range("fe80::/10", "the link-local range fe80::/10"))
NOT_AN_INTERFACE = UNSPECIFIED + LOOPBACK + MULTICAST  # the kernel refuses or drops these
NOT_A_SUBNET = NOT_AN_INTERFACE + LINK_LOCAL  # nor are these handed out


def special(version: int, first: int, last: int, ranges) -> Optional[str]:
    """What the first of ranges that overlaps first..last (of IP version) is, or None."""
    for low, high, what in _by_version(ranges)[version]:
        if first <= high and low <= last:
            return what
    return None


@lru_cache(maxsize=None)
def _by_version(ranges):
    return {v: tuple(r[1:] for r in ranges if r[0] == v) for v in BITS}


def is_link_local(version: int, ip: int) -> bool:
    return special(version, ip, ip, LINK_LOCAL) is not None
