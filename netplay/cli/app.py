"""The command line: common options, one subcommand per module in netplay.cli.commands, and
the one place where errors become a single line and an exit code."""

import argparse
import importlib
import signal
import sys

from netplay import __version__
from netplay.cli.commands import COMMANDS
from netplay.core.errors import EXIT_FAILED, EXIT_USAGE, NetplayError


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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="netplay", parents=[_common_options(False)],
        description="Build virtual networks of namespaces, veths, bridges and containers "
                    "from a topology file, as recorded shell commands.",
        epilog="exit codes: 0 success, 1 the lab or host failed, 2 bad input or unusable host")
    parser.add_argument("--version", action="version", version=f"netplay {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    after = _common_options(True)
    for name in COMMANDS:
        module = importlib.import_module(f"netplay.cli.commands.{name}")
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[after])
        module.add_arguments(cmd)
        cmd.set_defaults(func=module.main)
    return parser


def _generated_lab_name(spec):
    """`netplay down linear:5` means the lab that `netplay run linear:5` made (linear-5)."""
    from netplay.load import builtins

    return builtins.load(spec).name


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM rolls a run back, as SIGINT does


def main(argv=None):
    args = build_parser().parse_args(argv)
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
