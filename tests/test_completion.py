"""Shell completion, written by shtab from the parser, run for real: bash and zsh in a
terminal (a pty: readline and zle split the words and insert what is completed, as when a
person presses TAB), fish through its own `complete -C`; all against a private state
directory holding one lab, with `netplay` on PATH. Needs no root."""

import argparse
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

import netplay
from netplay.cli import completion
from netplay.cli.app import build_parser
from netplay.cli.commands import COMMANDS
from netplay.load import builtins

PACKAGE_ROOT = Path(netplay.__file__).resolve().parent.parent
END = "#np9end"  # typed after TAB: once it shows, the shell is done completing


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A directory with `netplay` (this tree) on PATH, the three scripts, a state dir with
    lab np9-comp (alpha:eth0 - beta:eth0, beta:eth1 on bridge sw), and some files."""
    from netplay.run import log as steplog, state

    home = tmp_path_factory.mktemp("completion")
    (home / "bin").mkdir()
    prog = home / "bin" / "netplay"
    prog.write_text(f"#!/bin/sh\nPYTHONPATH={PACKAGE_ROOT} exec {sys.executable} "
                    f"-m netplay \"$@\"\n")
    prog.chmod(0o755)
    for shell in completion.SHELLS:
        (home / f"netplay.{shell}").write_text(completion.script(shell, build_parser({})))
    (home / "zfunc").mkdir()
    shutil.copy(home / "netplay.zsh", home / "zfunc" / "_netplay")  # zsh loads _NAME
    root = home / "state"
    topology = {"name": "np9-comp", "nodes": {
        "alpha": {"kind": "netns", "interfaces": {"eth0": {"up": True}}},
        "beta": {"kind": "netns", "interfaces": {"eth0": {"up": True}, "eth1": {}}}},
        "bridges": {"sw": {}},
        "links": [{"endpoints": ["alpha:eth0", "beta:eth0"]},
                  {"endpoints": ["beta:eth1", "sw:beta_eth1"]}]}
    state.lab_dir(root, "np9-comp", create=True)
    steplog.StepLog.create(state.log_path(root, "np9-comp"), "np9-comp", topology, [])
    for name in ("np9.clab.yml", "np9-own.yaml", "notes.txt"):
        (home / name).write_text("name: x\n")
    (home / "np9-dir").mkdir()
    return home


def shell_env(env, **more):
    path = f"{env / 'bin'}{os.pathsep}{os.environ['PATH']}"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NETPLAY_")}
    return dict(clean, PATH=path, TERM="dumb", HOME=str(env), **more)


def _screen(raw):
    """Terminal output as text: escape sequences and carriage returns dropped, each
    backspace taking back the character before it (zle moves the cursor so)."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", raw.decode(errors="replace"))
    while "\x08" in text:
        text = re.sub("[^\x08]?\x08", "", text, count=1)
    return text


class Terminal:
    """An interactive shell on a pty 200 columns wide: type, and read what it shows."""

    def __init__(self, argv, cwd, environ, setup):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the shell
            os.chdir(cwd)
            os.execve(argv[0], argv, environ)
        import fcntl
        import termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
        self.type(setup + "; echo np9-ready\n", until="np9-ready\n$ ")

    def type(self, text, until=END, timeout=30):
        """Type text; what the terminal shows until `until` appears (ANSI codes removed)."""
        os.write(self.fd, text.encode())
        out, shown, deadline = b"", "", time.monotonic() + timeout
        while until not in shown:
            left = deadline - time.monotonic()
            assert left > 0, f"the shell did not show {until!r}; it showed {shown!r}"
            if select.select([self.fd], [], [], min(left, 0.2))[0]:
                out += os.read(self.fd, 65536)
                shown = _screen(out)
        return shown

    def complete(self, line):
        """The screen after typing line and TAB: the line as completed, and any list of
        choices; the line is then cleared (Ctrl-U)."""
        shown = self.type(line + "\t" + END)
        self.type("\x15echo cleared\n", until="cleared\n$ ")
        return shown

    def close(self):
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture
def bash(env):
    term = Terminal(["/bin/bash", "--norc", "--noprofile", "-i"], env,
                    shell_env(env, NETPLAY_STATE_DIR=str(env / "state")),
                    "PS1='$ '; bind 'set show-all-if-ambiguous on'; "
                    "bind 'set completion-query-items 0'; bind 'set page-completions off'; "
                    "bind 'set bell-style none'; bind 'set enable-bracketed-paste off'; "
                    "source netplay.bash")
    yield term
    term.close()


def test_bash_completes_labs_nodes_and_ends(bash):
    assert f"netplay down np9-comp {END}" in bash.complete("netplay down np9-c")
    assert f"netplay exec np9-comp beta {END}" in bash.complete("netplay exec np9-comp b")
    assert f"netplay link np9-comp alpha:eth0 {END}" in \
        bash.complete("netplay link np9-comp al")
    # readline breaks the word at ':': the end is completed after it all the same
    assert f"netplay link np9-comp alpha:eth0 {END}" in \
        bash.complete("netplay link np9-comp alpha:")
    listed = bash.complete("netplay capture np9-comp beta:")
    assert "eth0" in listed and "eth1" in listed and f"netplay capture np9-comp beta:eth{END}" \
        in listed
    assert f"netplay ping np9-comp alpha beta:eth1 {END}" in \
        bash.complete("netplay ping np9-comp alpha beta:eth1")


def test_bash_offers_a_labs_ends_not_file_names(bash):
    """`netplay link home <TAB>` offered the files of the current directory."""
    shown = bash.complete("netplay link np9-comp ")
    assert all(end in shown for end in ("alpha:eth0", "beta:eth0", "beta:eth1",
                                        "sw:beta_eth1")), shown
    assert "notes.txt" not in shown and "np9-dir" not in shown


def test_bash_commands_options_choices_and_files(bash):
    shown = bash.complete("netplay ")
    assert all(name in shown for name in COMMANDS), shown
    assert f"netplay run --runtime {END}" in bash.complete("netplay run --runt")
    shown = bash.complete("netplay run --runtime ")
    assert "netns" in shown and "docker" in shown
    shown = bash.complete("netplay run ")  # built-ins, topology files and directories
    assert all(name in shown for name in builtins.names()), shown
    assert "np9-own.yaml" in shown and "np9.clab.yml" in shown and "np9-dir/" in shown
    assert "notes.txt" not in shown
    assert "notes.txt" in bash.complete("netplay replay ")  # a log is any file


def test_bash_reads_the_state_dir_of_the_line(env):
    """--state-dir on the line (as --state-dir=DIR too, which readline splits at =) wins
    over $NETPLAY_STATE_DIR."""
    term = Terminal(["/bin/bash", "--norc", "--noprofile", "-i"], env,
                    shell_env(env, NETPLAY_STATE_DIR=str(env / "nowhere")),
                    "PS1='$ '; bind 'set bell-style none'; "
                    "bind 'set enable-bracketed-paste off'; source netplay.bash")
    try:
        assert f"down {END}" in term.complete("netplay down ")  # no labs in nowhere
        assert f"netplay --state-dir {env}/state down np9-comp {END}" in \
            term.complete(f"netplay --state-dir {env}/state down ")
        assert f"netplay down -q --state-dir={env}/state np9-comp {END}" in \
            term.complete(f"netplay down -q --state-dir={env}/state ")
    finally:
        term.close()


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
@pytest.mark.parametrize("install", [
    "fpath=({env}/zfunc $fpath); autoload -U compinit; compinit -u -D",  # saved as _netplay
    "source <(cat {env}/netplay.zsh)",  # the ~/.zshrc line: compinit loaded by the script
])
def test_zsh_completes_labs_nodes_and_ends(env, install):
    term = Terminal([shutil.which("zsh"), "-f", "-i"], env,
                    shell_env(env, NETPLAY_STATE_DIR=str(env / "state")),
                    "PROMPT='$ '; setopt nobeep; unsetopt promptsp promptcr; "
                    + install.format(env=env))
    try:
        assert f"netplay down np9-comp {END}" in term.complete("netplay down np9-c")
        assert f"netplay exec np9-comp beta {END}" in term.complete("netplay exec np9-comp b")
        assert f"netplay link np9-comp alpha:eth0 {END}" in \
            term.complete("netplay link np9-comp alpha:")
        assert f"netplay run --runtime netns {END}" in \
            term.complete("netplay run --runtime ne")
    finally:
        term.close()


def fish_complete(env, line):
    proc = subprocess.run(["fish", "--no-config", "-c",
                           f"source {env / 'netplay.fish'}; complete -C '{line}'"],
                          capture_output=True, text=True, cwd=env, timeout=60,
                          env=shell_env(env, NETPLAY_STATE_DIR=str(env / "state")))
    assert proc.returncode == 0, proc.stderr
    return sorted(row.split("\t")[0] for row in proc.stdout.splitlines())


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish_completes_labs_nodes_and_ends(env):
    assert fish_complete(env, "netplay down np9-c") == ["np9-comp"]
    assert fish_complete(env, "netplay exec np9-comp ") == ["alpha", "beta"]
    assert fish_complete(env, "netplay link np9-comp beta:") == ["beta:eth0", "beta:eth1"]
    assert fish_complete(env, "netplay run --runtime ") == ["docker", "netns"]
    assert set(COMMANDS) <= set(fish_complete(env, "netplay "))


def test_scripts_are_generated_for_every_shell(env):
    """Each script is valid in its shell (when installed) and knows every command."""
    checks = {"bash": ["bash", "-n"], "zsh": ["zsh", "-n"], "fish": ["fish", "--no-execute"]}
    for shell in completion.SHELLS:
        text = (env / f"netplay.{shell}").read_text()
        assert "shtab" in text and "netplay_ask" in text
        for name in COMMANDS:
            assert re.search(rf"\b{re.escape(name)}\b", text), (shell, name)
        if shutil.which(checks[shell][0]):
            proc = subprocess.run([*checks[shell], str(env / f"netplay.{shell}")],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, (shell, proc.stderr)


def test_the_command_prints_each_script_without_help_loading_shtab(env):
    for shell in completion.SHELLS:
        proc = subprocess.run([str(env / "bin" / "netplay"), "completion", shell],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0 and "shtab" in proc.stdout, proc.stderr
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "netplay", "--help"],
                             capture_output=True, text=True, cwd=PACKAGE_ROOT).stderr
    assert "shtab" not in imports


def test_list_is_silent_and_empty_when_it_cannot_read(env):
    out = subprocess.run([str(env / "bin" / "netplay"), "--state-dir", str(env / "nowhere"),
                          "completion", "--list", "nodes", "--lab", "np9-none"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""


def test_the_line_names_the_lab_and_state_dir():
    parser = build_parser({})
    assert completion.context(parser, ["link", "lab1"]) == (None, "lab1")
    assert completion.context(parser, ["--state-dir", "/s", "exec", "-q", "lab2"]) == \
        ("/s", "lab2")
    assert completion.context(parser, ["ping", "-c", "3", "--state-dir=/t", "lab3", "a"]) \
        == ("/t", "lab3")
    assert completion.context(parser, ["run"]) == (None, None)
    assert completion.context(parser, ["graph", "home"]) == (None, None)  # not a lab's dest


def test_generated_from_the_parser():
    """A command added to the parser is completed by what its arguments are called, with
    no change to completion."""
    parser = argparse.ArgumentParser(prog="netplay")
    sub = parser.add_subparsers(dest="command")
    np9 = sub.add_parser("np9cmd", help="a new command")
    np9.add_argument("lab")
    np9.add_argument("node")
    np9.add_argument("end", metavar="NODE:IFACE")
    np9.add_argument("log")
    np9.add_argument("--colour", choices=["red", "blue"])
    np9.add_argument("--output", metavar="FILE")
    kinds = [completion.positional_kinds(a) for a in np9._actions if not a.option_strings]
    assert kinds == [("labs",), ("nodes",), ("ends",), ("files",)]
    script = completion.script("bash", parser)
    for i, function in enumerate(["labs", "nodes", "ends", "files"]):
        assert f"_shtab_netplay_np9cmd_pos_{i}_COMPGEN=_netplay_complete_{function}\n" in script
    assert "_shtab_netplay_np9cmd___colour_choices=(red blue)" in script
    assert "_shtab_netplay_np9cmd___output_COMPGEN=_shtab_compgen_files" in script


def test_docs_cli_lists_every_command_and_the_install_lines():
    doc = (PACKAGE_ROOT / "docs" / "cli.md").read_text()
    for name in COMMANDS:
        assert f"| `{name}" in doc, name
    assert "netplay completion bash | sudo tee /etc/bash_completion.d/netplay" in doc
    assert "netplay completion fish > ~/.config/fish/completions/netplay.fish" in doc
