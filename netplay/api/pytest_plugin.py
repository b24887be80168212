"""netplay's pytest plugin, registered by the package's `pytest11` entry point (no
conftest needed; docs/api.md):

    @pytest.mark.netplay_topology("levels", runtime="netns")
    def test_levels(netplay_lab):
        assert netplay_lab.exec("levela", ["ip", "link"]).returncode == 0

`netplay_lab` builds the marked topology with Lab.up, yields the Lab and takes it down
afterwards, even when the test failed; then the test fails if the host is not as it was
before (namespaces, links, containers, firewall rules, ip_forward), or, under
pytest-xdist, if anything marked as the lab's is left. `netplay_host_unchanged`
is that last check alone. Both read the host through netplay's Machine (api/snapshot.py).
"""

import os
from typing import Any, Dict, Iterator, Optional, Tuple

import pytest

from netplay.api.lab import Lab
from netplay.api.snapshot import Snapshot, differences, leftovers, snapshot

__all__ = ["HostChanged", "check_unchanged", "snapshot"]

MARKER = "netplay_topology"
MARKER_HELP = (f"{MARKER}(spec, runtime=None, name=None, prefix=False, image=None): the "
               "topology the netplay_lab fixture builds (a built-in name, linear:N, a "
               "path or a dict)")
OPTIONS = ("runtime", "name", "prefix", "image")
XDIST_WORKER = "PYTEST_XDIST_WORKER"  # set by pytest-xdist in each worker process


class HostChanged(pytest.fail.Exception):  # type: ignore[name-defined]
    """The host is not as it was before the test: the test fails, saying what changed."""

    def __init__(self, changes: Any) -> None:
        super().__init__("netplay: the host is not as it was before the test: "
                         + "; ".join(changes), pytrace=False)


def check_unchanged(before: Snapshot, after: Optional[Snapshot] = None) -> None:
    """Raise HostChanged if the host (now, or `after`) differs from `before`."""
    changes = differences(before, snapshot() if after is None else after)
    if changes:
        raise HostChanged(changes)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)


def marker_options(item: pytest.Item) -> Tuple[Any, Dict[str, Any]]:
    """(spec, Lab.up's keyword arguments) of the item's netplay_topology marker."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        pytest.fail(f"netplay_lab: mark the test @pytest.mark.{MARKER}(SPEC) to say "
                    "which topology to build", pytrace=False)
    kwargs = dict(marker.kwargs)
    args = list(marker.args)
    spec = args.pop(0) if args else kwargs.pop("spec", None)
    unknown = sorted(set(kwargs) - set(OPTIONS))
    if spec is None or args or unknown:
        pytest.fail(f"netplay_lab: {MARKER_HELP}; got args {marker.args!r}, keyword "
                    f"arguments {sorted(marker.kwargs)!r}", pytrace=False)
    return spec, kwargs


def worker() -> Optional[str]:
    """The pytest-xdist worker this process is ("gw0", ...), or None when tests run in
    one process."""
    return os.environ.get(XDIST_WORKER) or None


@pytest.fixture
def netplay_lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The marked topology built with Lab.up; down afterwards, then the host checked.

    Under pytest-xdist the workers share the host: a prefixed lab with no name of its own
    is named after its worker (`np-gw0`), so that the workers' labs of one topology run
    side by side, and the check after down is that nothing marked as this lab's is left
    (the whole host changes with the other workers' labs meanwhile)."""
    spec, options = marker_options(request.node)
    if worker() and options.get("prefix") and not options.get("name"):
        options["name"] = f"np-{worker()}"
    before = None if worker() else snapshot()
    try:
        lab = Lab.up(spec, **options)
    except BaseException:
        if before is not None:
            check_unchanged(before)  # a refused or rolled-back up must leave nothing
        raise
    try:
        yield lab
    finally:
        try:
            lab.down()
        finally:
            if before is None:
                check_nothing_left(lab.name)
            else:
                check_unchanged(before)


def check_nothing_left(lab: str) -> None:
    """Raise HostChanged if anything carrying lab's mark is still on this host."""
    left = leftovers(lab)
    if left:
        raise HostChanged([f"{item.kind} {item.name} of lab {lab} left" for item in left])


@pytest.fixture
def netplay_host_unchanged() -> Iterator[Snapshot]:
    """Fail the test if the host is not, at its end, as it was at its start."""
    before = snapshot()
    yield before
    check_unchanged(before)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[None]:
    # the check runs in the fixtures' teardown, which pytest reports as an error of the
    # teardown; a host left changed is the test's failure, and is reported so
    outcome = yield
    if call.when == "teardown" and call.excinfo is not None and \
            call.excinfo.errisinstance(HostChanged):
        report = outcome.get_result()  # type: ignore[attr-defined]
        report.netplay_host_changed = True


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config
                             ) -> Optional[Tuple[str, str, str]]:
    if getattr(report, "netplay_host_changed", False):
        return "failed", "F", "FAILED (the host changed)"
    return None
