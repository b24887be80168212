"""Shell completion: generated from the parser, run in a real bash (and zsh when installed)
with COMP_WORDS set as readline would, against a private state directory."""

import argparse
import shutil
import subprocess
import sys

import pytest

from netplay.cli import completion
from netplay.cli.app import build_parser
from netplay.cli.commands import COMMANDS
from netplay.load import builtins

ROOT = __file__.rsplit("/tests/", 1)[0]


@pytest.fixture
def env(tmp_path):
    """A `netplay` on a temporary PATH, the bash and zsh scripts, a state dir with one lab."""
    from netplay.run import log as steplog, state

    prog = tmp_path / "netplay"
    prog.write_text(f"#!/bin/sh\nPYTHONPATH={ROOT} exec {sys.executable} -m netplay \"$@\"\n")
    prog.chmod(0o755)
    for shell in ("bash", "zsh"):
        (tmp_path / f"netplay.{shell}").write_text(completion.script(shell, build_parser()))
    root = tmp_path / "state"
    topology = {"name": "np9-comp", "nodes": {"np9-n1": {"kind": "netns", "interfaces": {
        "eth0": {"up": True}}}, "np9-n2": {"kind": "netns", "interfaces": {"eth0": {"up": True}}}},
        "links": [{"endpoints": ["np9-n1:eth0", "np9-n2:eth0"]}]}
    state.lab_dir(root, "np9-comp", create=True)
    steplog.StepLog.create(state.log_path(root, "np9-comp"), "np9-comp", topology, [])
    (tmp_path / "np9.clab.yml").write_text("name: x\n")
    (tmp_path / "np9-own.yaml").write_text("name: y\n")
    (tmp_path / "notes.txt").write_text("z\n")
    (tmp_path / "np9-dir").mkdir()
    return tmp_path


def complete(env, *words, shell="bash"):
    """What the completion function offers for words (the last is the one being typed)."""
    words = [str(env / "netplay"), *words]
    if shell == "bash":
        script = ('source netplay.bash; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _netplay; '
                  'printf "%s\\n" "${COMPREPLY[@]}"')
        argv = ["bash", "-c", script, "x", *words]
    else:  # as zsh's bashcompinit calls it: words 1-based, COMP_CWORD = CURRENT - 1
        script = ('source ./netplay.zsh; words=("$@"); CURRENT=$#; COMP_WORDS=("${words[@]}"); '
                  'COMP_CWORD=$((CURRENT - 1)); _netplay; print -rl -- "${COMPREPLY[@]}"')
        argv = ["zsh", "-c", script, "x", *words]
    out = subprocess.run(argv, cwd=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return sorted(w for w in out.stdout.split("\n") if w)


def test_scripts_are_valid_shell(env):
    assert subprocess.run(["bash", "-n", str(env / "netplay.bash")]).returncode == 0
    if shutil.which("zsh"):
        assert subprocess.run(["zsh", "-n", str(env / "netplay.zsh")]).returncode == 0


def test_commands_and_options(env):
    assert complete(env, "") == sorted(COMMANDS)
    assert complete(env, "d") == sorted(c for c in COMMANDS if c.startswith("d"))
    assert complete(env, "run", "--") == ["--dry-run", "--help", "--hosts", "--image",
                                           "--name", "--prefix", "--quiet", "--runtime",
                                           "--ssh-config",
                                           "--state-dir", "--verbose"]
    assert complete(env, "--v") == ["--verbose", "--version"]
    assert complete(env, "run", "--runtime", "") == ["docker", "netns"]
    assert complete(env, "completion", "") == ["bash", "zsh"]


def test_topologies_and_files(env):
    offered = complete(env, "run", "")
    assert set(builtins.names()) <= set(offered)
    assert {"np9.clab.yml", "np9-own.yaml", "np9-dir"} <= set(offered)
    assert "notes.txt" not in offered  # only topology files (and directories) for a topology
    assert complete(env, "show", "np9") == ["np9-dir", "np9-own.yaml", "np9.clab.yml"]
    assert "notes.txt" in complete(env, "replay", "")  # a log is any file


def test_labs_and_their_nodes_from_the_state_dir(env):
    sd = ["--state-dir", str(env / "state")]
    assert complete(env, *sd, "down", "") == ["np9-comp"]
    assert complete(env, "down", "-q", *sd, "") == ["np9-comp"]  # options after the command
    assert complete(env, *sd, "exec", "np9-comp", "") == ["np9-n1", "np9-n2"]
    assert complete(env, *sd, "exec", "np9-comp", "np9-n1", "--", "") == []
    if "capture" in COMMANDS:
        assert complete(env, *sd, "capture", "np9-comp", "np9-n2") == ["np9-n2:eth0"]
    # readline splits --state-dir=DIR at '=': the words are --state-dir, =, DIR
    assert complete(env, "--state-dir", "=", str(env / "state"), "down", "") == ["np9-comp"]
    assert complete(env, "--state-dir", "") == ["np9-dir", "state"]  # a directory


def test_list_is_silent_and_empty_when_it_cannot_read(env):
    out = subprocess.run([str(env / "netplay"), "--state-dir", str(env / "nowhere"),
                          "completion", "--list", "nodes", "--lab", "np9-none"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh_runs_the_same_completion(env):
    sd = ["--state-dir", str(env / "state")]
    assert complete(env, "", shell="zsh") == sorted(COMMANDS)
    assert complete(env, *sd, "exec", "np9-comp", "", shell="zsh") == ["np9-n1", "np9-n2"]
    assert complete(env, "run", "--runtime", "", shell="zsh") == ["docker", "netns"]


def test_generated_from_the_parser():
    """A command or option added to the parser is completed with no change to completion."""
    parser = argparse.ArgumentParser(prog="netplay")
    parser.add_argument("--state-dir")
    sub = parser.add_subparsers(dest="command")
    np9 = sub.add_parser("np9cmd")
    np9.add_argument("lab")
    np9.add_argument("node")
    np9.add_argument("--colour", choices=["red", "blue"])
    np9.add_argument("--output", metavar="FILE")
    info = completion.describe(parser)
    cmd = info["commands"]["np9cmd"]
    assert cmd["positionals"] == [{"kind": "lab", "repeat": False},
                                  {"kind": "node", "repeat": False}]
    assert cmd["values"] == {"--colour": ["red", "blue"], "--output": "file"}
    script = completion.bash_script(parser)
    assert "np9cmd) case $2 in 0) echo lab;; 1) echo node;; esac;;" in script
    assert "np9cmd:--colour) COMPREPLY=($(compgen -W 'red blue' -- \"$cur\"));;" in script


def test_docs_cli_lists_every_command_and_the_install_line():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    for name in COMMANDS:
        assert f"| `{name}" in doc, name
    assert "netplay completion bash | sudo tee /etc/bash_completion.d/netplay" in doc
