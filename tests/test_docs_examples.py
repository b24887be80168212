"""The examples in docs/topology.md, docs/multihost.md and the README are real: each
loads (and plans, for a lab on several hosts), and the IPv6 one runs."""

import re
import subprocess
from pathlib import Path

import pytest

from conftest import write_topology
from netplay.load.yamlfile import parse_yaml
from netplay.model.validate import from_dict

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "topology.md"
EXAMPLES = [b for b in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
            if b.startswith("name:")]
HOSTS_EXAMPLES = [b for doc in (REPO / "docs" / "multihost.md", REPO / "README.md")
                  for b in re.findall(r"```yaml\n(.*?)```", doc.read_text(), re.S)
                  if b.startswith("name:") and "hosts:" in b]


def test_docs_have_complete_examples():
    assert {parse_yaml(b, "doc")["name"] for b in EXAMPLES} >= {"levels", "home", "v6lab"}


@pytest.mark.parametrize("text", EXAMPLES)
def test_every_complete_example_validates(text):
    from_dict(parse_yaml(text, "doc"), "doc")


def test_multihost_examples_validate_and_plan_on_their_hosts():
    from netplay.plan.build import plan

    assert len(HOSTS_EXAMPLES) >= 2
    for text in HOSTS_EXAMPLES:
        topo = from_dict(parse_yaml(text, "doc"), "doc")
        assert {s.host for s in plan(topo)} == set(topo.hosts)


@pytest.mark.root
def test_ipv6_bridge_in_a_namespace_example_runs(lab, tmp_path):
    text = next(b for b in EXAMPLES if b.startswith("name: v6lab"))
    lab(write_topology(tmp_path, text), name="v6lab")
    for family, target in (("-4", "10.10.0.2"), ("-6", "fd00:10::2")):
        result = subprocess.run(["ip", "netns", "exec", "a", "ping", family, "-c", "1", "-W", "2",
                                 target], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr
    ports = subprocess.run(["ip", "-n", "sw", "-j", "link", "show", "master", "br0"],
                           capture_output=True, text=True).stdout
    assert "a_eth0" in ports and "b_eth0" in ports
