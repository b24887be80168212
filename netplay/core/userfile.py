"""Reading a file a user names (a topology file, a containerlab file, a step log) safely.

A path on the command line may name anything: /dev/zero (reads until memory runs out), a
FIFO (blocks forever), a directory, a file of gigabytes. Each is refused in one line before
any of it is read: only a regular file no larger than the limit is read, and never more
than the limit plus one byte, so a file growing while it is read cannot get past the check.
Parsed data is then held to a nesting depth far above any real topology or log (check_depth),
so that a `[[[[...` file ends as one line instead of exhausting Python's stack.
"""

import os
import stat

from netplay.core.errors import InputError

MiB = 1 << 20
TOPOLOGY_LIMIT = 16 * MiB  # `netplay show leafspine:64,39,250`, the largest, is 3 MiB
# A log holds its topology and about 13 times as much in steps and results: linear:1000's
# is 6 MiB, leafspine:64,39,250's 40 MiB. netplay must read back the log of any topology
# it reads (at most a million YAML values, about 8 MiB), so logs may be far larger.
LOG_LIMIT = 256 * MiB
MAX_DEPTH = 64  # a topology nests about 7 levels, a log about 5
MAX_VALUES = 1_000_000  # YAML values in a topology; leafspine:64,39,250 has 381733

_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def read_bytes(path, what: str, limit: int, example: str = "file") -> bytes:
    """The contents of the regular file at path (a `what`, e.g. "topology file"), at most
    limit bytes; InputError in one line for anything else. A directory is refused with
    the hint DIR/example."""
    try:
        _check_kind(path, os.stat(path), what, limit, example)
        # O_NONBLOCK: should the path be swapped for a FIFO after the check, open returns
        # at once instead of waiting for a writer; fstat below then refuses it
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as err:
        raise InputError(f"{path}: cannot read the {what}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        try:
            _check_kind(path, os.fstat(fd), what, limit, example)
            data = f.read(limit + 1)
        except OSError as err:
            raise InputError(f"{path}: cannot read the {what}: {err.strerror}") from None
    if len(data) > limit:
        raise _too_large(path, what, limit)
    return data


def _check_kind(path, st, what, limit, example):
    if stat.S_ISDIR(st.st_mode):
        raise directory_error(path, what, example)
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise InputError(f"{path}: is {kind}, not a {what}; give the path of a regular file")
    if st.st_size > limit:
        raise _too_large(path, what, limit)


def directory_error(path, what: str, example: str = "file") -> InputError:
    return InputError(f"{path}: is a directory, not a {what}; name a file in it "
                      f"(e.g. {os.path.join(str(path), example)})")


def _too_large(path, what, limit):
    return InputError(f"{path}: the {what} is larger than {limit // MiB} MiB, which netplay "
                      "does not read; is this the right file?")


def check_depth(data, source: str, limit: int = MAX_DEPTH, shared: bool = True) -> None:
    """Refuse data (as parsed) nested deeper than limit lists and mappings, without
    recursion. Containers shared through YAML aliases are visited once per level, so a
    `billion laughs` file costs no more than its distinct containers. shared=False: data
    from JSON, which shares nothing, walked without that bookkeeping (a log of 6 MB in
    half the time)."""
    level = [data] if type(data) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            raise too_deep(source, limit)
        below: list = []
        add = below.append
        for value in level:
            for item in value.values() if type(value) is dict else value:
                if type(item) in (dict, list):
                    add(item)
        level = list({id(v): v for v in below}.values()) if shared else below


def too_deep(source, limit=MAX_DEPTH):
    return InputError(f"{source}: lists and mappings nested deeper than {limit} levels; "
                      "no topology or log is nested like that: is this the right file?")


def too_big(source) -> InputError:
    return InputError(f"{source}: too large to parse in the memory this machine has left; "
                      "is this the right file?")
