"""Fault tolerance through `make`: a stage killed at a random point (SIGKILL, or Ctrl-C's SIGINT)
and a second `make` give the same results as an uninterrupted run; two runs on one job at
once; a disk that fills up during a stage.

The reference is one clean run of a 12 s speech clip (MP4, so even the muxed file is
byte-identical run to run). Each kill runs in its own OUT_DIR: the stage is found through
/proc, allowed to work for a random moment, then killed; PIPELINE_TEST_COMMIT_PAUSE holds
it just before it renames its output into place, so the kill always lands inside the stage.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from shared import job as job_mod
from tests.integration import pipeline_runs as pr

pytestmark = [*pr.NEEDS_PIPELINE, pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds stages through /proc")]

STAGES = ("demux", "separate", "vad", "diarize", "asr", "align", "subtitle", "mux")
# The file each stage's rule makes: it must not exist after that stage was killed.
STAGE_OUTPUT = {"demux": "audio.wav", "separate": "vocals.wav", "vad": "speech.json", "diarize": "speakers.json",
                "asr": "transcript.json",
                "align": "aligned.json", "subtitle": "subs/tracks.json", "mux": "clip.subtitled.mp4"}
SEED = int(os.environ.get("FAULT_SEED", "8"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("fault input")
    wav = folder / "speech.wav"
    pr.speech_track(wav, 12.0)
    source = pr.video_with_tracks(folder / "clip.mp4", [(wav, "eng", True)], 12.0)
    cache = tmp_path_factory.mktemp("cache")
    reference_out = tmp_path_factory.mktemp("reference") / "out"
    env = pr.clean_env(cache)
    done = pr.make("subtitle", f"FILE={source}", f"OUT_DIR={reference_out}", env=env)
    assert done.returncode == 0, done.stderr
    job = pr.only_job(reference_out)
    reference = pr.results(job)
    assert {"audio.wav", "speech.json", "transcript.json", "aligned.json", "subs/tracks.json", "clip.subtitled.mp4"} <= set(reference)
    return {"source": source, "cache": cache, "reference": reference}


def interrupted_run(clip: dict, out: Path, stage: str, sig: int, rng: random.Random) -> subprocess.CompletedProcess:
    """`make subtitle` with ``stage`` stopped by ``sig`` at a random point; the failed run."""
    env = pr.clean_env(clip["cache"], PIPELINE_TEST_COMMIT_PAUSE=f"{stage}:30", PIPELINE_TEST_PAUSE=f"{stage}:30")
    proc = subprocess.Popen(["make", "--no-print-directory", "subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}"],
                            cwd=pr.REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        pids = pr.wait_for_stage(stage, str(out), proc)
        assert pids, f"{stage} never started: {proc.communicate()[1]}"
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere in its work, or in the pause before the rename
        if sig == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
        else:
            for pid in pids:
                os.kill(pid, sig)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_in_each_stage_then_make_gives_the_clean_result(clip, tmp_path, stage):
    rng = random.Random(f"{SEED}-{stage}")
    out = tmp_path / "out"
    killed = interrupted_run(clip, out, stage, signal.SIGKILL, rng)
    assert killed.returncode != 0
    job = pr.only_job(out)
    assert not (job / STAGE_OUTPUT[stage]).exists(), f"{stage} left its output after SIGKILL"
    again = pr.make("subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}", env=pr.clean_env(clip["cache"]))
    assert again.returncode == 0, again.stderr
    assert f"{stage}: " in again.stderr  # the killed stage ran again
    assert pr.results(job) == clip["reference"]
    assert not pr.temporaries(job), "temporaries of the killed run are left"


@pytest.fixture(scope="module")
def translated(clip, tmp_path_factory) -> dict:
    """The same clip with TGT=hi through tiny IndicTrans2 weights (greedy, so deterministic)."""
    cache = tmp_path_factory.mktemp("tiny models")
    extra = pr.tiny_translation_env(cache)
    out = tmp_path_factory.mktemp("reference-hi") / "out"
    done = pr.make("subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}", "TGT=hi", env=pr.clean_env(cache, **extra))
    assert done.returncode == 0, done.stderr
    reference = pr.results(pr.only_job(out))
    assert "translation.hi.json" in reference
    return {"source": clip["source"], "cache": cache, "extra": extra, "reference": reference}


def test_sigkill_in_translate_then_make_gives_the_clean_result(translated, tmp_path):
    out = tmp_path / "out"
    env = pr.clean_env(translated["cache"], **translated["extra"], PIPELINE_TEST_COMMIT_PAUSE="translate:30",
                       PIPELINE_TEST_PAUSE="translate:30")
    proc = subprocess.Popen(["make", "--no-print-directory", "subtitle", f"FILE={translated['source']}", f"OUT_DIR={out}",
                             "TGT=hi"], cwd=pr.REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        pids = pr.wait_for_stage("translate", str(out), proc)
        assert pids, proc.communicate()[1]
        time.sleep(random.Random(f"{SEED}-translate").uniform(0.0, 1.5))
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    job = pr.only_job(out)
    assert not (job / "translation.hi.json").exists()
    again = pr.make("subtitle", f"FILE={translated['source']}", f"OUT_DIR={out}", "TGT=hi",
                    env=pr.clean_env(translated["cache"], **translated["extra"]))
    assert again.returncode == 0, again.stderr
    assert "translate: " in again.stderr and "asr: " not in again.stderr
    assert pr.results(job) == translated["reference"]


@pytest.mark.parametrize("stage", ["asr", "mux"])
def test_ctrl_c_in_a_stage_then_make_gives_the_clean_result(clip, tmp_path, stage):
    out = tmp_path / "out"
    stopped = interrupted_run(clip, out, stage, signal.SIGINT, random.Random(f"{SEED}-int-{stage}"))
    assert stopped.returncode != 0
    job = pr.only_job(out)
    assert not (job / STAGE_OUTPUT[stage]).exists()
    again = pr.make("subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}", env=pr.clean_env(clip["cache"]))
    assert again.returncode == 0, again.stderr
    assert pr.results(job) == clip["reference"]


def test_a_second_make_on_the_same_job_stops_with_a_message(clip, tmp_path):
    out = tmp_path / "out"
    env = pr.clean_env(clip["cache"], PIPELINE_TEST_PAUSE="vad:20")
    first = subprocess.Popen(["make", "--no-print-directory", "subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}"],
                             cwd=pr.REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert pr.wait_for_stage("vad", str(out), first)
        params = {p.name: p.read_bytes() for p in (pr.only_job(out) / "params").iterdir()}
        second = pr.make("subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}", "TGT=", "BURN=1",
                         env=pr.clean_env(clip["cache"]))
        assert second.returncode == 2
        assert f"another make run (pid {first.pid}" in second.stderr and "wait for it to finish" in second.stderr
        assert "Traceback" not in second.stderr
        # the second run changed nothing: not even the params of its different settings
        assert {p.name: p.read_bytes() for p in (pr.only_job(out) / "params").iterdir()} == params
        assert pr.make("status", f"FILE={clip['source']}", f"OUT_DIR={out}", env=pr.clean_env(clip["cache"])).returncode == 0
    finally:
        for pid in pr.stage_pids("vad", str(out)):
            os.kill(pid, signal.SIGKILL)
        first.communicate(timeout=120)
    after = pr.make("subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}", env=pr.clean_env(clip["cache"]))
    assert after.returncode == 0, after.stderr  # the lock went with the first run
    assert pr.results(pr.only_job(out)) == clip["reference"]


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs (root and mount permission needed; skipped otherwise)."""
    mount = tmp_path / "small_disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up ({done.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_full_disk_in_a_stage_is_a_clear_error_and_nothing_looks_complete(clip, small_disk):
    out = small_disk / "out"
    env = pr.clean_env(clip["cache"])
    args = ["subtitle", f"FILE={clip['source']}", f"OUT_DIR={out}"]
    job = out / job_mod.slug(clip["source"])
    demux = pr.make(str(job / "vocals.wav"), *args[1:], env=env)  # demux and separate fit
    assert demux.returncode == 0, demux.stderr
    filler = fill(small_disk)
    full = pr.make(*args, env=env)
    assert full.returncode != 0
    # preflight sees the full disk before any stage runs; a stage that hits it says so too
    assert ("no space left on the disk" in full.stderr.lower() or "No space left on device" in full.stderr
            or "not enough disk space" in full.stderr)
    assert "Traceback" not in full.stderr
    assert not (job / "speech.json").exists() and not pr.temporaries(job)
    filler.unlink()
    again = pr.make(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert pr.results(job) == clip["reference"]


def test_full_disk_while_decoding_leaves_no_audio(clip, small_disk):
    filler = small_disk / "filler"
    with open(filler, "wb") as fh:  # leave about 300 KB: less than the 12 s clip's 384 KB of audio
        fh.write(b"\0" * (3 * 1024 * 1024 - 300 * 1024))
    out = small_disk / "out"
    full = pr.make("transcribe", f"FILE={clip['source']}", f"OUT_DIR={out}", env=pr.clean_env(clip["cache"]))
    # preflight knows the clip's audio does not fit, and stops before demux writes a byte
    assert full.returncode != 0 and "not enough disk space" in full.stderr and "free some space" in full.stderr
    assert "looks damaged" not in full.stderr  # a full disk is not the input's fault
    assert not out.exists() or not list(out.rglob("*.wav"))
