"""shared/progress.py: plain, throttled lines when not on a terminal, in the job's log too,
with the stage's place in the verb ("stage 5/9 asr") and an ETA."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from shared import progress, stage_log


def test_the_stage_place_in_each_verb(monkeypatch) -> None:
    assert progress.stage_place("asr", "subtitle") == "stage 5/9 asr"
    assert progress.stage_place("asr", "transcribe") == "stage 5/6 asr"
    assert progress.stage_place("asr", "") == "asr"
    monkeypatch.setenv("PIPELINE_VERB", "translate")
    assert progress.stage_place("translate") == "stage 7/8 translate"


def test_plain_lines_are_throttled_and_reach_the_job_log(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PIPELINE_VERB", "subtitle")
    log_path = stage_log.configure_logging("asr", tmp_path)
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    meter = progress.Progress("asr", 6, "chunks", every=10.0, terminal=False)
    for moment in (1.0, 2.0, 12.0, 13.0, 14.0, 30.0):
        now[0] = moment
        meter.update(1)
    lines = [line for line in capsys.readouterr().err.splitlines() if "stage 5/9" in line]
    # the first, one after 10 s, and the last; never one per chunk
    assert lines == ["asr: stage 5/9 asr 17% (1/6 chunks) ETA 0:05",
                     "asr: stage 5/9 asr 50% (3/6 chunks) ETA 0:12",
                     "asr: stage 5/9 asr 100% (6/6 chunks)"]
    logged = log_path.read_text(encoding="utf-8")
    assert "stage 5/9 asr 50% (3/6 chunks) ETA 0:12" in logged
    logging.getLogger().handlers.clear()


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (72, "1:12"), (3723, "1:02:03")])
def test_clock(seconds: float, text: str) -> None:
    assert progress.clock(seconds) == text
