"""Injection: every value that passes validation reaches each program as exactly the
argument netplay meant, when the exported script is run by bash. The script runs against
stub programs that record their argv, so nothing touches the host: the stubs say every
name is free (`ip link show`, `docker container inspect` fail), and the build script's
record of what it made is a file of the test's."""

import stat
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from netplay.core.errors import InputError
from netplay.core.names import IP_KEYWORDS
from netplay.model.validate import from_dict
from netplay.plan.build import plan
from netplay.render.bash import build_script, teardown_script

STUB = """#!/bin/bash
{ printf '%s\\0' "${0##*/}" "$@"; printf '\\1\\0'; } >> "$STUB_LOG"
if [[ ${0##*/} == id ]]; then echo 0; fi
if [[ ${0##*/} == docker && $1 == inspect ]]; then echo 4242; fi
if [[ ${0##*/} == ip && $1 == link && $2 == show ]]; then exit 1; fi
if [[ ${0##*/} == docker && $1 == container && $2 == inspect ]]; then exit 1; fi
exit 0
"""
PROGRAMS = ("ip", "brctl", "docker", "iptables", "ip6tables", "sysctl", "mkdir", "nsenter",
            "tc", "id", "rm")
NAME_CHECKS = (["ip", "link", "show"], ["docker", "container", "inspect"])


@pytest.fixture(scope="module")
def stubs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stubs")
    for program in PROGRAMS:
        path = folder / program
        path.write_text(STUB)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return folder


def run_recorded(script, stubs, tmp_path):
    log = tmp_path / "argv.log"
    log.write_bytes(b"")
    env = {"PATH": f"{stubs}", "STUB_LOG": str(log),
           "NETPLAY_EXPORT_RECORD": str(tmp_path / "made")}
    done = subprocess.run(["/bin/bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    records = log.read_bytes().split(b"\x01\x00")[:-1]
    argvs = [[a.decode() for a in r.split(b"\0")[:-1]] for r in records]
    return [a for a in argvs if a[0] != "id"]


names = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{1,8}", fullmatch=True).filter(
    lambda n: n not in IP_KEYWORDS and n not in ("all", "default"))
hostile_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1,
                       max_size=24)


@st.composite
def hostile_topologies(draw):
    a, b, br = draw(st.lists(names, min_size=3, max_size=3, unique=True))
    return {
        "name": draw(names),
        "nodes": {
            a: {"kind": "docker", "cmd": draw(st.lists(hostile_text, min_size=1, max_size=3)),
                "env": {"V": draw(hostile_text)},
                "interfaces": {"e0": {"addresses": ["10.9.0.1/24"]}}},
            b: {"kind": "netns", "interfaces": {"e0": {"addresses": ["10.9.0.2/24"]}}},
        },
        "bridges": {br: {}},
        "links": [{"endpoints": [f"{a}:e0", f"{b}:e0"]},
                  {"endpoints": [f"{a}:e1", f"{br}:p1"]}],
    }


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(hostile_topologies())
def test_exported_scripts_pass_every_argument_unchanged(stubs, tmp_path, data):
    try:
        topo = from_dict(data, "hypothesis")
    except InputError:
        return  # refused at load: nothing is rendered
    steps = plan(topo)
    values = {s.capture: "4242" for s in steps if s.capture}
    expected = [step.resolve(values) for step in steps]
    built = run_recorded(build_script(topo, steps), stubs, tmp_path)
    checks = [argv for argv in built if argv[:3] in NAME_CHECKS]
    a, br = list(data["nodes"])[0], list(data["bridges"])[0]
    assert sorted(argv[-1] for argv in checks) == sorted([a, br, "p1"])  # container, root devices
    assert [argv for argv in built if argv[:3] not in NAME_CHECKS] == expected
    # every undo was recorded as made by the build, so the teardown runs each, then forgets
    undos = [step.undo for step in reversed(steps) if step.undo]
    record = str(tmp_path / "made")
    assert run_recorded(teardown_script(topo, steps), stubs, tmp_path) == \
        undos + [["rm", "-f", "--", record]]


@pytest.mark.parametrize("hostile", [
    "a;reboot", "a$(id)", "a`id`", "a'b", 'a"b', "a b", "a\nb", "..", "a/b", "-a",
    "ünï", "a|b", "a&b", "a>b", "*", "", "y" * 70,
])
def test_hostile_names_are_refused_at_load(hostile):
    for data in ({"name": hostile, "nodes": {}},
                 {"name": "ok", "nodes": {hostile: {}}},
                 {"name": "ok", "nodes": {"n1": {}, "n2": {}},
                  "links": [{"endpoints": [f"n1:{hostile}", "n2:e0"]}]}):
        with pytest.raises(InputError) as err:
            from_dict(data, "t")
        assert "\n" not in str(err.value)
