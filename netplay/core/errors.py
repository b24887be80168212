"""Errors a user can act on. The CLI prints them as one line, never as a traceback."""

# Exit codes, the same for every command (documented in the README).
EXIT_OK = 0
EXIT_FAILED = 1  # the lab or the host did not do what was asked
EXIT_USAGE = 2  # bad input: topology, log, option, or an unusable host


class NetplayError(Exception):
    """A problem stated in one line: what, where, how to fix."""

    exit_code = EXIT_USAGE

    def __init__(self, message):
        super().__init__(one_line(message))


def one_line(text):
    """text with control characters (newlines, terminal escapes) shown escaped, so that a
    hostile name in a message can neither break the line nor drive the terminal."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class UsageError(NetplayError):
    """Exit 2: the input or the host cannot be used as given; nothing was changed. The
    base of InputError and HostError, so that a caller of the Python API catches one type
    per exit code (UsageError: 2, StepFailed: 1)."""

    exit_code = EXIT_USAGE


class InputError(UsageError):
    """The topology, log or command line is wrong; nothing was changed."""


class HostError(UsageError):
    """The host cannot run the lab as it is (missing tool, not root, name taken)."""


class StepFailed(NetplayError):
    """A command failed while building or tearing down a lab."""

    exit_code = EXIT_FAILED
