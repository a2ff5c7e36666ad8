"""`make subtitle TGT=...` with translation: one file target per language, translated tracks
held to the subtitle rules, and the muxed tracks tagged with their languages.

The translation models are tiny stand-ins with random weights (tests/integration/tinymodels.py:
an M2M100 for NLLB and a seq2seq for IndicTrans2) behind the real registry, loading and
generation code: the text they produce is nonsense, the structure, routing and timing are real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import job
from tests.helpers.media import streams
from tests.integration import pipeline_runs as pr

pytestmark = [*pr.NEEDS_PIPELINE, pytest.mark.ml]
SECONDS = 12.0


def _targets_run(env: dict, source: Path, out: Path, tgt: str):
    return pr.make("subtitle", f"FILE={source}", f"OUT_DIR={out}", f"TGT={tgt}", env=env)


@pytest.fixture(scope="module")
def translated(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("talk")
    wav = folder / "speech.wav"
    pr.speech_track(wav, SECONDS)
    source = pr.video_with_tracks(folder / "a talk.mp4", [(wav, "eng", True)], SECONDS)
    cache = tmp_path_factory.mktemp("tiny models")
    env = pr.clean_env(cache, **pr.tiny_translation_env(cache))
    out = tmp_path_factory.mktemp("work") / "out"
    result = _targets_run(env, source, out, "hi,fr")
    assert result.returncode == 0, result.stderr[-4000:]
    return {"source": source, "env": env, "out": out, "job": out / job.slug(source), "stderr": result.stderr}


def test_each_target_gets_its_translation_routed_to_its_backend(translated) -> None:
    hi = json.loads((translated["job"] / "translation.hi.json").read_text())
    fr = json.loads((translated["job"] / "translation.fr.json").read_text())
    assert (hi["backend"], hi["target_language"]) == ("indictrans2", "hin_Deva")  # en -> Indic: IndicTrans2
    assert (fr["backend"], fr["target_language"]) == ("nllb", "fra_Latn")  # any other pair: NLLB
    aligned = json.loads((translated["job"] / "aligned.json").read_text())
    words = [w for seg in aligned["segments"] for w in seg["words"]]
    for data in (hi, fr):
        assert data["sentences"] and all(s["text"] for s in data["sentences"])
        covered = [i for s in data["sentences"] for i in s["words"]]
        assert covered == list(range(len(words)))  # every word in exactly one sentence, in order


def test_every_track_passes_the_rules_and_is_muxed_with_its_language(translated) -> None:
    tracks = json.loads((translated["job"] / "subs" / "tracks.json").read_text())["tracks"]
    assert sorted((t["role"], t["language"]) for t in tracks) == [("source", "en"), ("target", "fr"), ("target", "hi")]
    for track in tracks:
        srt = translated["job"] / "subs" / track["files"]["srt"]
        report = json.loads(srt.with_name(srt.name.replace(".srt", ".qc.json")).read_text())
        assert report["violation_count"] == 0, (track, report["violations"])
    muxed = translated["job"] / f"{job.readable_name(translated['source'])}.subtitled.mp4"
    subs = streams(muxed, "subtitle")
    assert {s["tags"]["language"] for s in subs} == {"eng", "hin", "fre"}
    assert all(s["codec_name"] == "mov_text" for s in subs)
    defaults = [s["tags"]["language"] for s in subs if s["disposition"]["default"]]
    assert defaults == ["hin"]  # the first target language of TGT=hi,fr


def test_adding_a_language_translates_only_that_language(translated) -> None:
    jobdir = translated["job"]
    before = {name: (jobdir / name).stat().st_mtime_ns
              for name in ("transcript.json", "aligned.json", "translation.hi.json", "translation.fr.json")}
    again = _targets_run(translated["env"], translated["source"], translated["out"], "hi,fr,ta")
    assert again.returncode == 0, again.stderr[-4000:]
    assert (jobdir / "translation.ta.json").is_file()
    after = {name: (jobdir / name).stat().st_mtime_ns for name in before}
    assert after == before  # no ASR, no alignment, no re-translation of hi or fr
    assert "translate:" in again.stderr and "asr:" not in again.stderr
