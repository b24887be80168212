"""`netplay show`: the fully expanded topology in netplay's own YAML, which loads back
unchanged and builds the same lab as the topology it came from."""

import textwrap

import pytest
import yaml

from netplay.load import builtins
from netplay.model.validate import from_dict


@pytest.fixture(autouse=True)
def _no_image_override(monkeypatch):
    """show applies $NETPLAY_IMAGE, as run does; the test command sets it for docker tests,
    and these tests compare with the topologies as written."""
    monkeypatch.delenv("NETPLAY_IMAGE", raising=False)


@pytest.mark.parametrize("name", builtins.names())
def test_show_builtin_is_its_normalized_form_and_loads_back(netplay, name):
    result = netplay("show", name)
    assert result.rc == 0, result
    assert result.out.startswith("# ")
    data = yaml.safe_load(result.out)
    assert data == builtins.load(name).to_dict()
    assert from_dict(data).to_dict() == data


@pytest.mark.docker  # home's containers: a dry run asks the daemon about them
def test_saved_output_builds_the_same_lab(netplay, tmp_path):
    saved = tmp_path / "home-copy.yaml"
    saved.write_text(netplay("show", "home").out)
    original = netplay("run", "--dry-run", "home")
    copy = netplay("run", "--dry-run", str(saved))
    assert original.rc == copy.rc == 0
    assert copy.out == original.out


def test_show_fills_in_defaults_and_names_bridge_ports(netplay, tmp_path):
    path = tmp_path / "np9-small.yaml"
    path.write_text(textwrap.dedent("""
        name: np9-small
        nodes:
          a: {}
          nb: {kind: docker}
        bridges:
          np9-br: {}
        links:
          - endpoints: [a:eth0, np9-br]
          - endpoints: [nb:eth0, np9-br]
    """))
    data = yaml.safe_load(netplay("show", str(path)).out)
    assert data["image"] == "ubuntu"
    assert data["nodes"]["a"] == {"kind": "netns", "interfaces": {"eth0": {"up": True}}}
    assert data["links"] == [{"endpoints": ["a:eth0", "np9-br:a_eth0"]},
                             {"endpoints": ["nb:eth0", "np9-br:nb_eth0"]}]
    netns = yaml.safe_load(netplay("show", str(path), "--runtime", "netns",
                                   "--image", "np9-image").out)
    assert netns["nodes"]["nb"]["kind"] == "netns" and netns["image"] == "np9-image"


def test_show_json(netplay):
    result = netplay("show", "levels", "--json")
    assert result.rc == 0 and result.json() == builtins.load("levels").to_dict()


def test_show_a_generated_topology(netplay):
    if "linear" not in builtins.names():
        pytest.skip("no generated topologies in this tree yet")
    result = netplay("show", "linear:3")
    assert result.rc == 0, result
    data = yaml.safe_load(result.out)
    assert from_dict(data).to_dict() == data
    assert {"h1", "h2", "h3"} <= set(data["nodes"])


def test_show_errors_are_one_line_and_usage_exit(netplay, tmp_path):
    result = netplay("show", "np9-no-such-topology")
    assert result.rc == 2 and result.err.count("\n") == 1
    assert result.err.startswith("netplay: error: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: np9-bad\nnodes: {a: {adresses: []}}\n")
    result = netplay("show", str(bad))
    assert result.rc == 2 and "unknown key 'adresses'" in result.err
