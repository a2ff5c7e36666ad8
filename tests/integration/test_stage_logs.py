"""Every failure is in the stage's log with the message the user saw; a traceback only there.

Runs the common-environment stages (no models): demux on a text file named .mp4, mux on
a track list that names a missing file, and a stage-like process with an uncaught error.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration import pipeline_runs as pr

pytestmark = pytest.mark.skipif(not pr.COMMON_PYTHON.exists(), reason="the common environment is not built (./bootstrap.sh)")


def stage(name: str, *args: str, under_make: bool = False) -> subprocess.CompletedProcess:
    """A stage run by hand (Click's own error text), or as make runs it (MAKELEVEL: one line)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    if under_make:
        env["MAKELEVEL"] = "1"
    return subprocess.run([str(pr.COMMON_PYTHON), str(pr.REPO / "stages" / f"{name}.py"), *args], cwd=pr.REPO,
                          capture_output=True, text=True, timeout=120, check=False, env=env)


def test_a_text_file_named_mp4_gives_a_demux_log_that_says_why(tmp_path: Path) -> None:
    fake = tmp_path / "holiday clip.mp4"
    fake.write_text("this is not a video\n")
    job = tmp_path / "job"
    result = stage("demux", "-o", str(job / "audio.wav"), "--job-dir", str(job), "--", str(fake))
    assert result.returncode == 2
    log = (job / "logs" / "demux.log").read_text()
    assert "not a media file ffprobe can read" in result.stderr
    assert "ERROR Error: Invalid value for FILE:" in log and "not a media file ffprobe can read" in log
    assert not (job / "audio.wav").exists()
    again = stage("demux", "-o", str(job / "audio.wav"), "--job-dir", str(job), "--", str(fake), under_make=True)
    assert again.returncode == 2 and again.stderr.startswith("demux: error: Invalid value for FILE")
    log = (job / "logs" / "demux.log").read_text()
    assert "ERROR demux: error: Invalid value for FILE:" in log  # an error line, at error level, under make too


def test_a_mux_failure_is_in_mux_log(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    source = tmp_path / "in.mkv"
    source.write_bytes(b"x")
    (job / "media.json").write_text(json.dumps({"schema_version": 1, "kind": "media", "source": str(source), "has_video": True,
                                                "clip_start": 0, "clip_end": 1, "duration": 1, "audio_tracks": [],
                                                "selected_track": 0}))
    (job / "tracks.json").write_text(json.dumps({"schema_version": 1, "kind": "subtitles", "tracks": [
        {"role": "source", "language": "en", "files": {"srt": "gone.en.srt"}}]}))
    result = stage("mux", str(job / "media.json"), str(job / "tracks.json"), "-o", str(job / "in.subtitled.mkv"),
                   "--no-burn", "--job-dir", str(job))
    assert result.returncode == 2
    log = (job / "logs" / "mux.log").read_text()
    assert "gone.en.srt does not exist" in result.stderr and "gone.en.srt does not exist" in log


def test_an_uncaught_error_is_one_line_on_the_terminal_and_a_traceback_in_the_log(tmp_path: Path) -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[2]); from shared import stage_log; stage_log.configure_logging('asr', sys.argv[1])\n"
            "def load():\n    raise RuntimeError(\"Variable 'decoder/embeddings/weight' has an invalid payload size\")\n"
            "load()\n")
    result = subprocess.run([str(pr.COMMON_PYTHON), "-c", code, str(tmp_path), str(pr.REPO)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert line.startswith("asr: error: RuntimeError: Variable 'decoder/embeddings/weight' has an invalid payload size")
    assert str(tmp_path / "logs" / "asr.log") in line
    log = (tmp_path / "logs" / "asr.log").read_text()
    assert "Traceback (most recent call last)" in log and "in load" in log and "invalid payload size" in log
