"""A first run that tells the truth, through ./pipeline and make as a user runs them:
preflight before any stage, no English subtitles for Hindi speech, looking that changes
nothing, and exit statuses a script can use (shared/outcome.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import job_locks, job_status, outcome, settings
from tests.helpers.media import make_truncated, speech_wav, write_srt

REPO = Path(__file__).resolve().parents[2]
COMMON = REPO / ".venvs" / "common" / "bin" / "python"
ML = REPO / ".venvs" / "ml" / "bin" / "python"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
    pytest.mark.skipif(not COMMON.exists(), reason="the common environment is not built (./bootstrap.sh)"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "ffmpeg", "ffprobe")), reason="needs espeak-ng and ffmpeg"),
]


def clean_env(cache: Path, **extra: str) -> dict[str, str]:
    names = set(settings.read_defaults(REPO)) | {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "PIPELINE_RESULT", "MODELS_TOML"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(MODEL_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1", DEVICE="cpu")
    env.update(extra)
    return env


def pipeline(*args: str, env: dict[str, str], root: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([str(root / "pipeline"), *args], cwd=root, capture_output=True, text=True, env=env,
                          check=False, timeout=600)


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder``: (mtime_ns, sha256)."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def hindi(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hindi")
    return speech_wav(folder / "hindi.wav", "नमस्ते, आप कैसे हैं? मैं आज बाज़ार जा रहा हूँ।", voice="hi", pad=0.5)


@pytest.fixture(scope="module")
def english(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("english")
    return speech_wav(folder / "talk.wav", "Good morning. The film starts at nine tonight.", voice="en", pad=0.5)


def test_preflight_lists_every_problem_at_once_before_anything_runs(tmp_path: Path, english: Path) -> None:
    out = tmp_path / "out"
    result = pipeline("transcribe", f"FILE={english}", f"OUT_DIR={out}", "SUB_FORMAT=ass", "DEVICE=gpu", "TGT=xx",
                      "START=99", "AUDIO_TRACK=3", env=clean_env(tmp_path / "cache", ASR_MODEL="tiny.en-bundled"))
    assert result.returncode == outcome.USAGE, result.stderr
    for expected in ("unknown setting SUB_FORMAT: did you mean SUB_FORMATS?",
                     "DEVICE=gpu: must be one of cpu, cuda, mps or empty, not 'gpu' (did you mean cuda?)",
                     "TGT=xx: unknown language 'xx'",
                     "AUDIO_TRACK=3: 3 is out of range: the input has 1 audio track(s)",
                     "START: 00:01:39.000 is past the end of the input"):
        assert f"transcribe: error: {expected}" in result.stderr
    assert "cannot start, 5 problems (nothing was run or changed)" in result.stderr
    assert "pipeline: exit 2 (usage or settings error)" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_unknown_verb_gets_the_nearest_one(tmp_path: Path) -> None:
    result = pipeline("transcibe", "FILE=x", env=clean_env(tmp_path))
    assert result.returncode == outcome.USAGE
    assert "unknown verb 'transcibe': did you mean transcribe?" in result.stderr


def test_a_job_verb_before_bootstrap_says_to_run_it(tmp_path: Path) -> None:
    root = tmp_path / "fresh-clone"
    root.mkdir()
    for name in ("Makefile", "pipeline"):
        shutil.copy2(REPO / name, root / name)
    shutil.copytree(REPO / "config", root / "config", ignore=shutil.ignore_patterns("hardware_cache.json"))
    result = pipeline("transcribe", "FILE=film.mkv", env=clean_env(tmp_path), root=root)
    assert result.returncode == outcome.MISSING
    assert "the pipeline is not set up yet: run ./bootstrap.sh first" in result.stderr
    assert "No such file" not in result.stderr and "bash:" not in result.stderr


@pytest.mark.skipif(not ML.exists(), reason="the ml environment is not built")
def test_hindi_speech_with_only_the_english_model_is_refused(tmp_path: Path, hindi: Path) -> None:
    out = tmp_path / "out"
    env = clean_env(tmp_path / "empty-cache")  # the default model (small) is not cached; tiny.en-bundled is
    auto = pipeline("transcribe", f"FILE={hindi}", f"OUT_DIR={out}", env=env)
    assert auto.returncode == outcome.MISSING, auto.stderr
    assert ("the default ASR model small is not cached, and the cached tiny.en-bundled knows English only, "
            "not SRC=auto") in auto.stderr
    assert "./cache-models.sh --model small" in auto.stderr and "pipeline: exit 3" in auto.stderr
    given = pipeline("transcribe", f"FILE={hindi}", f"OUT_DIR={out}", "SRC=hi", "ASR_MODEL=tiny.en-bundled", env=env)
    assert given.returncode == outcome.USAGE and "ASR model tiny.en-bundled knows English only, not SRC=hi" in given.stderr
    assert not out.exists()  # refused before any stage ran


@pytest.mark.skipif(not ML.exists(), reason="the ml environment is not built")
def test_the_asr_stage_itself_refuses_the_english_fallback(tmp_path: Path, hindi: Path) -> None:
    """Called without make's preflight, the stage makes the same choice and says it in one line."""
    speech = tmp_path / "speech.json"
    speech.write_text(json.dumps({"schema_version": 1, "kind": "speech", "duration": 4.0,
                                  "regions": [{"start": 0.5, "end": 3.5}],
                                  "chunks": [{"start": 0.5, "end": 3.5, "regions": [{"start": 0.5, "end": 3.5}]}]}))
    env = clean_env(tmp_path / "empty-cache", PYTHONPATH=str(REPO), MAKELEVEL="1", PIPELINE_RESULT=str(tmp_path / "result"))
    proc = subprocess.run([str(ML), str(REPO / "stages" / "asr.py"), str(hindi), str(speech), "-o",
                           str(tmp_path / "transcript.json"), "--job-dir", str(tmp_path / "job")],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == outcome.MISSING, proc.stderr
    assert "asr: error: the default ASR model small is not cached, and the cached tiny.en-bundled knows English only" in proc.stderr
    assert "Usage:" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "transcript.json").exists()
    assert (tmp_path / "result").read_text() == "3 asr\n"


@pytest.mark.skipif(not ML.exists(), reason="the ml environment is not built")
def test_an_english_only_model_asked_for_says_english_is_assumed_not_detected(tmp_path: Path, english: Path) -> None:
    out = tmp_path / "out"
    run = pipeline("transcribe", f"FILE={english}", f"OUT_DIR={out}",
                   env=clean_env(tmp_path / "cache", ASR_MODEL="tiny.en-bundled", SRC="auto"))
    assert run.returncode == outcome.OK, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("asr: language ")]
    assert lines == ["asr: language en (probability 1.00), model tiny.en-bundled (requested; tiny.en-bundled knows "
                     "English only: en assumed, no language detection)"], run.stderr


@pytest.mark.skipif(not ML.exists(), reason="the ml environment is not built")
def test_looking_and_mistakes_change_nothing(tmp_path: Path, english: Path) -> None:
    out = tmp_path / "out"
    env = clean_env(tmp_path / "cache", ASR_MODEL="tiny.en-bundled", SRC="en")
    args = [f"FILE={english}", f"OUT_DIR={out}"]
    first = pipeline("transcribe", *args, env=env)
    assert first.returncode == outcome.OK, first.stderr
    assert "asr: language en (probability 1.00), model tiny.en-bundled (requested)" in first.stderr
    (job_folder,) = [p for p in out.iterdir() if p.is_dir()]
    assert first.stdout.splitlines()[-3:] == ["transcribe: done; the outputs:", f"  {job_folder / 'aligned.json'}",
                                              f"  {job_folder / 'transcript.txt'}"]
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    before = snapshot(folder)

    status = pipeline("status", *args, "ASR_BEAM_SIZE=3", env=env)
    assert status.returncode == 0, status.stderr
    assert "  demux          done" in status.stdout and "  vad            done" in status.stdout
    assert "  asr            out of date (ASR_BEAM_SIZE 5 -> 3)" in status.stdout
    assert "  align          out of date (after asr, which is out of date)" in status.stdout
    dry = subprocess.run(["make", "--no-print-directory", "-n", "transcribe", *args, "ASR_BEAM_SIZE=3"], cwd=REPO,
                         capture_output=True, text=True, env=env, check=False)
    assert dry.returncode == 0 and "stages/asr.py" in dry.stdout and "stages/align.py" in dry.stdout
    assert "stages/demux.py" not in dry.stdout and "stages/vad.py" not in dry.stdout
    for mistake in ("AUDIO_TRACK=3", "START=99"):
        wrong = pipeline("transcribe", *args, mistake, env=env)
        assert wrong.returncode == outcome.USAGE, wrong.stderr
    assert snapshot(folder) == before  # media.json, params, outputs: all as they were

    again = pipeline("transcribe", *args, env=env)
    assert again.returncode == 0 and "demux:" not in again.stderr and "asr:" not in again.stderr

    never = tmp_path / "never"
    shutil.copy2(english, tmp_path / "other.wav")
    looked = pipeline("status", f"FILE={tmp_path / 'other.wav'}", f"OUT_DIR={never}", env=env)
    assert looked.returncode == 0 and "nothing has run for this FILE yet" in looked.stdout and not never.exists()


def test_status_shows_a_running_job(tmp_path: Path) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        job_locks.start_run_lock(folder, holder.pid)
        assert job_status.running(folder) == f"make pid {holder.pid} since {job_locks.run_lock_owner(folder)[1]}"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    job_locks.wait_for_exit(holder.pid)
    deadline = time.monotonic() + 10
    while job_status.running(folder) is not None and time.monotonic() < deadline:
        time.sleep(0.05)  # the lock's holder process notices make (here: sleep) ended and lets go
    assert job_status.running(folder) is None
    assert job_status.running(tmp_path / "nothing") is None


def test_exit_statuses_a_stage_failure_and_qc(tmp_path: Path) -> None:
    broken = make_truncated(tmp_path / "broken.mp4", seconds=4, keep=0.5)
    failed = pipeline("transcribe", f"FILE={broken}", f"OUT_DIR={tmp_path / 'out'}",
                      env=clean_env(tmp_path / "cache", ASR_MODEL="tiny.en-bundled"))
    assert failed.returncode == outcome.STAGE_FAILED, failed.stderr
    bad = write_srt(tmp_path / "fast.srt", [(1.0, 1.2, "far too many words to read in a fifth of a second")])
    qc = pipeline("qc", f"SUBS={bad}", env=clean_env(tmp_path))
    assert qc.returncode == outcome.QC_FAILED and "pipeline: exit 4 (QC failed)" in qc.stderr
    assert subprocess.run(["make", "--no-print-directory", "qc", f"SUBS={bad}"], cwd=REPO, capture_output=True,
                          env=clean_env(tmp_path), check=False).returncode == 2  # make VERB still works as make does
