"""CLI conventions that need no root: help, version, dry run, refusing non-root."""

import contextlib
import io
import json
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


def test_a_json_topology_is_read_without_pyyaml_and_its_mistakes_still_positioned(tmp_path):
    """PyYAML costs `netplay apply` of a big lab about 13 ms to import; a JSON topology
    never needs it, unless a mistake in it is to be pointed at by line and column."""
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"name": "j", "nodes": {"a": {}, "b": {}},
                                "links": [{"endpoints": ["a:eth0", "b:eth0"]}]}))
    bad.write_text('{"name": "j",\n "nodes": {"a": {"mtu": 9000}}}\n')
    code = ("import sys\nfrom netplay.core.errors import InputError\n"
            "from netplay.load.resolve import resolve\n"
            "resolve(sys.argv[1])\nprint('yaml' in sys.modules)\n"
            "try:\n    resolve(sys.argv[2])\nexcept InputError as err:\n    print(err)\n")
    out = subprocess.run([sys.executable, "-c", code, str(good), str(bad)],
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["False", f"{bad}:2:18: nodes.a: unknown key 'mtu'; "
                                "allowed keys: kind, interfaces, routes, forwarding, loopback, "
                                "image, cmd, dns, env, exec, binds, role, nat, host, weight"]


def test_apply_imports_the_drift_reader_only_for_an_unchanged_topology():
    """verify's checks cost every `netplay apply` of a change about 10 ms to import; the
    command line hands netplay.lab.drift.find to apply, imported when it is called."""
    code = ("import sys\nimport netplay.cli.commands.apply as cmd, netplay.cli.commands.diff\n"
            "import netplay.lab.apply\n"
            "print(sorted(m for m in sys.modules if m in ('netplay.lab.drift', "
            "'netplay.check.verify')))\n"
            "try:\n    cmd.find_drift(None, [], None)\nexcept AttributeError:\n    pass\n"
            "print('netplay.lab.drift' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines() == ["[]", "True"]


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


# --- examples in --help -----------------------------------------------------------------------


def test_every_commands_help_ends_with_examples_that_parse():
    """Each command's --help ends with 1-3 example lines, each one a command line the
    parser accepts (up to a pipe, a redirection or a comment)."""
    import re
    import shlex

    from netplay.cli.commands import COMMANDS

    missing = []
    for name in COMMANDS:
        rc, out, _ = run_cli([name, "--help"])
        assert rc == 0, name
        if "\nexamples:\n" not in out:
            missing.append(name)
            continue
        lines = out.split("\nexamples:\n", 1)[1].rstrip("\n").splitlines()
        assert 1 <= len(lines) <= 3 and all(line.startswith("  ") for line in lines), name
        for line in lines:
            command = re.search(r"netplay [^|>)#]*", line).group(0)
            words = shlex.split(command)[1:]
            assert words[0] == name, line
            try:
                cli.build_parser({}).parse_args(words)
            except SystemExit:
                raise AssertionError(f"{name}: the example `{line.strip()}` does not parse")
    assert not missing, f"commands without examples in --help: {', '.join(missing)}"


# --- defaults from NETPLAY_* ------------------------------------------------------------------


def netplay_env(*argv, **env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NETPLAY_")}
    return subprocess.run([sys.executable, "-m", "netplay", *argv], capture_output=True,
                          text=True, timeout=120, env={**environ, **env})


def test_an_options_default_comes_from_its_variable():
    plain = netplay_env("show", "home").stdout
    netns = netplay_env("show", "--runtime", "netns", "home").stdout
    assert plain != netns and "kind: docker" in plain
    assert netplay_env("show", "home", NETPLAY_RUNTIME="netns").stdout == netns
    # the command line wins over the environment
    assert netplay_env("show", "--runtime", "docker", "home",
                       NETPLAY_RUNTIME="netns").stdout == plain
    assert netplay_env("show", "home", NETPLAY_RUNTIME="").stdout == plain  # empty: unset
    image = netplay_env("show", "home", NETPLAY_IMAGE="np18-image").stdout
    assert "image: np18-image" in image


def test_flags_and_global_options_from_variables(tmp_path):
    import json

    assert isinstance(json.loads(netplay_env("topologies", NETPLAY_JSON="1").stdout), list)
    assert not netplay_env("topologies", NETPLAY_JSON="no").stdout.startswith("[")
    proc = netplay_env("run", "linear:2", NETPLAY_DRY_RUN="true",
                       NETPLAY_STATE_DIR=str(tmp_path))
    assert proc.returncode == 0 and "ip netns add h1" in proc.stdout
    proc = netplay_env("run", "--dry-run", "linear:2", NETPLAY_VERBOSE="1")
    assert proc.returncode == 0
    proc = netplay_env("status", NETPLAY_STATE_DIR=str(tmp_path))
    assert proc.stdout == f"no labs in {tmp_path}\n", proc.stderr


def test_a_bad_value_is_one_line_naming_the_variable():
    cases = [
        (["verify", "np18-none"], "NETPLAY_MAX_PINGS", "lots", "it takes a whole number, "
                                                              "as --max-pings does"),
        (["show", "home"], "NETPLAY_RUNTIME", "lxc", "it takes one of netns, docker"),
        (["topologies"], "NETPLAY_JSON", "maybe", "it takes 1 or 0"),
        (["ping", "np18-none", "a", "b"], "NETPLAY_FAMILY", "5", "it takes 4 or 6 (-4, -6)"),
        (["status"], "NETPLAY_QUIET", "loud", "it takes 1 or 0"),  # a global option
    ]
    for argv, var, value, says in cases:
        proc = netplay_env(*argv, **{var: value})
        assert proc.returncode == 2 and proc.stdout == "", (var, proc)
        assert proc.stderr.startswith(f"netplay: error: {var}={value} in the environment: "
                                      f"{says}"), proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    # a variable of an option the command does not have does not stop it
    proc = netplay_env("topologies", NETPLAY_MAX_PINGS="lots")
    assert proc.returncode == 0, proc.stderr


def test_every_option_names_its_variable_in_help():
    """Each option that takes a value or is a flag says which NETPLAY_* variable sets its
    default; the ones left out do something once (--yes, --clear, ...) or are hidden."""
    import argparse

    from netplay.cli.commands import COMMANDS

    parser = cli.build_parser({})
    left_out = set()
    for name in ["", *COMMANDS]:
        p = parser if not name else cli.subcommands(parser)[name]
        for action in p._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS or \
                    isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if "NETPLAY_" not in action.help:
                left_out.update(action.option_strings)
            elif any(o.startswith("--") for o in action.option_strings):
                long = next(o for o in action.option_strings if o.startswith("--"))
                var = "NETPLAY_" + long[2:].upper().replace("-", "_")
                assert var in action.help, (name, long)
    assert left_out <= {"--yes", "--clear", "--down", "--up", "--undo", "--teardown",
                        "--allow-exec", "-o", "--output", "-w", "--write",
                        "--delay", "--jitter", "--loss", "--rate"}, left_out
    rc, out, _ = run_cli(["verify", "--help"])
    assert "$NETPLAY_MAX_PINGS" in out and "NETPLAY_NO_PING=1" in out
    rc, out, _ = run_cli(["ping", "--help"])
    assert "IPv6 only (or NETPLAY_FAMILY=6)" in out


def test_environment_values_are_converted_as_the_option_would():
    parser = cli.build_parser({"NETPLAY_MAX_PINGS": "7", "NETPLAY_FAMILY": "6",
                               "NETPLAY_NO_PING": "on", "NETPLAY_VERBOSE": "yes",
                               "NETPLAY_COUNT": "3"})
    args = parser.parse_args(["verify", "lab"])
    assert args.max_pings == 7 and args.no_ping is True and args.verbose is True
    args = parser.parse_args(["ping", "lab", "a", "b"])
    assert args.family == 6 and args.count == 3
    args = parser.parse_args(["ping", "-4", "-c", "1", "lab", "a", "b"])
    assert args.family == 4 and args.count == 1
    assert cli.build_parser({}).parse_args(["verify", "lab"]).max_pings is None


def test_the_netplay_process_keeps_its_objects_out_of_the_exit_collection():
    """netplay.cli.main (the console script) freezes what the command made, so the
    interpreter's last collection does not walk it; app.main, for callers in-process,
    leaves the collector as it was."""
    code = ("import gc, netplay.cli\n"
            "from netplay.cli import app\n"
            "assert app.main(['topologies']) == 0 and gc.get_freeze_count() == 0\n"
            "assert gc.isenabled()\n"
            "assert netplay.cli.main(['topologies']) == 0\n"
            "print(gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"
