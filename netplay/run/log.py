"""The step log: a JSON file holding the topology, every planned step and what each did.

The whole plan is written before the first command runs, and each result is filled in as
the run goes, by rewriting the file atomically (write a temporary file, then rename). A
crash therefore leaves a readable log whose steps say how far the run got, and `down`
can undo it. Rewrites are throttled so that large labs do not spend their time on JSON.
See docs/log-format.md.
"""

import json
import os
import threading
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

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
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class StepLog:
    """A log file being written: the header, the steps, and their results."""

    def __init__(self, path: Union[str, "os.PathLike[str]"], data: Dict[str, Any]) -> None:
        self.path = str(path)
        self.data = data
        self._last_flush = 0.0
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

    def flush(self, force: bool = False) -> None:
        """Rewrite the file, at most once per FLUSH_INTERVAL unless forced, and at most
        about 5% of the time: a large lab's log takes a while to write."""
        start = time.monotonic()
        if not force and start - self._last_flush < self._interval:
            return
        with self._lock:
            write_json_atomic(self.path, self.data)
            self._last_flush = time.monotonic()
            self._interval = max(FLUSH_INTERVAL, 20 * (self._last_flush - start))


class GenerationLog(StepLog):
    """The newest generation of a lab's log (an apply, a `netplay link` change, a repair):
    its steps' results are recorded there, and the file is rewritten whole."""

    @classmethod
    def append(cls, path: Union[str, "os.PathLike[str]"], data: Dict[str, Any], action: str,
               topology: Dict[str, Any], steps: Sequence[Step], **extra: Any
               ) -> "GenerationLog":
        data["version"] = GENERATIONS_VERSION
        gens = data.setdefault("generations", [])
        gens.append({"generation": len(gens) + 1, "action": action, "created": now(),
                     "status": RUNNING, **extra, "topology": topology,
                     "steps": [s.to_dict() for s in steps], "teardown": []})
        log = cls(path, data)
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

    def set_generation_status(self, status: str) -> None:
        with self._lock:
            self.generation["status"] = status
            self.generation["updated"] = self.data["updated"] = now()
            self.flush(force=True)


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


def encode(data: Dict[str, Any]) -> Iterator[str]:
    """JSON with one line per step and teardown entry: readable with grep and less, and
    written by the C encoder (an indented dump is many times slower). Yielded in pieces,
    so a 1000-node lab's log is never held twice in memory as one string."""
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
        else:
            yield compact(value)
    yield "\n}\n"


def write_json_atomic(path: Union[str, "os.PathLike[str]"], data: Dict[str, Any]) -> None:
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(encode(data))
    os.replace(tmp, path)


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
