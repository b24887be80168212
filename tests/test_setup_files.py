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
