"""Validation of every name that ends up in a command line.

Names are checked before anything is planned, so no command ever carries a value that a
shell, `ip` or `docker` could read as something other than a name.
"""

import re
from typing import Any

from netplay.core.errors import InputError

IFNAMSIZ = 15  # the kernel's limit on interface names (16 bytes with the NUL)
MAX_NAME = 63  # namespaces and containers: a file name and a DNS label
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")


def check_name(value: Any, what: str, where: str, limit: int = MAX_NAME) -> str:
    """Return value if it is a safe object name, else raise InputError saying why."""
    if not isinstance(value, str) or not value:
        raise InputError(f"{where}: {what} must be a non-empty string, got {value!r}")
    if not _NAME.match(value) or value in (".", ".."):
        raise InputError(
            f"{where}: {what} {value!r} may use only letters, digits, '_', '.', '-' "
            "and must not start with '-' or '.'"
        )
    if len(value) > limit:
        raise InputError(
            f"{where}: {what} {value!r} is {len(value)} characters, the limit is {limit}; "
            "choose a shorter name"
        )
    return value


def check_ifname(value: Any, where: str) -> str:
    """An interface name: a safe name of at most IFNAMSIZ characters."""
    if isinstance(value, str) and value in _GOOD_IFNAMES:  # a big lab repeats a few names
        return value
    check_name(value, "interface name", where, limit=IFNAMSIZ)
    if value in ("all", "default"):  # reserved by the kernel for sysctl paths
        raise InputError(f"{where}: interface name {value!r} is reserved by the kernel")
    if value in IP_KEYWORDS:
        raise InputError(f"{where}: interface name {value!r} is a keyword of `ip link`, "
                         "which would read it as one; choose another name")
    if len(_GOOD_IFNAMES) < 100000:
        _GOOD_IFNAMES.add(value)
    return value


_GOOD_IFNAMES = set()  # names check_ifname has accepted (only str ones get here)


def check_new_ifname(value: Any, where: str) -> str:
    """The name of an interface the lab creates: not `lo`, which every namespace has."""
    check_ifname(value, where)
    if value == "lo":
        raise InputError(f"{where}: interface name 'lo' is the loopback device that every "
                         "namespace already has, so netplay cannot create it; choose another "
                         "name")
    return value


# Words `ip link add/set` and `brctl` read as keywords where netplay puts a device name.
IP_KEYWORDS = frozenset("""up down dev name type peer netns master nomaster alias address
    mtu link index group help vf txqueuelen txqlen qlen arp multicast allmulticast promisc
    trailers dynamic carrier protodown state mode addrgenmode broadcast brd""".split())
