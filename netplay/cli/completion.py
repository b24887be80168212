"""Shell completion, generated from the argparse parser itself.

`netplay completion bash` prints a bash script; `netplay completion zsh` prints the same
script behind zsh's bashcompinit. Commands, their options and the choices of options come
from the parser when the script is generated, so a new command or option needs no change
here. Positional arguments are completed by their name (argparse's dest):

    topology -> built-in topologies and .yaml/.yml files     lab -> labs on this host
    node     -> nodes of the lab named before it              log, file -> files
    source   -> topologies, labs and files                    target -> NODE:IFACE of the lab

Names that change (labs, their nodes) are asked of netplay itself at completion time, with
the hidden `netplay completion --list KIND [--lab LAB]`, honouring --state-dir.
"""

import argparse
import re
import shlex

POSITIONAL_KINDS = {"topology": "topology", "lab": "lab", "node": "node", "log": "file",
                    "file": "file", "path": "file", "source": "source", "target": "endpoint"}
SHELLS = ("bash", "zsh")
LISTS = ("topologies", "labs", "nodes", "endpoints")
_SAFE = re.compile(r"[A-Za-z0-9_-]+\Z")  # command and option names safe in a case pattern


# --- what the parser says ---------------------------------------------------------------------


def _subparsers(parser):
    for action in parser._actions:  # argparse has no public walk of its actions
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def _option_kind(action):
    """What an option's value is: a list of choices, 'dir', 'file', or '' (free text)."""
    if action.choices:
        return [str(c) for c in action.choices]
    text = f"{action.dest} {action.metavar or ''}".lower()
    if "dir" in text:
        return "dir"
    if any(w in text for w in ("file", "output", "write", "log")):
        return "file"
    return ""


def describe(parser):
    """The parser as data: global options, and per command its options, the kinds of the
    values options take, and the kinds of its positional arguments in order."""

    def options(p):
        opts, values = [], {}
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction) or not action.option_strings:
                continue
            if action.help == argparse.SUPPRESS:
                continue
            opts += action.option_strings
            if action.nargs != 0:
                for opt in action.option_strings:
                    values[opt] = _option_kind(action)
        return opts, values

    global_opts, global_values = options(parser)
    commands = {}
    for name, sub in _subparsers(parser).items():
        opts, values = options(sub)
        positionals = []
        for action in sub._actions:
            if action.option_strings:
                continue
            if action.nargs in (argparse.REMAINDER, argparse.PARSER):
                positionals.append({"kind": "stop", "repeat": True})
                break
            kind = ["choices", *map(str, action.choices)] if action.choices else \
                POSITIONAL_KINDS.get(action.dest, "file")
            positionals.append({"kind": kind, "repeat": action.nargs in ("*", "+")})
        commands[name] = {"options": opts, "values": values, "positionals": positionals}
    return {"options": global_opts, "values": global_values, "commands": commands}


# --- the bash script --------------------------------------------------------------------------


def _q(words):
    return shlex.quote(" ".join(words))


def _value_cases(values, prefix):
    """case arms completing an option's value, for `cmd:option` patterns."""
    lines = []
    for opt, kind in values.items():
        pattern = f"{prefix}:{opt}"
        if isinstance(kind, list):
            action = f"COMPREPLY=($(compgen -W {_q(kind)} -- \"$cur\"))"
        elif kind == "dir":
            action = "_netplay_files dirs"
        elif kind == "file":
            action = "_netplay_files all"
        else:
            action = "COMPREPLY=()"
        lines.append(f"        {pattern}) {action};;")
    return lines


def bash_script(parser):
    info = describe(parser)
    commands = sorted(info["commands"])
    commands = [c for c in commands if _SAFE.match(c)]  # names used unquoted in patterns
    takes = [f"*:{o}" for o in info["values"] if _SAFE.match(o)]
    values = _value_cases(info["values"], "*")
    options, positional = [], []
    for name in commands:
        cmd = info["commands"][name]
        own = {o: k for o, k in cmd["values"].items()
               if o not in info["values"] and _SAFE.match(o)}
        takes += [f"{name}:{o}" for o in own]
        values += _value_cases(own, name)
        options.append(f"        {name}) echo {_q(cmd['options'])};;")
        arms = []
        for i, pos in enumerate(cmd["positionals"]):
            kind = pos["kind"] if isinstance(pos["kind"], str) else " ".join(pos["kind"])
            if pos["repeat"]:  # this one and every one after it
                arms.append(f"*) echo {shlex.quote(kind)};;")
                break
            arms.append(f"{i}) echo {shlex.quote(kind)};;")
        if arms:
            positional.append(f"        {name}) case $2 in {' '.join(arms)} esac;;")
    takes_pattern = "|".join(takes) or "''"
    nl = "\n"
    return f"""# bash completion for netplay; generated by `netplay completion bash`.
# Install: netplay completion bash > /etc/bash_completion.d/netplay
#      or: echo 'source <(netplay completion bash)' >> ~/.bashrc

_netplay_takes_value() {{  # _netplay_takes_value CMD OPTION: does OPTION take a value?
    case "$1:$2" in
        {takes_pattern}) return 0;;
    esac
    return 1
}}

_netplay_options() {{  # the options of a command
    case "$1" in
{nl.join(options)}
        *) echo {_q(info['options'])};;
    esac
}}

_netplay_positional() {{  # _netplay_positional CMD INDEX: what the INDEXth argument is
    case "$1" in
{nl.join(positional)}
    esac
}}

_netplay_list() {{  # names netplay knows now: labs, their nodes, built-in topologies
    local -a dir=()
    [[ -n $_netplay_statedir ]] && dir=(--state-dir "$_netplay_statedir")
    "$_netplay_prog" "${{dir[@]}}" completion --list "$@" 2>/dev/null
}}

_netplay_files() {{  # files (all, dirs, or topologies: .yaml/.yml files) and directories
    local f
    local IFS=$'\\n'
    for f in $(compgen -f -- "$cur"); do
        if [[ $1 == all || -d $f || ( $1 == topologies && ( $f == *.yaml || $f == *.yml ) ) ]]
        then
            [[ $1 == dirs && ! -d $f ]] || COMPREPLY+=("$f")
        fi
    done
    compopt -o filenames 2>/dev/null  # readline quotes them and marks directories with /
}}

_netplay_words() {{  # add the words of $1 (separated by blanks) that start with $cur
    COMPREPLY+=($(compgen -W "$1" -- "$cur"))
}}

_netplay() {{
    [[ -n ${{ZSH_VERSION-}} ]] && setopt localoptions ksharrays  # zsh: index from 0, as bash
    local cur=${{COMP_WORDS[COMP_CWORD]}} _netplay_prog=${{COMP_WORDS[0]}}
    local _netplay_statedir="" cmd="" pending="" w i
    local -a pos=()
    COMPREPLY=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${{COMP_WORDS[i]}}
        if [[ -n $pending ]]; then  # the value of the option before
            [[ $w == "=" ]] && continue
            [[ $pending == --state-dir ]] && _netplay_statedir=$w
            pending=""
            continue
        fi
        case $w in
            --) return 0;;  # what follows is a command for a node, not netplay's
            --state-dir=*) _netplay_statedir=${{w#*=}}; continue;;
            -*) _netplay_takes_value "$cmd" "$w" && pending=$w; continue;;
        esac
        if [[ -z $cmd ]]; then cmd=$w; else pos+=("$w"); fi
    done
    if [[ -n $pending ]]; then  # completing an option's value
        [[ $cur == "=" ]] && cur=""
        case "$cmd:$pending" in
{nl.join(values)}
        esac
        return 0
    fi
    if [[ $cur == -* ]]; then
        _netplay_words "$(_netplay_options "$cmd")"
        return 0
    fi
    if [[ -z $cmd ]]; then
        _netplay_words {_q(commands)}
        return 0
    fi
    local kind
    kind=$(_netplay_positional "$cmd" "${{#pos[@]}}")
    case $kind in
        topology) _netplay_words "$(_netplay_list topologies)"; _netplay_files topologies;;
        lab) _netplay_words "$(_netplay_list labs)";;
        node) _netplay_words "$(_netplay_list nodes --lab "${{pos[${{#pos[@]}}-1]}}")";;
        endpoint) _netplay_words "$(_netplay_list endpoints --lab "${{pos[${{#pos[@]}}-1]}}")"
                  compopt -o nospace 2>/dev/null;;
        source) _netplay_words "$(_netplay_list topologies; _netplay_list labs)"
                _netplay_files topologies;;
        file) _netplay_files all;;
        choices\\ *) _netplay_words "${{kind#choices }}";;
    esac
    return 0
}}

complete -F _netplay netplay
"""


def zsh_script(parser):
    """zsh runs the bash function through bashcompinit (zsh 4.3 and later)."""
    return ("#compdef netplay\n"
            "# zsh completion for netplay; generated by `netplay completion zsh`.\n"
            "# Install: echo 'source <(netplay completion zsh)' >> ~/.zshrc\n"
            "(( $+functions[compdef] )) || { autoload -U +X compinit && compinit -u; }\n"
            "autoload -U +X bashcompinit && bashcompinit\n"
            + bash_script(parser).split("\n", 3)[3])


def script(shell, parser):
    return bash_script(parser) if shell == "bash" else zsh_script(parser)


# --- names for the running completion ---------------------------------------------------------


def names(kind, root, lab=None):
    """The words completion offers for `kind` now; never raises (a completion that fails
    must stay silent)."""
    try:
        return _names(kind, root, lab)
    except Exception:  # unreadable state directory, corrupt log, ...
        return []


def _names(kind, root, lab):
    if kind == "topologies":
        from netplay.load import builtins

        return builtins.names()
    from netplay.run import state

    if kind == "labs":
        return state.labs(root)
    if not lab:
        return []
    data = state.read_lab(root, lab)
    topology = data.get("topology") if isinstance(data, dict) else None
    nodes = topology.get("nodes") if isinstance(topology, dict) else None
    if not isinstance(nodes, dict):
        return []
    if kind == "nodes":
        return list(nodes)
    return [f"{node}:{iface}" for node, raw in nodes.items() if isinstance(raw, dict)
            for iface in (raw.get("interfaces") or {})]
