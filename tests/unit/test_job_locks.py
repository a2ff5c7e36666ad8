"""The job's run lock (held for a make process's lifetime) and the full-disk handling of StageRun."""

from __future__ import annotations

import errno
import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import atomic, job, job_locks, job_manifest


def owner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_the_run_lock_lives_as_long_as_its_owner(tmp_path: Path) -> None:
    first, second = owner(), owner()
    try:
        job_locks.start_run_lock(tmp_path, first.pid)
        assert job_locks.run_lock_owner(tmp_path)[0] == first.pid
        with pytest.raises(job.JobError, match=rf"another make run \(pid {first.pid}, since .*wait for it to finish"):
            job_locks.start_run_lock(tmp_path, second.pid)
        first.kill()
        first.wait()
        started = time.monotonic()
        job_locks.start_run_lock(tmp_path, second.pid)  # the holder saw its owner end and let go
        assert time.monotonic() - started < job_locks.RUN_LOCK_GRACE
        assert job_locks.run_lock_owner(tmp_path)[0] == second.pid
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait()


def test_prepare_takes_the_run_lock_before_touching_params(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes(b"RIFF....")
    holder = owner()
    try:
        env = {"FILE": str(source), "OUT_DIR": str(tmp_path / "out")}
        directory, *_ = job.prepare(env, hold_for=holder.pid)
        params = {p.name: p.read_bytes() for p in (directory / "params").iterdir()}
        with pytest.raises(job.JobError, match="another make run"):
            job.prepare(dict(env, TGT="ta"), hold_for=holder.pid + 100000)
        assert {p.name: p.read_bytes() for p in (directory / "params").iterdir()} == params
    finally:
        holder.kill()
        holder.wait()


def test_a_full_disk_in_a_stage_is_one_line_and_exit_1(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)
    with pytest.raises(SystemExit) as stopped, job_manifest.StageRun("vad", tmp_path, ["a"], ["b"], {}):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert stopped.value.code == 1
    assert "no space left on the disk holding" in caplog.text and "run make again" in caplog.text
    assert not (tmp_path / job_manifest.MANIFEST).exists()
    with pytest.raises(PermissionError), job_manifest.StageRun("vad", tmp_path, ["a"], ["b"], {}):
        raise PermissionError(errno.EACCES, "denied")  # other errors pass through unchanged


def test_commit_pause_only_for_the_named_stage(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PIPELINE_TEST_COMMIT_PAUSE", "asr:0.3")
    monkeypatch.setenv("PIPELINE_STAGE", "vad")
    started = time.monotonic()
    atomic.write_text(tmp_path / "a.txt", "x")
    assert time.monotonic() - started < 0.2
    monkeypatch.setenv("PIPELINE_STAGE", "asr")
    atomic.write_text(tmp_path / "b.txt", "x")
    assert time.monotonic() - started >= 0.3 and (tmp_path / "b.txt").read_text() == "x"
