"""netplay(1), written from the parser: groff reads it without a warning, man renders it,
and it holds every command, its examples and every NETPLAY_* variable. Needs no root."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netplay.cli import app
from netplay.cli.commands import COMMANDS

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The page as `python -m netplay.cli.manpage` writes it (scripts/setup.sh's way)."""
    path = tmp_path_factory.mktemp("man") / "netplay.1"
    proc = subprocess.run([sys.executable, "-m", "netplay.cli.manpage"], capture_output=True,
                          text=True, timeout=120, cwd=REPO,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("NETPLAY_")})
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    path.write_text(proc.stdout)
    return path


@pytest.mark.skipif(not shutil.which("groff"), reason="groff is not installed")
def test_groff_reads_it_without_warnings(page):
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(page)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def rendered(page):
    """The page as a reader sees it: `man -l`, else groff; plain text, 120 columns."""
    if shutil.which("man"):
        argv, env = ["man", "-l", str(page)], dict(os.environ, MANWIDTH="120")
    else:
        argv, env = ["groff", "-man", "-Tutf8", "-rLL=120n", str(page)], dict(os.environ)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**env, "PAGER": "cat", "MANPAGER": "cat"})
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    while "\b" in text:  # overstrike bold and underline, if any
        text = re.sub(".\b", "", text)
    return text


@pytest.mark.skipif(not (shutil.which("man") or shutil.which("groff")),
                    reason="neither man nor groff is installed")
def test_it_renders_with_every_command_its_examples_and_variables(page):
    text = rendered(page)
    lines = text.splitlines()
    assert lines[0].split() == ["NETPLAY(1)", "User", "Commands", "NETPLAY(1)"]
    for heading in ("NAME", "SYNOPSIS", "OPTIONS", "COMMANDS", "ENVIRONMENT", "EXIT STATUS"):
        assert heading in lines, heading
    parser = app.build_parser({})
    for name in COMMANDS:  # a subsection of its own, with its usage
        assert f"   {name}" in lines, name
        assert f"netplay {name} [-h]" in text, name
        for example in getattr(__import__(f"netplay.cli.commands.{name}",
                                          fromlist=["x"]), "EXAMPLES", []):
            assert example in text, example
    for var in app.env_options(parser):
        assert f"       {var}" in lines, var
    assert "--max-pings N" in text and "the default of --max-pings (verify)" in text


def test_setup_installs_it():
    setup = (REPO / "scripts" / "setup.sh").read_text()
    assert "-m netplay.cli.manpage" in setup and "/usr/local/share/man/man1" in setup


def test_roff_escapes():
    from netplay.cli.manpage import roff

    assert roff("a-b \\n") == "a\\-b \\en"
    assert roff(".TH x\n'quote") == "\\&.TH x\n\\&'quote"
