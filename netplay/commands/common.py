"""What several commands share: the machine, the state directory, verbosity."""

import shlex
import sys


def machine():
    from plumbum import local

    return local


def state_root(args):
    from netplay.state import state_dir

    return state_dir(args.state_dir)


def echo(args):
    """A printer of each command before it runs (-v), like bash -x; None when quiet."""
    if not args.verbose:
        return None
    return lambda argv: print("+ " + shlex.join(argv), file=sys.stderr, flush=True)


def notice(args):
    """A printer of one-line notices to stderr, silent with --quiet."""
    if args.quiet:
        return lambda msg: None
    return lambda msg: print(msg, file=sys.stderr)


def daemon_up():
    from netplay import dockerstate

    return dockerstate.client() is not None


def print_json(data):
    import json

    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
