"""The package as a user gets it: a wheel built from this tree, installed with pip into a
new, empty virtualenv (its dependencies from the package index), works there without the
repository: the console script, the built-in topologies, the typed API and the pytest
plugin's entry point. Nothing here touches the host's network; it needs no root."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def run(argv, **kwargs):
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          timeout=600, **kwargs)
    assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A new virtualenv with the wheel of this tree installed, outside the repository."""
    where = tmp_path_factory.mktemp("wheel")
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", where / "dist",
         REPO])
    wheels = list((where / "dist").glob("netplay-*.whl"))
    assert len(wheels) == 1, wheels
    venv = where / "venv"
    run([sys.executable, "-m", "venv", venv])
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", wheels[0]])
    return venv, where


def test_the_wheel_installs_and_works_without_the_repository(installed):
    venv, where = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NETPLAY_IMAGE")}
    netplay = venv / "bin" / "netplay"
    in_venv = dict(cwd=where, env=env)  # away from the repository: nothing found there
    assert run([netplay, "--version"], **in_venv).strip().startswith("netplay ")
    assert "levels" in run([netplay, "topologies"], **in_venv)
    script = run([netplay, "run", "--dry-run", "--runtime", "netns", "home"], **in_venv)
    assert "ip netns add laptop" in script
    assert "name: linear-3" in run([netplay, "show", "linear:3"], **in_venv)
    probe = ("import json, netplay, importlib.metadata as m, pathlib; "
             "print(json.dumps({'file': netplay.__file__, 'lab': netplay.Lab.__module__, "
             "'typed': (pathlib.Path(netplay.__file__).parent / 'py.typed').is_file(), "
             "'plugins': [e.value for e in m.entry_points(group='pytest11')]}))")
    found = json.loads(run([venv / "bin" / "python", "-c", probe], **in_venv))
    assert found["file"].startswith(str(venv)), found  # the installed copy, not the tree
    assert found["lab"] == "netplay.api.lab" and found["typed"]
    assert found["plugins"] == ["netplay.api.pytest_plugin"]


def test_the_wheel_names_its_urls_and_brings_completion_and_the_man_page(installed):
    """Project URLs in the metadata; shtab installed with it, so `netplay completion`
    works; the man page written from the installed parser."""
    venv, where = installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPLAY_")
           and k != "PYTHONPATH"}
    in_venv = dict(cwd=where, env=env)
    urls = ("import json, importlib.metadata as m; "
            "print(json.dumps(m.metadata('netplay').get_all('Project-URL')))")
    found = json.loads(run([venv / "bin" / "python", "-c", urls], **in_venv))
    assert {u.split(",")[0] for u in found} == {"Homepage", "Source", "Issues"}, found
    assert all(u.split(", ")[1].startswith("https://") for u in found)
    netplay = venv / "bin" / "netplay"
    for shell in ("bash", "zsh", "fish"):
        assert "_netplay_ask" in run([netplay, "completion", shell], **in_venv)
    page = run([venv / "bin" / "python", "-m", "netplay.cli.manpage"], **in_venv)
    assert page.startswith(".TH NETPLAY 1") and ".SS run" in page


def test_doctor_of_an_installed_wheel_suggests_no_repository_script(installed):
    """Away from a clone, the doctor's fixes are commands a user has: no scripts/."""
    venv, where = installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETPLAY_")
           and k != "PYTHONPATH"}
    env["DOCKER_HOST"] = f"unix://{where}/np18-no-daemon.sock"  # no daemon answers here
    proc = subprocess.run([str(venv / "bin" / "netplay"), "doctor", "--json", "--state-dir",
                           str(where / "state")], capture_output=True, text=True,
                          timeout=300, cwd=where, env=env)
    checks = {c["check"]: c for c in json.loads(proc.stdout)["checks"]}
    fixes = [c["fix"] for c in checks.values()]
    assert not any("scripts/" in fix for fix in fixes), fixes
    assert "systemctl start docker" in checks["docker daemon"]["fix"]
