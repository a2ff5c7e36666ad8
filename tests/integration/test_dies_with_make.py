"""A stage dies with its make, and a re-run never runs a stage that is still running for the job.

`kill -9` of make alone (not its process group) during asr: within 2 s no process of the
asr stage is left (launcher, GPU-lock wrapper or stage), and the next `make subtitle`
gives exactly the clean run's results. A process that still holds the job's stage lock
keeps a new run from starting; a zombie counts as dead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import atomic, launcher
from tests.integration import pipeline_runs as pr

SECONDS = 8.0


def test_a_zombie_counts_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and launcher._proc_stat(child.pid) and launcher._proc_stat(child.pid)[1] != "Z":
        time.sleep(0.02)  # exited, not reaped: a zombie
    try:
        if Path("/proc").is_dir():
            assert launcher._proc_stat(child.pid)[1] == "Z"
        assert not launcher.alive(child.pid) and not atomic._pid_alive(child.pid)
    finally:
        child.wait()
    assert launcher.alive(os.getpid())


def test_the_owner_is_the_nearest_make(tmp_path: Path) -> None:
    if not Path("/proc").is_dir():
        pytest.skip("reads /proc")
    makefile = tmp_path / "Makefile"
    makefile.write_text(f"all:\n\t@{sys.executable} -c 'from shared import launcher; print(launcher.owner_pid({{}}))'; echo $$PPID\n")
    out = subprocess.run(["make", "-s", "-f", str(makefile)], cwd=pr.REPO, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(pr.REPO))).stdout.split()
    assert out[0] == out[1]  # the launcher's owner is the make that ran the recipe


@pytest.mark.skipif(os.name == "nt", reason="POSIX file locks")
def test_a_new_run_waits_for_a_stage_that_still_holds_the_job_and_then_refuses(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_SH); print('ok', flush=True); time.sleep(60)"), str(job / launcher.STAGE_LOCK_FILE)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        started = time.monotonic()
        with pytest.raises(launcher.StageStillRunning, match="a stage of an earlier run is still working on the job"):
            launcher.wait_for_running_stages(job, timeout=0.5)
        assert time.monotonic() - started >= 0.5
    finally:
        holder.kill()
        holder.wait()
    launcher.wait_for_running_stages(job, timeout=0.5)  # its end frees the job at once


def _needs_pipeline(test):
    for mark in pr.NEEDS_PIPELINE:
        test = mark(test)
    return test


@_needs_pipeline
@pytest.mark.parametrize("stage", ["asr"])
def test_kill_9_of_make_stops_the_stage_and_the_rerun_is_clean(tmp_path_factory, stage: str) -> None:
    folder = tmp_path_factory.mktemp("input")
    wav = folder / "speech.wav"
    pr.speech_track(wav, SECONDS)
    source = pr.video_with_tracks(folder / "clip.mp4", [(wav, "eng", True)], SECONDS)
    cache = tmp_path_factory.mktemp("cache")
    clean_out = tmp_path_factory.mktemp("clean") / "out"
    clean = pr.make("subtitle", f"FILE={source}", f"OUT_DIR={clean_out}", env=pr.clean_env(cache))
    assert clean.returncode == 0, clean.stderr[-3000:]
    reference = pr.results(pr.only_job(clean_out))

    out = tmp_path_factory.mktemp("killed") / "out"
    env = pr.clean_env(cache, PIPELINE_TEST_PAUSE=f"{stage}:60")
    make = subprocess.Popen(["make", "--no-print-directory", "subtitle", f"FILE={source}", f"OUT_DIR={out}"], cwd=pr.REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert pr.wait_for_stage(stage, str(out), make), f"{stage} never started"
        os.kill(make.pid, signal.SIGKILL)  # make alone, as `kill -9 <make's pid>` does
        make.wait()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and pr.stage_pids(stage, str(out)):
            time.sleep(0.05)
        left = pr.stage_pids(stage, str(out))
        assert left == [], f"{stage} processes still running 2 s after make was killed: {left}"
    finally:
        for pid in pr.stage_pids(stage, str(out)):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(make.pid, signal.SIGKILL)
    again = pr.make("subtitle", f"FILE={source}", f"OUT_DIR={out}", env=pr.clean_env(cache))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{stage}: " in again.stderr  # the killed stage ran again, once
    assert pr.results(pr.only_job(out)) == reference
