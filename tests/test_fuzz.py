"""Property-based fuzzing of the loaders and the CLI: every input is a valid lab or one
line of error; never a traceback, never a change to the host."""

import contextlib
import copy
import io
import os
import resource
import subprocess
import sys
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from netplay.cli import app as cli
from netplay.core.errors import InputError
from netplay.load import builtins, clab
from netplay.load.builtins import generators
from netplay.load.yamlfile import parse_yaml
from netplay.model.serialize import to_dict
from netplay.model.validate import from_dict

BASES = [to_dict(builtins.load(name)) for name in ("levels", "home")]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(),
                    st.text(max_size=20), st.sampled_from(
                        ["default", "10.0.0.1/24", "fd00::1/64", "a:eth0", "eth0", "home",
                         "$(reboot)", "; rm -rf /", "-n", "..", "x" * 16, "ünïcode", "a b"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6)


def paths(data, prefix=()):
    """Every (container, key) in nested data, to pick one to mutate."""
    out = []
    if isinstance(data, dict):
        for key, value in data.items():
            out.append((data, key))
            out += paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out.append((data, i))
            out += paths(value, prefix + (i,))
    return out


@st.composite
def mutated_topologies(draw, bases=BASES):
    data = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 4))):
        container, key = draw(st.sampled_from(paths(data)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            container[key] = draw(values)
        elif action == "delete":
            del container[key]
        elif isinstance(container, dict):
            container[draw(st.text(max_size=10))] = draw(values)
        else:
            container.append(draw(values))
        if not paths(data):
            break
    return data


def load_or_refuse(data):
    try:
        from_dict(data, "fuzz")
    except InputError as err:
        assert "\n" not in str(err) and str(err)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_topologies())
def test_mutated_topologies_load_or_fail_in_one_line(data):
    load_or_refuse(data)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_loads_or_fails_in_one_line(text):
    try:
        load_or_refuse(parse_yaml(text, "fuzz.yaml"))
    except InputError as err:
        assert "\n" not in str(err)


def run_cli(argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(mutated_topologies())
def test_cli_dry_run_on_mutated_files_is_a_plan_or_one_line(tmp_path_factory, data):
    import yaml

    path = tmp_path_factory.mktemp("fuzz") / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, out, err = run_cli(["run", "--dry-run", "--runtime", "netns", str(path)])
    assert rc in (0, 2)
    if rc == 2:
        assert len(err.strip().splitlines()) == 1 and err.startswith("netplay: error: ")
    else:
        assert out.startswith("# preliminary setup")


# --- never a traceback (issue 13): each class that ended in one, through the real CLI --------

DEEP = 100_000  # far past Python's recursion limit (1000)


def _nested(depth, leaf="1"):
    return "[" * depth + leaf + "]" * depth


def _clab(node_extra):
    return ("name: np13\ntopology:\n  nodes:\n"
            f"    a: {{kind: linux, {node_extra}}}\n    b: {{kind: linux}}\n"
            "  links: [{endpoints: ['a:e1', 'b:e1']}]\n")


@pytest.fixture
def bad_inputs(tmp_path):
    """Files of every class that ended in a traceback, by name."""
    files = {
        "deep_flow.yaml": f"name: x\ndescription: {_nested(DEEP)}\n",
        "deep_map.yaml": "name: x\nnodes: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n",
        "deep_block.yaml": "name: x\nnodes:\n" + "".join(
            " " * (i + 1) + "- \n" for i in range(200)),
        # each alias nests the one before: 40 anchors make 2500 levels from a 5 kB file
        "alias_chain.yaml": "".join(f"a{i}: &a{i} {_nested(62, f'*a{i - 1}' if i else '1')}\n"
                                    for i in range(40)) + "name: x\n",
        "recursive_alias.yaml": "name: x\ndescription: &r [*r]\n",
        "deep.json": _nested(DEEP),
        "deep_topology_log.json": '{"format": "netplay-log", "version": 1, "lab": "x", '
                                  f'"steps": [], "topology": {_nested(DEEP)}}}',
        "group_list.clab.yml": _clab("group: [edge]"),
        "group_map.clab.yml": _clab("group: {edge: 1}") + "  groups: {edge: {}}\n",
        "endpoint_node.clab.yml": "name: np13\ntopology:\n  nodes: {a: {kind: linux}}\n"
                                  "  links: [{type: veth, endpoints: [{node: [a], "
                                  "interface: e1}, {node: a, interface: e2}]}]\n",
    }
    paths = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        paths[name] = str(tmp_path / name)
    os.mkfifo(tmp_path / "fifo.yaml")
    paths["fifo.yaml"] = str(tmp_path / "fifo.yaml")
    (tmp_path / "adir").mkdir()
    paths["adir"] = str(tmp_path / "adir")
    for name, size in (("big.yaml", 16 * 2**20 + 1), ("big.json", 256 * 2**20 + 1)):
        with open(tmp_path / name, "wb") as f:  # sparse: no disk used
            f.truncate(size)
        paths[name] = str(tmp_path / name)
    paths["/dev/zero"] = "/dev/zero"
    return paths


NEVER_A_TRACEBACK = [
    (["run", "--dry-run", "deep_flow.yaml"], "nested deeper than 64 levels"),
    (["show", "deep_map.yaml"], "nested deeper than 64 levels"),
    (["graph", "deep_block.yaml"], "nested deeper than 64 levels"),
    (["show", "alias_chain.yaml"], "nested deeper than 64 levels"),
    (["show", "recursive_alias.yaml"], "nested deeper than 64 levels"),
    (["export", "deep.json"], "nested deeper than 64 levels"),
    (["replay", "--dry-run", "deep_topology_log.json"], "nested deeper than 64 levels"),
    (["show", "linear:²"], "N must be a whole number from 1 to 5000, got '²'"),
    (["run", "--dry-run", "tree:2,٣"], "FANOUT must be a whole number"),
    (["down", "linear:²"], "N must be a whole number"),
    (["graph", "leafspine:2,2,²"], "HOSTS_PER_LEAF must be a whole number"),
    (["show", "linear:" + "9" * 5000], "N must be a whole number"),
    (["show", "group_list.clab.yml"], "group: expected the name of one group"),
    (["run", "--dry-run", "group_map.clab.yml"], "group: expected the name of one group"),
    (["show", "endpoint_node.clab.yml"], "node: expected a node name, got ['a']"),
    (["export", "/dev/zero"], "/dev/zero: is a character device, not a log"),
    (["replay", "--dry-run", "/dev/zero"], "is a character device, not a log"),
    (["run", "--dry-run", "/dev/zero"], "is a character device, not a topology file"),
    (["show", "fifo.yaml"], "is a FIFO, not a topology file"),
    (["export", "fifo.yaml"], "is a FIFO, not a log"),
    (["run", "--dry-run", "adir/"], "is a directory, not a topology file; name a file in it"),
    (["graph", "adir/"], "is a directory, not a topology file"),
    (["export", "adir"], "is a directory, not a log; name a file in it"),
    (["show", "big.yaml"], "larger than 16 MiB"),
    (["export", "big.json"], "larger than 256 MiB"),
]


def run_limited(argv, timeout=60):
    """The real CLI in a process of its own, its memory capped at 1 GiB so that a reader
    of /dev/zero dies of MemoryError (a traceback) instead of filling the machine."""
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    return subprocess.run([sys.executable, "-m", "netplay", *argv], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=cap,
                          env=dict(os.environ, NETPLAY_STATE_DIR="/nonexistent/np13"))


@pytest.mark.parametrize("argv,message", NEVER_A_TRACEBACK,
                         ids=[" ".join(a)[:40] for a, _ in NEVER_A_TRACEBACK])
def test_each_class_that_was_a_traceback_is_one_line_and_exit_2(bad_inputs, argv, message):
    argv = [bad_inputs.get(a.rstrip("/"), a) + ("/" if a.endswith("/") else "") for a in argv]
    proc = run_limited(argv)
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith("netplay: error: ") and message in lines[0], lines[0]
    assert proc.stdout == ""


def _nested_json(shape, leaf='"x"'):
    """JSON text of leaf inside the lists and mappings shape names, outermost first,
    written without recursion (json.dumps recurses, and gives up near 1000 levels)."""
    opening = "".join("[" if kind == "list" else '{"k": ' for kind in shape)
    closing = "".join("]" if kind == "list" else "}" for kind in reversed(shape))
    return opening + leaf + closing


def _with_value(data, set_value, shape):
    """data as JSON text with the value set_value puts in replaced by a nested one."""
    import json

    data = copy.deepcopy(data)
    set_value(data, "@@nested@@")
    return json.dumps(data).replace('"@@nested@@"', _nested_json(shape))


def _one_line_or_result(rc, err):
    assert rc in (0, 2)
    errors = [line for line in err.split("\n") if line.strip()  # "\n": a terminal's lines
              and not line.startswith("netplay: warning: ")]
    if rc == 2:
        assert len(errors) == 1 and errors[0].startswith("netplay: error: "), err
    return errors


def _log(name):
    from netplay.run.log import FORMAT, VERSION
    from netplay.plan.build import plan

    topo = builtins.load(name)
    return {"format": FORMAT, "version": VERSION, "lab": topo.name, "action": "run",
            "status": "up", "topology": topo.to_dict(),
            "steps": [s.to_dict() for s in plan(topo)], "teardown": []}


LOG_BASES = [_log("levels")]


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(depth=st.one_of(st.integers(1, 70), st.integers(60, 3000)),
       pattern=st.lists(st.sampled_from(["list", "map"]), min_size=1, max_size=4),
       where=st.sampled_from(["description", "nodes", "links"]))
def test_nesting_of_any_depth_is_a_result_or_one_line(tmp_path_factory, depth, pattern, where):
    """A topology file (JSON, which YAML reads too) and a log holding a value nested to
    any depth; past 64 levels of lists and mappings either is refused as too deep."""
    shape = (pattern * depth)[:depth]
    base = to_dict(builtins.load("levels"))
    folder = tmp_path_factory.mktemp("deep")
    topo = folder / "t.yaml"
    topo.write_text(_with_value(base, lambda d, v: d.__setitem__(where, v), shape))
    rc, _, err = run_cli(["show", str(topo)])
    errors = _one_line_or_result(rc, err)
    if len(shape) + 1 > 64:  # the top mapping is a level too
        assert rc == 2 and "nested deeper than 64 levels" in errors[0], err
    log = folder / "log.json"
    log.write_text(_with_value(LOG_BASES[0], lambda d, v: d["steps"][0].__setitem__(
        "result", v), shape))
    rc, _, err = run_cli(["export", str(log)])
    errors = _one_line_or_result(rc, err)
    if len(shape) + 3 > 64:  # the log, its steps, a step
        assert rc == 2 and "nested deeper than 64 levels" in errors[0], err
    else:
        assert rc == 0, err  # a step's result is never used


DIGITS = st.one_of(st.sampled_from("0123456789"), st.characters(categories=["Nd", "No"]))
WORDS = st.one_of(st.text(alphabet=DIGITS, min_size=1, max_size=4), st.text(max_size=4))


@settings(max_examples=300, deadline=None)
@given(generator=st.sampled_from(sorted(generators.GENERATORS)),
       params=st.lists(WORDS, max_size=4).map(",".join))
def test_generator_specs_are_a_topology_or_one_line(generator, params):
    spec = f"{generator}:{params}"
    try:
        name, values = generators.parse(spec)
    except InputError as err:
        assert "\n" not in str(err)
        rc, out, err_text = run_cli(["show", spec])
        assert rc == 2 and _one_line_or_result(rc, err_text) and out == ""
        return
    assert all(isinstance(v, int) for v in values)
    assert params.strip(" \t,").replace(",", "").replace(" ", "").replace("\t", "").isascii()
    if generators.GENERATORS[name][4](*values) <= 200:  # keep the run short
        rc, out, err_text = run_cli(["show", spec])
        assert rc == 0 and f"name: {name}-" in out, err_text


CLAB_BASE = textwrap.dedent("""
    name: np13-full
    mgmt: {network: x}
    topology:
      defaults: {kind: linux, group: edge, image: img, dns: {servers: [192.0.2.53], search: [x]}}
      kinds:
        linux: {image: k, group: edge, env: {A: 1}, exec: ["true"], binds: [/a:/b]}
        bridge: {image: x}
      groups:
        edge: {kind: linux, cmd: sleep 1, binds: ["rel:/c:ro"], env: {B: yes}}
      nodes:
        na: {group: edge, exec: ["ip link"], labels: {x: y}, dns: {servers: ["2001:db8::1"]}}
        nb: {kind: linux, mgmt-ipv4: 1.2.3.4}
        br: {kind: bridge}
        h: {kind: host}
      links:
        - endpoints: ["na:e1", "nb:e1"]
          ipv4: [10.0.0.1/24, 10.0.0.2/24]
          ipv6: ["fd00::1/64", "fd00::2/64"]
          mtu: 1400
          labels: {x: 1}
        - type: veth
          endpoints: [{node: na, interface: e2, mac: "02:00:00:00:00:01", ipv4: 10.1.0.1/24},
                      {node: br, interface: br-a}]
        - endpoints: ["nb:e2", "br:br-b"]
        - type: host
          endpoint: {node: nb, interface: e3}
          host-interface: bh
        - type: dummy
          endpoint: {node: na, interface: d0}
          mtu: 9000
        - type: macvlan
          endpoint: {node: na, interface: m0}
        - endpoints: ["na:e9", "mgmt-net:x"]
""")
CLAB_BASES = [yaml.safe_load(CLAB_BASE)]
SHAPES = [None, True, 1, 1.5, "", "x", "a:b", [], ["x"], [["x"]], {}, {"x": 1},
          {"group": "edge"}, [{"node": "na"}]]


def test_the_containerlab_base_is_a_lab():
    topo = from_dict(clab.convert(CLAB_BASES[0], "t.clab.yml", "/srv/np13", warn=lambda m: None))
    assert set(topo.nodes) == {"na", "nb", "h"} and "br" in topo.bridges


def test_every_containerlab_field_of_any_shape_is_a_lab_or_one_line():
    """Each value of a containerlab file that uses every modeled field, replaced by each
    shape in turn (a list where a name belongs, a mapping where a list does, ...)."""
    base = CLAB_BASES[0]
    for index in range(len(paths(base))):
        for shape in SHAPES:
            data = copy.deepcopy(base)
            container, key = paths(data)[index]
            container[key] = copy.deepcopy(shape)
            try:
                from_dict(clab.convert(data, "t.clab.yml", "/srv/np13", warn=lambda m: None), "t")
            except InputError as err:
                assert "\n" not in str(err) and str(err)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated_topologies(CLAB_BASES))
def test_mutated_containerlab_files_are_a_lab_or_one_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("clab") / "t.clab.yml"
    path.write_text(yaml.safe_dump(data))
    rc, out, err = run_cli(["show", str(path)])
    _one_line_or_result(rc, err)


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutated_topologies(LOG_BASES))
def test_mutated_logs_export_or_fail_in_one_line(tmp_path_factory, data):
    import json

    path = tmp_path_factory.mktemp("log") / "log.json"
    path.write_text(json.dumps(data))
    rc, out, err = run_cli(["export", str(path)])
    _one_line_or_result(rc, err)
    if rc == 0:
        assert out.startswith("#!/usr/bin/env bash"), out[:80]


@settings(max_examples=100, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(content=st.binary(max_size=200), command=st.sampled_from(["show", "export"]))
def test_random_bytes_as_a_topology_or_log_are_one_line(tmp_path_factory, content, command):
    path = tmp_path_factory.mktemp("bytes") / ("t.yaml" if command == "show" else "l.json")
    path.write_bytes(content)
    rc, out, err = run_cli([command, str(path)])
    _one_line_or_result(rc, err)
