"""Shell completion for bash, zsh and fish, written by shtab from the argparse parser.

shtab (https://github.com/iterative/shtab) turns the parser into each shell's script:
commands, options, the choices of options. What a positional argument names is read here
from its dest and metavar, so a new command's `lab`, `node` or `NODE:IFACE` is completed
with no change to this file:

    lab -> labs on this host           topology -> built-ins and .yaml/.yml files
    node -> nodes of the lab before    NODE:IFACE (metavar) -> the lab's ends, NODE:IF
    target, dest -> nodes and ends     source (TOPOLOGY|LAB) -> built-ins, labs and files
    anything else -> files

Names that change (labs, their nodes) are asked of netplay itself while completing, with
the hidden `netplay completion --list KIND... --line WORD...`: the words typed so far say
which lab and which --state-dir. shtab is imported only here, and this module only by the
completion command, so `netplay --help` does not load it.
"""

import argparse

SHELLS = ("bash", "zsh", "fish")
LISTS = ("labs", "nodes", "ends", "topologies")


def positional_kinds(action):
    """What a positional argument names, as a tuple of LISTS and "topology-files"/"files";
    () for none (a command for a node after --), None for the parser's own choices."""
    dest, metavar = action.dest, str(action.metavar or "").upper()
    if action.choices:
        return None  # shtab offers them
    if action.nargs in (argparse.REMAINDER, argparse.PARSER):
        return ()
    if "NODE:IF" in metavar:
        return ("ends",)
    if dest == "lab":
        return ("labs",)
    if dest == "source" or ("TOPOLOGY" in metavar and "LAB" in metavar):
        return ("topologies", "labs", "topology-files")
    if dest == "topology":
        return ("topologies", "topology-files")
    if dest == "node":
        return ("nodes",)
    if dest in ("target", "dest"):
        return ("nodes", "ends")
    return ("files",)


def option_kind(action):
    """shtab's FILE or DIRECTORY for an option whose value is a path, else None."""
    import shtab

    text = f"{action.dest} {action.metavar or ''}".lower()
    if action.choices or action.nargs == 0:
        return None
    if "dir" in text:
        return shtab.DIRECTORY
    if any(w in text for w in ("file", "output", "write", "config", "hosts")):
        return shtab.FILE
    return None


# --- the scripts ------------------------------------------------------------------------------


def _function(kinds):
    # "_file" in the name makes shtab's bash treat replies as file names (quoted, dir/)
    return "_netplay_complete_" + "_".join(k.replace("-", "_") for k in kinds)


def _bash(kinds):
    names = [k for k in kinds if k in LISTS]
    body = [f'compgen -W "$(_netplay_ask {" ".join(names)})" -- "$1"'] if names else []
    if "topology-files" in kinds:
        body += ["compgen -d -- \"$1\"", "compgen -f -X '!*.yaml' -- \"$1\"",
                 "compgen -f -X '!*.yml' -- \"$1\""]
    if "files" in kinds:
        body.append('compgen -f -- "$1"')
    return f"{_function(kinds)}() {{\n    {'; '.join(body)}\n}}"


def _zsh(kinds):
    names = [k for k in kinds if k in LISTS]
    body = ["local -a names"]
    if names:
        body.append(f'names=(${{(f)"$(_netplay_ask {" ".join(names)})"}}); compadd -a names')
    if "topology-files" in kinds:
        body.append("_files -g '*.(yaml|yml)'")
    if "files" in kinds:
        body.append("_files")
    return f"{_function(kinds)}() {{\n    {'; '.join(body)}\n}}"


def _fish(kinds):
    names = [k for k in kinds if k in LISTS]
    parts = [f"__netplay_ask {' '.join(names)}"] if names else []
    if "topology-files" in kinds:
        parts.append("__fish_complete_suffix .yaml .yml")
    if "files" in kinds:
        parts.append("__fish_complete_path (commandline -ct)")
    return "(" + "; ".join(parts) + ")"


_BASH_ASK = r"""
# netplay's own names: `netplay completion --list KIND... --line WORDS` (the words before
# the one completed say which lab, and which --state-dir)
_netplay_ask() {
    "${COMP_WORDS[0]}" completion --list "$@" --line "${COMP_WORDS[@]:1:COMP_CWORD-1}" \
        2>/dev/null
}"""

# Readline breaks words at COMP_WORDBREAKS (: and = among them), so NODE:IF and
# --state-dir=DIR reach a completion function as three words each, which shtab's would count
# as three arguments. _netplay joins them again, splits --opt=value into two words, calls
# shtab's function, and takes the part before the last : off each reply (readline replaces
# only what follows it).
_BASH_WRAPPER = r"""
_netplay() {
    local line=${COMP_LINE:0:COMP_POINT} w rest i
    local -a words=()
    for ((i = 0; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        rest=${line#"${line%%[![:space:]]*}"}
        if (( i > 0 && ${#rest} == ${#line} )) && [[ $w == [:=]* || ${words[-1]} == *[:=] ]]
        then
            words[-1]+=$w
        else
            words+=("$w")
        fi
        line=${rest#"$w"}
    done
    local cur=${words[-1]} n=$(( ${#words[@]} - 1 ))
    local -a split=()
    for w in "${words[@]:0:n}"; do
        if [[ $w == --*=* ]]; then split+=("${w%%=*}" "${w#*=}"); else split+=("$w"); fi
    done
    if [[ $cur == --*=* && $COMP_WORDBREAKS == *=* ]]; then
        split+=("${cur%%=*}"); cur=${cur#*=}
    fi
    local -a COMP_WORDS=("${split[@]}" "$cur")
    local COMP_CWORD=${#split[@]}
    _shtab_netplay
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
        local before=${cur%"${cur##*:}"}
        for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${COMPREPLY[i]#"$before"}; done
    fi
}
complete -F _netplay netplay
"""

_ZSH_ASK = r"""
# netplay's own names: `netplay completion --list KIND... --line WORDS` (the words before
# the one completed say which lab, and which --state-dir)
_netplay_ask() {
    local -a line; line=(${(z)LBUFFER})
    [[ $LBUFFER == *[[:space:]] ]] || line[-1]=()
    line=(${line[${line[(i)(*/|)netplay]},-1]})  # from netplay on (`sudo netplay ...`)
    ${line[1]} completion --list "$@" --line ${(Q)line[2,-1]} 2>/dev/null
}"""

_ZSH_LOAD = ("# zsh completion for netplay, generated by `netplay completion zsh` (with "
             "shtab).\n# Install: netplay completion zsh > ~/.zfunc/_netplay (a directory "
             "in $fpath),\n# or: echo 'source <(netplay completion zsh)' >> ~/.zshrc\n"
             "(( $+functions[compdef] )) || { autoload -U +X compinit && compinit -u; }\n")

_FISH_ASK = r"""
# netplay's own names: `netplay completion --list KIND... --line WORDS` (the words before
# the one completed say which lab, and which --state-dir)
function __netplay_ask
    set -l words (commandline -opc)
    $words[1] completion --list $argv --line $words[2..-1] 2>/dev/null
end"""


def _attach(parser):
    """Give every argument that names something shtab's `complete` for each shell; the
    shell functions they call, once each: {shell: [definitions]}."""
    defined = {shell: {} for shell in SHELLS}  # kinds -> the function's definition
    for action in _walk(parser):
        if action.option_strings:
            kind = option_kind(action)
            if kind is not None:
                action.complete = kind
            continue
        kinds = positional_kinds(action)
        if kinds is None:
            continue
        if not kinds:
            action.complete = {shell: "" for shell in SHELLS}
            continue
        defined["bash"][kinds] = _bash(kinds)
        defined["zsh"][kinds] = _zsh(kinds)
        action.complete = {"bash": _function(kinds), "zsh": _function(kinds),
                           "fish": _fish(kinds)}
    return {shell: list(fns.values()) for shell, fns in defined.items()}


def _walk(parser):
    """Every action of the parser and of its commands' parsers."""
    for action in parser._actions:  # argparse has no public walk of its actions
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _walk(sub)
        else:
            yield action


def script(shell, parser):
    """The completion script for shell (bash, zsh or fish) of parser, written by shtab."""
    import shtab

    functions = _attach(parser)
    if shell == "bash":
        preamble = "\n".join([_BASH_ASK, *functions["bash"]])
        head = ("# bash completion for netplay, generated by `netplay completion bash` "
                "(with shtab).\n# Install: netplay completion bash | sudo tee "
                "/etc/bash_completion.d/netplay\n")
        return head + shtab.complete(parser, "bash", preamble=preamble) + _BASH_WRAPPER
    if shell == "zsh":
        preamble = "\n".join([_ZSH_ASK, *functions["zsh"]])
        text = shtab.complete(parser, "zsh", preamble=preamble)
        # shtab registers the function when the script is eval'd, and runs it when zsh
        # autoloads it from $fpath; `source <(netplay completion zsh)` registers it too
        # (it is how netplay's zsh completion was installed before), compinit loaded first
        text = text.replace("if [[ $zsh_eval_context[-1] == eval ]]; then",
                            "if [[ $zsh_eval_context[-1] == (eval|file) ]]; then", 1)
        return text.replace("#compdef netplay\n", "#compdef netplay\n" + _ZSH_LOAD, 1)
    return shtab.complete(parser, "fish", preamble=_FISH_ASK)


# --- names for the running completion ---------------------------------------------------------


def context(parser, words):
    """(--state-dir or None, the lab) named by a command line's words (after `netplay`,
    up to the word being completed); never raises."""
    subs = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            subs = action.choices
    state_dir, command, positionals = None, None, []
    takes_value = _valued(parser)
    words = list(words)
    while words:
        word = words.pop(0)
        if word == "--":
            break
        if word.startswith("--state-dir="):
            state_dir = word.split("=", 1)[1]
        elif word == "--state-dir" and words:
            state_dir = words.pop(0)
        elif word.startswith("-"):
            if word in takes_value and words:
                words.pop(0)
        elif command is None and word in subs:
            command = subs[word]
            takes_value |= _valued(command)
        elif command is not None:
            positionals.append(word)
    return state_dir, _lab_of(command, positionals)


def _valued(parser):
    """The option strings of parser that take a value."""
    return {o for a in parser._actions if a.option_strings and a.nargs != 0 for o in
            a.option_strings}


def _lab_of(command, positionals):
    if command is None:
        return None
    dests = [a.dest for a in command._actions if not a.option_strings]
    if "lab" in dests and dests.index("lab") < len(positionals):
        return positionals[dests.index("lab")]
    return None


def names(kinds, root, lab=None):
    """The words completion offers for kinds now; never raises (a completion that fails
    must stay silent)."""
    out = []
    for kind in kinds:
        try:
            out += _names(kind, root, lab)
        except Exception:  # unreadable state directory, corrupt log, ...
            pass
    return list(dict.fromkeys(out))


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
    ends = [f"{node}:{iface}" for node, raw in nodes.items() if isinstance(raw, dict)
            for iface in (raw.get("interfaces") or {})]
    for link in topology.get("links") or []:  # bridge ports too (BRIDGE:PORT)
        ends += [e for e in (link.get("endpoints") or []) if isinstance(e, str)]
    return sorted(set(ends), key=ends.index)
