"""The step log: a JSON file holding the topology, every planned step and what each did.

The whole plan is written before the first command runs, and each result is filled in as
the run goes, by rewriting the file atomically (write a temporary file, then rename). A
crash therefore leaves a readable log whose steps say how far the run got, and `down`
can undo it. Rewrites are throttled so that large labs do not spend their time on JSON.
See docs/log-format.md.
"""

import json
import mmap
import os
import threading
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from netplay import __version__
from netplay.core.errors import InputError
from netplay.core.userfile import LOG_LIMIT, check_depth, read_bytes, too_big, too_deep
from netplay.plan.steps import Arg, Ref, Step, check_var

FORMAT = "netplay-log"
VERSION = 1  # what a log without generations is written as
GENERATIONS_VERSION = 2  # a log with generations: an older netplay, which would read its
# header's topology as the lab's and undo the wrong steps, refuses it
VERSIONS = (VERSION, GENERATIONS_VERSION)
FLUSH_INTERVAL = 0.2  # seconds between rewrites while a run goes on

# The status of a lab as its log records it.
RUNNING, UP, FAILED, DOWN = "running", "up", "failed", "down"


def now() -> str:
    """This moment in UTC as datetime's isoformat(timespec="milliseconds") writes it
    (2026-12-07T04:05:06.789+00:00), without importing datetime: 2 ms of every command."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + \
        f".{ns // 10**6 % 1000:03d}+00:00"


class StepLog:
    """A log file being written: the header, the steps, and their results."""

    def __init__(self, path: Union[str, "os.PathLike[str]"], data: Dict[str, Any]) -> None:
        self.path = str(path)
        self.data = data
        # the file holds data as given (a new log is written at once by create): the
        # first result waits for the interval as later ones do (down of linear:100
        # wrote the log three times for 0.06 s of teardown)
        self._last_flush = time.monotonic()
        self._interval = FLUSH_INTERVAL
        # the runner records the steps of several hosts from a thread each: a result is
        # never added while the file is being written out
        self._lock = threading.RLock()

    @classmethod
    def create(cls, path: Union[str, "os.PathLike[str]"], lab: str, topology: Dict[str, Any],
               steps: Sequence[Step], action: str = "run", **extra: Any) -> "StepLog":
        data = {"format": FORMAT, "version": VERSION, "netplay": __version__,
                "lab": lab, "action": action, "created": now(), "status": RUNNING,
                **extra, "topology": topology, "steps": [s.to_dict() for s in steps],
                "teardown": []}
        log = cls(path, data)
        log.flush(force=True)
        return log

    @property
    def steps(self) -> List[Dict[str, Any]]:
        steps: List[Dict[str, Any]] = self.data["steps"]
        return steps

    def record(self, index: int, result: Dict[str, Any]) -> None:
        with self._lock:
            self.steps[index]["result"] = result
            self.flush()

    def record_teardown(self, entry: Dict[str, Any]) -> None:
        with self._lock:
            self.data["teardown"].append(entry)
            self.flush()

    def set_status(self, status: str) -> None:
        with self._lock:
            self.data["status"] = status
            self.data["updated"] = now()
            self.flush(force=True)

    def _write(self) -> None:
        write_json_atomic(self.path, self.data)

    def flush(self, force: bool = False) -> None:
        """Rewrite the file, at most once per FLUSH_INTERVAL unless forced, and at most
        about 5% of the time: a large lab's log takes a while to write."""
        start = time.monotonic()
        if not force and start - self._last_flush < self._interval:
            return
        with self._lock:
            self._write()
            self._last_flush = time.monotonic()
            self._interval = max(FLUSH_INTERVAL, 20 * (self._last_flush - start))


class GenerationLog(StepLog):
    """The newest generation of a lab's log (an apply, a `netplay link` change, a repair):
    its steps' results are recorded there. When the file is known to be as netplay wrote
    it (see Ending), only the newest generation is encoded: the text before it is kept
    as it was read (a lab of 1000 nodes has 6 MB of log before it). Otherwise, and when
    the lab's own status changes, the file is rewritten whole."""

    def __init__(self, path: Union[str, "os.PathLike[str]"], data: Dict[str, Any],
                 written: bool = True) -> None:
        super().__init__(path, data)
        # the bytes before the newest generation's text, when known: written says
        # whether the file already holds the newest generation (else it is added)
        self._head: Optional[List[Piece]] = _head(self.path, data, written)
        # the newest generation's topology and its text: encoded once for all its writes
        self._topology: Optional[Tuple[Any, str]] = None

    @classmethod
    def append(cls, path: Union[str, "os.PathLike[str]"], data: Dict[str, Any], action: str,
               topology: Dict[str, Any], steps: Sequence[Step], **extra: Any
               ) -> "GenerationLog":
        data["version"] = GENERATIONS_VERSION
        gens = data.setdefault("generations", [])
        number = len(gens) + (data.elided if isinstance(data, Peeked) else 0) + 1
        gens.append({"generation": number, "action": action, "created": now(),
                     "status": RUNNING, **extra, "topology": topology,
                     "steps": [s.to_dict() for s in steps], "teardown": []})
        log = cls(path, data, written=False)
        log.flush(force=True)
        return log

    @property
    def generation(self) -> Dict[str, Any]:
        gen: Dict[str, Any] = self.data["generations"][-1]
        return gen

    @property
    def steps(self) -> List[Dict[str, Any]]:
        steps: List[Dict[str, Any]] = self.generation["steps"]
        return steps

    def record_teardown(self, entry: Dict[str, Any]) -> None:
        with self._lock:
            self.generation["teardown"].append(entry)
            self.flush()

    def rollback_log(self, steps: Sequence[Step]) -> "StepLog":
        """A log of the commands that put back what a failed generation took back: its
        "rollback" list, recorded as steps are."""
        self.generation["rollback"] = [s.to_dict() for s in steps]
        return _Rollback(self.path, self.data)

    def set_status(self, status: str) -> None:
        self._head = None  # the header changes: the file is written whole
        super().set_status(status)

    def set_generation_status(self, status: str) -> None:
        with self._lock:
            self.generation["status"] = status
            self.generation["updated"] = now()
            self.flush(force=True)

    def _write(self) -> None:
        if self._head is None or list(self.data)[-1] != "generations":
            self._head = None
            self.data = whole(self.path, self.data)
            write_json_atomic(self.path, self.data)
            return
        gen = self.generation
        if self._topology is None or self._topology[0] is not gen.get("topology"):
            self._topology = (gen.get("topology"), _COMPACT.encode(gen.get("topology")))
        text = _generation_text(gen, {"topology": self._topology[1]})
        _write_bytes(self.path, [*self._head, text, GENERATIONS_END])
        # the file now starts with what came before the generation: the next write copies it
        self._head = [(0, sum(len(p) if isinstance(p, bytes) else p[1] for p in self._head))]
        _mark(self.path, len(text) + len(GENERATIONS_END))


class _Rollback(GenerationLog):
    @property
    def steps(self) -> List[Dict[str, Any]]:
        steps: List[Dict[str, Any]] = self.generation["rollback"]
        return steps


APPLIED = "applied"  # a generation whose steps all ran: the lab is its topology
ROLLED_BACK = "rolled back"  # a generation that failed and was undone: the lab is as before


def generations(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The log's generations after the first (the run's, which is the header itself)."""
    gens = data.get("generations")
    return gens if isinstance(gens, list) else []


def current_topology(data: Dict[str, Any], upto: Optional[int] = None) -> Dict[str, Any]:
    """The topology the lab is now (or was at generation upto: 0 is the run's): that of
    the newest generation applied."""
    topology: Dict[str, Any] = data["topology"]
    for gen in generations(data):
        if not isinstance(gen, dict):
            continue  # an edited log: refused by logcheck; read past here
        if upto is not None and gen.get("generation", 0) > upto:
            break
        if gen.get("status") == APPLIED:
            topology = gen["topology"]
    return topology


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(data: Dict[str, Any], known: Optional[Dict[str, str]] = None) -> Iterator[str]:
    """JSON with one line per step and teardown entry: readable with grep and less, and
    written by the C encoder (an indented dump is many times slower). Yielded in pieces,
    so a 1000-node lab's log is never held twice in memory as one string. known: values
    already encoded, by key (a generation's topology, the same at each of its writes)."""
    compact = _COMPACT.encode  # one encoder: json.dumps with options builds one a call

    yield "{\n"
    for i, (key, value) in enumerate(data.items()):
        yield (",\n" if i else "") + compact(key) + ": "
        if key == "generations" and isinstance(value, list) and value:
            yield "[\n" + ",\n".join("".join(encode(gen)).rstrip("\n") for gen in value)
            yield "\n]"
        elif isinstance(value, list) and value and key in ("steps", "teardown"):
            yield "[\n  " + compact(value[0])
            for row in value[1:]:
                yield ",\n  " + compact(row)
            yield "\n]"
        elif known and key in known:
            yield known[key]
        else:
            yield compact(value)
    yield "\n}\n"


def write_json_atomic(path: Union[str, "os.PathLike[str]"], data: Dict[str, Any]) -> None:
    _write_bytes(path, (piece.encode("utf-8") for piece in encode(data)))
    if os.path.basename(str(path)) != LAB_LOG:
        return
    gens = data.get("generations")
    if "generations" not in data:
        _mark(path, None)
    elif isinstance(gens, list) and gens and isinstance(gens[-1], dict) and \
            list(data)[-1] == "generations":
        _mark(path, len(_generation_text(gens[-1])) + len(GENERATIONS_END))
    else:
        _unmark(path)  # no place to put a generation: the next change writes it whole


# -- appending a generation without writing the whole log again -----------------------------
#
# A lab's log is rewritten at each change, and a lab of 1000 nodes has 6 MB of it before
# its newest generation. Beside the log netplay keeps LOG.end: the file's inode, size and
# modification time as it wrote it, and where its newest generation's text starts. While
# they still match, the file is exactly what netplay's encoder wrote, so a new generation
# can be put after the old text as it is (a raw newline in JSON is never inside a string,
# so the encoder's "\n]\n}\n" ends the generations and the file). Anything else (a log
# edited, copied, from an older netplay) is rewritten whole, as before.

LAB_LOG = "log.json"  # a lab's log in the state directory: the file LOG.end is kept for
GENERATIONS_END = b"\n]\n}\n"  # after the newest generation
PLAIN_END = b"\n}\n"  # the end of a log without generations
FIRST_HEADER = b'{\n"format": "netplay-log",\n"version": 1,\n'
GENERATIONS_HEADER = b'{\n"format": "netplay-log",\n"version": 2,\n'


def _ending_path(path: Union[str, "os.PathLike[str]"]) -> str:
    return f"{path}.end"


def _mark(path: Union[str, "os.PathLike[str]"], from_end: Optional[int]) -> None:
    """Note beside a lab's log how netplay just wrote it: where its newest generation's
    text starts, from_end bytes before the end (None: it has no generations)."""
    st = os.stat(path)
    newest = None if from_end is None else st.st_size - from_end
    _write_bytes(_ending_path(path),
                 [json.dumps({"ino": st.st_ino, "size": st.st_size,
                              "mtime_ns": st.st_mtime_ns, "newest": newest}).encode()])


def _ending_of(path: Union[str, "os.PathLike[str]"], st: os.stat_result) -> Dict[str, Any]:
    """LOG.end, when it says the file at path (whose stat is st) is as netplay wrote it;
    ValueError otherwise."""
    ending: Dict[str, Any] = json.loads(_read(_ending_path(path), 4096))
    if [ending["ino"], ending["size"], ending["mtime_ns"]] != \
            [st.st_ino, st.st_size, st.st_mtime_ns]:
        raise ValueError("the log is not as LOG.end says")
    return ending


def _unmark(path: Union[str, "os.PathLike[str]"]) -> None:
    try:
        os.unlink(_ending_path(path))
    except FileNotFoundError:
        pass


Piece = Union[bytes, Tuple[int, int]]  # bytes, or (offset, length) of the log as it is


def _head(path: Union[str, "os.PathLike[str]"], data: Dict[str, Any], written: bool
          ) -> Optional[List[Piece]]:
    """What comes before the newest generation's text, as pieces of the log at path and
    bytes: the file as it is when it already holds that generation (written), else the
    file with a generation's place opened at its end. None unless LOG.end says the file
    is as netplay wrote it. (Only the few bytes checked are read: the rest is copied by
    the kernel as the file is written.)"""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            size, newest = st.st_size, _ending_of(path, st)["newest"]
            start = os.pread(fd, len(FIRST_HEADER), 0)
            end = os.pread(fd, len(GENERATIONS_END), max(0, size - len(GENERATIONS_END)))
            before = os.pread(fd, 1, newest - 1) if isinstance(newest, int) and \
                0 < newest < size else b""
        finally:
            os.close(fd)
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if list(data)[-1:] != ["generations"]:
        return None
    if newest is None:  # a log of a run only: its first generation
        gens = data["generations"]
        if written or len(gens) != 1 or start != FIRST_HEADER or not end.endswith(PLAIN_END) \
                or size < len(FIRST_HEADER) + len(PLAIN_END):
            return None
        return [GENERATIONS_HEADER,
                (len(FIRST_HEADER), size - len(FIRST_HEADER) - len(PLAIN_END)),
                b',\n"generations": [\n']
    if not isinstance(newest, int) or not 0 < newest < size or end != GENERATIONS_END or \
            before != b"\n":
        return None
    return [(0, newest)] if written else [(0, size - len(GENERATIONS_END)), b",\n"]


def _read(path: Union[str, "os.PathLike[str]"], limit: int) -> bytes:
    """At most limit bytes of a file netplay wrote in its state directory."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)


def _generation_text(gen: Dict[str, Any], known: Optional[Dict[str, str]] = None) -> bytes:
    """A generation as encode() writes it among the log's generations."""
    return "".join(encode(gen, known)).rstrip("\n").encode("utf-8")


def _write_bytes(path: Union[str, "os.PathLike[str]"], parts: Iterable[Piece]) -> None:
    """parts written to path atomically: into PATH.tmp, which is then renamed over it. A
    part is bytes, or (offset, length) of the file at path as it is, copied in the kernel
    (copy_file_range: a lab of 1000 nodes has 6 MB of log before its newest generation)."""
    tmp = f"{path}.tmp"
    src: Optional[int] = None
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                if isinstance(part, bytes):
                    f.write(part)
                    continue
                if src is None:
                    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                f.flush()
                _copy(src, f.fileno(), *part)
    finally:
        if src is not None:
            os.close(src)
    os.replace(tmp, path)


def _copy(src: int, dst: int, offset: int, length: int) -> None:
    """length bytes of src from offset, written at dst's position."""
    while length > 0:
        try:
            done = os.copy_file_range(src, dst, length, offset)
        except OSError:  # a kernel or file system without it: through this process
            done = os.write(dst, os.pread(src, min(length, 1 << 24), offset))
        if done <= 0:
            raise OSError(f"the log ended {length} bytes early while it was copied")
        offset, length = offset + done, length - done


def read(path: Union[str, "os.PathLike[str]"]) -> Dict[str, Any]:
    """A log file's data, checked for format and version; InputError if unusable."""
    raw = read_bytes(path, "log", LOG_LIMIT, example="log.json")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a netplay log (corrupt or truncated JSON: {err})") from None
    except RecursionError:  # the decoder's own limit, near 1000 levels
        raise too_deep(path) from None
    except MemoryError:
        raise too_big(path) from None
    check_depth(data, str(path), shared=False)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not a netplay log (no \"format\": \"{FORMAT}\")")
    if data.get("version") not in VERSIONS:
        raise InputError(f"{path}: log format version {data.get('version')!r} is not supported "
                         f"(this netplay reads versions {VERSION} and {GENERATIONS_VERSION})")
    if not isinstance(data.get("steps"), list) or not isinstance(data.get("lab"), str):
        raise InputError(f"{path}: the log has no list of steps or no lab name")
    return data


def step_from_dict(raw: Any, where: str) -> Step:
    """One logged step back into a Step (its argv checked by the caller's policy)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("argv"), list) or not raw["argv"]:
        raise InputError(f"{where}: a step needs a non-empty 'argv' list")
    argv: List[Arg] = []
    for arg in raw["argv"]:
        if isinstance(arg, dict) and set(arg) == {"ref"}:
            argv.append(Ref(check_var(arg["ref"], where)))
        elif isinstance(arg, str):
            argv.append(arg)
        else:
            raise InputError(f"{where}: argument {arg!r} is neither a string nor a reference")
    undo = raw.get("undo")
    if undo is not None and (not isinstance(undo, list) or not undo
                             or not all(isinstance(a, str) for a in undo)):
        raise InputError(f"{where}: 'undo' must be a non-empty list of strings")
    capture = raw.get("capture")
    if capture is not None:
        check_var(capture, where)
    stdin = raw.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        raise InputError(f"{where}: 'stdin' must be a string")
    return Step(argv, undo=undo, capture=capture, phase=str(raw.get("phase", "")),
                host=str(raw.get("host", "local")), stdin=stdin)


# -- reading a lab's log without its steps ------------------------------------------------
#
# Changing a lab of 1000 nodes needs of its 7 MB log only the header and the newest
# generation: parsing it all took 0.1-0.2 s of an apply. While LOG.end vouches for the
# file (as above), its layout is known: the header's keys one a line, except the steps
# and teardown, a row a line between "[" and a line "]"; then the generations, each
# starting with a line "{", the newest where LOG.end says.

STEP_LISTS = ("steps", "teardown")  # the header's lists peek() leaves out (None in its data)


class Peeked(Dict[str, Any]):
    """A lab's log as peek() read it: the header with None for its steps and teardown
    (and for the run's topology when the newest generation, applied, is the lab's), and
    of its generations only the newest, after `elided` others. Before a GenerationLog
    writes the file whole, whole() reads back what was left out. peek makes one only of
    a file LOG.end vouches for (as netplay wrote it): netplay.lab.apply builds the lab's
    topology from it without checking it again."""

    elided: int = 0
    left_out: Tuple[str, ...] = STEP_LISTS  # the header's keys whose values are None here


def peek(path: Union[str, "os.PathLike[str]"]) -> Optional[Peeked]:
    """The log at path without its steps and older generations, from its text; None
    unless LOG.end says the file is as netplay wrote it (then read() it)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            newest = _ending_of(path, st)["newest"]
            # mapped, not read: read, the 7 MB of a 1000-node lab's log were as many new
            # pages of this process (3,500 page faults: 5-20 ms of an apply); what is
            # parsed is copied out, and the rest stays in the kernel's page cache. (The
            # log is replaced by rename, never rewritten in place, so the mapped file
            # keeps its size.)
            with mmap.mmap(fd, 0, prot=mmap.PROT_READ) as raw:
                if len(raw) != st.st_size:
                    return None
                return _peeked(raw, newest, str(path))
        finally:
            os.close(fd)
    except (OSError, ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError):
        return None  # read() refuses what is wrong with it in one line (an empty file too)


Text = Union[bytes, mmap.mmap]  # a log's text: what peek reads in it is find, rfind and slices


def _peeked(raw: Text, newest: Optional[int], source: str) -> Optional[Peeked]:
    # searched back from the newest generation: over the generations, not the steps
    at = raw.rfind(b'\n"generations": [\n', 0, len(raw) if newest is None else newest)
    if newest is None:  # a run's log: no generations
        if at >= 0 or raw[-len(PLAIN_END):] != PLAIN_END:
            return None
        data = _header(raw, len(raw) - len(PLAIN_END))
    else:
        if not 0 < at < newest or raw[newest - 1:newest + 2] != b"\n{\n" or \
                raw[-len(GENERATIONS_END):] != GENERATIONS_END:
            return None
        gen = json.loads(raw[newest:-len(GENERATIONS_END)])
        applied = isinstance(gen, dict) and gen.get("status") == APPLIED
        # the lab is the newest generation's topology when it applied: the run's unread
        data = _header(raw, at, STEP_LISTS + ("topology",) if applied else STEP_LISTS)
        data.elided = _count(raw, b"\n{\n", at, newest)
        if not isinstance(gen, dict) or not applied and data.elided:
            return None  # the lab is an older generation's topology: read() it
        data["generations"] = [gen]
    if data.get("format") != FORMAT or data.get("version") not in VERSIONS or \
            not isinstance(data.get("lab"), str) or "steps" not in data:
        return None
    check_depth(dict(data), source, shared=False)  # a plain dict: it walks those only
    return data


def _header(raw: Text, end: int, left_out: Tuple[str, ...] = STEP_LISTS) -> Peeked:
    """The top-level keys of raw[:end] as encode() wrote them, those left_out (at least
    the step lists) as None."""
    if raw[:2] != b"{\n":
        raise ValueError("not a log")
    out = Peeked()
    out.left_out = left_out
    pos = 2
    while pos < end:
        colon = _index(raw, b'": ', pos, len(raw))
        key = json.loads(raw[pos:colon + 1])
        start = colon + 3
        if raw[start:start + 2] == b"[\n":  # a row a line, up to a line "]"
            if key not in STEP_LISTS:
                raise ValueError(f"an unknown list {key!r}")
            out[key], pos = None, _rows_end(raw, key, start, end)
        else:
            line_end = raw.find(b"\n", start)
            line_end = end if line_end < 0 or line_end > end else line_end
            pos = line_end - 1 if raw[line_end - 1:line_end] == b"," else line_end
            out[key] = None if key in left_out else json.loads(raw[start:pos])
        if pos < end:
            if raw[pos:pos + 2] != b",\n":
                raise ValueError("not as encode() writes")
            pos += 2
    return out


def _rows_end(raw: Text, key: str, start: int, end: int) -> int:
    """Where the list of rows at start ends (after its line "]"). The steps are most of a
    log and the teardown follows them: found back from the header's end, not through the
    steps."""
    if key == "steps":
        after = raw.rfind(b'\n],\n"teardown": ', start, end)
        if after >= 0:
            return after + 2
    return _index(raw, b"\n]", start, end) + 2


def _index(raw: Text, sub: bytes, start: int, end: int) -> int:
    """bytes.index, for a mapped file too."""
    at = raw.find(sub, start, end)
    if at < 0:
        raise ValueError(f"no {sub!r} where it belongs")
    return at


def _count(raw: Text, sub: bytes, start: int, end: int) -> int:
    """bytes.count (occurrences that do not overlap), for a mapped file too."""
    n, at = 0, raw.find(sub, start, end)
    while at >= 0:
        n, at = n + 1, raw.find(sub, at + len(sub), end)
    return n


def whole(path: Union[str, "os.PathLike[str]"], data: Dict[str, Any]) -> Dict[str, Any]:
    """data itself, or, for a peek()'s, with what it left out read back from path (which
    may by now hold its newest generation too)."""
    if not isinstance(data, Peeked):
        return data
    full = read(path)
    out = {k: full[k] if k in data.left_out and v is None else v for k, v in data.items()}
    if "generations" in data:
        out["generations"] = generations(full)[:data.elided] + data["generations"]
    return out
