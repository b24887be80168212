"""netplay(1), the manual page, written from the argparse parser: every command in COMMANDS
with its usage, arguments, options and examples, and every NETPLAY_* variable, so the page
cannot fall behind the CLI. `python -m netplay.cli.manpage > netplay.1` (scripts/setup.sh
installs it as /usr/local/share/man/man1/netplay.1)."""

import argparse
import sys

from netplay import __version__
from netplay.cli import app

SEE_ALSO = r"\fBip\fR(8), \fBip-netns\fR(8), \fBbrctl\fR(8), \fBtc\fR(8), \fBtcpdump\fR(8), " \
           r"\fBdocker\fR(1)"


def roff(text):
    """text as roff prints it: backslashes and hyphens escaped, no line read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.split("\n"))


def _help(parser, action):
    return parser._get_formatter()._expand_help(action) if action.help else ""


def _term(action):
    """How an argument is written: `-o, --output FILE`, or a positional's name."""
    if not action.option_strings:
        return rf"\fI{roff(str(action.metavar or action.dest))}\fR"
    shown = action.metavar or (action.choices and "{" + ",".join(map(str, action.choices)) + "}") \
        or action.dest.upper()
    value = "" if action.nargs == 0 else rf" \fI{roff(str(shown))}\fR"
    return ", ".join(rf"\fB{roff(o)}\fR" for o in action.option_strings) + value


def _arguments(parser, actions):
    out = []
    for action in actions:
        if action.help == argparse.SUPPRESS or isinstance(
                action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        out += [".TP", _term(action), roff(_help(parser, action))]
    return out


def _command(name, sub):
    own = [a for a in sub._actions if a.default != argparse.SUPPRESS]  # not the common copies
    first, *rest = sub.format_usage().split(": ", 1)[1].strip().split("\n")
    usage = "\n".join([first, *("    " + line.strip() for line in rest)])
    out = [f".SS {name}", ".nf", roff(usage), ".fi", ".PP", roff(sub.description or "")]
    out += _arguments(sub, own)
    if sub.epilog:
        out += [".PP", ".nf", ".RS 4", roff(sub.epilog), ".RE", ".fi"]
    return out


def _environment(parser):
    out = []
    for var, places in sorted(app.env_options(parser).items()):
        where = [p.prog.split()[-1] if p is not parser else "every command"
                 for p, actions in places if actions[0].default != argparse.SUPPRESS]
        options = sorted({o for _, actions in places for a in actions
                          for o in a.option_strings})
        out += [".TP", rf"\fB{var}\fR",
                roff(f"the default of {', '.join(options)} ({', '.join(where)})")]
    return out


def page(parser=None):
    """The manual page's roff source."""
    parser = parser or app.build_parser({})
    commands = app.subcommands(parser)
    lines = [f'.TH NETPLAY 1 "" "netplay {__version__}" "User Commands"',
             ".SH NAME", r"netplay \- " + roff(parser.description.rstrip(".")),
             ".SH SYNOPSIS", r"\fBnetplay\fR [\fIOPTIONS\fR] \fICOMMAND\fR [\fIARGS\fR]",
             ".SH DESCRIPTION", roff(parser.description),
             ".PP", "Commands: " + ", ".join(rf"\fB{roff(n)}\fR" for n in commands) + ".",
             "The options below are accepted before the command and after it.",
             ".SH OPTIONS", *_arguments(parser, parser._actions), ".SH COMMANDS"]
    for name, sub in commands.items():
        lines += _command(name, sub)
    lines += [".SH ENVIRONMENT",
              "Every option that sets a value or is a flag takes its default from a variable "
              "(flags: 1 or 0); the option given on the command line wins.",
              *_environment(parser),
              ".SH EXIT STATUS", roff(parser.epilog or ""),
              ".SH FILES", r"\fI/var/lib/netplay/labs/LAB/log.json\fR",
              roff("the step log of each lab (the state directory: --state-dir, "
                   "$NETPLAY_STATE_DIR)"),
              ".SH SEE ALSO", SEE_ALSO]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(page())
