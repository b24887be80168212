"""The type hints of the model (model/), the planner (plan/), the machine seam (machine/)
and the runner's layer (run/) hold: mypy (pinned in setup.cfg's test extras) checks them
as setup.cfg's [mypy] section says, with full annotations required there."""

import importlib.util
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None,
                    reason="mypy is not installed (scripts/setup.sh installs the test extras)")
def test_mypy_passes_on_the_checked_layers(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mypy", "--config-file", "setup.cfg",
                           "--cache-dir", str(tmp_path / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checked = proc.stdout.strip().splitlines()[-1]
    assert checked.startswith("Success: no issues found in") and "source files" in checked
