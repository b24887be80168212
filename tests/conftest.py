"""Shared fixtures: running the real CLI, a private state directory, host snapshots, and
cleanup that happens even when a test fails.

Tests that touch the kernel are marked `root` and skipped when not root; tests that need
the Docker daemon are marked `docker` and skipped when none answers. Every lab a test
builds is torn down by the `lab` fixture's finalizer through netplay's own down, and the
host is then checked against a snapshot taken before the test.
"""

import json
import os
import subprocess
import sys

import pytest

from netplay.api.pytest_plugin import check_unchanged, snapshot as plugin_snapshot

ROOT = os.geteuid() == 0
TEST_IMAGE = os.environ.get("NETPLAY_TEST_IMAGE", "netplay-busybox")


def _docker_up():
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:
        return False


DOCKER = ROOT and _docker_up()


@pytest.fixture(autouse=True)
def _one_host_test_at_a_time(request):
    """Tests that change the host take a machine-wide lock, so that host snapshots taken by
    one test are not disturbed by another test run on the same machine."""
    if not ROOT or not ({"root", "docker"} & set(request.keywords)):
        yield
        return
    import fcntl

    with open("/run/netplay-tests.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def pytest_collection_modifyitems(config, items):
    skip_root = pytest.mark.skip(reason="needs root (real namespaces)")
    skip_docker = pytest.mark.skip(reason="needs a reachable Docker daemon")
    for item in items:
        if "root" in item.keywords and not ROOT:
            item.add_marker(skip_root)
        if "docker" in item.keywords and not DOCKER:
            item.add_marker(skip_docker)


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return f"<rc={self.rc} out={self.out[-2000:]!r} err={self.err[-2000:]!r}>"


@pytest.fixture
def state_dir(tmp_path):
    path = tmp_path / "state"
    return str(path)


@pytest.fixture
def netplay(state_dir):
    """Run the real CLI in a subprocess with a private state directory."""

    def run(*args, input=None, env=None, timeout=300):
        full_env = dict(os.environ, NETPLAY_STATE_DIR=state_dir, **(env or {}))
        proc = subprocess.run([sys.executable, "-m", "netplay", *args], capture_output=True,
                              text=True, input=input, env=full_env, timeout=timeout)
        return Result(proc)

    return run


def ip_json(*args):
    out = subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout
    return json.loads(out) if out.strip() else []


def snapshot():
    """What a lab may leave behind on the host, as sets and strings to compare: the
    pytest plugin's snapshot (netplay/api/pytest_plugin.py), read through the Machine."""
    return plugin_snapshot()


@pytest.fixture
def host_unchanged():
    """Assert at the end of the test that the host looks as it did at its start."""
    before = snapshot()
    yield before
    check_unchanged(before)  # fails the test naming what changed


@pytest.fixture
def lab(netplay):
    """Build labs with `lab(topology, *options)`; every one is taken down afterwards,
    even when the test fails, and the host must then be as it was."""
    before = snapshot()
    names = []

    def up(topology, *options, name=None, check=True):
        result = netplay("run", topology, *options)
        names.append(name or os.path.basename(topology).split(".")[0])
        if check:
            assert result.rc == 0, result
        return result

    yield up
    for name in names:
        netplay("down", name)
    check_unchanged(before)  # a lab left something on the host: fails naming it


def write_topology(tmp_path, text, name="topo.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="session")
def _sim_keys():
    """The client key and the simulated hosts' host key of this test session."""
    import shutil
    import tempfile

    import simhost

    where = tempfile.mkdtemp(prefix="npsim-keys-")
    try:
        yield simhost.make_keys(where)
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture
def sim_hosts(_sim_keys):
    """Start simulated hosts with `sims = sim_hosts(n)` (tests/simhost.py): sims[i].name is
    "sim1".., sims[i].address its underlay address, sims.ssh_config the ssh configuration
    that reaches them, sims.cut(i) / sims.mend(i) take sim i's link down and up. They are
    stopped afterwards, even when the test fails."""
    import simhost

    started = []

    def start(n):
        sims = simhost.start(n, _sim_keys)
        started.append(sims)
        return sims

    yield start
    for sims in started:
        sims.stop()
