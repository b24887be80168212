"""Property-based fuzzing of the loaders and the CLI: every input is a valid lab or one
line of error; never a traceback, never a change to the host."""

import contextlib
import copy
import io

from hypothesis import HealthCheck, given, settings, strategies as st

from netplay import builtins, cli
from netplay.errors import InputError
from netplay.topology import from_dict, parse_yaml, to_dict

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
def mutated_topologies(draw):
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
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
