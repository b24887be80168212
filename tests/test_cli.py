"""CLI conventions that need no root: help, version, dry run, refusing non-root."""

import contextlib
import io
import os
import subprocess
import sys
import time

from netplay import __version__
from netplay.cli import app as cli


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
    from netplay.cli.commands import COMMANDS

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


def run_netplay(*argv, cwd=None):
    """The real CLI in a process of its own."""
    return subprocess.run([sys.executable, "-m", "netplay", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_graph_draws_generator_specs():
    """`netplay graph linear:3` exited 2 (a generator spec is not a lab name)."""
    proc = run_netplay("graph", "linear:3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith('graph "linear-3" {') and '"h3"' in proc.stdout
    proc = run_netplay("graph", "tree:2,2", "--format", "mermaid")
    assert proc.returncode == 0 and proc.stdout.startswith("flowchart"), proc.stderr
    proc = run_netplay("graph", "linear:0")  # the generator's own message, not "no lab"
    assert proc.returncode == 2
    assert proc.stderr.startswith("netplay: error: linear:0: N must be a whole number")


def test_a_directory_as_a_topology_says_so(tmp_path):
    (tmp_path / "mylab").mkdir()
    for spec in ("mylab", "mylab/", str(tmp_path / "mylab")):
        for command in (["run", "--dry-run"], ["show"], ["graph"]):
            proc = run_netplay(*command, spec, cwd=tmp_path)
            assert proc.returncode == 2, (command, spec, proc)
            assert proc.stderr == (f"netplay: error: {spec}: is a directory, not a topology "
                                   f"file; name a file in it (e.g. "
                                   f"{os.path.join(spec, 'topo.yaml')})\n"), proc.stderr
    (tmp_path / "home").mkdir()  # a built-in's name is the built-in, directory or not
    assert run_netplay("show", "home", cwd=tmp_path).returncode == 0


def _as_nobody():
    """An argv prefix running Python as user nobody with this netplay importable, or None
    (needs root to switch users, and an interpreter nobody may run)."""
    import shutil
    import site

    import netplay

    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return None
    path = [os.path.dirname(os.path.dirname(netplay.__file__)), *site.getsitepackages()]
    for python in (sys.executable, "/usr/bin/python3"):
        argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "env",
                f"PYTHONPATH={os.pathsep.join(path)}", "HOME=/", python]
        probe = subprocess.run([*argv, "-c", "import netplay.cli, yaml, tabulate"],
                               capture_output=True, cwd="/")
        if probe.returncode == 0:
            return argv
    return None


def test_status_as_a_user_is_one_line_or_a_result():
    """`netplay status` by a user who may not read root's state directory: one line saying
    so (it was a PermissionError traceback); with a state directory of the user's own, the
    list of labs."""
    import pathlib
    import tempfile

    nobody = _as_nobody()
    if nobody is None:
        import pytest

        pytest.skip("needs root, setpriv and a Python that user nobody may run")
    with tempfile.TemporaryDirectory(prefix="np13-", dir="/tmp") as folder:
        os.chmod(folder, 0o755)  # pytest's own tmp_path is root's alone
        _status_as_nobody(nobody, pathlib.Path(folder))


def _status_as_nobody(nobody, base):
    root_state = base / "root-state"
    (root_state / "labs" / "np13").mkdir(parents=True)
    os.chmod(root_state, 0o700)
    expected = (f"netplay: error: cannot read the state directory {root_state}: permission "
                "denied (netplay keeps it root-only); run netplay with sudo, or choose another "
                "with --state-dir or $NETPLAY_STATE_DIR\n")
    for argv in (["status"], ["status", "--json"], ["link", "np13", "a:eth0"]):
        proc = subprocess.run([*nobody, "-m", "netplay", *argv, "--state-dir", str(root_state)],
                              capture_output=True, text=True, cwd="/", timeout=60)
        assert proc.returncode == 2 and proc.stderr == expected, (argv, proc.stderr)
    own = base / "own-state"
    own.mkdir()
    os.chown(own, 65534, 65534)
    proc = subprocess.run([*nobody, "-m", "netplay", "status", "--state-dir", str(own)],
                          capture_output=True, text=True, cwd="/", timeout=60)
    assert proc.returncode == 0 and proc.stdout == f"no labs in {own}\n", proc.stderr


def test_a_users_dry_run_of_containers_says_to_use_sudo():
    """A user's dry run cannot reach Docker's socket (root's), so it cannot tell whether a
    daemon answers root: it says so instead of telling to start one."""
    nobody = _as_nobody()
    if nobody is None:
        import pytest

        pytest.skip("needs root, setpriv and a Python that user nobody may run")
    proc = subprocess.run([*nobody, "-m", "netplay", "run", "--dry-run", "home"],
                          capture_output=True, text=True, cwd="/", timeout=60,
                          env=dict(os.environ, DOCKER_HOST="unix:///nonexistent/np13.sock"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("netplay: error: node verizon gives its container DNS servers "
                           "(dns); no Docker daemon answers this user: run netplay with sudo, "
                           "or choose --runtime netns to build it as a plain namespace that "
                           "uses the host's resolver\n")
