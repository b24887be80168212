"""netplay export LOG.json: a recorded log as a plain bash script; a lab on several hosts as
a directory of scripts, one per host and the driver run.sh (netplay.render.bash)."""

import errno
import os
import stat

from netplay.core.errors import EXIT_OK, InputError

HELP = ("write a step log as a bash script that builds the lab, its names checked free first "
        "(--teardown: one that removes only what is the lab's)")
EXAMPLES = [  # the epilog of --help: real command lines
    'netplay export /var/lib/netplay/labs/home/log.json -o build-home.sh',
    'netplay export --teardown /var/lib/netplay/labs/home/log.json > teardown.sh',
]


def add_arguments(parser):
    parser.add_argument("log", metavar="LOG.json",
                        help="a step log (STATE_DIR/labs/LAB/log.json, or a copy of one)")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the script to FILE, executable (default: standard output); "
                             "for a lab on several hosts, a directory: HOST.sh for each host "
                             "and run.sh, which runs them over ssh")
    parser.add_argument("--teardown", action="store_true",
                        help="write the teardown script instead: each undo, last first, of "
                             "what is the lab's (recorded by the build script or carrying the "
                             "lab's mark), tolerating what is already gone")
    parser.add_argument("--generation", type=int, metavar="N",
                        help="the lab as of generation N of its log (0: as `run` built it; "
                             "default: the newest applied, after every `apply` and `link`)")
    parser.add_argument("--allow-exec", action="store_true",
                        help="write the nodes' own `exec` commands, which may reach outside the "
                             "lab (a log that holds any is refused without this); the script "
                             "prints each on stderr before it runs")


def main(args):
    from netplay.render import bash as export
    from netplay.run import logcheck

    checked = logcheck.load(args.log, args.generation)
    if not args.teardown and not args.allow_exec:  # a teardown runs no node command
        logcheck.refuse_node_commands(checked, "export writes")
    if checked.topology.hosts:
        files = export.export_files(checked.topology, checked.steps, args.teardown)
        write_directory(args.output, files, checked.lab)
        return EXIT_OK
    render = export.teardown_script if args.teardown else export.build_script
    text = render(checked.topology, checked.steps)
    if args.output in (None, "-"):
        import sys

        sys.stdout.write(text)
    else:
        write_script(args.output, text)
    return EXIT_OK


def write_directory(path, files, lab):
    """Write files ({name: text}) into the directory path, each executable and replaced
    atomically (write_script). path is made if it is missing; an existing one must be a
    directory (not a link to one) that is empty or holds only files of these names."""
    if path in (None, "-"):
        raise InputError(f"lab {lab} spans several hosts, so export writes a directory of "
                         "scripts (one per host, and run.sh); give -o DIR")
    mode = _mode(path, "the scripts")
    if mode is None:
        try:
            os.mkdir(path, 0o755)
        except OSError as err:
            raise InputError(f"-o {path}: cannot make the directory: {err.strerror}") from None
    elif stat.S_ISLNK(mode):
        raise InputError(f"-o {path}: is a symbolic link, which export does not follow; name "
                         "a new or empty directory")
    elif not stat.S_ISDIR(mode):
        raise InputError(f"-o {path}: is not a directory (lab {lab} spans several hosts, so "
                         "export writes a directory of scripts); name a new or empty directory")
    else:
        _check_only_ours(path, files)
    for name, text in files.items():
        write_script(os.path.join(path, name), text)


def _check_only_ours(path, files):
    """Refuse a directory that holds anything but files named like the ones to write."""
    from netplay.cli.commands import common

    try:
        found = common.machine().list_dir(path)  # the user's directory, on this machine
    except OSError as err:
        raise InputError(f"-o {path}: cannot read the directory: {err.strerror}") from None
    for name in found or ():
        if name not in files:
            raise InputError(f"-o {path}: holds {name!r}, which export does not write (it "
                             f"writes {', '.join(sorted(files))}); name a new or empty "
                             "directory")
        if not stat.S_ISREG(os.lstat(os.path.join(path, name)).st_mode):
            raise InputError(f"-o {path}: {name} is not a regular file (a directory, device, "
                             "FIFO, socket or symbolic link), which export does not replace; "
                             "name a new or empty directory")


def _mode(path, what):
    """path's st_mode, not following a link; None when nothing is there."""
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        raise InputError(f"-o {path}: cannot write {what}: {err.strerror}") from None


def write_script(path, text):
    """Write text to path as an executable file, replacing it atomically.

    Only a regular file is replaced: as root, os.replace over /dev/null or a FIFO would
    put the script where the device was. The temporary file is created new (O_EXCL), never
    through a link someone left under its name."""
    mode = _mode(path, "the script")
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
