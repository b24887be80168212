"""Editor support (issue 18, item 5): the JSON Schema of topology files (`netplay schema`,
shipped in the package and named by `show`'s first line), checked with jsonschema against
every built-in and every example in the docs; and mistakes in a file named by line and
column, with the closest key or built-in suggested. Pure: no root."""

import re
import textwrap
from pathlib import Path
from urllib.parse import unquote, urlparse

import jsonschema
import pytest
import yaml

from netplay.core.errors import InputError
from netplay.load import builtins, clab
from netplay.load.resolve import resolve
from netplay.load.yamlfile import SCHEMA_FILE, parse_yaml, schema_uri
from netplay.model import hosts, impairment, schema, validate
from netplay.model.validate import from_dict

REPO = Path(__file__).resolve().parent.parent
GENERATED = ["linear:3", "tree:2,2", "leafspine:2,2,1"]
MODELINE = re.compile(r"# yaml-language-server: \$schema=(\S+)\n")


@pytest.fixture(scope="module")
def validator():
    spec = schema.topology_schema()
    jsonschema.Draft202012Validator.check_schema(spec)  # a well-formed draft 2020-12 schema
    return jsonschema.Draft202012Validator(spec)


@pytest.fixture(scope="module")
def draft7():
    """The schema as a tool that knows only draft 7 (yaml-language-server's docs say so of
    theirs) reads it: $defs reached by $ref as a plain JSON pointer."""
    return jsonschema.Draft7Validator(schema.topology_schema())


def problems(validator, data):
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(data)]


# --- the schema and its copies ------------------------------------------------------------


def test_the_shipped_schema_is_the_generated_one(netplay):
    assert SCHEMA_FILE.read_text() == schema.schema_text(), \
        "regenerate it: netplay schema > netplay/load/topology.schema.json"
    printed = netplay("schema")
    assert printed.rc == 0 and printed.out == schema.schema_text()
    assert Path(unquote(urlparse(schema_uri()).path)) == SCHEMA_FILE.resolve()


def test_each_mapping_takes_exactly_the_validators_keys():
    spec = schema.topology_schema()
    defs = spec["$defs"]
    objects = {
        "top": (spec, validate.TOP_KEYS),
        "node": (defs["node"], validate.NODE_KEYS),
        "interface": (defs["interface"], validate.IFACE_KEYS),
        "vxlan tunnel": (defs["interface"]["properties"]["vxlan"], validate.TUNNEL_KEYS),
        "route": (defs["route"], validate.ROUTE_KEYS),
        "nat": (defs["node"]["properties"]["nat"], validate.NAT_KEYS),
        "bridge": (defs["bridge"], validate.BRIDGE_KEYS),
        "port": (defs["bridge"]["properties"]["ports"]["additionalProperties"],
                 validate.PORT_KEYS),
        "link": (defs["link"], validate.LINK_KEYS),
        "host": (defs["host"], hosts.HOST_KEYS),
        "impairment": (defs["impairment"], impairment.KEYS),
        "top vxlan": (spec["properties"]["vxlan"], validate.VXLAN_KEYS),
    }
    for what, (obj, keys) in objects.items():
        assert list(obj["properties"]) == list(keys), what
        assert obj["additionalProperties"] is False, what


def test_a_key_the_schema_does_not_know_stops_its_generation(monkeypatch):
    """A key added to the validator without a schema entry (or the reverse) is an error
    when the schema is built, so `netplay schema` and the shipped copy cannot drift."""
    monkeypatch.setattr(validate, "LINK_KEYS", validate.LINK_KEYS + ("colour",))
    with pytest.raises(ValueError, match=r"lacks \['colour'\]"):
        schema.topology_schema()


# --- what it accepts: everything netplay itself writes or documents ----------------------


@pytest.fixture(autouse=True)
def _no_image_override(monkeypatch):
    monkeypatch.delenv("NETPLAY_IMAGE", raising=False)


@pytest.mark.parametrize("name", builtins.names() + GENERATED)
def test_show_names_the_schema_and_its_output_validates(netplay, validator, name):
    result = netplay("show", name)
    assert result.rc == 0, result
    modeline = MODELINE.match(result.out)
    assert modeline, result.out[:200]  # the first line, where yaml-language-server reads it
    assert modeline[1] == schema_uri() and modeline[1].startswith("file:///")
    shipped = Path(unquote(urlparse(modeline[1]).path))
    data = yaml.safe_load(result.out)
    assert data == builtins.load(name).to_dict()
    spec = jsonschema.Draft202012Validator(yaml.safe_load(shipped.read_text()))
    assert problems(spec, data) == []


def _doc_blocks():
    """Every YAML block of the docs and the README that is a netplay topology or a part of
    one (its top-level keys are a topology's); containerlab files are left out."""
    out = []
    for doc in sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]:
        for i, text in enumerate(re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)):
            data = parse_yaml(text, doc.name)
            if isinstance(data, dict) and set(data) <= set(validate.TOP_KEYS) \
                    and not clab.is_clab_data(doc.name, data):
                out.append(pytest.param(data, id=f"{doc.name}[{i}]"))
    return out


DOC_BLOCKS = _doc_blocks()


def test_the_docs_have_examples_to_check():
    names = {p.values[0].get("name") for p in DOC_BLOCKS}
    assert {"levels", "home", "v6lab", "p2p", "natlab", "wan", "office"} <= names
    assert any("hosts" in p.values[0] for p in DOC_BLOCKS)


@pytest.mark.parametrize("data", DOC_BLOCKS)
def test_every_example_in_the_docs_validates(validator, draft7, data):
    assert problems(validator, {"name": "example", **data}) == []
    assert problems(draft7, {"name": "example", **data}) == []


def test_the_nulls_and_numbers_the_validator_takes_are_accepted(validator):
    """An empty value in YAML is null, which the validator reads as `not given`; the
    schema must not flag what netplay accepts."""
    text = textwrap.dedent("""
        name: np18-nulls
        image:
        vxlan: {vni_base: }
        nodes:
          a:
          b:
            interfaces:
              eth0: {addresses: , mac: , mtu: , impair: {loss: 1, delay: }}
            routes:
            role:
            nat:
          cc: {kind: docker, dns: [8.8.8.8], env: {N: 1, B: true}, cmd: , binds: , exec: }
        bridges:
          br: {ports: {b_eth1: }, subnet: , addresses: }
        links:
          - {endpoints: [a:eth0, b:eth0], mtu: , impair: , subnet: }
          - {endpoints: [b:eth1, br]}
          - {endpoints: [cc:eth0, br]}
    """)
    data = parse_yaml(text, "t.yaml")
    from_dict(data, "t.yaml")  # netplay takes it
    assert problems(validator, data) == []


# --- what it refuses: the mistakes the validator refuses ----------------------------------

MISTAKES = [
    ("name: x\ncolour: red\n", "unknown key 'colour'"),
    ("name: x\nnodes: {a: {adresses: []}}\n", "unknown key 'adresses'"),
    ("name: x\nnodes: {a: {interfaces: {e0: {adresses: []}}}}\n", "unknown key 'adresses'"),
    ("name: x\nnodes: {a: {}, b: {}}\nlinks: [{endpoints: [a:e0, b:e0], impair: {dealy: 5ms}}]\n",
     "unknown key 'dealy'"),
    ("name: x\nnodes: {a: {interfaces: {e0: {mtu: big}}}}\n", "is not an MTU"),
    ("name: x\nnodes: {a: {interfaces: {e0: {up: 'no'}}}}\n", "expected true or false"),
    ("name: x\nipv6_link_local: 'no'\n", "expected true or false"),
    ("name: x\nnodes: {a: {kind: vm}}\n", "unknown kind 'vm'"),
    ("name: x\nnodes: {a: {weight: 0}}\n", "a whole number from 1 to 1000000"),
    ("name: x\nnodes: [a, b]\n", "expected a mapping"),
    ("name: x\nlinks: {a: b}\n", "expected a list"),
    ("name: x\nnodes: {a: {routes: [{via: 10.0.0.1}]}}\n", "missing required key 'to'"),
    ("name: x\nnodes: {a: {}, b: {}, c: {}}\nlinks: [{endpoints: [a:e0, b:e0, c:e0]}]\n",
     "exactly two endpoints"),
    ("name: x\nhosts: {h1: {address: 10.0.0.5}}\n", "needs `ssh:`"),
    ("nodes: {}\n", "missing required key 'name'"),
    ("name: 'a b'\n", "may use only letters"),
]


@pytest.mark.parametrize("text,message", MISTAKES, ids=[m for _, m in MISTAKES])
def test_the_schema_refuses_what_the_validator_refuses(validator, draft7, text, message):
    data = parse_yaml(text, "t.yaml")
    with pytest.raises(InputError, match=re.escape(message)):
        from_dict(data, "t.yaml")
    assert problems(validator, data), f"the schema takes {text!r}"
    assert problems(draft7, data), f"the schema read as draft 7 takes {text!r}"


# --- mistakes named by line and column, with a suggestion ---------------------------------


def _error(tmp_path, text, name="t.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    with pytest.raises(InputError) as caught:
        resolve(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:"), message
    return message[len(str(path)):]


def test_an_unknown_key_is_named_where_it_is_with_the_closest_key(tmp_path):
    message = _error(tmp_path, """
        name: np18-pos
        nodes:
          a:
            interfaces:
              eth0: {adresses: [10.0.0.1/24]}
    """)
    assert message.startswith(":5:14: nodes.a.interfaces.eth0: unknown key 'adresses'; "
                              "did you mean 'addresses'? allowed keys: addresses, up,"), message


def test_a_bad_value_is_named_where_it_is(tmp_path):
    text = """
        name: np18-pos
        nodes:
          a: {}
          b:
            interfaces:
              eth0:
                mtu: 12
        links:
          - endpoints: [a:eth0, b:eth0]
          - endpoints: [a:eth1, nb:eth0]
    """
    assert _error(tmp_path, text).startswith(
        ":7:14: nodes.b.interfaces.eth0.mtu: 12 is not an MTU")
    text = text.replace("mtu: 12", "mtu: 1500")
    assert _error(tmp_path, text) == (
        ":10:25: links[1].endpoints: 'nb:eth0' names node 'nb', which is not defined; "
        "did you mean 'b'?")  # the item of the list, not the list
    text = text.replace("a: {}", "a: {interfaces: {eth0: {addresses: [10.0.0.1/24, 127.0.0.2/8]}}}")
    assert _error(tmp_path, text).startswith(
        ":3:52: nodes.a.interfaces.eth0.addresses: 127.0.0.2/8 is in the loopback")
    assert _error(tmp_path, "name: x\nplacement: sometimes\n") == (
        ":2:12: placement: 'sometimes' is not one of manual, auto")


def test_an_empty_value_is_named_at_its_key(tmp_path):
    assert _error(tmp_path, "name: x\nnodes:\n  a:\n    weight:\n").startswith(
        ":4:5: nodes.a.weight: a whole number")


def test_a_name_with_dots_is_found(tmp_path):
    message = _error(tmp_path, """
        name: x
        nodes:
          a:
            interfaces:
              eth0: {}
              eth0.100: {kind: dumy}
    """)
    assert message.startswith(":6:24: nodes.a.interfaces.eth0.100.kind: unknown interface "
                              "kind 'dumy'"), message


def test_syntax_and_duplicate_key_errors_give_line_and_column(tmp_path):
    assert _error(tmp_path, "name: x\nnodes: {a: {kind: netns}\n") == (
        ":3:1: malformed YAML: expected ',' or '}', but got '<stream end>'")
    assert _error(tmp_path, "name: x\nnodes:\n  a: {}\n  a: {}\n") == (
        ":4:3: duplicate key 'a'; each name may appear once")


def test_a_containerlab_files_mistake_is_named_where_it_is(tmp_path):
    message = _error(tmp_path, """
        name: np18
        topology:
          nodes:
            r1: {kind: linux}
          links:
            - endpoints: ["r1:eth1", "r2:eth1"]
    """, name="np18.clab.yml")
    assert re.match(r":6:\d+: ", message), message


def test_the_cli_prints_one_line_with_the_place_and_exits_2(netplay, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: np18-bad\nnodes: {a: {forwardng: true}}\n")
    result = netplay("show", str(bad))
    assert result.rc == 2 and result.out == "" and "Traceback" not in result.err
    assert result.err == (f"netplay: error: {bad}:2:13: nodes.a: unknown key 'forwardng'; did "
                          "you mean 'forwarding'? allowed keys: kind, interfaces, routes, "
                          "forwarding, loopback, image, cmd, dns, env, exec, binds, role, nat, "
                          "host, weight\n")


@pytest.mark.parametrize("spec,guess", [("linaer:3", "linear:3"), ("hom", "home"),
                                        ("tre:2,2", "tree:2,2"), ("leafspin", "leafspine")])
def test_a_misspelled_built_in_suggests_the_closest(netplay, tmp_path, spec, guess):
    result = netplay("show", spec)
    assert result.rc == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err
    assert f"unknown built-in topology {spec!r}; did you mean {guess!r}?" in result.err


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(InputError) as caught:
        builtins.load("zzzz")
    assert "did you mean" not in str(caught.value)
