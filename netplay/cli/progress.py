"""A one-line progress display for long commands (run, down, replay) on a terminal.

The runner calls `progress(done, total, step)` after each step (and each undo); this turns
that into one line, redrawn in place on stderr:

    up home: [########------------]  41/98  link router:eth0 -- verizon:eth1

It draws nothing off a terminal (stdout or stderr not a TTY, TERM=dumb), with --quiet, or
with -v (which prints each command instead, like bash -x), and nothing for a lab done
within `delay` seconds, so small labs and logs stay clean. `finish()` erases the line.
"""

import os
import sys
import time

BAR = 20  # characters in the bar


def wanted(args, streams=None):
    """Whether a progress line belongs on this terminal for these options."""
    if getattr(args, "quiet", False) or getattr(args, "verbose", False):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    streams = streams if streams is not None else (sys.stdout, sys.stderr)
    try:
        return all(s.isatty() for s in streams)
    except (AttributeError, ValueError):  # closed or odd streams
        return False


def for_args(args, verb, lab, stream=None):
    """A Progress for `verb lab` on stderr, or None when it should not be shown."""
    if not wanted(args):
        return None
    return Progress(stream or sys.stderr, f"{verb} {lab}")


class Progress:
    """Callable as progress(done, total, step); redraws at most every `interval` seconds."""

    def __init__(self, stream, label, delay=0.3, interval=0.05, clock=time.monotonic,
                 width=None):
        self.stream = stream
        self.label = label
        self.delay = delay
        self.interval = interval
        self.clock = clock
        self.width = width
        self.start = clock()
        self.last = None  # when the line was last drawn
        self.drawn = False

    def columns(self):
        if self.width:
            return self.width
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, AttributeError, ValueError):
            columns = 0
        if columns <= 0:  # a terminal that does not know its size (a fresh pty)
            columns = int(os.environ.get("COLUMNS", "0") or 0) if \
                os.environ.get("COLUMNS", "").isdigit() else 0
        return columns if columns > 0 else 80

    def line(self, done, total, step):
        """The text of the progress line (no control characters), fitted to the terminal."""
        total = max(total, 1)
        filled = BAR * min(done, total) // total
        where = getattr(step, "phase", "") or ""
        text = (f"{self.label}: [{'#' * filled}{'-' * (BAR - filled)}] "
                f"{done:>{len(str(total))}}/{total}  {where}")
        limit = self.columns() - 1  # never wrap: a wrapped line cannot be redrawn in place
        return text if len(text) <= limit else text[:max(limit - 3, 0)] + "..."

    def __call__(self, done, total, step=None):
        now = self.clock()
        if now - self.start < self.delay:  # a quick lab shows nothing, not even a flash
            return
        if self.last is not None and now - self.last < self.interval and done < total:
            return
        self.last = now
        self.stream.write("\r\x1b[K" + self.line(done, total, step))
        self.stream.flush()
        self.drawn = True

    def finish(self):
        """Erase the line, so that what follows starts on a clean line."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
