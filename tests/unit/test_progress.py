"""shared/progress.py: plain, throttled lines when not on a terminal, in the job's log too,
with the stage's place in the verb ("stage 5/9 asr") and an ETA."""

from __future__ import annotations

import json
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


def _manifest(folder: Path, **factors: float) -> Path:
    folder.mkdir(parents=True)
    stages = {name: {"stage": name, "real_time_factor": factor, "audio_seconds": 100.0}
              for name, factor in factors.items()}
    (folder / "manifest.json").write_text(json.dumps({"kind": "manifest", "stages": stages}), encoding="utf-8")
    return folder


def test_the_whole_job_eta_adds_the_later_stages_at_this_machines_cost(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    current = _manifest(out / "film-1234abcd", demux=0.01)  # demux recorded 100 s of audio
    monkeypatch.setenv("PIPELINE_VERB", "translate")  # asr, then align, translate, subtitle
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    lines: list[str] = []

    def run() -> None:
        now[0] = 0.0
        meter = progress.Progress("asr", 4, "chunks", every=0.0, terminal=False, emit=lines.append, job_dir=current)
        now[0] = 10.0
        meter.update(1)  # 1 of 4 in 10 s: 30 s left of asr

    run()  # no earlier job ran align/translate/subtitle here: the first-run costs
    first = 100 * (progress.FIRST_RUN_COST["align"] + progress.FIRST_RUN_COST["translate"]
                   + progress.FIRST_RUN_COST["subtitle"])
    assert lines[-1] == f"stage 5/8 asr 25% (1/4 chunks) ETA 0:30, job ETA {progress.clock(30 + first)}"
    # two past jobs under OUT_DIR: their median cost per audio second, subtitle still the default
    _manifest(out / "a-11111111", align=0.1, translate=0.8)
    _manifest(out / "b-22222222", align=0.3, translate=1.2)
    run()
    learned = 100 * (0.2 + 1.0 + progress.FIRST_RUN_COST["subtitle"])
    assert lines[-1] == f"stage 5/8 asr 25% (1/4 chunks) ETA 0:30, job ETA {progress.clock(30 + learned)}"
    # the last stage of the workflow has no job ETA beyond its own
    meter = progress.Progress("subtitle", 2, every=0.0, terminal=False, emit=lines.append, job_dir=current)
    now[0] = 20.0
    meter.update(1)
    assert lines[-1].startswith("stage 8/8 subtitle 50% (1/2) ETA") and "job ETA" not in lines[-1]


def test_downloads_count_bytes_with_rate_and_throttle(monkeypatch) -> None:
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    lines: list[str] = []
    meter = progress.Progress("download small", 484 * progress.MB, "bytes", every=10.0, terminal=False, emit=lines.append)
    for moment in range(1, 41):  # 40 chunks of 12.1 MB, one a second
        now[0] = float(moment)
        meter.update(12.1 * progress.MB)
    assert lines[0] == "download small 2% (12.1/484.0 MB, 12.1 MB/s) ETA 0:39"
    assert lines[1] == "download small 27% (133.1/484.0 MB, 12.1 MB/s) ETA 0:29"
    assert lines[-1] == "download small 100% (484.0/484.0 MB, 12.1 MB/s)"
    assert len(lines) == 5  # at 1, 11, 21, 31 s and the end: one line per 10 s, not per chunk


def test_the_latest_progress_line_of_a_jobs_output() -> None:
    text = ("demux: film.mkv -> audio.wav\nasr: stage 5/8 asr 37% (6/16 chunks) ETA 1:12, job ETA 3:40\n"
            "asr: detected language hi (probability 0.97)\n")
    assert progress.latest(text) == "stage 5/8 asr 37% (6/16 chunks) ETA 1:12, job ETA 3:40"
    assert progress.latest("demux: done\n") is None
