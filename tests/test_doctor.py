"""`netplay doctor`: the parsers on recorded output, the decisions, and the real host."""

import contextlib
import io
import json
import os
import subprocess
from types import SimpleNamespace

import pytest

from conftest import TEST_IMAGE
from netplay.cli import app as cli
from netplay.lab import doctor
from netplay.lab.doctor import FAIL, OK, WARN


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main(argv)
        except SystemExit as exit:
            rc = exit.code
    return rc, out.getvalue(), err.getvalue()


# --- pure -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, version", [
    ("ip utility, iproute2-6.1.0, libbpf 1.1.2", (6, 1)),
    ("ip utility, iproute2-5.15.0, libbpf 0.5.0", (5, 15)),
    ("ip utility, iproute2-ss190107", (4, 14)),
    ("ip utility, iproute2-ss161212", (4, 0)),
    ("something else", None),
])
def test_iproute_version(text, version):
    assert doctor.iproute_version(text) == version


def test_forward_policy():
    recorded = "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n-A FORWARD -j DOCKER-ISOLATION\n"
    assert doctor.forward_policy(recorded) == "DROP"
    assert doctor.forward_policy("-P FORWARD ACCEPT\n") == "ACCEPT"
    assert doctor.forward_policy("") is None


def test_trap_check_says_what_netplay_does():
    trapped = doctor.trap_check("1", "DROP", "0", "ACCEPT")
    assert trapped.status == OK
    assert "iptables -I FORWARD -i BR -o BR" in trapped.detail and "removes them" in trapped.detail
    assert doctor.trap_check("0", "DROP").status == OK
    assert doctor.trap_check(None, None).status == OK
    v6 = doctor.trap_check("0", "ACCEPT", "1", "DROP")  # netplay adds an ip6tables rule too
    assert v6.status == OK and "policy DROP (ip6tables" in v6.detail
    assert "the same ip6tables rule" in v6.detail


def test_leftover_check_points_at_clean_and_down():
    found = [SimpleNamespace(kind="container", name="np9-x", lab="np9-gone"),
             SimpleNamespace(kind="namespace", name="np9-y", lab="np9-up"),
             SimpleNamespace(kind="bridge", name="np9-br", lab="np9-gone")]
    checks = doctor.leftover_check(found, {"np9-up": "up", "np9-half": "failed"}, "/st")
    by = {c.check: c for c in checks}
    half = by["labs partly up"]
    assert half.status == WARN and "netplay down np9-half" in half.fix
    left = by["leftover objects"]
    assert left.status == WARN and "netplay clean" in left.fix
    assert "container np9-x (np9-gone)" in left.detail and "np9-y" not in left.detail
    assert doctor.leftover_check([], {"np9-up": "up"}, "/st")[0].status == OK


# --- the command ----------------------------------------------------------------------------------


def test_not_root_fails_with_exit_2_and_json(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    rc, out, _ = run_cli(["doctor", "--json"])
    data = json.loads(out)
    assert rc == 2 and data["ok"] is False
    root = next(c for c in data["checks"] if c["check"] == "root")
    assert root["status"] == FAIL and "sudo" in root["fix"]
    rc, out, _ = run_cli(["doctor"])
    assert rc == 2 and "block `netplay run`: root" in out
    assert out.splitlines()[0].split() == ["CHECK", "STATUS", "DETAIL", "FIX"]


def test_missing_program_is_a_fail_with_the_package():
    from netplay.machine.fake import FakeMachine

    check = doctor.check_program(FakeMachine(missing={"brctl"}), "brctl", "bridge-utils",
                                 "bridges")
    assert check.status == FAIL and check.fix == "apt-get install bridge-utils"
    assert doctor.check_program(FakeMachine(), "brctl", "bridge-utils", "bridges").status == OK


@pytest.mark.root
def test_this_host(netplay):
    result = netplay("doctor", "--json")
    data = result.json()
    by = {c["check"]: c for c in data["checks"]}
    assert result.rc == 0 and data["ok"] is True, result
    for name in ("root", "iproute2", "brctl", "iptables", "/var/run/netns", "state directory"):
        assert by[name]["status"] == OK, by[name]
    assert all(c["status"] in (OK, WARN, FAIL) for c in data["checks"])
    assert all(c["fix"] for c in data["checks"] if c["status"] != OK)
    table = netplay("doctor")
    assert table.rc == 0 and "nothing blocks `netplay run` on this host" in table.out


@pytest.mark.root
@pytest.mark.docker
def test_docker_daemon_images_and_trap(netplay):
    data = netplay("doctor", "--json", "--image", TEST_IMAGE).json()
    by = {c["check"]: c for c in data["checks"]}
    assert by["docker daemon"]["status"] == OK and "Docker " in by["docker daemon"]["detail"]
    assert by["images"]["status"] == OK and TEST_IMAGE in by["images"]["detail"]
    missing = netplay("doctor", "--json", "--image", "np9-no-such-image").json()
    images = next(c for c in missing["checks"] if c["check"] == "images")
    assert images["status"] == WARN and "scripts/build-image.sh" in images["fix"]
    # dockerd sets FORWARD to DROP with br_netfilter on: the trap, and what netplay does
    trap = by["docker firewall trap"]
    assert "FORWARD" in trap["detail"]


@pytest.mark.root
@pytest.mark.docker
def test_leftovers_and_failed_labs_are_reported(netplay, state_dir, host_unchanged):
    from netplay.run import log as steplog, state

    state.lab_dir(state_dir, "np9-half", create=True)
    log = steplog.StepLog.create(state.log_path(state_dir, "np9-half"), "np9-half",
                                 {"name": "np9-half", "nodes": {}}, [])
    log.set_status(steplog.FAILED)
    name = "np9-orphan-c"
    subprocess.run(["docker", "run", "-d", "--net=none", "--name", name, "--label",
                    "netplay.lab=np9-orphan", TEST_IMAGE, "sleep", "60"],
                   check=True, capture_output=True)
    try:
        result = netplay("doctor", "--json")
        by = {c["check"]: c for c in result.json()["checks"]}
        assert result.rc == 0  # leftovers do not block a run
        assert by["labs partly up"]["status"] == WARN
        assert "np9-half (failed)" in by["labs partly up"]["detail"]
        assert "netplay down np9-half" in by["labs partly up"]["fix"]
        left = by["leftover objects"]
        assert left["status"] == WARN and "netplay clean" in left["fix"]
        if "did not finish" not in left["detail"]:  # a host crowded with namespaces
            assert f"container {name} (np9-orphan)" in left["detail"] or \
                "more" in left["detail"]  # other tests' leftovers may come first
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_a_slow_search_for_leftovers_does_not_hold_the_doctor(monkeypatch):
    import time

    from netplay.lab import clean
    from netplay.machine.fake import FakeMachine

    monkeypatch.setattr(doctor, "LEFTOVER_BUDGET", 0.2)
    monkeypatch.setattr(clean, "find", lambda machine, cli: time.sleep(5))
    start = time.monotonic()
    host = FakeMachine(dirs={"/var/run/netns": ["np9-a", "np9-b"]})
    checks = doctor.check_leftovers(host, None, "/nonexistent")
    assert time.monotonic() - start < 2
    assert checks[0].status == WARN and "did not finish within 0.2 s" in checks[0].detail
    assert "(2 namespaces to look into)" in checks[0].detail


# --- fixes that do not assume a clone of the repository -------------------------------------------


class _NoImages:
    """A Docker client stub whose daemon holds no image."""

    class images:
        @staticmethod
        def list():
            return []

        @staticmethod
        def get(name):
            import docker.errors

            raise docker.errors.ImageNotFound(name)


def test_fixes_name_the_clones_scripts_only_in_a_clone(tmp_path):
    from netplay.machine.fake import FakeMachine

    scripts = tmp_path / "scripts"
    daemon = doctor.check_docker(FakeMachine(), None, scripts)[0]
    assert daemon.status == WARN and f"sudo {scripts}/docker-up.sh" in daemon.fix
    images = doctor.check_images(_NoImages(), "ubuntu", scripts)
    assert images.status == WARN and f"{scripts}/build-image.sh" in images.fix
    # installed from a wheel: no scripts/ beside the package, plain commands instead
    daemon = doctor.check_docker(FakeMachine(), None, None)[0]
    assert "scripts/" not in daemon.fix and "systemctl start docker" in daemon.fix
    assert "dockerd" in daemon.fix and "apt-get install docker.io" in daemon.fix
    images = doctor.check_images(_NoImages(), "np18-img", None)
    assert "scripts/" not in images.fix and "docker pull np18-img" in images.fix
    assert "--image NAME" in images.fix


def test_the_scripts_are_found_beside_the_package_of_a_clone(monkeypatch, tmp_path):
    from pathlib import Path

    import netplay

    assert doctor.repo_scripts() == Path(netplay.__file__).resolve().parent.parent / "scripts"
    monkeypatch.setattr(doctor, "CLONE_SCRIPTS", tmp_path / "scripts")  # as in site-packages
    assert doctor.repo_scripts() is None
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "docker-up.sh").write_text("#!/bin/sh\n")
    assert doctor.repo_scripts() == tmp_path / "scripts"


def test_doctor_without_a_clone_suggests_plain_commands(monkeypatch, tmp_path):
    """run_checks, the way `netplay doctor` calls it, on a host with no daemon: the fixes
    follow where netplay runs from."""
    from pathlib import Path

    from netplay.machine.fake import FakeMachine

    monkeypatch.setattr(doctor, "CLONE_SCRIPTS", tmp_path / "scripts")
    host = FakeMachine(euid=1000)  # no Docker daemon answers it
    fixes = {c.check: c.fix for c in doctor.run_checks(host, tmp_path / "state", "ubuntu")}
    assert "scripts/" not in fixes["docker daemon"] and "systemctl" in fixes["docker daemon"]
    monkeypatch.setattr(doctor, "CLONE_SCRIPTS", Path(__file__).resolve().parent.parent
                        / "scripts")
    fixes = {c.check: c.fix for c in doctor.run_checks(host, tmp_path / "state", "ubuntu")}
    assert "/scripts/docker-up.sh" in fixes["docker daemon"]
