"""The state of many network namespaces read at once: one `ip` process per namespace.

verify and status read each namespace's interfaces, addresses, routes, forwarding and
namespace ids. One `ip -n NS ...` process per fact costs more than its netlink dump: `-n`
makes ip remount /sys in a mount namespace of its own, which slows down with every
namespace mounted under /var/run/netns (about 30 ms each with 1000 of them), and `ip netns
list-id` opens every namespace there to name its ids (N x N for N namespaces). Here a
thread enters each namespace with setns() (as the pinger does) and runs one `ip -j -d
-force -batch -` there, without -n; namespace ids are named by asking the kernel
(RTM_GETNSID) for the id of the few namespaces that can be a veth's peer, not of all.

Stdlib only: a remote host runs this file's source with its own python3 (`script`), as
it runs the pinger; LocalMachine calls `read_namespaces` in its own process.
"""

import json
import os
import socket
import struct
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

from netplay.core.consts import NETNS_DIR

CLONE_NEWNET = 0x40000000
# what each namespace's ip is asked, in one batch; each answer is recognized by its
# content (a command with nothing to say prints nothing, so position says nothing)
BATCH = "addr show\nroute show table all\nnetconf show\n"
ARGV = ["ip", "-j", "-d", "-force", "-batch", "-"]
RTM_NEWNSID, RTM_GETNSID, NLMSG_ERROR = 88, 90, 2
NETNSA_NSID, NETNSA_FD = 1, 3
NLM_F_REQUEST = 1

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


def _open_ns(ns: Optional[str], root: int) -> int:
    """A new file descriptor of namespace ns (None: root, the one this process runs in)."""
    if ns is None:
        return os.dup(root)
    return os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY | os.O_CLOEXEC)


def _in_namespace(ns: Optional[str], root: int, work: Any) -> Any:
    """work() run by the calling thread inside namespace ns, the thread back home after."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = _open_ns(ns, root)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            return work()
        finally:
            _setns(own)  # if this fails the thread is lost: let it raise
    finally:
        os.close(own)


def split_values(text: str) -> Dict[str, List[Any]]:
    """The JSON arrays `ip -j -batch` printed one after the other, sorted by what their
    entries hold: {"links": [...], "routes": [...], "netconf": [...]}; arrays that are
    empty (or unrecognized) add nothing."""
    out: Dict[str, List[Any]] = {"links": [], "routes": [], "netconf": []}
    decoder, i = json.JSONDecoder(), 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        try:
            value, i = decoder.raw_decode(text, i)
        except ValueError:
            return out  # a cut-off answer: what came before it stands
        if not isinstance(value, list) or not value or not isinstance(value[0], dict):
            continue
        first = value[0]
        kind = "links" if "ifname" in first else "routes" if "dst" in first else \
            "netconf" if "interface" in first else None
        if kind:
            out[kind] += value


def _read_one(ns: Optional[str], root: int) -> Dict[str, Any]:
    def work() -> Tuple[int, str, str]:
        proc = subprocess.run(ARGV, input=BATCH, capture_output=True, text=True)
        return proc.returncode, proc.stdout, proc.stderr

    try:
        rc, out, err = _in_namespace(ns, root, work)
    except OSError as exc:  # the namespace went away, or cannot be entered
        return {"ns": ns, "present": True, "rc": 1, "error": str(exc), **split_values("")}
    return {"ns": ns, "present": True, "rc": rc, "error": err.strip()[-300:],
            **split_values(out)}


def _nsid_request(fd: int, seq: int) -> bytes:
    # nlmsghdr, rtgenmsg (padded to 4), NETNSA_FD: "which id has this namespace here?"
    return struct.pack("=IHHII", 28, RTM_GETNSID, NLM_F_REQUEST, seq, 0) + \
        struct.pack("=B3x", socket.AF_UNSPEC) + struct.pack("=HHI", 8, NETNSA_FD, fd)


def parse_nsid_reply(data: bytes, seq: int) -> Optional[int]:
    """The id in an RTM_NEWNSID answer to request seq (None: none assigned, or an error)."""
    i = 0
    while i + 16 <= len(data):
        length, kind, _, got, _ = struct.unpack_from("=IHHII", data, i)
        if length < 16:
            return None
        if got == seq and kind == RTM_NEWNSID:
            j = i + 20
            while j + 4 <= i + length:
                alen, atype = struct.unpack_from("=HH", data, j)
                if alen < 4:
                    break
                if atype == NETNSA_NSID and alen >= 8:
                    nsid = struct.unpack_from("=i", data, j + 4)[0]
                    return nsid if nsid >= 0 else None
                j += (alen + 3) & ~3
            return None
        if got == seq and kind == NLMSG_ERROR:
            return None
        i += (length + 3) & ~3
    return None


def _nsids_here(candidates: Sequence[Optional[str]], root: int) -> Dict[Optional[str], int]:
    """{namespace: its id here} for the candidates that have one in the calling thread's
    namespace. Asking assigns none: the kernel only reports."""
    found: Dict[Optional[str], int] = {}
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0) as sock:  # NETLINK_ROUTE
        for seq, ns in enumerate(candidates, 1):
            try:
                fd = _open_ns(ns, root)
            except OSError:
                continue
            try:
                sock.send(_nsid_request(fd, seq))
                nsid = parse_nsid_reply(sock.recv(65536), seq)
            finally:
                os.close(fd)
            if nsid is not None:
                found[ns] = nsid
    return found


def peer_candidates(states: Sequence[Dict[str, Any]]) -> Dict[int, List[int]]:
    """{index of a state: indexes of the states that may hold the peer of one of its veths
    in another namespace}: those with a veth whose ifindex is that veth's peer index and
    whose own peer index points back. Pure."""
    by_pair: Dict[Tuple[int, int], List[int]] = {}
    for k, state in enumerate(states):
        for link in state["links"]:
            if link.get("link_index") is not None:
                by_pair.setdefault((link.get("ifindex", 0), link["link_index"]), []).append(k)
    out: Dict[int, List[int]] = {}
    for k, state in enumerate(states):
        wanted: List[int] = []
        for link in state["links"]:
            if link.get("link_netnsid") is None or link.get("link_index") is None:
                continue
            for other in by_pair.get((link["link_index"], link.get("ifindex", 0)), []):
                if other not in wanted:
                    wanted.append(other)
        if wanted:
            out[k] = wanted
    return out


def read_namespaces(namespaces: Sequence[Optional[str]], workers: int = 0) -> List[Dict[str, Any]]:
    """Each namespace's state (None: the root one), in order, as JSON-able dicts: present
    (named in NETNS_DIR), links (`ip -j -d addr show`), routes (`ip -j -d route show table
    all`: every table and family), netconf (`ip -j netconf show`), nsids ([[id, name]] of
    the given namespaces that have an id there; name None for the root one), rc, error."""
    names = set(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else set()
    namespaces = list(namespaces)
    workers = workers or min(32, 2 * (os.cpu_count() or 1) + 2)
    root = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(namespaces)))) as pool:
            states = list(pool.map(
                lambda ns: _read_one(ns, root) if ns is None or ns in names else
                {"ns": ns, "present": False, "rc": 0, "error": "", **split_values("")},
                namespaces))
            wanted = peer_candidates(states)

            def ids(k: int) -> List[List[Any]]:
                candidates = [namespaces[j] for j in wanted[k] if states[j]["present"]]
                found = _in_namespace(namespaces[k], root,
                                      lambda: _nsids_here(candidates, root))
                return [[nsid, ns] for ns, nsid in found.items()]

            for k, found in zip(wanted, pool.map(ids, wanted)):
                states[k]["nsids"] = found
    finally:
        os.close(root)
    for state in states:
        state.setdefault("nsids", [])
    return states


def script(namespaces: Sequence[Optional[str]]) -> str:
    """This module as a stdlib-only program for `python3 -` on another host: it prints
    read_namespaces(namespaces) as JSON."""
    import inspect
    import re
    import sys

    lines = []
    for line in inspect.getsource(sys.modules[__name__]).splitlines():
        if line.startswith("from netplay.core.consts import NETNS_DIR"):
            line = f"NETNS_DIR = {NETNS_DIR!r}"
        elif re.match(r"\s*(from|import) netplay", line):
            raise RuntimeError(f"nsprobe.py imports more of netplay than the probe has: {line}")
        lines.append(line)
    args = json.dumps(list(namespaces))
    lines += ["", f"print(json.dumps(read_namespaces(json.loads({args!r}))))", ""]
    return "\n".join(lines)
