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

A lab on several hosts (`hosts:`) exports as files (`export_files`): per host, HOST.sh
(`host_script`), whose phases build, exec and teardown are those same scripts for that
host's steps, node commands apart; and the driver run.sh (`driver_script`), which runs a
phase on every host at once over ssh, node commands only once every host is built, and
after a failure the teardown of every host that started.

Render only steps that come from the planner or from a log that passed netplay.run.logcheck:
every argument is shell-quoted here, but headings become comments and are trusted to be
one line.
"""

import shlex
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from netplay import __version__
from netplay.check.preflight import root_devices
from netplay.core.consts import ETC_NETNS, LAB_LABEL, NETNS_DIR, owner_mark
from netplay.core.errors import InputError
from netplay.model.hosts import on_host
from netplay.model.topology import Host, Topology
from netplay.plan.build import plan
from netplay.plan.steps import Step
from netplay.run.runner import ALREADY_GONE

# Where the build script records what it made (the undo command of each object, one a
# line); `NETPLAY_EXPORT_RECORD` overrides it. On tmpfs, so that it goes with a reboot, as
# namespaces and devices do.
RECORD_FILE = "/run/netplay-{lab}.made"
RECORD_ENV = "NETPLAY_EXPORT_RECORD"


def script_lines(steps: Sequence[Step],
                 around: Optional[Callable[[Step], tuple]] = None,
                 hosts: Optional[Mapping[str, Host]] = None) -> List[str]:
    """Each step's shell line, under a comment each time the phase changes. around(step),
    if given, returns the lines to write (before, after) the step's own. hosts (a
    topology's `hosts:`), if not empty, puts each run of one host's steps under a heading
    `# host NAME (ssh DEST)`, its first phase's heading repeated under it."""
    lines: List[str] = []
    phase, host = None, None
    for step in steps:
        headings = []
        if hosts and step.host != host:
            host, phase = step.host, None
            headings.append(host_heading(host, hosts))
        if step.phase != phase:
            phase = step.phase
            headings.append(_comment(phase))
        if headings and lines:
            lines.append("")
        lines += headings
        before, after = around(step) if around else ((), ())
        lines += [*before, step.shell(), *after]
    return lines


def host_heading(host: str, hosts: Mapping[str, Host]) -> str:
    """The comment over a host's steps: `# host sim1 (ssh root@10.0.0.5)`."""
    where = f" (ssh {hosts[host].ssh})" if host in hosts else ""
    return _comment(f"host {host}{where}")


def _comment(text: object) -> str:
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
    lines = _header(f"{purpose} netplay lab {lab}.")
    if errexit:
        lines.append("set -euo pipefail")
    else:
        lines.append(_comment("No `set -e`: each command runs even when one before it failed."))
        lines.append("set -uo pipefail")
    return [*lines, "", *_root_check(), *_need_function(), *_needs(programs)]


def _header(*purpose, exported="every command is one that netplay runs, in its order."):
    return ["#!/usr/bin/env bash", *(_comment(line) for line in purpose),
            _comment(f"Exported by netplay {__version__} (`netplay export`): {exported}")]


def _root_check(code=1):
    return ["if [[ $(id -u) -ne 0 ]]; then",
            "    echo \"this script changes the host's network: run it as root\" >&2",
            f"    exit {code}",
            "fi"]


def _need_function(code=1):
    return ["need() {",
            "    command -v \"$1\" >/dev/null 2>&1 || { echo \"$1 is not installed on this "
            f"host\" >&2; exit {code}; }}",
            "}"]


def _needs(programs):
    return [f"need {shlex.quote(p)}" for p in programs]


def _record_path(lab, host=None):
    """The record file's path as bash's ${NETPLAY_EXPORT_RECORD:-/run/...}, without the $."""
    name = lab if host is None else f"{lab}@{host}"  # '@' is in no lab or host name
    return f"{RECORD_ENV}:-{RECORD_FILE.format(lab=name)}"


def build_script(topo: Topology, steps: Optional[Sequence[Step]] = None) -> str:
    """The bash script that builds the lab: its names checked free, then every step in
    order, stopping at a failure, each object it makes recorded for the teardown script."""
    steps = plan(topo) if steps is None else steps
    lines = _preamble(topo.name, "Builds", _programs([s.argv for s in steps]))
    lines += _build_body(topo, steps, _record_path(topo.name), _FAILED)
    return "\n".join(lines) + "\n"


# What a failed build does: (the comment above its ERR trap, the trap's command).
_FAILED = ("A failing command stops the script; the teardown script "
           "(`netplay export --teardown`) removes what was built.",
           "echo \"line $LINENO failed; the teardown script removes what was built\" >&2")


def _build_body(topo, steps, record, failed, code=1):
    """What a build script runs after its preamble: the name checks (exiting with code),
    the record of what it makes, the ERR trap, then the steps."""
    lines = _name_checks(topo, code)
    if any(s.undo for s in steps):
        lines += [
            "",
            _comment("What this script makes, recorded as the command that undoes it: the "
                     "teardown script removes an object without the lab's mark only if it is "
                     "recorded here."),
            f"record=${{{record}}}",
            ": > \"$record\"",
            "record_undo() {",
            "    printf '%s\\n' \"$*\" >> \"$record\"",
            "}",
        ]
    comment, command = failed
    return [*lines, "", _comment(comment), f"trap '{command}' ERR", "",
            *script_lines(steps, _build_extras)]


def _build_extras(step):
    """A node command is announced on stderr before it runs; a step that makes an object
    is followed by the record of its undo."""
    before = [f"echo {shlex.quote('node command: ' + step.shell())} >&2"] \
        if step.node_command else []
    after = [f"record_undo {shlex.join(step.undo)}"] if step.undo else []
    return before, after


def _name_checks(topo, code=1):
    """Bash that stops the script before it changes anything if a name the lab creates is
    taken: the checks of preflight.check_names_free, in its order and words."""
    namespaces = [n.namespace for n in topo.nodes.values() if n.namespace]
    containers = [n.name for n in topo.nodes.values() if n.kind == "docker"]
    devices = root_devices(topo)
    folders = [f"{ETC_NETNS}/{ns}" for ns in namespaces] if topo.etc_hosts else []
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
        f"    exit {code}",
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
    if folders:
        lines += ["folder_free() {",
                  "    [[ ! -e $1 ]] || taken \"$1\" \"remove it, or set etc_hosts: false\"",
                  "}"]
    lines += [f"netns_free {ns}" for ns in namespaces]
    lines += [f"folder_free {folder}" for folder in folders]
    lines += [f"container_free {name}" for name in containers]
    lines += [f"device_free {dev} {shlex.quote(what)}" for dev, what in devices.items()]
    return lines


def teardown_lines(steps: Sequence[Step]) -> List[str]:
    """The undo of each step, last step first, under each step's heading."""
    lines: List[str] = []
    phase = None
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
    lines = _preamble(topo.name, "Tears down", _programs(_undos(steps)), errexit=False)
    lines += _teardown_body(topo.name, steps, _record_path(topo.name))
    return "\n".join(lines) + "\n"


def _undos(steps):
    return [s.undo for s in steps if s.undo]


def _teardown_body(lab, steps, record):
    """What a teardown script runs after its preamble: each undo, last first, through
    `undo`; exits 1 if one failed, else removes the record and exits 0."""
    lines = ["", "failed=0", *_ownership_functions(lab, record), *_undo_function(lab)]
    lines += [f"undo {line}" if line and not line.startswith("#") else line
              for line in teardown_lines(steps)]
    return lines + ["", "if [[ $failed -eq 0 ]]; then", "    rm -f -- \"$record\"", "fi",
                    "exit \"$failed\""]


def _ownership_functions(lab, record):
    """Bash that reads the build script's record and tells whether what an undo command
    removes is marked as the lab's, or is there at all."""
    mark = owner_mark(lab)
    label = shlex.quote(f'{{{{index .Config.Labels "{LAB_LABEL}"}}}}')
    return [
        "",
        _comment("What the build script recorded making (the command that undoes each, one "
                 "a line). Read once: the record is removed when everything is undone."),
        f"record=${{{record}}}",
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


# A lab on several hosts (`hosts:`) exports as a directory: one script per host, HOST.sh,
# which runs one phase of that host's part of the lab (`bash HOST.sh PHASE`), and the
# driver DRIVER, which runs each phase on every host over ssh, hosts at once.
DRIVER = "run.sh"
BUILD, EXEC, TEARDOWN = "build", "exec", "teardown"
# How a host script's build phase says it stopped before changing anything (not root, a
# program missing, a name taken): the driver then has nothing of that host's to undo.
NOTHING_CHANGED = 3


_FAILED_HERE = "echo \"line $LINENO failed\" >&2; exit 1"


def host_file(host: str) -> str:
    """The file name of a host's script."""
    return f"{host}.sh"


def host_phases(steps: Sequence[Step], host: str, teardown: bool = False) -> List[str]:
    """The phases host's script runs: the teardown export's only teardown; the build
    export's build, exec (only if the host has node commands) and teardown (which the
    driver runs on every host that started when one fails)."""
    if teardown:
        return [TEARDOWN]
    runs_commands = any(s.node_command for s in steps if s.host == host)
    return [BUILD, *([EXEC] if runs_commands else []), TEARDOWN]


def export_files(topo: Topology, steps: Sequence[Step], teardown: bool = False
                 ) -> Dict[str, str]:
    """The files of a lab on several hosts, by name: each host's script (hosts in the
    topology's order), then the driver, which runs them (written last, it is there only
    when they are)."""
    for host in topo.hosts:
        if host_file(host) == DRIVER:
            raise InputError(f"host {host!r}: its script would be {DRIVER}, the name of the "
                             "driver that export writes beside it; rename the host")
    files = {host_file(host): host_script(topo, steps, host, teardown) for host in topo.hosts}
    files[DRIVER] = driver_script(topo, steps, teardown)
    return files


def host_script(topo: Topology, steps: Sequence[Step], host: str,
                teardown: bool = False) -> str:
    """Host's part of the lab as a bash script of phases, `bash HOST.sh PHASE`, each the
    one-host export's script for that host's steps: build (names checked free, every step
    but node commands, what it makes recorded), exec (the node commands, which the driver
    runs once every host is built), teardown (what is the lab's, last first)."""
    mine = [s for s in steps if s.host == host]
    phases = host_phases(mine, host, teardown)
    record = _record_path(topo.name, host)
    lines = _header(f"Host {host}'s part of netplay lab {topo.name}: `bash {host_file(host)} "
                    f"PHASE`, PHASE one of: {', '.join(phases)}.",
                    f"{DRIVER} runs it on the host over ssh, every host at once.")
    lines += [_comment("No `set -e` but in build and exec: the teardown runs each command "
                       "even when one before it failed."),
              "set -uo pipefail", "", *_need_function(NOTHING_CHANGED)]
    if BUILD in phases:
        failed = (f"A failing command stops the script with status 1 (never "
                  f"{NOTHING_CHANGED}: something may have changed); {DRIVER} then tears down "
                  f"every host (or: bash {host_file(host)} {TEARDOWN}).", _FAILED_HERE)
        body = _build_body(on_host(topo, host), [s for s in mine if not s.node_command],
                           record, failed, NOTHING_CHANGED)
        lines += _phase_function(BUILD, ["set -e", *_needs(_programs(
            [s.argv for s in mine if not s.node_command]))] + body)
    if EXEC in phases:
        lines += _phase_function(EXEC, _exec_body(mine))
    if TEARDOWN in phases:
        lines += _phase_function(TEARDOWN, [*_needs(_programs(_undos(mine))),
                                            *_teardown_body(topo.name, mine, record)])
    return "\n".join(lines + _dispatch(host, phases)) + "\n"


def _phase_function(phase, body):
    """body as the bash function phase_PHASE, indented (a step's argument that holds a
    newline stays as it is: each line of body is indented where it starts)."""
    return ["", f"phase_{phase}() {{", *(f"    {line}" if line else "" for line in body), "}"]


def _exec_body(steps):
    """The node commands of one host's steps, each announced, stopping at a failure; the
    values they use captured again first (the build phase ran in another shell)."""
    commands = [s for s in steps if s.node_command]
    used = {var for s in commands for var in s.refs()}
    captures = [s for s in steps if s.capture in used and not s.node_command]
    return ["set -e", *_needs(_programs([s.argv for s in captures + commands])), "",
            _comment("The nodes' own commands (their `exec` lists), run once every host of "
                     "the lab is built: they may reach nodes on other hosts."),
            f"trap '{_FAILED_HERE}' ERR", "",
            *script_lines(captures + commands, _announced)]


def _announced(step):
    return _build_extras(step)[0], ()


def _dispatch(host, phases):
    """The end of a host script: the phase checked, root required, the phase run."""
    usage = f"usage: bash {host_file(host)} {'|'.join(phases)}"
    return ["", "case ${1:-} in",
            f"    {' | '.join(phases)}) ;;",
            f"    *) echo {shlex.quote(usage)} >&2; exit 2 ;;",
            "esac",
            *_root_check(NOTHING_CHANGED),
            "case $1 in",
            *(f"    {phase}) phase_{phase} ;;" for phase in phases),
            "esac"]


def driver_script(topo: Topology, steps: Sequence[Step], teardown: bool = False) -> str:
    """The driver of a lab on several hosts: runs each host's script (next to it) on its
    host over ssh, every host at once. `bash run.sh` builds: every host's build phase, then
    (once every host is up) the node commands; if any host fails, the teardown phase of
    every host that started. `bash run.sh teardown` tears down; the teardown export's
    driver does only that."""
    hosts = list(topo.hosts)
    if teardown:
        usage = (f"`bash {DRIVER}` runs each host's teardown at once; each removes only what "
                 "is the lab's.")
    else:
        usage = (f"`bash {DRIVER}` runs each host's build at once, then (once every host is "
                 "up) the node commands; if a host fails, the teardown of every host that "
                 f"started. `bash {DRIVER} {TEARDOWN}` tears the lab down.")
    lines = _header(f"{'Tears down' if teardown else 'Builds'} netplay lab {topo.name} on its "
                    f"hosts {', '.join(hosts)}: runs each host's script (HOST.sh, next to this "
                    "one) on its host over ssh.", usage,
                    "$NETPLAY_SSH_CONFIG, if set, names the ssh configuration to use (ssh -F).",
                    exported="the driver of the hosts' scripts.")
    lines += ["set -uo pipefail", "",
              "dir=$(cd -- \"$(dirname -- \"${BASH_SOURCE[0]}\")\" && pwd) || exit 1",
              f"lab={shlex.quote(topo.name)}",
              f"hosts=({' '.join(shlex.quote(h) for h in hosts)})",
              *_driver_ssh(topo, hosts), *_driver_phases()]
    if teardown:
        lines += _driver_main_teardown(TEARDOWN)
    else:
        execs = [h for h in hosts if EXEC in host_phases(steps, h)]
        lines += _driver_main_build(execs)
    return "\n".join(lines) + "\n"


def _driver_ssh(topo, hosts):
    """Bash for `on_host HOST PHASE`: HOST.sh PHASE on the host, over ssh (as root through
    `sudo -n` where the host has sudo: true)."""
    config = '${NETPLAY_SSH_CONFIG:+-F "$NETPLAY_SSH_CONFIG"}'
    lines = ["", _comment("Run one phase of a host's script on that host, over ssh (the "
                          "script on ssh's standard input)."),
             "on_host() {", "    case $1 in"]
    for host in hosts:
        shell = "sudo -n bash -s" if topo.hosts[host].sudo else "bash -s"
        lines.append(f"        {shlex.quote(host)}) ssh {config} -o BatchMode=yes "
                     f"{shlex.quote(topo.hosts[host].ssh)} {shell} -- \"$2\" "
                     f"< \"$dir\"/{shlex.quote(host_file(host))} ;;")
    return lines + ["    esac", "}"]


def _driver_phases():
    """Bash for `run_phase PHASE HOST...`: the phase on each host at once, each line a host
    prints on stderr after its name; then each host's exit status in status[HOST] and the
    hosts that failed in failed."""
    return [
        "",
        _comment("Each line a host's script prints (on either stream), on stderr after the "
                 "host's name."),
        "label() {",
        "    local line",
        "    while IFS= read -r line || [[ -n $line ]]; do",
        "        printf '%s: %s\\n' \"$1\" \"$line\" >&2",
        "    done",
        "}",
        "",
        _comment("Run a phase on the hosts named after it, all at once (background jobs), "
                 "and wait for each."),
        "declare -A status=()",
        "failed=()",
        "run_phase() {",
        "    local phase=$1 host",
        "    local -A jobs=()",
        "    shift",
        "    for host in \"$@\"; do",
        "        on_host \"$host\" \"$phase\" 2>&1 | label \"$host\" &",
        "        jobs[$host]=$!",
        "    done",
        "    failed=()",
        "    for host in \"$@\"; do",
        "        wait \"${jobs[$host]}\"",
        "        status[$host]=$?",
        "        if [[ ${status[$host]} -ne 0 ]]; then",
        "            failed+=(\"$host\")",
        "        fi",
        "    done",
        "}",
    ]


def _driver_teardown(again):
    """Bash for `teardown_hosts HOST...`: the teardown phase on those hosts at once."""
    return [
        "",
        _comment("Tear down the hosts named, all at once: each removes only what is the "
                 "lab's (recorded by its build, or carrying the lab's mark)."),
        "teardown_hosts() {",
        f"    run_phase {TEARDOWN} \"$@\"",
        "    if [[ ${#failed[@]} -ne 0 ]]; then",
        "        echo \"lab $lab: the teardown failed on host(s) ${failed[*]} (see above); once "
        f"that is fixed, run it again: {again}\" >&2",
        "        return 1",
        "    fi",
        "    echo \"lab $lab: torn down on hosts $*\" >&2",
        "}",
    ]


def _driver_main_teardown(phase):
    again = "bash $dir/" + DRIVER
    return [*_driver_teardown(again), "",
            "case ${1:-" + phase + "} in",
            f"    {phase}) teardown_hosts \"${{hosts[@]}}\" ;;",
            f"    *) echo 'usage: bash {DRIVER} [{phase}]' >&2; exit 2 ;;",
            "esac"]


def _driver_main_build(execs):
    """The build: every host's build phase, then the node commands on the hosts in
    execs; on a failure, the teardown of every host that started, then exit 1."""
    lines = [*_driver_teardown(f"bash $dir/{DRIVER} {TEARDOWN}"), "",
             _comment("After a failure: tear down the hosts named (those that started), exit 1."),
             "roll_back() {",
             "    local why=$1",
             "    shift",
             "    if [[ $# -eq 0 ]]; then",
             "        echo \"lab $lab: $why; no host changed anything\" >&2",
             "        exit 1",
             "    fi",
             "    echo \"lab $lab: $why; tearing down every host that started: $*\" >&2",
             "    teardown_hosts \"$@\"",
             "    exit 1",
             "}",
             "",
             f"case ${{1:-{BUILD}}} in",
             f"    {BUILD}) ;;",
             f"    {TEARDOWN}) teardown_hosts \"${{hosts[@]}}\"; exit ;;",
             f"    *) echo 'usage: bash {DRIVER} [{BUILD}|{TEARDOWN}]' >&2; exit 2 ;;",
             "esac",
             "",
             _comment(f"Every host's build at once. A host whose build exits {NOTHING_CHANGED} "
                      "stopped before changing anything (a name taken, a program missing): "
                      "it has nothing to tear down."),
             f"run_phase {BUILD} \"${{hosts[@]}}\"",
             "if [[ ${#failed[@]} -ne 0 ]]; then",
             "    started=()",
             "    for host in \"${hosts[@]}\"; do",
             f"        if [[ ${{status[$host]}} -ne {NOTHING_CHANGED} ]]; then",
             "            started+=(\"$host\")",
             "        fi",
             "    done",
             "    roll_back \"building failed on host(s) ${failed[*]}\" \"${started[@]}\"",
             "fi"]
    if execs:
        lines += ["", _comment("The nodes' own commands, once every host is up: they may "
                               "reach nodes on other hosts."),
                  f"run_phase {EXEC} {' '.join(shlex.quote(h) for h in execs)}",
                  "if [[ ${#failed[@]} -ne 0 ]]; then",
                  "    roll_back \"a node command failed on host(s) ${failed[*]}\" "
                  "\"${hosts[@]}\"",
                  "fi"]
    return lines + ["echo \"lab $lab: built on hosts ${hosts[*]}\" >&2"]
