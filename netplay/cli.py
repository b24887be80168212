"""The command line. Parsing and printing only: the work is in lab, plan, runner, observe.

Heavy modules (plumbum, docker, yaml) are imported inside the commands that need them,
so that `netplay --help` stays fast.
"""

import argparse
import signal
import sys

from netplay import __version__
from netplay.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, NetplayError


def _machine():
    from plumbum import local

    return local


def _state(args):
    from netplay.state import state_dir

    return state_dir(args.state_dir)


def _echo(args):
    if not args.verbose:
        return None
    import shlex

    return lambda argv: print("+ " + shlex.join(argv), file=sys.stderr, flush=True)


def _daemon_up():
    from netplay import dockerstate

    return dockerstate.client() is not None


def cmd_run(args):
    from netplay import dockerstate, lab, plan
    from netplay.export import script_lines
    from netplay.topology import uses_docker

    topo = lab.resolve(args.topology)
    notice = (lambda msg: print(msg, file=sys.stderr)) if not args.quiet else (lambda msg: None)
    topo = lab.choose_runtime(topo, args.runtime, args.image, _daemon_up, notice)
    if args.dry_run:
        print("\n".join(script_lines(plan.plan(topo))))
        return EXIT_OK
    cli = dockerstate.client() if uses_docker(topo) else None
    summary = lab.up(topo, _machine(), _state(args), cli=cli, echo=_echo(args))
    if not args.quiet:
        print(summary.line())
    return EXIT_OK


def cmd_down(args):
    from netplay import lab, preflight

    preflight.require_root()
    gone = lab.down(args.lab, _machine(), _state(args), echo=_echo(args))
    if gone is None:
        print(f"lab {args.lab} is not up; nothing to do")
        return EXIT_OK
    for note in gone:
        print(f"netplay: {args.lab}: {note}", file=sys.stderr)
    if not args.quiet:
        print(f"lab {args.lab} is down")
    return EXIT_OK


def cmd_topologies(args):
    from netplay import builtins

    for name in builtins.names():
        print(f"{name:12} {builtins.describe(name)}")
    return EXIT_OK


def build_parser():
    parser = argparse.ArgumentParser(
        prog="netplay",
        description="Build virtual networks of namespaces, veths, bridges and containers "
                    "from a topology file, as recorded shell commands.")
    parser.add_argument("--version", action="version", version=f"netplay {__version__}")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="where lab logs live (default $NETPLAY_STATE_DIR or /var/lib/netplay)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print each command as it runs, like bash -x")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="build a lab from a topology (built-in name or YAML file)")
    run.add_argument("topology", help="a built-in name (see `netplay topologies`) or a file")
    run.add_argument("--dry-run", action="store_true",
                     help="print the commands; change nothing (needs no root)")
    run.add_argument("--runtime", choices=["netns", "docker"],
                     help="put container nodes on plain namespaces or on Docker containers")
    run.add_argument("--image", help="default image for docker nodes "
                                     "(default $NETPLAY_IMAGE, else the topology's)")
    run.set_defaults(func=cmd_run)

    down = sub.add_parser("down", help="tear a lab down by undoing its logged steps")
    down.add_argument("lab", help="the lab's name")
    down.set_defaults(func=cmd_down)

    tops = sub.add_parser("topologies", help="list the built-in topologies")
    tops.set_defaults(func=cmd_topologies)
    return parser


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM rolls a run back, as SIGINT does


def main(argv=None):
    args = build_parser().parse_args(argv)
    if getattr(args, "image", None) is None and args.command == "run":
        import os

        args.image = os.environ.get("NETPLAY_IMAGE") or None
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except NetplayError as err:
        print(f"netplay: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("netplay: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_USAGE
