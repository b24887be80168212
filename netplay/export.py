"""Rendering steps as bash: the dry run's output and the exported scripts.

`script_lines` is the dry run: each step's shell line under its heading. `build_script` and
`teardown_script` are what `netplay export` writes: plain bash a person can read, keep and
run without netplay, which passes shellcheck with no warnings. A captured value becomes a
shell variable (`pid_x=$(docker inspect -f '{{.State.Pid}}' x)`, then `"$pid_x"`), so the
script, like replay, reads each container's PID afresh.

Render only steps that come from the planner or from a log that passed netplay.logcheck:
every argument is shell-quoted here, but headings become comments and are trusted to be
one line.
"""

import shlex
from typing import Callable, List, Optional, Sequence

from netplay import __version__
from netplay.runner import ALREADY_GONE
from netplay.steps import Step


def script_lines(steps: Sequence[Step],
                 around: Optional[Callable[[Step], tuple]] = None) -> List[str]:
    """Each step's shell line, under a comment each time the phase changes. around(step),
    if given, returns the lines to write (before, after) the step's own."""
    lines, phase = [], None
    for step in steps:
        if step.phase != phase:
            phase = step.phase
            if lines:
                lines.append("")
            lines.append(_comment(phase))
        before, after = around(step) if around else ((), ())
        lines += [*before, step.shell(), *after]
    return lines


def _comment(text):
    return "# " + " ".join(str(text).split())  # one line, whatever the heading holds


def _programs(argvs):
    """The programs the commands run, `ip netns exec NS PROG` counting PROG too."""
    out = []
    for argv in argvs:
        progs = [argv[0]]
        if list(argv[:3]) == ["ip", "netns", "exec"] and len(argv) > 4:
            progs.append(argv[4])
        out += [p for p in progs if isinstance(p, str) and p not in out]
    return out


def _preamble(lab, purpose, programs, errexit=True):
    lines = [
        "#!/usr/bin/env bash",
        _comment(f"{purpose} netplay lab {lab}."),
        _comment(f"Exported by netplay {__version__} (`netplay export`): every command is one "
                 "that netplay runs, in its order."),
    ]
    if errexit:
        lines.append("set -euo pipefail")
    else:
        lines.append(_comment("No `set -e`: each command runs even when one before it failed."))
        lines.append("set -uo pipefail")
    lines += [
        "",
        "if [[ $(id -u) -ne 0 ]]; then",
        "    echo \"this script changes the host's network: run it as root\" >&2",
        "    exit 1",
        "fi",
        "need() {",
        "    command -v \"$1\" >/dev/null 2>&1 || { echo \"$1 is not installed on this host\" >&2; exit 1; }",
        "}",
        *(f"need {shlex.quote(p)}" for p in programs),
    ]
    return lines


def build_script(lab, steps):
    """The bash script that builds the lab: every step in order, stopping at a failure."""
    lines = _preamble(lab, "Builds", _programs([s.argv for s in steps]))
    lines += [
        "",
        _comment("A failing command stops the script; the teardown script "
                 "(`netplay export --teardown`) removes what was built."),
        "trap 'echo \"line $LINENO failed; the teardown script removes what was built\" >&2' ERR",
        "",
        *script_lines(steps, _build_extras),
    ]
    return "\n".join(lines) + "\n"


def _build_extras(step):
    """A node command is announced on stderr before it runs."""
    before = [f"echo {shlex.quote('node command: ' + step.shell())} >&2"] \
        if step.node_command else []
    return before, []


def teardown_lines(steps):
    """The undo of each step, last step first, under each step's heading."""
    lines, phase = [], None
    for step in reversed(steps):
        if not step.undo:
            continue
        if step.phase != phase:
            phase = step.phase
            if lines:
                lines.append("")
            lines.append(_comment(phase))
        lines.append(shlex.join(step.undo))
    return lines


def teardown_script(lab, steps):
    """The bash script that tears the lab down, tolerating objects that are already gone.

    Each undo runs through `undo`, which accepts the errors that mean "not there" (the same
    ones `netplay down` accepts) and reports any other failure, goes on, and exits 1 at the
    end. Running it twice, or after `netplay down`, is harmless."""
    undos = [s.undo for s in steps if s.undo]
    patterns = "|".join(f"*{shlex.quote(s)}*" for s in ALREADY_GONE)
    lines = _preamble(lab, "Tears down", _programs(undos), errexit=False)
    lines += [
        "",
        "failed=0",
        "",
        _comment("Run one undo command; an object that is already gone is what undo wants."),
        "undo() {",
        "    local out",
        "    if ! out=$(\"$@\" 2>&1); then",
        "        case $out in",
        f"            {patterns})",
        "                echo \"already gone: $*\" >&2 ;;",
        "            *)",
        "                echo \"failed: $*: $out\" >&2",
        "                failed=1 ;;",
        "        esac",
        "    fi",
        "}",
        "",
    ]
    lines += [f"undo {line}" if line and not line.startswith("#") else line
              for line in teardown_lines(steps)]
    lines += ["", "exit \"$failed\""]
    return "\n".join(lines) + "\n"
