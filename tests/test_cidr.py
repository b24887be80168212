"""netplay.cidr: addresses parsed once into integers, agreeing with `ipaddress` on every
text (which ones are valid, their values, how they are written back). Pure, no root."""

import ipaddress

import pytest
from hypothesis import given, settings, strategies as st

from netplay.core import cidr

# Texts near the edges of both parsers: what inet_pton takes, what only ipaddress takes
# (netmask prefixes, IPv6 scopes), and what neither takes.
EDGES = ["10.0.0.1/24", "10.0.0.1", "10.0.0.1/024", "10.0.0.1/32", "10.0.0.1/33",
         "10.0.0.1/", "10.0.0.1/+8", "10.0.0.1/ 8", "10.0.0.1/255.255.0.0", "10.0.0.1/0.0.255.255",
         "01.2.3.4/8", "1.2.3/8", "1.2.3.4.5/8", "0x1.2.3.4/8", "1.2.3.256/8", " 1.2.3.4/8",
         "fd00::1/64", "FD00::1/64", "fd00:0:0::1/64", "0001::/16", "00001::/16", "::/0",
         "::1/128", "::ffff:1.2.3.4/96", "::1.2.3.4/96", "::2:1/96", "1:2:3:4:5:6:7:8/64",
         "1:2:3:4:5:6:7::/64", "1::2:3:4:5:6:7:8/64", "fe80::1%eth0/64", "fe80::%eth0/64",
         "fd00::1/129", "fd00::1/64/1", "１.2.3.4/8", "10.0.0.1/２４", "1.2.3.4\0/8", ""]


def outcome(func, text):
    try:
        return "ok", func(text)
    except ValueError:
        return "invalid", None


def reference_interface(text):
    parsed = ipaddress.ip_interface(text)
    return parsed.version, int(parsed.ip), parsed.network.prefixlen


def mine_interface(text):
    return tuple(cidr.interface(text))


def check(text):
    assert outcome(mine_interface, text) == outcome(reference_interface, text), text
    assert outcome(cidr.network_text, text) == \
        outcome(lambda t: str(ipaddress.ip_network(t, strict=False)), text), text
    host = text.split("/")[0]
    assert outcome(cidr.address_text, host) == \
        outcome(lambda t: str(ipaddress.ip_address(t)), host), host


@pytest.mark.parametrize("text", EDGES)
def test_edges_agree_with_ipaddress(text):
    check(text)


PIECES = st.sampled_from(["0", "1", "9", "10", "127", "255", "256", "01", "ff", "FFFF",
                          "ffff", "fd00", "fe80", "0000", "12345", "a", "g"])
SEPARATORS = st.sampled_from([".", ":", "::", "/", "%"])


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.tuples(PIECES, SEPARATORS), min_size=1, max_size=10), PIECES)
def test_random_texts_agree_with_ipaddress(parts, last):
    check("".join(p + s for p, s in parts) + last)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**128 - 1), st.integers(0, 128))
def test_every_ipv6_address_is_written_as_ipaddress_writes_it(value, prefixlen):
    text = f"{ipaddress.IPv6Address(value)}/{prefixlen}"
    check(text)
    assert cidr.text(6, value) == str(ipaddress.IPv6Address(value))


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_every_ipv4_address_is_written_as_ipaddress_writes_it(value, prefixlen):
    check(f"{ipaddress.IPv4Address(value)}/{prefixlen}")
    assert cidr.text(4, value) == str(ipaddress.IPv4Address(value))


def test_embedded_ipv4_forms_are_written_in_hex_as_ipaddress_does():
    # inet_ntop writes these with a dotted tail; ipaddress (3.11) does not
    for value in ("::ffff:1.2.3.4", "::2:1", "::1.2.3.4"):
        ip = int(ipaddress.IPv6Address(value))
        assert cidr.text(6, ip) == str(ipaddress.IPv6Address(ip))
