"""The subtitle stage end to end on hand-written job files: tracks, formats, qc.json, check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pysubs2

from shared.subtitles.text import grapheme_len

REPO = Path(__file__).resolve().parents[2]
STAGE = REPO / "stages" / "subtitle.py"

HINDI = [
    ("नमस्ते", 0.50, 0.95), ("दोस्तों,", 1.00, 1.55), ("आज", 1.60, 1.85), ("हम", 1.90, 2.10), ("दिल्ली", 2.15, 2.60),
    ("के", 2.65, 2.80), ("बाज़ार", 2.85, 3.35), ("में", 3.40, 3.55), ("घूमने", 3.60, 4.05), ("जा", 4.10, 4.25),
    ("रहे", 4.30, 4.50), ("हैं।", 4.55, 4.90), ("क्या", 6.20, 6.50), ("आप", 6.55, 6.75), ("तैयार", 6.80, 7.30),
    ("हैं?", 7.35, 7.70),
]
ENGLISH = ["Hello friends, today we are going to wander in the market of Delhi.", "Are you ready?"]


def write_job(job: Path, fps: float | None) -> None:
    words = [{"word": w, "start": s, "end": e, "score": 0.9, "timed_by": "wav2vec2"} for w, s, e in HINDI]
    aligned = {"schema_version": 1, "kind": "aligned", "language": "hi", "language_probability": 0.99,
               "backend": "test", "model": "test", "duration": 10.0, "removed": [],
               "segments": [{"id": 0, "start": 0.5, "end": 4.9, "text": "", "words": words[:12]},
                            {"id": 1, "start": 6.2, "end": 7.7, "text": "", "words": words[12:]}]}
    spans = [list(range(12)), list(range(12, 16))]
    translation = {"schema_version": 1, "kind": "translation", "source_language": "hi", "target_language": "en",
                   "backend": "test", "model": "test",
                   "sentences": [{"id": n, "source": " ".join(HINDI[i][0] for i in span), "text": text,
                                  "source_language": "hi", "start": HINDI[span[0]][1], "end": HINDI[span[-1]][2],
                                  "words": span, "kept": False, "method": "test"}
                                 for n, (span, text) in enumerate(zip(spans, ENGLISH, strict=True))]}
    media = {"schema_version": 1, "kind": "media", "source": str(job / "Delhi Trip (2024).mp4"), "container": "mov,mp4",
             "duration": 10.0, "has_video": fps is not None, "fps": fps, "fps_assumed": fps is None, "audio_tracks": [],
             "subtitle_streams": 0, "selected_track": 0, "clip_start": 0.0, "clip_end": 10.0, "audio": "audio.wav"}
    job.mkdir(parents=True, exist_ok=True)
    for name, data in (("aligned.json", aligned), ("translation.en.json", translation), ("media.json", media)):
        (job / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STAGE), *args], capture_output=True, text=True, cwd=REPO, env=env)


def test_stage_writes_every_track_and_format_with_zero_violations(tmp_path: Path) -> None:
    job = tmp_path / "job with space"
    write_job(job, fps=25.0)
    result = run(str(job / "aligned.json"), str(job / "translation.en.json"), "-o", str(job / "subs" / "tracks.json"),
                 "--formats", "srt,vtt,ass", "--bilingual", "--job-dir", str(job))
    assert result.returncode == 0, result.stderr
    subs = job / "subs"
    tracks = json.loads((subs / "tracks.json").read_text(encoding="utf-8"))
    assert tracks["kind"] == "subtitles" and tracks["fps"] == 25.0 and not tracks["fps_assumed"]
    assert [(t["role"], t["language"]) for t in tracks["tracks"]] == [("source", "hi"), ("target", "en"), ("bilingual", "en")]
    assert tracks["tracks"][2]["languages"] == ["hi", "en"]
    for track in tracks["tracks"]:
        assert track["violations"] == 0
        assert set(track["files"]) == {"srt", "vtt", "ass"}
        qc = json.loads((subs / track["qc"]).read_text(encoding="utf-8"))
        assert qc["violation_count"] == 0 and qc["fps"] == 25.0
        for fmt, name in track["files"].items():
            assert name.startswith("delhi-trip-2024.")
            loaded = pysubs2.load(str(subs / name))
            assert len(loaded) == track["cues"] and loaded.format == fmt
            # a bilingual track doubles the lines and is not held to one language's reading speed
            relaxed = ["--max-lines", "4", "--max-cps", "0"] if track["role"] == "bilingual" else []
            check = run("check", str(subs / name), "--fps", "25", "--strict", *relaxed)
            assert check.returncode == 0, check.stdout
    source_text = " ".join(e.plaintext.replace("\n", " ") for e in pysubs2.load(str(subs / "delhi-trip-2024.hi.srt")))
    assert source_text.split() == [w for w, _, _ in HINDI]
    english = " ".join(e.plaintext.replace("\n", " ") for e in pysubs2.load(str(subs / "delhi-trip-2024.en.srt")))
    assert english == " ".join(ENGLISH)
    bilingual = pysubs2.load(str(subs / "delhi-trip-2024.hi-en.srt"))
    assert bilingual[0].plaintext.startswith("नमस्ते") and "Hello" in bilingual[0].plaintext
    assert (subs / "delhi-trip-2024.hi.txt").read_text(encoding="utf-8").splitlines()[1] == "क्या आप तैयार हैं?"
    cues = json.loads((subs / "delhi-trip-2024.en.json").read_text(encoding="utf-8"))
    assert cues["kind"] == "cues" and cues["cues"][0]["start"] >= 0.48
    manifest = json.loads((job / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["subtitle"]["parameters"]["rules"]["max_cps"] == 17.0
    assert "subtitle: " in result.stderr and "no rule violations" in result.stderr


def test_audio_only_assumes_24_fps_and_settings_change_the_rules(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_job(job, fps=None)
    env = {**os.environ, "SUB_MAX_LINE_CHARS": "20", "SUB_FORMATS": "srt"}
    result = run("build", str(job / "aligned.json"), "-o", str(job / "subs" / "tracks.json"), "--name", "clip", env=env)
    assert result.returncode == 0, result.stderr
    tracks = json.loads((job / "subs" / "tracks.json").read_text(encoding="utf-8"))
    assert tracks["fps"] == 24.0 and tracks["fps_assumed"]
    qc = json.loads((job / "subs" / "clip.hi.qc.json").read_text(encoding="utf-8"))
    assert qc["fps_assumed"] and "24 fps assumed" in qc["fps_note"] and qc["rules"]["max_line_chars"] == 20
    assert sorted(p.name for p in (job / "subs").iterdir()) == ["clip.hi.json", "clip.hi.qc.json", "clip.hi.srt", "clip.hi.txt", "tracks.json"]
    assert qc["violation_count"] == 0
    assert all(grapheme_len(line) <= 20 for e in pysubs2.load(str(job / "subs" / "clip.hi.srt")) for line in e.plaintext.split("\n"))
    assert "24 fps assumed" in result.stderr


def test_bad_inputs_are_usage_errors(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_job(job, fps=25.0)
    (job / "bad.json").write_text('{"kind": "media", "schema_version": 1}', encoding="utf-8")
    out = str(job / "subs" / "tracks.json")
    wrong_kind = run(str(job / "bad.json"), "-o", out)
    assert wrong_kind.returncode == 2 and "expected kind" in wrong_kind.stderr
    bad_format = run(str(job / "aligned.json"), "-o", out, "--formats", "srt,docx")
    assert bad_format.returncode == 2 and "--formats" in bad_format.stderr
    translation = json.loads((job / "translation.en.json").read_text(encoding="utf-8"))
    translation["sentences"][0]["words"] = [99]
    (job / "translation.en.json").write_text(json.dumps(translation), encoding="utf-8")
    bad_index = run(str(job / "aligned.json"), str(job / "translation.en.json"), "-o", out)
    assert bad_index.returncode == 2 and "names word 99" in bad_index.stderr
    assert not (job / "subs" / "tracks.json").exists()
