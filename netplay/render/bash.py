"""Rendering steps as bash: the dry run's output and the exported scripts.

`script_lines` is the dry run: each step's shell line under its heading. `build_script` and
`teardown_script` are what `netplay export` writes: plain bash a person can read, keep and
run without netplay, which passes shellcheck with no warnings. A captured value becomes a
shell variable (`pid_x=$(docker inspect -f '{{.State.Pid}}' x)`, then `"$pid_x"`), so the
script, like replay, reads each container's PID afresh.

The scripts own only what they make, as `run` and `down` do:

- The build script first checks, as `run` does (netplay.check.preflight), that every namespace,
  container and root-namespace device the lab creates is free, and stops before changing
  anything if one is taken. After each command that makes an object it records the command
  that undoes it, in RECORD_FILE.
- The teardown script runs an undo only when what it removes is the lab's: recorded by the
  build script, or carrying the lab's mark (the alias `netplay:LAB` of a root-namespace
  device or of a namespace's lo, the container label netplay.lab=LAB; a firewall rule holds
  the mark in the rule itself). An object of that name without either is left alone, with
  a line saying so.

Render only steps that come from the planner or from a log that passed netplay.run.logcheck:
every argument is shell-quoted here, but headings become comments and are trusted to be
one line.
"""

import shlex
from typing import Callable, List, Optional, Sequence

from netplay import __version__
from netplay.check.preflight import root_devices
from netplay.core.consts import LAB_LABEL, NETNS_DIR, owner_mark
from netplay.model.topology import Topology
from netplay.plan.build import plan
from netplay.plan.steps import Step
from netplay.run.runner import ALREADY_GONE

# Where the build script records what it made (the undo command of each object, one a
# line); `NETPLAY_EXPORT_RECORD` overrides it. On tmpfs, so that it goes with a reboot, as
# namespaces and devices do.
RECORD_FILE = "/run/netplay-{lab}.made"
RECORD_ENV = "NETPLAY_EXPORT_RECORD"


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


def _record_path(lab):
    return f"{RECORD_ENV}:-{RECORD_FILE.format(lab=lab)}"


def build_script(topo: Topology, steps: Optional[Sequence[Step]] = None) -> str:
    """The bash script that builds the lab: its names checked free, then every step in
    order, stopping at a failure, each object it makes recorded for the teardown script."""
    steps = plan(topo) if steps is None else steps
    lines = _preamble(topo.name, "Builds", _programs([s.argv for s in steps]))
    lines += _name_checks(topo)
    if any(s.undo for s in steps):
        lines += [
            "",
            _comment("What this script makes, recorded as the command that undoes it: the "
                     "teardown script removes an object without the lab's mark only if it is "
                     "recorded here."),
            f"record=${{{_record_path(topo.name)}}}",
            ": > \"$record\"",
            "record_undo() {",
            "    printf '%s\\n' \"$*\" >> \"$record\"",
            "}",
        ]
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
    """A node command is announced on stderr before it runs; a step that makes an object
    is followed by the record of its undo."""
    before = [f"echo {shlex.quote('node command: ' + step.shell())} >&2"] \
        if step.node_command else []
    after = [f"record_undo {shlex.join(step.undo)}"] if step.undo else []
    return before, after


def _name_checks(topo):
    """Bash that stops the script before it changes anything if a name the lab creates is
    taken: the checks of preflight.check_names_free, in its order and words."""
    namespaces = [n.namespace for n in topo.nodes.values() if n.namespace]
    containers = [n.name for n in topo.nodes.values() if n.kind == "docker"]
    devices = root_devices(topo)
    if not (namespaces or containers or devices):
        return []
    lines = [
        "",
        _comment("Every name the lab creates must be free: an object of that name is not "
                 "this script's to change, nor the teardown script's to remove. Nothing is "
                 "changed before these checks pass."),
        "taken() {",
        f"    echo \"$1 already exists on this host; $2 (if it is lab {topo.name}'s, run the "
        "lab's teardown script first); nothing was changed\" >&2",
        "    exit 1",
        "}",
    ]
    if namespaces:
        lines += ["netns_free() {",
                  f"    [[ ! -e {NETNS_DIR}/$1 ]] || taken \"namespace '$1'\" "
                  "\"delete it or rename node '$1'\"",
                  "}"]
    if containers:
        lines += ["container_free() {",
                  "    ! docker container inspect \"$1\" >/dev/null 2>&1 || "
                  "taken \"a container named '$1'\" \"remove it or rename node '$1'\"",
                  "}"]
    if devices:
        lines += ["device_free() {",
                  "    ! ip link show dev \"$1\" >/dev/null 2>&1 || taken \"$2: a device named "
                  "'$1' in the root namespace\" \"rename it in the topology\"",
                  "}"]
    lines += [f"netns_free {ns}" for ns in namespaces]
    lines += [f"container_free {name}" for name in containers]
    lines += [f"device_free {dev} {shlex.quote(what)}" for dev, what in devices.items()]
    return lines


def teardown_lines(steps: Sequence[Step]) -> List[str]:
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


def teardown_script(topo: Topology, steps: Optional[Sequence[Step]] = None) -> str:
    """The bash script that tears the lab down: only what is the lab's, tolerating objects
    that are already gone.

    Each undo runs through `undo`, which first asks whether what it removes is the lab's
    (recorded by the build script, or carrying the lab's mark) and leaves it alone, saying
    so, if not; then accepts the errors that mean "not there" (the same ones `netplay down`
    accepts) and reports any other failure, goes on, and exits 1 at the end. Running it
    twice, or after `netplay down`, is harmless."""
    steps = plan(topo) if steps is None else steps
    undos = [s.undo for s in steps if s.undo]
    lines = _preamble(topo.name, "Tears down", _programs(undos), errexit=False)
    lines += ["", "failed=0", *_ownership_functions(topo.name), *_undo_function(topo.name)]
    lines += [f"undo {line}" if line and not line.startswith("#") else line
              for line in teardown_lines(steps)]
    lines += ["", "if [[ $failed -eq 0 ]]; then", "    rm -f -- \"$record\"", "fi",
              "exit \"$failed\""]
    return "\n".join(lines) + "\n"


def _ownership_functions(lab):
    """Bash that reads the build script's record and tells whether what an undo command
    removes is marked as the lab's, or is there at all."""
    mark = owner_mark(lab)
    label = shlex.quote(f'{{{{index .Config.Labels "{LAB_LABEL}"}}}}')
    return [
        "",
        _comment("What the build script recorded making (the command that undoes each, one "
                 "a line). Read once: the record is removed when everything is undone."),
        f"record=${{{_record_path(lab)}}}",
        "declare -A made=()",
        "if [[ -f $record ]]; then",
        "    while IFS= read -r line; do made[$line]=1; done < \"$record\"",
        "fi",
        "",
        _comment(f"Whether a device (`ip ARGS` shows it) carries the lab's mark: the alias {mark}."),
        "alias_is_mark() {",
        "    local out",
        "    out=$(ip \"$@\" 2>/dev/null) || return 1",
        f"    [[ $'\\n'$out$'\\n' == *$'\\n    alias {mark}\\n'* ]]",
        "}",
        "",
        _comment("Whether what an undo command removes carries the lab's mark: the alias of a "
                 "root-namespace device or of a namespace's lo, the container label "
                 f"{LAB_LABEL}={lab}. A firewall rule holds the mark in the rule itself, so its "
                 "-D removes only a marked rule. A route carries none."),
        "marked() {",
        "    case \"$1 $2 $3\" in",
        "        \"ip netns delete\") alias_is_mark -n \"$4\" link show dev lo ;;",
        "        \"ip link delete\") alias_is_mark link show dev \"$4\" ;;",
        f"        \"docker rm -f\") [[ $(docker container inspect -f {label} \"$4\" 2>/dev/null)"
        f" == {lab} ]] ;;",
        "        \"iptables -D \"* | \"ip6tables -D \"*) return 0 ;;",
        "        *) return 1 ;;",
        "    esac",
        "}",
        "",
        _comment("Whether what an undo command removes is there (a route: taken to be)."),
        "present() {",
        "    case \"$1 $2 $3\" in",
        f"        \"ip netns delete\") [[ -e {NETNS_DIR}/$4 ]] ;;",
        "        \"ip link delete\") ip link show dev \"$4\" >/dev/null 2>&1 ;;",
        "        \"docker rm -f\") docker container inspect \"$4\" >/dev/null 2>&1 ;;",
        "        *) return 0 ;;",
        "    esac",
        "}",
    ]


def _undo_function(lab):
    """Bash for `undo UNDO-COMMAND...`: run it if what it removes is the lab's."""
    patterns = "|".join(f"*{shlex.quote(s)}*" for s in ALREADY_GONE)
    return [
        "",
        _comment("Run one undo command if what it removes is the lab's; anything else of that "
                 "name is left alone. An object that is already gone is what undo wants."),
        "undo() {",
        "    if [[ -z ${made[\"$*\"]:-} ]] && ! marked \"$@\"; then",
        "        if present \"$@\"; then",
        f"            echo \"left alone: $*: not lab {lab}'s (no mark {owner_mark(lab)}, not "
        "recorded by its build script)\" >&2",
        "        else",
        "            echo \"already gone: $*\" >&2",
        "        fi",
        "        return",
        "    fi",
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
