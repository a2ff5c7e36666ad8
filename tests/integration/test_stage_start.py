"""What a stage costs to start: the environment manager's run takes the GPU lock itself (no
`shared.gpu_lock` process in front), and a stage that only records "off" (diarize) runs in
the manager's own interpreter, with the same outputs and manifest entry and the same
guarantees: the job's stage lock while it runs, and it ends when its make goes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import environment_manager as em
from shared import launcher
from tests.helpers.media import pcm_wav
from tests.integration import pipeline_runs as pr

REPO = pr.REPO
COMMON_PY = REPO / ".venvs" / "common" / "bin" / "python"
ML_PY = REPO / ".venvs" / "ml" / "bin" / "python"
needs_envs = pytest.mark.skipif(not (COMMON_PY.exists() and ML_PY.exists()), reason="needs the common and ml environments")


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = pr.clean_env(tmp_path / "cache", OUT_DIR=str(tmp_path / "out"), PIPELINE_OWNER_PID=str(os.getpid()))
    env.update(extra)
    return env


def em_run(stage: str, command: list[str], env: dict[str, str], **popen) -> subprocess.Popen:
    return subprocess.Popen([str(COMMON_PY), "-m", "shared.environment_manager", "run", stage, "--", *command],
                            cwd=REPO, env=env, **popen)


# ---- the GPU lock, taken by the environment manager ------------------------------------------
def recorder(tmp_path: Path, name: str) -> list[str]:
    script = (f"import time, pathlib; p = pathlib.Path({str(tmp_path)!r}) / {name!r}; "
              "a = time.time(); time.sleep(0.8); p.write_text(f'{a} {time.time()}')")
    return [sys.executable, "-c", script]


@needs_envs
@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_run_takes_the_gpu_lock_for_a_heavy_stage_on_a_gpu_only(tmp_path: Path, device: str) -> None:
    env = base_env(tmp_path, DEVICE=device)
    procs = [em_run("asr", recorder(tmp_path, f"run{n}"), env, stderr=subprocess.PIPE, text=True) for n in range(3)]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    spans = sorted(tuple(map(float, (tmp_path / f"run{n}").read_text().split())) for n in range(3))
    overlaps = [a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)]
    if device == "cuda":
        assert not any(overlaps), spans
        assert any("asr: waiting for the GPU" in e for e in errors)
        assert "asr pid" in (tmp_path / "out" / ".locks" / "gpu-cuda0.lock").read_text()
    else:
        assert all(overlaps), spans  # CPU jobs run side by side
        assert not (tmp_path / "out" / ".locks").exists()


@needs_envs
def test_a_stage_that_is_not_gpu_heavy_takes_no_gpu_lock(tmp_path: Path) -> None:
    done = em_run("vad", [sys.executable, "-c", "pass"], base_env(tmp_path, DEVICE="cuda"))
    assert done.wait(timeout=60) == 0
    assert not (tmp_path / "out" / ".locks").exists()


@needs_envs
def test_the_gpu_lock_goes_with_the_stage_when_it_is_killed(tmp_path: Path) -> None:
    env = base_env(tmp_path, DEVICE="cuda")
    holder = em_run("align", ["sleep", "60"], env)
    lock = tmp_path / "out" / ".locks" / "gpu-cuda0.lock"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not launcher.descendants(holder.pid):
        time.sleep(0.05)
    stage = launcher.descendants(holder.pid)
    assert stage, "the stage never started"
    assert "align pid" in lock.read_text()
    os.kill(stage[0], signal.SIGKILL)
    assert holder.wait(timeout=10) == 137  # the launcher reports the kill (128 + 9)
    started = time.monotonic()
    done = em_run("asr", ["true"], env)
    assert done.wait(timeout=30) == 0 and time.monotonic() - started < 10


# ---- diarize off: recorded by the manager's interpreter ---------------------------------------
def speech_job(folder: Path, seconds: float = 2.0) -> tuple[Path, Path]:
    """A 16 kHz mono PCM audio.wav and a speech.json with one region."""
    folder.mkdir(parents=True, exist_ok=True)
    audio = pcm_wav(folder / "audio.wav", seconds)
    speech = folder / "speech.json"
    speech.write_text(json.dumps({"schema_version": 1, "kind": "speech", "backend": "silero", "model": "vad-silero",
                                  "parameters": {}, "duration": seconds, "regions": [{"start": 0.2, "end": 1.5}],
                                  "chunks": []}))
    return audio, speech


def diarize_command(job: Path, audio: Path, speech: Path) -> list[str]:
    return ["python", str(REPO / "stages" / "diarize.py"), str(audio), str(speech), "-o", str(job / "speakers.json"),
            "--job-dir", str(job)]


def stable(entry: dict) -> dict:
    """A manifest entry without its clock and its job's own path."""
    return {k: v for k, v in entry.items() if k not in ("start", "end", "seconds", "real_time_factor", "outputs")}


def in_manager_and_direct(stage: str, command: list[str], reference_command: list[str], tmp_path: Path,
                          **settings: str) -> tuple[str, dict, dict]:
    """Run ``command`` (python stages/STAGE.py ... --job-dir JOB) through the manager, checked to run
    in the manager's own (common) interpreter: while the stage pauses, the one process running it is
    the manager; then ``reference_command`` with the ml interpreter directly, as before. Returns the
    manager run's stderr and both manifest entries, which must be the same but for clock and paths."""
    job = Path(command[command.index("--job-dir") + 1])
    proc = em_run(stage, command, base_env(tmp_path, PIPELINE_TEST_PAUSE=f"{stage}:1.5", **settings),
                  stderr=subprocess.PIPE, text=True)
    pids = pr.wait_for_stage(stage, str(job), proc, timeout=30)
    exes = {Path(f"/proc/{pid}/exe").resolve() for pid in pids}
    stderr = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, stderr
    assert pids == [proc.pid] and exes == {COMMON_PY.resolve()}
    reference = Path(reference_command[reference_command.index("--job-dir") + 1])
    env = em.Manager(root=REPO).process_environment(stage)
    env.update(base_env(tmp_path, **settings))
    direct = subprocess.run([str(ML_PY), *reference_command[1:]], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert direct.returncode == 0, direct.stderr
    here = json.loads((job / "manifest.json").read_text())["stages"][stage]
    there = json.loads((reference / "manifest.json").read_text())["stages"][stage]
    assert stable(here) == stable(there)
    return stderr, here, there


def test_runs_light_when_the_settings_switch_diarization_off(tmp_path: Path) -> None:
    from stages import diarize as stage
    audio, _ = speech_job(tmp_path)
    argv = [str(audio), "speech.json", "-o", "speakers.json"]
    assert stage.runs_light(argv, {"DIARIZE": "auto"})
    assert stage.runs_light(argv, {"DIARIZE": "off", "SPEAKERS": "3"})
    assert stage.runs_light(argv, {"DIARIZE": "auto", "SPEAKERS": "1"})
    assert not stage.runs_light(argv, {"DIARIZE": "on"})
    assert not stage.runs_light(argv, {"DIARIZE": "auto", "SPEAKERS": "2"})
    assert not stage.runs_light(argv, {"DIARIZE": "auto", "SUB_SPEAKER_LABELS": "names"})
    assert not stage.runs_light(argv, {"DIARIZE": "auto", "SPEAKERS": "two"})  # the stage reports it
    assert not stage.runs_light([*argv, "--diarize", "on"], {"DIARIZE": "off"})  # a flag: the stage decides
    assert not stage.runs_light([*argv, "--speakers=2"], {"DIARIZE": "auto"})
    stereo = pcm_wav(tmp_path / "stereo.wav", 0.1, channels=2)
    assert not stage.runs_light([str(stereo), *argv[1:]], {"DIARIZE": "off"})  # its error comes from the stage
    assert not stage.runs_light([str(tmp_path / "missing.wav"), *argv[1:]], {"DIARIZE": "off"})


@needs_envs
def test_diarize_off_runs_in_the_managers_interpreter_with_the_same_outputs(tmp_path: Path) -> None:
    audio, speech = speech_job(tmp_path / "in")
    job, reference = tmp_path / "here", tmp_path / "reference"
    stderr, here, there = in_manager_and_direct("diarize", diarize_command(job, audio, speech),
                                                diarize_command(reference, audio, speech), tmp_path)
    assert "diarize: off (DIARIZE=auto" in stderr
    assert (job / "speakers.json").read_bytes() == (reference / "speakers.json").read_bytes()
    assert [Path(p).name for p in here["outputs"]] == [Path(p).name for p in there["outputs"]] == ["speakers.json"]
    assert here["details"]["enabled"] is False and here["audio_seconds"] == pytest.approx(2.0)
    assert "off (DIARIZE=auto" in (job / "logs" / "diarize.log").read_text()


def test_runs_light_when_separation_is_a_pass_through(tmp_path: Path) -> None:
    from stages import separate as stage
    audio, _ = speech_job(tmp_path)
    argv = [str(audio), "-o", "vocals.wav"]
    assert stage.runs_light(argv, {"SEPARATE": "auto", "DEVICE": "cpu"})  # auto on a CPU: pass-through
    assert stage.runs_light(argv, {"SEPARATE": "off", "DEVICE": "cuda"})
    assert not stage.runs_light(argv, {"SEPARATE": "auto", "DEVICE": "cuda"})  # demucs runs
    assert not stage.runs_light(argv, {"SEPARATE": "on", "DEVICE": "cpu"})
    assert not stage.runs_light([*argv, "--separate", "on"], {"SEPARATE": "off", "DEVICE": "cpu"})
    assert not stage.runs_light([*argv, "--device=cuda"], {"SEPARATE": "auto", "DEVICE": "cpu"})
    assert not stage.runs_light([str(tmp_path / "missing.wav"), *argv[1:]], {"SEPARATE": "off", "DEVICE": "cpu"})


@needs_envs
def test_separate_pass_through_runs_in_the_managers_interpreter_with_the_same_outputs(tmp_path: Path) -> None:
    audio, _ = speech_job(tmp_path / "in")
    job, reference = tmp_path / "here", tmp_path / "reference"

    def command(folder: Path) -> list[str]:
        return ["python", str(REPO / "stages" / "separate.py"), str(audio), "-o", str(folder / "vocals.wav"),
                "--job-dir", str(folder)]

    stderr, here, _ = in_manager_and_direct("separate", command(job), command(reference), tmp_path,
                                            SEPARATE="auto", DEVICE="cpu")
    assert "separate: pass-through (SEPARATE=auto on cpu)" in stderr
    assert (job / "vocals.wav").read_bytes() == (reference / "vocals.wav").read_bytes() == audio.read_bytes()
    assert here["details"]["pass_through"] is True and here["audio_seconds"] == pytest.approx(2.0)


@needs_envs
def test_diarize_on_still_starts_the_ml_interpreter(tmp_path: Path) -> None:
    audio, speech = speech_job(tmp_path / "in")
    job = tmp_path / "job"
    # SPEAKERS=2 turns it on; with no model cached the ml interpreter's stage stops with its own message
    proc = em_run("diarize", diarize_command(job, audio, speech),
                  base_env(tmp_path, SPEAKERS="2", PIPELINE_TEST_PAUSE="diarize:60"), stderr=subprocess.PIPE, text=True)
    assert_ml_interpreter_runs("diarize", job, proc)


def assert_ml_interpreter_runs(stage: str, job: Path, proc: subprocess.Popen) -> None:
    """The ml interpreter comes to run ``stage`` on ``job`` (under ``proc``, killed afterwards)."""
    try:
        deadline = time.monotonic() + 60
        exes: set[Path] = set()
        while time.monotonic() < deadline and proc.poll() is None and ML_PY.resolve() not in exes:
            exes = {Path(f"/proc/{pid}/exe").resolve() for pid in pr.stage_pids(stage, str(job))}
            time.sleep(0.05)
        assert ML_PY.resolve() in exes, proc.stderr.read() if proc.poll() is not None and proc.stderr else exes
    finally:
        proc.kill()
        proc.wait()


@needs_envs
def test_diarize_off_in_the_manager_ends_when_its_make_goes(tmp_path: Path) -> None:
    audio, speech = speech_job(tmp_path / "in")
    job = tmp_path / "job"
    make = subprocess.Popen(["sleep", "60"])  # stands in for make
    proc = em_run("diarize", diarize_command(job, audio, speech),
                  base_env(tmp_path, PIPELINE_OWNER_PID=str(make.pid), PIPELINE_TEST_PAUSE="diarize:60"),
                  stderr=subprocess.PIPE, text=True)
    try:
        assert pr.wait_for_stage("diarize", str(job), proc, timeout=30)
        log = job / "logs" / "diarize.log"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "off (" not in (log.read_text(errors="replace") if log.exists() else ""):
            time.sleep(0.05)  # now in its (test) pause, past the decision
        with pytest.raises(launcher.StageStillRunning):
            launcher.wait_for_running_stages(job, timeout=0.3)  # it holds the job's stage lock meanwhile
        make.kill()
        make.wait()
        started = time.monotonic()
        assert proc.wait(timeout=5) == 143
        assert time.monotonic() - started < 2.0
        assert "make (pid" in proc.stderr.read()
        manifest = job / "manifest.json"  # stopped inside its run: no entry recorded (make redoes it)
        assert not manifest.exists() or "diarize" not in json.loads(manifest.read_text())["stages"]
        launcher.wait_for_running_stages(job, timeout=0.5)
    finally:
        make.kill()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


# ---- bench/peer.sh: the GPU path's command lines, checked without a GPU -----------------------
@needs_envs
@pytest.mark.parametrize("model", ["large-v3", "large-v3-turbo"])
def test_peer_bench_dry_run_builds_the_cuda_command_lines(model: str) -> None:
    out = subprocess.run(["bash", str(REPO / "bench" / "peer.sh"), "--dry-run", "--device", "cuda", "--model", model,
                          "--seconds", "60,600"], cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith(f"model {model} (") and "device cuda, compute float16, batch 16" in lines[0]
    assert lines[1].startswith("C (whisperx CLI): alignment ")  # on or OFF, said either way
    sides = {line.split(" ", 2)[0] + line.split(" ", 2)[1]: line for line in lines[2:]}
    assert set(sides) == {"A60", "B60", "C60", "A600", "B600", "C600"}
    assert f"ASR_MODEL={model} DEVICE=cuda COMPUTE_TYPE=float16 BATCH_SIZE=16" in sides["A600"]
    assert "--device cuda --compute-type float16 --batch 16" in sides["B600"]
    assert "--device cuda --compute_type float16 --batch_size 16" in sides["C600"]
    assert sides["C60"].endswith("--no_align") == ("alignment OFF" in lines[1])
    cpu = subprocess.run(["bash", str(REPO / "bench" / "peer.sh"), "--dry-run", "--seconds", "60"], cwd=REPO,
                         capture_output=True, text=True, timeout=60, check=False)
    assert cpu.returncode == 0 and "device cpu, compute int8, batch 4" in cpu.stdout and "tiny.en-bundled" in cpu.stdout


# ---- align on the ASR pass's word times: arithmetic, in the manager's interpreter ------------------
def transcript_job(folder: Path, words: bool = True) -> tuple[Path, Path, Path]:
    """audio.wav, speech.json and a transcript.json of tiny.en-bundled whose two segments
    carry the ASR pass's word times (or, with ``words=False``, the second has none)."""
    audio, speech = speech_job(folder, seconds=3.0)
    segments = [
        {"start": 0.3, "end": 1.0, "text": "Hello there.", "words": [
            {"word": "Hello", "start": 0.3, "end": 0.6, "score": 0.9, "timed_by": "whisper"},
            {"word": "there.", "start": 0.62, "end": 1.0, "score": 0.8, "timed_by": "whisper"}]},
        {"start": 1.2, "end": 2.4, "text": "It costs $45 at 7:30.", "words": [
            {"word": w, "start": round(1.2 + 0.24 * k, 3), "end": round(1.42 + 0.24 * k, 3), "score": 0.7,
             "timed_by": "whisper"} for k, w in enumerate(["It", "costs", "$45", "at", "7:30."])]},
    ]
    if not words:
        segments[1].pop("words")
    transcript = folder / "transcript.json"
    transcript.write_text(json.dumps({"schema_version": 1, "kind": "transcript", "language": "en",
                                      "language_probability": 1.0, "backend": "whisperx", "model": "tiny.en-bundled",
                                      "duration": 3.0, "segments": segments, "removed": []}))
    return transcript, audio, speech


def align_command(job: Path, transcript: Path, audio: Path, speech: Path) -> list[str]:
    return ["python", str(REPO / "stages" / "align.py"), str(transcript), str(audio), "--speech", str(speech),
            "-o", str(job / "aligned.json"), "--job-dir", str(job)]


def test_align_runs_light_only_when_no_model_is_needed(tmp_path: Path) -> None:
    from stages import align as stage
    transcript, audio, _ = transcript_job(tmp_path / "timed")
    argv = [str(transcript), str(audio), "-o", "aligned.json"]
    env = {"MODEL_CACHE_DIR": str(tmp_path / "cache")}
    assert stage.runs_light(argv, {**env, "ALIGN": "whisper"})
    assert stage.runs_light(argv, {**env, "ALIGN": "auto"})  # no wav2vec2 aligner cached: whisper
    assert stage.runs_light(argv, {**env, "ALIGN": "off"})
    assert not stage.runs_light(argv, {**env, "ALIGN": "wav2vec2"})
    assert not stage.runs_light([*argv, "--align", "whisper"], {**env, "ALIGN": "whisper"})  # a flag: the stage decides
    assert not stage.runs_light(["-o", "aligned.json", *argv[:2]], {**env, "ALIGN": "whisper"})
    untimed, audio2, _ = transcript_job(tmp_path / "untimed", words=False)
    assert not stage.runs_light([str(untimed), str(audio2)], {**env, "ALIGN": "whisper"})  # the second pass loads a model
    assert stage.runs_light([str(untimed), str(audio2)], {**env, "ALIGN": "off"})
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert not stage.runs_light([str(broken), str(audio)], {**env, "ALIGN": "whisper"})  # the stage reports it


@needs_envs
def test_align_on_asr_word_times_runs_in_the_managers_interpreter_with_the_same_outputs(tmp_path: Path) -> None:
    transcript, audio, speech = transcript_job(tmp_path / "in")
    job, reference = tmp_path / "here", tmp_path / "reference"
    stderr, here, _ = in_manager_and_direct("align", align_command(job, transcript, audio, speech),
                                            align_command(reference, transcript, audio, speech), tmp_path, ALIGN="whisper")
    assert "7 words timed by whisper (0 interpolated; 2 with digits or symbols" in stderr
    for name in ("aligned.json", "transcript.txt"):
        assert (job / name).read_bytes() == (reference / name).read_bytes(), name
    assert set(here["versions"]) == {"python"}  # no aligner package did the work: none is recorded
    words = [w for seg in json.loads((job / "aligned.json").read_text())["segments"] for w in seg["words"]]
    assert [w["word"] for w in words] == ["Hello", "there.", "It", "costs", "$45", "at", "7:30."]
    assert all(w["timed_by"] == "whisper" and w["end"] >= w["start"] for w in words)
    assert words[-1]["end"] <= 1.5  # refined into the VAD region (0.2-1.5 s)


@needs_envs
def test_align_with_a_segment_to_time_still_starts_the_ml_interpreter(tmp_path: Path) -> None:
    transcript, audio, speech = transcript_job(tmp_path / "in", words=False)
    job = tmp_path / "job"
    proc = em_run("align", align_command(job, transcript, audio, speech),
                  base_env(tmp_path, ALIGN="whisper", PIPELINE_TEST_PAUSE="align:60"), stderr=subprocess.PIPE, text=True)
    assert_ml_interpreter_runs("align", job, proc)
