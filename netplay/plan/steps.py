"""A Step is one command a person could have typed, plus the command that undoes it.

Steps are data: the planner makes them, the runner executes them, the log stores them,
export renders them as bash. A step may capture a value from its output (a container's
PID) under a name; a later step refers to it with a Ref in its argv, so that replay and
export resolve it afresh instead of copying the old value.
"""

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from netplay.core.errors import InputError

_VAR = re.compile(r"[a-z][a-z0-9_]*\Z")
CAPTURE_VALUE = re.compile(r"[0-9]+\Z")  # captured values are PIDs: digits only
HEREDOC_END = "NETPLAY_EOF"  # ends a step's standard input in bash; never one of its lines


@dataclass(frozen=True)
class Ref:
    """An argument whose value is captured from an earlier step's output."""

    var: str

    def shell(self) -> str:
        return f'"${self.var}"'


Arg = Union[str, Ref]


@dataclass
class Step:
    """One command of a plan: its argv, its undo, the variable its output sets, its phase."""

    argv: Sequence[Arg]
    undo: Optional[List[str]] = None  # None: undone with its parent (e.g. its namespace)
    capture: Optional[str] = None  # the variable this step's stdout sets
    phase: str = ""  # a heading for logs and exported scripts: "node laptop"
    host: str = "local"  # the machine it runs on: a host of the topology's `hosts:`
    # A node's own command, from its topology's `exec` list: it runs a program of the
    # topology's choosing as root, which may reach outside the lab, so replay and export
    # of a log run it only with --allow-exec. Set by the planner, never read from a log
    # (a logged step equals its planned one whatever this says).
    node_command: bool = field(default=False, compare=False)
    # What the command reads on its standard input: a file's content for `tee FILE` (a
    # node's hosts file), written in an exported script as a here-document.
    stdin: Optional[str] = None

    def refs(self) -> List[str]:
        return [a.var for a in self.argv if isinstance(a, Ref)]

    def shell(self) -> str:
        """The step as bash, every argument quoted: one line, or a command reading a
        here-document (`tee FILE >/dev/null <<'EOF'`, the lines, `EOF`)."""
        line = " ".join(a.shell() if isinstance(a, Ref) else shlex.quote(a) for a in self.argv)
        if self.stdin is not None:
            return f"{line} >/dev/null <<'{HEREDOC_END}'\n{self.stdin}{HEREDOC_END}"
        return f"{self.capture}=$({line})" if self.capture else line

    def resolve(self, values: Mapping[str, str]) -> List[str]:
        """argv with each Ref replaced by its captured value."""
        out = []
        for arg in self.argv:
            if isinstance(arg, Ref):
                if arg.var not in values:
                    raise InputError(f"step `{self.shell()}` uses ${arg.var}, which no earlier "
                                     "step captured")
                out.append(values[arg.var])
            else:
                out.append(arg)
        return out

    def to_dict(self) -> Dict[str, Any]:
        argv = [{"ref": a.var} if isinstance(a, Ref) else a for a in self.argv]
        out: Dict[str, Any] = {"argv": argv,
                               "shell": self.shell(), "phase": self.phase, "host": self.host}
        if self.undo is not None:
            out["undo"] = list(self.undo)
            out["undo_shell"] = shlex.join(self.undo)
        if self.capture:
            out["capture"] = self.capture
        if self.stdin is not None:
            out["stdin"] = self.stdin
        return out


def check_var(name: Any, where: str) -> str:
    if not isinstance(name, str) or not _VAR.match(name):
        raise InputError(f"{where}: {name!r} is not a valid captured-value name")
    return name
