"""The command line: common options, one subcommand per module in netplay.cli.commands, and
the one place where errors become a single line and an exit code."""

import argparse
import gc
import importlib
import os
import signal
import sys
import textwrap

from netplay import __version__
from netplay.cli.commands import COMMANDS
from netplay.core.errors import EXIT_FAILED, EXIT_USAGE, NetplayError

ENV_PREFIX = "NETPLAY_"
# Options that say what to do this once, not how: an environment variable left set would
# do it every time (remove, clear, set down, change a running lab's link, run the nodes'
# own commands, overwrite a file).
NOT_FROM_ENV = {"--help", "--version", "--yes", "--clear", "--down", "--up", "--undo",
                "--teardown", "--allow-exec", "--output", "--write",
                "--delay", "--jitter", "--loss", "--rate"}
TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _common_options(suppress):
    """Options accepted before and after the command: `netplay -v run x` = `netplay run x -v`."""
    default = argparse.SUPPRESS if suppress else None
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--state-dir", metavar="DIR", default=default,
                        help="where lab logs live (default $NETPLAY_STATE_DIR or /var/lib/netplay)")
    common.add_argument("--ssh-config", metavar="FILE", default=default,
                        help="the ssh configuration for a lab's hosts (default "
                             "$NETPLAY_SSH_CONFIG, else ssh's own)")
    common.add_argument("--hosts", metavar="FILE", dest="hosts_file", default=default,
                        help="machines to put the lab on, as YAML `hosts: {NAME: {ssh: "
                             "DEST}}`: they replace the topology's hosts of those names, "
                             "or take a lab without hosts (placement: auto) (default "
                             "$NETPLAY_HOSTS)")
    common.add_argument("-v", "--verbose", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="print each command as it runs, like bash -x")
    common.add_argument("-q", "--quiet", action="store_true",
                        default=argparse.SUPPRESS if suppress else False,
                        help="print only errors")
    return common


def examples(module):
    """A command's epilog: its EXAMPLES, one command line each, under `examples:`."""
    lines = getattr(module, "EXAMPLES", ())
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) if lines else None


def build_parser(environ=None, only=None):
    """The parser of every command in COMMANDS (only: of that one command), its options'
    defaults taken from environ (os.environ); the variables' errors are kept in
    parser.env_errors until a command runs."""
    parser = argparse.ArgumentParser(
        prog="netplay", parents=[_common_options(False)],
        description="Build virtual networks of namespaces, veths, bridges and containers "
                    "from a topology file, as recorded shell commands.",
        epilog="exit codes: 0 success, 1 the lab or host failed, 2 bad input or unusable host")
    parser.add_argument("--version", action="version", version=f"netplay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    after = _common_options(True)
    for name in [only] if only else COMMANDS:
        module = importlib.import_module(f"netplay.cli.commands.{name}")
        # the description wrapped here: the raw formatter keeps the examples' lines as written
        cmd = sub.add_parser(name, help=module.HELP, description=textwrap.fill(module.HELP, 79),
                             parents=[after], epilog=examples(module),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.main)
    parser.env_errors = apply_environment(parser, os.environ if environ is None else environ)
    return parser


# --- defaults from NETPLAY_* ------------------------------------------------------------------


def subcommands(parser):
    """{name: parser} of the commands (argparse has no public walk of its subparsers)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _long(action):
    return next((o for o in action.option_strings if o.startswith("--")), None)


def _from_env(action):
    """Does a NETPLAY_* variable set this option's default? Options with a long name that
    take one value or are a flag, and flags storing constants in one place (ping -4/-6)."""
    if not action.option_strings or action.help == argparse.SUPPRESS:
        return False
    if NOT_FROM_ENV & set(action.option_strings):
        return False
    if isinstance(action, argparse._StoreConstAction):
        return True
    return isinstance(action, argparse._StoreAction) and action.nargs is None and \
        _long(action) is not None


def env_options(parser):
    """{variable: [(parser, [actions])]}: which options each NETPLAY_* variable sets.

    An option's variable is NETPLAY_ and its long name (--max-pings: NETPLAY_MAX_PINGS),
    shared by every command that has the option; flags without a long name that store a
    constant in one place share a variable named after that place (-4/-6: NETPLAY_FAMILY)."""
    found = {}
    for p in [parser, *subcommands(parser).values()]:
        groups = {}
        for action in filter(_from_env, p._actions):
            name = _long(action)
            name = name[2:] if name else action.dest
            groups.setdefault(ENV_PREFIX + name.upper().replace("-", "_"), []).append(action)
        for var, actions in groups.items():
            found.setdefault(var, []).append((p, actions))
    return found


def env_value(raw, actions):
    """The default the text raw stands for in actions (one option, or flags of one dest);
    ValueError saying what the variable takes instead."""
    first = actions[0]
    if isinstance(first, argparse._StoreConstAction) and _long(first):  # a flag
        if raw.lower() in TRUE_WORDS + FALSE_WORDS:
            return first.const if raw.lower() in TRUE_WORDS else first.default
        raise ValueError("takes 1 or 0 (also true/false, yes/no, on/off)")
    if isinstance(first, argparse._StoreConstAction):
        consts = {str(a.const): a.const for a in actions}
        if raw in consts:
            return consts[raw]
        raise ValueError(f"takes {' or '.join(consts)} "
                         f"({', '.join(a.option_strings[0] for a in actions)})")
    option = _long(first)
    try:
        value = first.type(raw) if callable(first.type) else raw
    except (TypeError, ValueError):
        kind = "a whole number" if first.type is int else "a " + first.type.__name__
        raise ValueError(f"takes {kind}, as {option} does") from None
    if first.choices is not None and value not in first.choices:
        raise ValueError(f"takes one of {', '.join(map(str, first.choices))}, "
                         f"as {option} does")
    return value


def _name_in_help(var, actions):
    for action in actions:
        if var in (action.help or ""):  # the common options' help names theirs already
            continue
        if isinstance(action, argparse._StoreConstAction):  # a flag, or -4 of -4/-6
            hint = f"{var}=1" if _long(action) else f"{var}={action.const}"
        else:
            hint = f"${var}"
        action.help = f"{action.help} (or {hint})"


def apply_environment(parser, environ):
    """Every option's default from its NETPLAY_* variable when that is set and not empty;
    each option's help names its variable. Returns {parser: [error lines]}: a bad value
    stops only the commands it applies to (main), not `--help` or others."""
    errors = {}
    for var, places in env_options(parser).items():
        raw = environ.get(var, "")
        for p, actions in places:
            _name_in_help(var, actions)
            if not raw or actions[0].default == argparse.SUPPRESS:
                continue  # SUPPRESS: a common option's copy after the command, set globally
            try:
                p.set_defaults(**{actions[0].dest: env_value(raw, actions)})
            except ValueError as err:
                errors.setdefault(p, []).append(f"{var}={raw} in the environment: it {err}; "
                                                "change or unset it")
    return errors


def env_error(parser, args):
    """The first bad NETPLAY_* value among those of the global options and args' command."""
    mine = [parser, subcommands(parser).get(getattr(args, "command", None))]
    return next((line for p in mine for line in parser.env_errors.get(p, [])), None)


FLAGS = ("-v", "--verbose", "-q", "--quiet")  # the global options that take no value


def _command_of(argv):
    """The command argv names when only flags come before it, else None."""
    for word in argv:
        if word in COMMANDS:
            return word
        if word not in FLAGS:
            return None
    return None


def _generated_lab_name(spec):
    """`netplay down linear:5` means the lab that `netplay run linear:5` made (linear-5)."""
    from netplay.load import builtins

    return builtins.load(spec).name


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM rolls a run back, as SIGINT does


def main(argv=None):
    # A command is a short process that builds large graphs of small objects (a lab of
    # 1000 nodes plans 20,000 steps): the cyclic collector, run every 700 allocations,
    # walked them again and again and took half of planning's time. Reference counting
    # frees what a command lets go of; the collector is put back for callers in-process.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if collecting:
            gc.enable()


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    # the one command's parser: importing and building all of them took 15 ms of each
    # command; the whole parser for anything else (--help, a mistyped command)
    parser = build_parser(only=_command_of(argv))
    args = parser.parse_args(argv)
    bad = env_error(parser, args)
    if bad:
        print(f"netplay: error: {bad}", file=sys.stderr)
        return EXIT_USAGE
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if getattr(args, "lab", None) and ":" in args.lab:
            args.lab = _generated_lab_name(args.lab)
        return args.func(args)
    except NetplayError as err:
        print(f"netplay: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("netplay: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_USAGE
