"""CLI conventions that need no root: help, version, dry run, refusing non-root."""

import contextlib
import io
import os
import subprocess
import sys
import time

from netplay import __version__, cli


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main(argv)
        except SystemExit as exit:  # argparse's --help, --version and usage errors
            rc = exit.code
    return rc, out.getvalue(), err.getvalue()


def test_version():
    rc, out, _ = run_cli(["--version"])
    assert rc == 0 and out.strip() == f"netplay {__version__}"


def test_every_command_has_help():
    from netplay.commands import COMMANDS

    for name in COMMANDS:
        rc, out, _ = run_cli([name, "--help"])
        assert rc == 0 and out.startswith("usage: netplay"), name


def test_not_root_is_refused_in_one_line_but_dry_run_works(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    rc, _, err = run_cli(["run", "levels"])
    assert rc == 2
    assert err.strip() == ("netplay: error: netplay must run as root to change the host's "
                           "network; run it with sudo (--dry-run needs no root)")
    rc, out, _ = run_cli(["run", "--dry-run", "levels"])
    assert rc == 0 and "ip netns add levela" in out


def test_options_work_after_the_command_too(tmp_path):
    rc, out, _ = run_cli(["run", "--dry-run", "levels", "-q", "--state-dir", str(tmp_path)])
    assert rc == 0 and out


def test_usage_error_exit_code():
    rc, _, err = run_cli(["run"])
    assert rc == 2 and "the following arguments are required: topology" in err


def test_help_is_fast():
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "netplay", "--help"], check=True,
                   capture_output=True)
    elapsed = time.monotonic() - start
    # not a benchmark: a guard that heavy modules (docker, plumbum, yaml) stay lazy
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "netplay", "--help"],
                         capture_output=True, text=True).stderr
    for heavy in ("docker", "plumbum", "yaml", "tabulate"):
        assert f"| {heavy}\n" not in out and f" {heavy}\n" not in out.replace("|", " "), heavy
    assert elapsed < 5
