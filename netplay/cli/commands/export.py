"""netplay export LOG.json: a recorded log as a plain bash script."""

import errno
import os
import stat

from netplay.core.errors import EXIT_OK, InputError

HELP = ("write a step log as a bash script that builds the lab, its names checked free first "
        "(--teardown: one that removes only what is the lab's)")


def add_arguments(parser):
    parser.add_argument("log", metavar="LOG.json",
                        help="a step log (STATE_DIR/labs/LAB/log.json, or a copy of one)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the script to FILE, executable (default: standard output)")
    parser.add_argument("--teardown", action="store_true",
                        help="write the teardown script instead: each undo, last first, of "
                             "what is the lab's (recorded by the build script or carrying the "
                             "lab's mark), tolerating what is already gone")
    parser.add_argument("--allow-exec", action="store_true",
                        help="write the nodes' own `exec` commands, which may reach outside the "
                             "lab (a log that holds any is refused without this); the script "
                             "prints each on stderr before it runs")


def main(args):
    from netplay.render import bash as export
    from netplay.run import logcheck

    checked = logcheck.load(args.log)
    if not args.teardown and not args.allow_exec:  # a teardown runs no node command
        logcheck.refuse_node_commands(checked, "export writes")
    render = export.teardown_script if args.teardown else export.build_script
    text = render(checked.topology, checked.steps)
    if args.output in (None, "-"):
        import sys

        sys.stdout.write(text)
    else:
        write_script(args.output, text)
    return EXIT_OK


def write_script(path, text):
    """Write text to path as an executable file, replacing it atomically.

    Only a regular file is replaced: as root, os.replace over /dev/null or a FIFO would
    put the script where the device was. The temporary file is created new (O_EXCL), never
    through a link someone left under its name."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise InputError(f"-o {path}: cannot write the script: {err.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise InputError(f"-o {path}: is a directory; name a file")
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError(f"-o {path}: is not a regular file (a device, FIFO, socket or "
                         "symbolic link), which export does not replace; name a regular "
                         "file, or leave -o out to write to standard output")
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o755)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o755)
        os.replace(tmp, path)
    except OSError as err:
        if err.errno != errno.EEXIST:  # else the file there is not ours to remove
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise InputError(f"-o {path}: cannot write the script: {err.strerror}") from None
