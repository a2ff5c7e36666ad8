"""shared.model_integrity: size and time against the completion record; one line when loading fails."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from shared import model_integrity as mi
from shared import models, no_speech


def test_a_file_matching_its_record_is_unchanged_and_a_missing_one_is_not_changed(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"x" * 100)
    entry = {"path": "model.bin", **mi.file_record(path)}
    assert mi.changed_file(path, entry) is None
    assert mi.changed_file(tmp_path / "gone.bin", entry) is None  # missing is "not cached", not "changed"
    assert mi.changed_file(path, {"size": 100}) is None  # an old record without a time: size only


def test_size_and_time_changes_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"x" * 100)
    entry = mi.file_record(path)
    os.utime(path, ns=(entry["mtime_ns"] + 10**9, entry["mtime_ns"] + 10**9))
    assert mi.changed_file(path, entry) is None  # within the slack copies that round times may add
    os.utime(path, ns=(entry["mtime_ns"] + 60 * 10**9, entry["mtime_ns"] + 60 * 10**9))
    assert "modified" in mi.changed_file(path, entry)
    path.write_bytes(b"x" * 50)
    assert mi.changed_file(path, entry) == "50 bytes, recorded 100"
    with pytest.raises(mi.ModelChanged) as caught:
        mi.check_manifest("small", [(path, entry)])
    assert isinstance(caught.value, models.ModelNotCached)  # every stage reports it as it reports a missing model
    assert str(caught.value) == (f"model small was changed on disk since it was cached ({path}: 50 bytes, recorded 100): "
                                 "run ./cache-models.sh --verify")


def test_a_load_failure_is_one_line_and_the_traceback_is_log_only(caplog) -> None:
    caplog.set_level(logging.ERROR)
    with pytest.raises(mi.ModelLoadFailed) as caught, mi.loading("small", "/cache/x"):
        raise RuntimeError("Variable 'decoder/embeddings/weight' has an invalid payload size\nmore")
    message = caught.value.format_message()
    assert "\n" not in message
    assert message.startswith("model small could not be loaded from /cache/x (RuntimeError: Variable")
    assert message.endswith("run ./cache-models.sh --verify (re-fetches damaged files)")
    (record,) = caplog.records
    assert record.log_only and record.exc_info is not None
    with pytest.raises(KeyboardInterrupt), mi.loading("small", "/cache/x"):
        raise KeyboardInterrupt


def test_last_verify_is_recorded(tmp_path: Path) -> None:
    assert mi.read_last_verify(tmp_path) is None
    mi.write_last_verify(tmp_path, ["a", "b"], 7, 1)
    last = mi.read_last_verify(tmp_path)
    assert last["models"] == ["a", "b"] and last["files"] == 7 and last["failures"] == 1 and last["verified_at"]


def test_empty_tracks_are_told_from_real_ones(tmp_path: Path) -> None:
    assert no_speech.track_is_empty({"cues": 0})
    assert not no_speech.track_is_empty({"cues": 3})
    (tmp_path / "a.srt").write_text("\n")
    (tmp_path / "b.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    assert no_speech.track_is_empty({"files": {"srt": "a.srt"}}, tmp_path)  # hand-made, blank
    assert not no_speech.track_is_empty({"files": {"srt": "b.srt"}}, tmp_path)
    assert not no_speech.transcript_has_speech({"segments": [{"text": "  ", "words": []}]})
    assert no_speech.transcript_has_speech({"segments": [{"text": "hello"}]})
