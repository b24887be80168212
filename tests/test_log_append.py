"""A lab's log gets each new generation without being written whole (netplay.run.log:
LOG.end), and the file is still exactly what writing it whole gives. Pure: files only."""

import json
import os

import pytest

from netplay.plan.steps import Step
from netplay.run import log as steplog


def _steps(n, word="é"):  # a character of two bytes in UTF-8: offsets are bytes, not chars
    return [Step(["ip", "-n", f"n{i}", "link", "set", "eth0", "up"], phase=f"node {word}{i}")
            for i in range(n)]


def _whole(data):
    return "".join(steplog.encode(data))


def _run_log(tmp_path, name=steplog.LAB_LOG):
    path = tmp_path / name
    log = steplog.StepLog.create(path, "lab", {"name": "lab", "description": "ü"}, _steps(50))
    for i in range(50):
        log.record(i, {"rc": 0})
    log.set_status(steplog.UP)
    return path


@pytest.fixture
def whole_writes(monkeypatch):
    """How many times a log was written whole."""
    count = [0]
    write = steplog.write_json_atomic

    def counted(path, data):
        count[0] += 1
        write(path, data)

    monkeypatch.setattr(steplog, "write_json_atomic", counted)
    return count


def _apply(path, n, status=steplog.APPLIED):
    data = steplog.read(path)
    log = steplog.GenerationLog.append(path, data, "apply", {"name": "lab", "n": n},
                                       _steps(n, "ß"))
    for i in range(n):
        log.record(i, {"rc": 0, "stderr": "ø"})
    log.set_generation_status(status)
    return log


def test_generations_are_added_without_writing_the_log_whole_and_it_reads_the_same(
        tmp_path, whole_writes):
    path = _run_log(tmp_path)
    whole_writes[0] = 0  # the run's log is written whole
    for n in (3, 1, 4):
        _apply(path, n)
    assert whole_writes[0] == 0
    data = steplog.read(path)
    assert data["version"] == steplog.GENERATIONS_VERSION
    assert [g["topology"]["n"] for g in data["generations"]] == [3, 1, 4]
    assert [g["status"] for g in data["generations"]] == [steplog.APPLIED] * 3
    assert path.read_text(encoding="utf-8") == _whole(data)  # byte for byte


def test_a_rollback_rewrites_only_the_newest_generation(tmp_path, whole_writes):
    path = _run_log(tmp_path)
    whole_writes[0] = 0
    _apply(path, 2)
    log = _apply(path, 3, status=steplog.ROLLED_BACK)
    back = log.rollback_log(_steps(2, "ø"))
    back.record(0, {"rc": 0})
    back.flush(force=True)
    assert whole_writes[0] == 0
    data = steplog.read(path)
    assert data["generations"][-1]["rollback"][0]["result"] == {"rc": 0}
    assert path.read_text(encoding="utf-8") == _whole(data)


def test_a_log_changed_since_netplay_wrote_it_is_written_whole(tmp_path, whole_writes):
    path = _run_log(tmp_path)
    _apply(path, 2)
    whole_writes[0] = 0
    data = steplog.read(path)
    data["note"] = "edited"  # by hand, after the generations, pretty-printed
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    _apply(path, 1)
    assert whole_writes[0] >= 1
    data = steplog.read(path)
    assert data["note"] == "edited" and len(data["generations"]) == 2
    assert path.read_text(encoding="utf-8") == _whole(data)


def test_an_ending_that_does_not_match_the_file_is_not_trusted(tmp_path, whole_writes):
    path = _run_log(tmp_path)
    _apply(path, 2)
    whole_writes[0] = 0
    ending = json.loads(open(f"{path}.end").read())
    ending["newest"] = 7  # points into the header
    stat = os.stat(path)
    with open(f"{path}.end", "w") as f:
        json.dump(ending, f)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    _apply(path, 1)
    assert whole_writes[0] >= 1
    data = steplog.read(path)
    assert len(data["generations"]) == 2 and path.read_text(encoding="utf-8") == _whole(data)


def test_only_a_labs_log_gets_an_ending(tmp_path):
    _run_log(tmp_path, "other.json")
    assert not os.path.exists(tmp_path / "other.json.end")
    _run_log(tmp_path)
    assert os.path.exists(tmp_path / f"{steplog.LAB_LOG}.end")
