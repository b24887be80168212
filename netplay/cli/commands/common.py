"""What several commands share: the machine, the state directory, verbosity."""

import shlex
import sys


def machine():
    """This host, the one every command builds on and observes (netplay.machine)."""
    from netplay.machine.local import LocalMachine

    return LocalMachine()


def state_root(args):
    from netplay.run.state import state_dir

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


def print_json(data):
    import json

    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


GONE_SHOWN = 10  # notes on objects already gone printed one by one; the rest are counted


def report_down(args, lab, gone, counts, seconds):
    """What `down` and `replay --undo` print once a lab is down: notes on objects that
    were already gone (a few, then how many more: each is in the log's teardown entries)
    to stderr, and the summary line."""
    for note in gone[:GONE_SHOWN]:
        print(f"netplay: {lab}: {note}", file=sys.stderr)
    if len(gone) > GONE_SHOWN:
        print(f"netplay: {lab}: and {len(gone) - GONE_SHOWN} more already gone "
              "(listed in the lab's log, under teardown)", file=sys.stderr)
    if not args.quiet:
        print(f"lab {lab} is down: {counts}in {seconds:.2f} s")
