"""Every ```python example in docs/api.md and the README runs, as root on the real kernel, so that the
API's documentation cannot rot: a plain example as a script, a test file (one with
`def test_`) under pytest with only the installed plugin (no conftest). Each runs with a
private state directory; whatever it leaves is taken down and the host compared."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netplay.run import state

pytestmark = pytest.mark.root

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "api.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
README_EXAMPLES = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S)


def test_the_doc_has_its_examples():
    assert len(EXAMPLES) >= 6
    assert any("def test_" in e for e in EXAMPLES) and any("Lab.attach" in e for e in EXAMPLES)


def test_the_readme_has_its_example():
    assert len(README_EXAMPLES) == 1 and "Lab.up" in README_EXAMPLES[0]


@pytest.mark.parametrize("source", EXAMPLES + README_EXAMPLES,
                         ids=[f"example{i + 1}" for i in range(len(EXAMPLES))] + ["readme"])
def test_example_runs(source, tmp_path, state_dir, netplay, host_unchanged):
    env = dict(os.environ, NETPLAY_STATE_DIR=state_dir)
    try:
        if "def test_" in source:
            path = tmp_path / "test_example.py"
            path.write_text(source)
            argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)]
        else:
            path = tmp_path / "example.py"
            path.write_text(source)
            argv = [sys.executable, str(path)]
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
    finally:
        for name in state.labs(state_dir):  # an example that failed half way
            netplay("down", name)
