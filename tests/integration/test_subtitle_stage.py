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


def _dense_job(job: Path, speakers: bool = False) -> None:
    """Speech too fast for 17 cps between two other lines: the track must break the rules."""
    def said(text: str, start: float, per_word: float, speaker: str) -> list[dict]:
        words = []
        for token in text.split():
            words.append({"word": token, "start": round(start, 3), "end": round(start + per_word, 3), "score": 0.9,
                          **({"speaker": speaker} if speakers else {})})
            start += per_word
        return words
    dense = "Sixteen thousand kilometres travelled overnight across mountains without stopping"
    words = [*said("Before that I said something.", 0.0, 0.4, "SPEAKER_1"), *said(dense, 2.0, 2.0 / 9, "SPEAKER_1"),
             *said("After it came more talking right away.", 4.0, 0.4, "SPEAKER_2")]
    aligned = {"schema_version": 1, "kind": "aligned", "language": "en", "segments": [
        {"id": 0, "start": 0.0, "end": 6.8, "text": "", "words": words}]}
    job.mkdir(parents=True, exist_ok=True)
    (job / "aligned.json").write_text(json.dumps(aligned), encoding="utf-8")


def test_sub_qc_fail_writes_everything_then_exits_4_with_the_result_line(tmp_path: Path) -> None:
    from shared import outcome

    job = tmp_path / "job"
    _dense_job(job)
    out = job / "subs" / "tracks.json"
    warn = run(str(job / "aligned.json"), "-o", str(out), "--name", "talk", "--formats", "srt")
    assert warn.returncode == 0, warn.stderr
    qc = json.loads((job / "subs" / "talk.en.qc.json").read_text(encoding="utf-8"))
    assert qc["violation_count"] and qc["by_rule"].get("cps") and qc["dense_speech_cues"]
    line = f"{qc['cues_breaking_rules']} cue"
    assert line in warn.stderr and "break the rules (cps" in warn.stderr.replace("breaks", "break")
    assert "see subs/talk.en.qc.json" in warn.stderr
    summary = run("summary", str(out))
    assert summary.returncode == 0 and summary.stdout.strip().endswith("see subs/talk.en.qc.json")
    out.unlink()
    failed = run(str(job / "aligned.json"), "-o", str(out), "--name", "talk", "--formats", "srt",
                 env={**os.environ, "SUB_QC": "fail"})
    assert failed.returncode == outcome.QC_FAILED, failed.stderr
    assert out.is_file() and (job / "subs" / "talk.en.srt").is_file() and (job / "subs" / "talk.en.qc.json").is_file()
    assert "see subs/talk.en.qc.json" in failed.stderr and "SUB_QC=fail" in failed.stderr
    manifest = json.loads((job / "manifest.json").read_text(encoding="utf-8"))["stages"]["subtitle"]
    assert manifest["parameters"]["qc"] == "fail"
    (track,) = manifest["details"]["tracks"]
    assert track["by_rule"]["cps"] >= 1 and "sentence_or_clause" in track["segmentation"]
    bad = run(str(job / "aligned.json"), "-o", str(out), env={**os.environ, "SUB_QC": "loud"})
    assert bad.returncode == 2 and "SUB_QC" in bad.stderr


def test_speakers_from_aligned_json_give_dash_cues_and_a_clean_speaker_check(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    words = [{"word": w, "start": s, "end": e, "speaker": spk} for w, s, e, spk in (
        ("Are", 1.0, 1.3, "SPEAKER_1"), ("you", 1.34, 1.64, "SPEAKER_1"), ("coming?", 1.68, 2.0, "SPEAKER_1"),
        ("Yes.", 2.12, 2.4, "SPEAKER_2"))]
    aligned = {"schema_version": 1, "kind": "aligned", "language": "en",
               "segments": [{"id": 0, "start": 1.0, "end": 2.4, "text": "", "words": words}]}
    (job / "aligned.json").write_text(json.dumps(aligned), encoding="utf-8")
    result = run(str(job / "aligned.json"), "-o", str(job / "subs" / "tracks.json"), "--name", "qa", "--formats", "srt")
    assert result.returncode == 0, result.stderr
    (event,) = pysubs2.load(str(job / "subs" / "qa.en.srt"))
    assert event.plaintext == "-Are you coming?\n-Yes."
    qc = json.loads((job / "subs" / "qa.en.qc.json").read_text(encoding="utf-8"))
    assert qc["violation_count"] == 0 and qc["segmentation"]["cues"] == 1


def test_check_rates_segmentation_against_a_reference(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.srt", tmp_path / "theirs.srt"
    ours.write_text("1\n00:00:01,000 --> 00:00:03,000\nWhere are you going?\n\n"
                    "2\n00:00:03,100 --> 00:00:05,000\nI am going home.\n", encoding="utf-8")
    theirs.write_text("1\n00:00:01,000 --> 00:00:02,000\nWhere are you\n\n"
                      "2\n00:00:02,100 --> 00:00:03,000\ngoing?\n\n"
                      "3\n00:00:03,200 --> 00:00:05,000\nI am going home.\n", encoding="utf-8")
    result = run("check", str(ours), "--ref", str(theirs))
    assert result.returncode == 0, result.stderr
    assert "100% of 1 cue boundaries at a sentence end or clause boundary" in result.stdout
    assert "precision 100%, recall 50%" in result.stdout
    as_json = json.loads(run("check", str(theirs), "--json").stdout)
    assert as_json["segmentation"]["sentence_or_clause"] == 0.5
    missing = run("check", str(ours), "--ref", str(tmp_path / "nope.srt"))
    assert missing.returncode == 2 and "--ref" in missing.stderr


def test_shot_changes_from_a_file_are_kept_clear(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_job(job, fps=25.0)
    cuts = tmp_path / "cuts.txt"
    cuts.write_text("5.2\n", encoding="utf-8")
    result = run(str(job / "aligned.json"), "-o", str(job / "subs" / "tracks.json"), "--formats", "srt",
                 "--shot-changes", str(cuts))
    assert result.returncode == 0, result.stderr
    cues = json.loads((job / "subs" / "delhi-trip-2024.hi.json").read_text(encoding="utf-8"))["cues"]
    assert all(not (c["start"] < 5.2 < c["end"]) for c in cues)
    assert cues[0]["end"] == 5.12  # 4.92 without it: snapped to 2 frames before the change, 7 frames later
    manifest = json.loads((job / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["subtitle"]["parameters"]["shot_changes"] == str(cuts)


def test_make_qc_takes_a_reference(tmp_path: Path) -> None:
    import shutil

    if not shutil.which("make") or not (REPO / ".venvs" / "common").is_dir():
        import pytest

        pytest.skip("needs make and the common environment")
    ours, theirs = tmp_path / "ours file.srt", tmp_path / "theirs.srt"
    ours.write_text("1\n00:00:01,000 --> 00:00:03,000\nWhere are you going?\n\n"
                    "2\n00:00:03,600 --> 00:00:05,000\nI am going home.\n", encoding="utf-8")
    theirs.write_text("1\n00:00:01,000 --> 00:00:03,000\nWhere are you going?\n\n"
                      "2\n00:00:03,800 --> 00:00:05,000\nI am going home.\n", encoding="utf-8")
    result = subprocess.run(["make", "--no-print-directory", "qc", f"SUBS={ours}", f"REF={theirs}"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "precision 100%, recall 100%" in result.stdout and "segmentation: 100%" in result.stdout


def test_the_files_it_writes_hold_the_schema_types_keys_and_no_others(tmp_path: Path) -> None:
    """tracks.json, its tracks and each cue file are the schema's types (a key the schema does not
    declare, or a required one missing, fails here rather than in a reader)."""
    from shared import schema

    def declared(kind: type) -> tuple[frozenset, frozenset]:
        return kind.__required_keys__, kind.__required_keys__ | kind.__optional_keys__  # type: ignore[attr-defined]

    job = tmp_path / "job"
    write_job(job, fps=25.0)
    result = run(str(job / "aligned.json"), str(job / "translation.en.json"), "-o", str(job / "subs" / "tracks.json"),
                 "--bilingual", "--job-dir", str(job))
    assert result.returncode == 0, result.stderr
    tracks = json.loads((job / "subs" / "tracks.json").read_text(encoding="utf-8"))
    required, known = declared(schema.SubtitleTracks)
    assert required <= set(tracks) <= known, set(tracks) ^ known
    for track in tracks["tracks"]:
        assert set(track) <= declared(schema.SubtitleTrack)[1], set(track) - declared(schema.SubtitleTrack)[1]
        cues = json.loads((job / "subs" / track["json"]).read_text(encoding="utf-8"))
        required, known = declared(schema.CueFile)
        assert required <= set(cues) <= known, set(cues) - known
        assert cues["role"] == track["role"] and cues["cues"]
        for cue in cues["cues"]:
            assert set(cue) <= declared(schema.CueRecord)[1], set(cue) - declared(schema.CueRecord)[1]
