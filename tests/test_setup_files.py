"""Checks of the install/run scripts, CI entry point and Vagrantfile.

These do not need root, except that the Docker checks need a daemon that
answers `docker info` (they skip otherwise).
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((REPO / "scripts").glob("*.sh"))
SHELL_FILES = SCRIPTS + [REPO / ".ci" / "run"]
EXPECTED_SCRIPTS = {
    "setup.sh",
    "docker-up.sh",
    "docker-down.sh",
    "build-image.sh",
    "quickstart.sh",
    "test.sh",
    "leftovers.sh",
}
IMAGE = "netplay-busybox:latest"


def _ids(paths):
    return [str(p.relative_to(REPO)) for p in paths]


def _docker_answers():
    if shutil.which("docker") is None:
        return False
    try:
        r = subprocess.run(
            ["docker", "info"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


needs_docker = pytest.mark.skipif(
    not _docker_answers(), reason="no Docker daemon answers `docker info`"
)


def test_expected_scripts_exist_and_are_executable():
    names = {p.name for p in SCRIPTS}
    assert EXPECTED_SCRIPTS <= names, f"missing: {EXPECTED_SCRIPTS - names}"
    for path in SHELL_FILES:
        assert path.is_file(), path
        assert os.access(path, os.X_OK), f"{path} is not executable"


@pytest.mark.parametrize("path", SHELL_FILES, ids=_ids(SHELL_FILES))
def test_bash_strict_mode(path):
    text = path.read_text()
    first = text.splitlines()[0]
    assert first in ("#!/usr/bin/env bash", "#!/bin/bash"), first
    assert re.search(r"^set -euo pipefail$", text, re.M), (
        f"{path.name} lacks `set -euo pipefail`"
    )
    for forbidden in ("pkill", "killall"):
        assert not re.search(rf"\b{forbidden}\b", text), (
            f"{path.name} uses {forbidden}"
        )


@pytest.mark.parametrize("path", SHELL_FILES, ids=_ids(SHELL_FILES))
def test_shellcheck_clean(path):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (scripts/setup.sh installs it)")
    r = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=style", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, f"shellcheck {path.name}:\n{r.stdout}{r.stderr}"


def test_ci_run_execs_test_script():
    text = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^exec bash scripts/test\.sh\b", text, re.M)


def test_test_script_treats_no_tests_as_failure():
    text = (REPO / "scripts" / "test.sh").read_text()
    assert "pytest" in text
    assert re.search(r"rc == 5", text), "pytest exit code 5 must be handled"


def test_vagrantfile_contents():
    text = (REPO / "Vagrantfile").read_text()
    box = re.search(r'config\.vm\.box\s*=\s*"([^"]+)"', text)
    assert box, "no config.vm.box"
    assert box.group(1) in ("ubuntu/jammy64", "bento/ubuntu-22.04"), box.group(1)
    assert re.search(r'synced_folder\s+"\.",\s*"/netplay"', text)
    assert "/netplay/scripts/setup.sh" in text
    assert re.search(r"privileged:\s*true", text)


def test_multihost_vagrantfile_defines_two_boxes_on_a_private_network():
    text = (REPO / "vagrant" / "multihost" / "Vagrantfile").read_text()
    boxes = dict(re.findall(r'"(host\d)" => "([0-9.]+)"', text))
    assert sorted(boxes) == ["host1", "host2"], text
    assert 'box.vm.network "private_network", ip: address' in text
    assert "/netplay/scripts/setup.sh" in text
    assert "ssh-keyscan" in text  # netplay checks host keys strictly: they must be known


def test_multihost_sample_topology_spans_the_two_boxes():
    from netplay.load.resolve import resolve
    from netplay.model.tunnels import cross_links
    from netplay.plan.build import plan

    text = (REPO / "vagrant" / "multihost" / "Vagrantfile").read_text()
    boxes = dict(re.findall(r'"(host\d)" => "([0-9.]+)"', text))
    topo = resolve(str(REPO / "vagrant" / "multihost" / "two-hosts.yaml"))
    assert {name: h.ssh for name, h in topo.hosts.items()} == \
        {name: f"root@{address}" for name, address in boxes.items()}
    assert len(cross_links(topo)) == 1
    assert {s.host for s in plan(topo)} == {"host1", "host2"}
    assert "/multihost/two-hosts.yaml" in text


@pytest.mark.parametrize("where", [".", "vagrant/multihost"])
def test_vagrant_validate(tmp_path, where):
    vagrant = shutil.which("vagrant")
    if vagrant is None:
        pytest.skip("vagrant is not installed (scripts/test.sh installs it)")
    env = dict(os.environ)
    # Keep vagrant's .vagrant/ state out of the repo.
    env["VAGRANT_DOTFILE_PATH"] = str(tmp_path / "dotfile")
    env.setdefault("VAGRANT_HOME", str(tmp_path / "home"))
    env["VAGRANT_CHECKPOINT_DISABLE"] = "1"
    # No provider (VirtualBox) is installed here: validate the Vagrantfile
    # itself and ignore provider-specific settings.
    r = subprocess.run(
        [vagrant, "validate", "--ignore-provider"],
        cwd=REPO / where,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "validated successfully" in out, out


def test_docker_down_without_pidfile_is_a_noop(tmp_path):
    pidfile = tmp_path / "dockerd.pid"
    r = subprocess.run(
        ["bash", str(REPO / "scripts" / "docker-down.sh")],
        env={**os.environ, "NETPLAY_DOCKERD_PIDFILE": str(pidfile)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "nothing to stop" in r.stderr
    assert not pidfile.exists()


def test_docker_down_never_kills_a_non_dockerd_pid(tmp_path):
    """A pidfile naming some other process (PID reuse) must not kill it."""
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pidfile = tmp_path / "dockerd.pid"
        pidfile.write_text(f"{victim.pid}\n")
        r = subprocess.run(
            ["bash", str(REPO / "scripts" / "docker-down.sh")],
            env={**os.environ, "NETPLAY_DOCKERD_PIDFILE": str(pidfile)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        assert victim.poll() is None, "docker-down.sh killed a non-dockerd process"
        assert not pidfile.exists(), "stale pidfile was not removed"
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.docker
@needs_docker
def test_docker_up_starts_nothing_when_a_daemon_answers(tmp_path):
    pidfile = tmp_path / "dockerd.pid"
    r = subprocess.run(
        ["bash", str(REPO / "scripts" / "docker-up.sh")],
        env={**os.environ, "NETPLAY_DOCKERD_PIDFILE": str(pidfile)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "", "docker-up.sh claims to have started a dockerd"
    assert not pidfile.exists()


@pytest.mark.docker
@needs_docker
def test_busybox_image_exists_and_runs():
    r = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Cmd}}", IMAGE],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, (
        f"{IMAGE} missing (run scripts/build-image.sh): {r.stderr}"
    )
    assert r.stdout.strip() == '["sleep","2147483647"]'
    r = subprocess.run(
        ["docker", "run", "--rm", "--net=none", IMAGE, "sh", "-c", "echo ok"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


# scripts/leftovers.sh is tried in a namespace of the test's own: `ip netns exec` gives
# its shell a private mount namespace too, so the bridge, the mount and the folders are
# all the test's, and nothing of the host's is touched.
LEFTOVERS_NS = "npt-leftovers"
LEFTOVERS_SCRIPT = r"""
set -euo pipefail
script=$1 note=$2 run=$3 etc=$4 before=$5 ask=$6 used=$7
make() {
    ip link add docker0 type bridge
    mount --bind "$run" "$run"
    mkdir -p "$etc"
}
[[ $before == yes ]] && make
bash "$script" note "$note"
[[ $before == yes ]] || make
if [[ $used == yes ]]; then  # each in use: a port, a namespace's file, a lab's folder
    ip link add npt-port type veth peer name npt-peer
    ip link set npt-port master docker0
    touch "$run/h1"
    mkdir "$etc/h1"
fi
bash "$script" clear "$note" $ask
ip link show dev docker0 >/dev/null 2>&1 && echo bridge
mountpoint -q "$run" && echo mount
[[ -e $etc ]] && echo folder
true
"""


def _leftovers(tmp_path, before, ask, used):
    """What is left after `leftovers.sh clear` (of "bridge", "mount", "folder"), and its
    messages: before, the three were there when noted; ask, clear's bridge argument;
    used, each in use when cleared."""
    run, etc = tmp_path / "run-netns", tmp_path / "etc-netns"
    run.mkdir()
    env = {**os.environ, "NETPLAY_RUN_NETNS": str(run), "NETPLAY_ETC_NETNS": str(etc)}
    subprocess.run(["ip", "netns", "add", LEFTOVERS_NS], check=True)
    try:
        r = subprocess.run(
            ["ip", "netns", "exec", LEFTOVERS_NS, "bash", "-c", LEFTOVERS_SCRIPT, "test",
             str(REPO / "scripts" / "leftovers.sh"), str(tmp_path / "note"), str(run),
             str(etc), before, ask, used],
            env=env, capture_output=True, text=True, timeout=60,
        )
    finally:
        subprocess.run(["ip", "netns", "delete", LEFTOVERS_NS], check=True)
    assert r.returncode == 0, r.stderr
    return set(r.stdout.split()), r.stderr


@pytest.mark.root
@pytest.mark.parametrize("ask", ["bridge", ""])
def test_leftovers_clears_what_the_run_made(tmp_path, ask):
    """docker0 of the dockerd stopped, the /run/netns mount and /etc/netns: gone."""
    left, err = _leftovers(tmp_path, before="no", ask=ask, used="no")
    # the bridge only when asked: its dockerd was started and stopped by test.sh
    assert left == ({"bridge"} if not ask else set()), err
    assert "unmounted" in err and "removed" in err, err


@pytest.mark.root
def test_leftovers_keeps_what_was_there_before(tmp_path):
    left, err = _leftovers(tmp_path, before="yes", ask="bridge", used="no")
    assert left == {"bridge", "mount", "folder"}, err


@pytest.mark.root
def test_leftovers_keeps_what_is_in_use(tmp_path):
    left, err = _leftovers(tmp_path, before="no", ask="bridge", used="yes")
    assert left == {"bridge", "mount", "folder"}, err
    assert "has ports" in err and "holds namespaces" in err, err
