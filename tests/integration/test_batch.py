"""Batch runs (`make subtitle DIR=folder/`, make -j N) and the GPU lock.

The fast tests cover shared.batch's file discovery, report and failure lines, and
shared.gpu_lock's mutual exclusion with real processes. The slow test runs a batch of
three files through the real stages, one of them broken, two jobs at a time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import batch, gpu_lock
from tests.integration import pipeline_runs as pr


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_media_files_are_found_recursively_sorted_and_filtered(tmp_path: Path) -> None:
    root = tmp_path / "films $x"
    wanted = [touch(root / "b film.MKV"), touch(root / "a.mp3"), touch(root / "season 1" / "ep 01 'q'.mp4"),
              touch(root / "season 1" / "हिंदी.wav")]
    for ignored in (root / "notes.txt", root / ".hidden.mp4", root / ".trash" / "x.mp4", root / "a.subtitled.mkv",
                    root / "out" / "job" / "audio.wav"):
        touch(ignored)
    found = batch.media_files(root, skip=[root / "out"])
    assert found == sorted(p.absolute() for p in wanted)


@pytest.mark.parametrize("case", ["missing", "file", "empty"])
def test_bad_folders_are_clear_errors(tmp_path: Path, case: str) -> None:
    target = {"missing": tmp_path / "nope", "file": touch(tmp_path / "f.mp4"), "empty": tmp_path / "empty"}[case]
    if case == "empty":
        target.mkdir()
        touch(target / "readme.txt")
    with pytest.raises(batch.BatchError, match={"missing": "no such folder", "file": "not a folder",
                                                 "empty": "no media files"}[case]):
        batch.plan(str(target), "subtitle", {"OUT_DIR": str(tmp_path / "out")})


def test_plan_writes_the_list_and_clears_old_results(tmp_path: Path) -> None:
    root = tmp_path / "in"
    touch(root / "one.mp4")
    env = {"OUT_DIR": str(tmp_path / "out")}
    state, files = batch.plan(str(root), "transcribe", env)
    touch(state / "results" / "1.json", b"{}")
    again, _ = batch.plan(str(root), "transcribe", env)
    assert again == state and not list((state / "results").iterdir())
    assert json.loads((state / "files.json").read_text())["files"] == [str(f) for f in files]
    assert batch.plan(str(root), "subtitle", env)[0] != state  # one state folder per verb
    with pytest.raises(batch.BatchError, match="status"):
        batch.plan(str(root), "status", env)


def test_each_job_shows_its_progress_between_started_and_done(tmp_path: Path, monkeypatch, capsys) -> None:
    """run-one follows the job's output: its latest stage line, throttled, under the job's [i/n] name."""
    root = tmp_path / "in"
    touch(root / "a.mp4")
    touch(root / "film.mp4")
    state, _ = batch.plan(str(root), "transcribe", {"OUT_DIR": str(tmp_path / "out")})
    # a stand-in for the sub-make: the lines a stage prints off-terminal, 0.2 s apart, one not progress
    job_output = "; ".join(f"print({line!r}, file=sys.stderr, flush=True); time.sleep(0.2)" for line in (
        "demux: film.mp4 -> audio.wav, media.json", "asr: stage 5/6 asr 25% (1/4 chunks) ETA 0:03, job ETA 0:05",
        "asr: stage 5/6 asr 50% (2/4 chunks) ETA 0:02, job ETA 0:04", "asr: detected language en (probability 0.99)",
        "asr: stage 5/6 asr 75% (3/4 chunks) ETA 0:01, job ETA 0:03", "asr: stage 5/6 asr 100% (4/4 chunks)"))
    monkeypatch.setenv("PROGRESS_INTERVAL", "1.0")
    code = batch.run_one(state, 2, [sys.executable, "-c", f"import sys, time; {job_output}"], dict(os.environ))
    assert code == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("batch: [2/2] film.mp4: ")]
    shown = [line.split(": ", 2)[2] for line in lines]
    assert shown[0] == "started" and shown[-1].startswith("ok in ")
    progress_lines = shown[1:-1]
    assert progress_lines, lines
    assert all(line.startswith("stage 5/6 asr ") and "%" in line for line in progress_lines)
    assert len(progress_lines) <= 2  # throttled: four stage lines in 1.2 s, at most one shown per 1.0 s
    assert "detected language" not in "\n".join(lines)


def test_report_table_and_exit_code(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in ("a.mp4", "b.mkv", "c.wav", "d.wav"):
        touch(root / name)
    state, files = batch.plan(str(root), "subtitle", {"OUT_DIR": str(tmp_path / "out")})
    (state / "results" / "4.json").write_text(json.dumps({"index": 4, "file": str(files[3]), "status": "ok", "seconds": 3.0,
                                                          "media_seconds": 12.0, "real_time_factor": 0.25, "no_speech": True}))
    (state / "results" / "1.json").write_text(json.dumps({"index": 1, "file": str(files[0]), "status": "ok", "seconds": 12.0,
                                                          "media_seconds": 60.0, "real_time_factor": 0.2}))
    (state / "results" / "2.json").write_text(json.dumps({"index": 2, "file": str(files[1]), "status": "failed", "seconds": 1.0,
                                                          "media_seconds": None, "real_time_factor": None,
                                                          "reason": "Error: not a media file", "log": "/x/2.log"}))
    proc = subprocess.run([sys.executable, "-m", "shared.batch", "report", "--state-dir", str(state)], cwd=pr.REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["file", "status", "no", "speech", "length", "time", "RTF"]
    assert lines[2].split() == ["a.mp4", "ok", "1:00.0", "12.0", "s", "0.200"]
    assert lines[3].split()[:2] == ["b.mkv", "failed"] and lines[4].split()[:3] == ["c.wav", "not", "run"]
    assert lines[5].split() == ["d.wav", "ok", "yes", "12.0", "s", "3.0", "s", "0.250"]  # no speech: done, said so
    assert "2 of 4 succeeded (1 with no speech), 2 failed" in proc.stdout and "b.mkv: Error: not a media file (log: /x/2.log)" in proc.stdout


def test_failure_reason_is_the_last_error_line() -> None:
    log = "demux: x -> y\nUsage: demux.py\n\nError: Invalid value for FILE: broken\nmake: *** [Makefile:1: y] Error 2\n"
    assert batch.failure_reason(log) == "Error: Invalid value for FILE: broken"
    assert batch.failure_reason("") == "no output"


def hold_and_record(tmp_path: Path, name: str, device: str) -> subprocess.Popen:
    """A stage-like process behind shared.gpu_lock that records when it held the GPU."""
    script = (f"import time, pathlib; p = pathlib.Path({str(tmp_path)!r}) / {name!r}; "
              "a = time.time(); time.sleep(0.8); p.write_text(f'{a} {time.time()}')")
    env = dict(os.environ, DEVICE=device, OUT_DIR=str(tmp_path / "out"), PYTHONPATH=str(pr.REPO))
    return subprocess.Popen([sys.executable, "-m", "shared.gpu_lock", "--stage", "asr", "--", sys.executable, "-c", script],
                            cwd=pr.REPO, env=env, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_gpu_lock_runs_heavy_stages_one_at_a_time_on_a_gpu_only(tmp_path: Path, device: str) -> None:
    procs = [hold_and_record(tmp_path, f"run{n}", device) for n in range(3)]
    errors = [p.communicate(timeout=30)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    spans = sorted(tuple(map(float, (tmp_path / f"run{n}").read_text().split())) for n in range(3))
    overlaps = [a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)]
    if device == "cuda":
        assert not any(overlaps), spans
        assert any("waiting for the GPU" in e for e in errors)
        assert (tmp_path / "out" / ".locks" / "gpu-cuda0.lock").is_file()
    else:
        assert all(overlaps), spans  # CPU jobs run side by side
        assert not (tmp_path / "out" / ".locks").exists()


def test_gpu_lock_is_released_when_the_stage_is_killed(tmp_path: Path) -> None:
    env = dict(os.environ, DEVICE="cuda", OUT_DIR=str(tmp_path / "out"), PYTHONPATH=str(pr.REPO))
    holder = subprocess.Popen([sys.executable, "-m", "shared.gpu_lock", "--stage", "align", "--", "sleep", "60"],
                              cwd=pr.REPO, env=env)
    lock = tmp_path / "out" / ".locks" / "gpu-cuda0.lock"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "align pid" not in (lock.read_text() if lock.exists() else ""):
        time.sleep(0.05)
    holder.kill()  # the exec'd `sleep` holds the lock; SIGKILL it
    holder.wait()
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "shared.gpu_lock", "--stage", "asr", "--", "true"], cwd=pr.REPO, env=env,
                          timeout=10)
    assert done.returncode == 0 and time.monotonic() - started < 5


def test_lock_path_per_device() -> None:
    assert gpu_lock.lock_path("cpu", "out", {}) is None
    assert gpu_lock.lock_path("cuda", "o", {"CUDA_VISIBLE_DEVICES": "2,3"}) == Path("o/.locks/gpu-cuda2.lock")
    assert gpu_lock.lock_path("mps", "o", {}) == Path("o/.locks/gpu-mps.lock")


@pytest.mark.usefixtures("need_espeak")
@pytest.mark.slow
@pytest.mark.ml
@pytest.mark.skipif(not pr.ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)")
def test_batch_of_three_with_one_broken_file(tmp_path: Path) -> None:
    folder = tmp_path / "my films"
    (folder / "part 2").mkdir(parents=True)
    wav = tmp_path / "speech.wav"
    pr.speech_track(wav, 6.0)
    pr.video_with_tracks(folder / "first 'one'.mp4", [(wav, "eng", True)], 6.0)
    pr.video_with_tracks(folder / "part 2" / "second $two ü.mkv", [(wav, "eng", True)], 6.0)
    (folder / "broken.mkv").write_text("this is not a video")
    (folder / "notes.txt").write_text("not media")
    out = tmp_path / "out"
    env = pr.clean_env(tmp_path / "cache")
    result = pr.make("-j2", "subtitle", f"DIR={folder}", f"OUT_DIR={out}", env=env)
    assert result.returncode != 0
    rows = {line[:26].strip(): line[26:].split()[0] for line in result.stdout.splitlines()[2:5]}
    assert rows == {"broken.mkv": "failed", "first 'one'.mp4": "ok", "part 2/second $two ü.mkv": "ok"}, result.stdout
    assert "2 of 3 succeeded, 1 failed" in result.stdout
    assert "broken.mkv: subtitle: error: FILE=" in result.stdout and "not a media file" in result.stdout  # preflight's line
    muxed = sorted(p.name for p in out.glob("*/*.subtitled.*"))
    assert muxed == ["first-one.subtitled.mp4", "second-two-u.subtitled.mkv"]
    for job in out.glob("*/"):
        if job.name.startswith("."):
            continue
        if (job / "media.json").exists():
            stages = json.loads((job / "manifest.json").read_text())["stages"]
            assert {"demux", "vad", "asr", "align", "subtitle", "mux"} <= set(stages)
    # a second run finds every good job done and still reports the broken file
    again = pr.make("-j2", "subtitle", f"DIR={folder}", f"OUT_DIR={out}", env=env)
    assert again.returncode != 0 and "2 of 3 succeeded, 1 failed" in again.stdout
    logs = sorted(out.glob(".batch/subtitle-*/logs/*.log"))
    assert len(logs) == 3
    assert not any("asr:" in log.read_text() for log in logs)  # nothing re-ran
