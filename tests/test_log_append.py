"""A lab's log gets each new generation without being written whole (netplay.run.log:
LOG.end), and the file is still exactly what writing it whole gives. Pure: files only."""

import json
import os

import pytest

from netplay.core.errors import InputError
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


# --- peek: the header and the newest generation, without the steps -----------------------

@pytest.fixture
def fixed_time(monkeypatch):
    monkeypatch.setattr(steplog, "now", lambda: "2026-12-06T00:00:00.000+00:00")


def _without_steps(data, left_out=steplog.STEP_LISTS):
    return {k: v for k, v in data.items() if k not in left_out}


def _change(path, n, status=steplog.APPLIED, peek=False):
    """A generation added as apply adds it, from the log read whole or peeked."""
    data = steplog.peek(path) if peek else steplog.read(path)
    log = steplog.GenerationLog.append(path, data, "apply", {"name": "lab", "n": n},
                                       _steps(n, "ß"))
    for i in range(n):
        log.record(i, {"rc": 0})
    log.set_generation_status(status)
    return log


def test_a_peek_reads_what_read_does_but_the_steps_and_older_generations(tmp_path):
    path = _run_log(tmp_path)
    peeked, full = steplog.peek(path), steplog.read(path)
    assert _without_steps(peeked) == _without_steps(full) and peeked["steps"] is None
    assert steplog.whole(path, peeked) == full
    for n in (3, 1, 2):
        _change(path, n)
    peeked, full = steplog.peek(path), steplog.read(path)
    assert peeked.elided == 2 and peeked["generations"] == full["generations"][-1:]
    # the newest generation applied is the lab: the run's topology is left unread too
    assert peeked.left_out == (*steplog.STEP_LISTS, "topology") and \
        peeked["topology"] is None
    assert _without_steps(peeked, peeked.left_out) == {
        **_without_steps(full, peeked.left_out), "generations": full["generations"][-1:]}
    assert steplog.current_topology(peeked) == steplog.current_topology(full) == \
        {"name": "lab", "n": 2}
    assert steplog.whole(path, peeked) == full


def test_generations_added_from_a_peek_are_byte_for_byte_those_from_a_read(
        tmp_path, fixed_time, whole_writes):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    read, peeked = _run_log(tmp_path / "a"), _run_log(tmp_path / "b")
    whole_writes[0] = 0
    used = []
    for n, status in ((3, steplog.APPLIED), (1, steplog.ROLLED_BACK), (2, steplog.APPLIED),
                      (4, steplog.APPLIED)):
        _change(read, n, status)
        used.append(steplog.peek(peeked) is not None)  # not after a rolled back generation
        _change(peeked, n, status, peek=used[-1])
    assert used == [True, True, False, True]
    assert whole_writes[0] == 0
    assert peeked.read_bytes() == read.read_bytes()
    assert [g["generation"] for g in steplog.read(peeked)["generations"]] == [1, 2, 3, 4]


def test_a_log_whose_lab_is_an_older_generation_is_not_peeked(tmp_path):
    path = _run_log(tmp_path)
    _change(path, 1, steplog.ROLLED_BACK)  # the lab is still the run's: the header says it
    assert steplog.current_topology(steplog.peek(path)) == {"name": "lab", "description": "ü"}
    _change(path, 2)
    _change(path, 3, steplog.ROLLED_BACK)  # the lab is generation 2's, which peek leaves out
    assert steplog.peek(path) is None


def test_a_log_written_whole_from_a_peek_keeps_every_step_and_generation(tmp_path, fixed_time):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    logs = [_run_log(tmp_path / "a"), _run_log(tmp_path / "b")]
    for path, peek in zip(logs, (False, True)):
        _change(path, 2)
        log = _change(path, 1, steplog.FAILED, peek=peek)
        log.set_status(steplog.FAILED)  # the header changes: the file is written whole
    assert logs[1].read_bytes() == logs[0].read_bytes()
    data = steplog.read(logs[1])
    assert len(data["steps"]) == 50 and len(data["generations"]) == 2


def test_a_log_changed_by_hand_is_not_peeked(tmp_path):
    path = _run_log(tmp_path)
    _change(path, 2)
    data = steplog.read(path)
    path.write_text(_whole(data).replace('"status": "up"', '"status": "down"'),
                    encoding="utf-8")
    assert steplog.peek(path) is None
    os.unlink(f"{path}.end")
    assert steplog.peek(path) is None


def test_an_emptied_log_that_its_ending_vouches_for_is_read_not_peeked(tmp_path):
    """peek maps the file (an empty one cannot be mapped): it gives way to read(), which
    says what is wrong in one line."""
    path = _run_log(tmp_path)
    _change(path, 1)
    path.write_bytes(b"")
    steplog._mark(path, None)  # LOG.end as if netplay had written the empty file
    assert steplog.peek(path) is None
    with pytest.raises(InputError, match="not a netplay log"):
        steplog.read(path)


def test_a_generation_is_written_the_same_where_the_kernel_cannot_copy_files(
        tmp_path, fixed_time, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    kernel, by_hand = _run_log(tmp_path / "a"), _run_log(tmp_path / "b")
    for n in (3, 1):
        _change(kernel, n)

    def refused(*args, **kwargs):
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "copy_file_range", refused)
    for n in (3, 1):
        _change(by_hand, n)
    assert by_hand.read_bytes() == kernel.read_bytes()


def test_a_peeked_log_nested_too_deep_is_refused_as_a_read_one_is(tmp_path):
    """A peek is checked for depth as read() checks the whole log (its data is a dict of
    its own class, which the depth check once passed over unlooked)."""
    path = _run_log(tmp_path)
    deep = {"name": "lab"}
    for _ in range(70):
        deep = {"x": deep}
    log = steplog.GenerationLog.append(path, steplog.read(path), "apply", deep, _steps(1))
    log.set_generation_status(steplog.APPLIED)
    for reader in (steplog.read, steplog.peek):
        with pytest.raises(InputError, match=f"^{path}: lists and mappings nested deeper "):
            reader(path)


def test_a_peeked_log_too_deep_for_the_json_decoder_is_refused_in_one_line(tmp_path):
    """Nesting past the JSON decoder's own limit (a RecursionError in peek) falls back to
    read(), which says what is wrong in one line, as it does for the whole log."""
    path = _run_log(tmp_path)
    _change(path, 1)
    ending = json.loads((tmp_path / f"{steplog.LAB_LOG}.end").read_text())
    raw = path.read_bytes()
    deep = raw.replace(b'"n":1', b'"n":' + b"[" * 200000 + b"]" * 200000, 1)
    assert deep != raw
    path.write_bytes(deep)
    st = os.stat(path)  # LOG.end made to vouch for the file as it is now
    ending.update(ino=st.st_ino, size=st.st_size, mtime_ns=st.st_mtime_ns)
    (tmp_path / f"{steplog.LAB_LOG}.end").write_text(json.dumps(ending))
    assert steplog.peek(path) is None
    with pytest.raises(InputError, match=f"^{path}: lists and mappings nested deeper "):
        steplog.read(path)


def test_the_time_written_is_utc_iso_with_milliseconds_as_datetime_writes_it(monkeypatch):
    from datetime import datetime, timezone

    for ns in (0, 1_796_615_857_185_127_088, 1_796_615_857_999_999_999, 951_782_400_001_000_000):
        monkeypatch.setattr(steplog.time, "time_ns", lambda: ns)
        seconds, rest = divmod(ns, 10**9)
        moment = datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=rest // 1000)
        assert steplog.now() == moment.isoformat(timespec="milliseconds")
