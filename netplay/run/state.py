"""Where netplay keeps what it knows about labs on this host, and who may change them.

STATE_DIR/labs/LAB/log.json is the lab's step log; STATE_DIR/labs/LAB/lock is held (flock)
by the one netplay process changing the lab. Root-only permissions: logs hold the topology
and the commands that rewire the host.
"""

import errno
import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

from netplay.core.errors import HostError, InputError
from netplay.core.names import check_name
from netplay.model.topology import Topology
from netplay.model.validate import from_dict
from netplay.run.log import LAB_LOG, current_topology, peek, read

DEFAULT_STATE_DIR = "/var/lib/netplay"
ENV_STATE_DIR = "NETPLAY_STATE_DIR"


def state_dir(option: Optional[str] = None) -> Path:
    return Path(option or os.environ.get(ENV_STATE_DIR) or DEFAULT_STATE_DIR)


def private_dir(*parts: Union[str, Path]) -> Path:
    """Make each directory of the path (root only: 0700), and return the path."""
    path = Path(parts[0])
    for part in (None, *parts[1:]):
        path = path / part if part else path
        try:
            path.mkdir(mode=0o700, exist_ok=True)
            if path.stat().st_uid == os.geteuid():
                path.chmod(0o700)
        except OSError as err:
            raise HostError(f"cannot create the state directory {path}: {err.strerror} "
                            f"(choose another with --state-dir or ${ENV_STATE_DIR})") from None
    return path


def lab_dir(root: Union[str, Path], lab: str, create: bool = False) -> Path:
    check_name(lab, "lab name", "lab", limit=32)  # a path component: no '..', no '/'
    return private_dir(root, "labs", lab) if create else Path(root) / "labs" / lab


def cleanup_log_path(root: Union[str, Path]) -> Path:
    """A new log for one `netplay clean`, beside (not among) the labs."""
    return private_dir(root, "cleanups") / f"clean-{time.strftime('%Y%m%dT%H%M%S')}.json"


def log_path(root: Union[str, Path], lab: str) -> Path:
    return lab_dir(root, lab) / LAB_LOG


def read_lab(root: Union[str, Path], lab: str) -> Optional[Dict[str, Any]]:
    """The lab's log data, or None when netplay has no record of that lab."""
    path = log_path(root, lab)
    if not _exists(root, path):
        return None
    try:
        return read(path)
    except InputError as err:
        raise InputError(f"{err} (the state of lab {lab!r} is unusable; remove {path} "
                         "after checking nothing of the lab is left)") from None


def peek_lab(root: Union[str, Path], lab: str) -> Dict[str, Any]:
    """The lab's log data for a change of the lab: as log.peek reads it (the header and
    the newest generation; a few ms where the whole log of 1000 nodes takes 0.1-0.2 s)
    when it can, else whole. InputError when netplay has no record of that lab."""
    path = log_path(root, lab)
    data = peek(path) if _exists(root, path) else None
    return require_lab(root, lab) if data is None else data


def no_such_lab(root: Union[str, Path], lab: str) -> InputError:
    """The one line for a lab this state directory has no record of."""
    return InputError(f"no lab named {lab!r} on this host (`netplay status` lists the labs "
                      f"in {root})")


def require_lab(root: Union[str, Path], lab: str) -> Dict[str, Any]:
    """The lab's log data; InputError when netplay has no record of that lab."""
    data = read_lab(root, lab)
    if data is None:
        raise no_such_lab(root, lab)
    return data


def lab_topology(data: Dict[str, Any], path: Union[str, Path]) -> Topology:
    """The topology a lab's log (read from path) says the lab is now: the run's, or that
    of its newest applied generation (`netplay apply`, `netplay link`), validated again."""
    if not isinstance(data.get("topology"), dict):
        raise InputError(f"{path}: the log has no topology; it cannot be read as a lab")
    return from_dict(current_topology(data), source=str(path))


def labs(root: Union[str, Path]) -> List[str]:
    """Names of the labs with a log in this state directory."""
    base = Path(root) / "labs"
    try:
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / LAB_LOG).exists())
    except PermissionError:
        raise _unreadable(root) from None


def _exists(root: Union[str, Path], path: Path) -> bool:
    """path.exists(), with a state directory this user may not read said in one line."""
    try:
        return path.exists()
    except PermissionError:
        raise _unreadable(root) from None


def _unreadable(root: Union[str, Path]) -> HostError:
    return HostError(f"cannot read the state directory {root}: permission denied (netplay "
                     "keeps it root-only); run netplay with sudo, or choose another with "
                     f"--state-dir or ${ENV_STATE_DIR}")


@contextmanager
def lab_lock(root: Union[str, Path], lab: str) -> Iterator[None]:
    """Hold the lab's lock, or refuse at once if another netplay process holds it."""
    path = lab_dir(root, lab, create=True) / "lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise HostError(f"lab {lab!r} is being changed by another netplay process "
                            f"(pid {holder}); wait for it to finish and try again") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the flock
