"""The Makefile's stage chain, run as `make` subprocesses with OUT_DIR in a temporary folder.

The stages after demux are written by later issues, so the chain is driven by demux and
mux: MUX_TRACKS points mux at hand-made subtitle tracks. The input lives outside the
repository under a name with spaces, quotes, $, backticks, unicode and a leading dash.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from shared import settings
from tests.helpers.media import Track, make_silent_wav, make_video, streams, write_srt

REPO = Path(__file__).resolve().parents[2]
AWKWARD = "-a $HOME `id` 'q' \"d\" हिंदी (2001).mkv"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
              pytest.mark.skipif(not (REPO / ".venvs" / "common" / "bin" / "python").exists(),
                                 reason="the common environment is not built (./bootstrap.sh)")]


def clean_env(**extra: str) -> dict[str, str]:
    names = set(settings.read_defaults(REPO)) | {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MUX_TRACKS", "PIPELINE_TEST_PAUSE"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(extra)
    return env


def make(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, capture_output=True, text=True,
                          env=env or clean_env(), check=False)


@pytest.fixture
def job_input(tmp_path: Path, need_ffmpeg) -> dict:
    """An awkwardly named video outside the repo, hand-made subtitle tracks, and an OUT_DIR."""
    folder = tmp_path / "in put ü"
    folder.mkdir()
    source = make_video(folder / AWKWARD, seconds=4, tracks=[Track("hin", 440, default=True), Track("eng", 880)])
    tracks = tmp_path / "tracks"
    tracks.mkdir()
    write_srt(tracks / "x.hi.srt", [(0.2, 1.0, "नमस्ते")])
    write_srt(tracks / "x.en.srt", [(0.2, 1.0, "hello")])
    (tracks / "tracks.json").write_text(json.dumps({"schema_version": 1, "kind": "subtitles", "tracks": [
        {"role": "source", "language": "hi", "files": {"srt": "x.hi.srt"}},
        {"role": "target", "language": "en", "files": {"srt": "x.en.srt"}}]}))
    out = tmp_path / "out"
    args = [f"FILE={source}", f"OUT_DIR={out}", f"MUX_TRACKS={tracks / 'tracks.json'}", "TGT=en"]
    return {"source": source, "out": out, "args": args}


@pytest.fixture
def mini_repo(tmp_path: Path) -> Path:
    """A copy of the repository with only the demux and mux stages (environments linked), so the
    chain's later stages are "not written yet" whatever other issues have landed."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(REPO / "Makefile", root / "Makefile")
    for folder in ("config", "shared"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", "hardware_cache.json"))
    (root / "stages").mkdir()
    for stage in ("demux.py", "mux.py"):
        shutil.copy2(REPO / "stages" / stage, root / "stages" / stage)
    (root / ".venvs").symlink_to(REPO / ".venvs", target_is_directory=True)
    return root


def job_dir(out: Path) -> Path:
    (found,) = [p for p in out.iterdir() if p.is_dir()]
    return found


def manifest(job: Path) -> dict:
    return json.loads((job / "manifest.json").read_text())["stages"]


def test_missing_file_stops_with_the_fix() -> None:
    for verb in ("transcribe", "translate", "subtitle", "status"):
        result = make(verb)
        assert result.returncode == 2
        assert f"FILE is not set: run e.g. make {verb} FILE=" in result.stderr


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "text"])
def test_bad_file_stops_before_any_stage(tmp_path: Path, case: str) -> None:
    path = {"missing": tmp_path / "nope.mkv", "directory": tmp_path, "empty": tmp_path / "e.mp4", "text": tmp_path / "t.mp4"}[case]
    if case == "empty":
        path.write_bytes(b"")
    if case == "text":
        path.write_text("not a video")
    result = make("subtitle", f"FILE={path}", f"OUT_DIR={tmp_path / 'out'}")
    assert result.returncode == 2
    assert {"missing": "no such file", "directory": "is a directory", "empty": "empty",
            "text": "not a media file"}[case] in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_out_dir(tmp_path: Path, job_input: dict) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    result = make("subtitle", f"FILE={job_input['source']}", f"OUT_DIR={blocker / 'out'}")
    assert result.returncode == 2 and "cannot write the job directory" in result.stderr


def test_chain_runs_once_then_does_nothing_quickly(job_input: dict) -> None:
    first = make("subtitle", *job_input["args"])
    assert first.returncode == 0, first.stderr
    job = job_dir(job_input["out"])
    assert job.name.startswith("a-home-id-q-d-2001-")
    muxed = job / "a-home-id-q-d-2001.subtitled.mkv"
    assert [s["codec_type"] for s in streams(muxed)] == ["video", "audio", "audio", "subtitle", "subtitle"]
    assert json.loads((job / "media.json").read_text())["source"] == str(job_input["source"])
    assert "demux: " in first.stderr and "mux: done" in first.stderr
    # the preflight's ffprobe, kept for demux (stages/demux.py PROBE_RECORD), is of this very input
    kept = json.loads((job / ".probe.json").read_text())
    assert kept["input"] == json.loads((job / "params" / "demux.json").read_text())["parameters"]["input"]
    before = manifest(job)
    logs_before = {p.name: p.stat().st_mtime_ns for p in (job / "logs").glob("*.log")}
    assert {"demux.log", "mux.log"} <= set(logs_before)
    second = make("subtitle", *job_input["args"])
    assert second.returncode == 0, second.stderr
    assert "demux:" not in second.stderr and "mux:" not in second.stderr
    assert manifest(job) == before
    # Nothing ran: no stage log was touched (a wall-clock limit here would only measure the machine's load).
    assert {p.name: p.stat().st_mtime_ns for p in (job / "logs").glob("*.log")} == logs_before
    assert make("-q", "subtitle", *job_input["args"]).returncode == 1  # .PHONY verb; the files are what count
    assert make("-q", str(muxed), *job_input["args"]).returncode == 0


def test_settings_rerun_exactly_the_stages_after_them(job_input: dict) -> None:
    assert make("subtitle", *job_input["args"]).returncode == 0
    job = job_dir(job_input["out"])
    first = manifest(job)
    params_asr = (job / "params" / "asr.json").stat().st_mtime_ns

    burn = make("subtitle", *job_input["args"], "BURN=1")  # mux only
    assert burn.returncode == 0, burn.stderr
    after_burn = manifest(job)
    assert after_burn["demux"] == first["demux"] and after_burn["mux"]["end"] >= first["mux"]["end"]
    assert after_burn["mux"] != first["mux"] and (job / "a-home-id-q-d-2001.burned.mkv").is_file()

    tgt = make("subtitle", *job_input["args"], "BURN=1", "TGT=en,ta")  # translate/subtitle/mux params, never asr
    assert (job / "params" / "translate.ta.json").is_file()
    assert (job / "params" / "asr.json").stat().st_mtime_ns == params_asr
    assert tgt.returncode == 0, tgt.stderr  # hand-made tracks: of the stages that exist, only mux re-runs
    after_tgt = manifest(job)
    assert after_tgt["demux"] == first["demux"] and after_tgt["mux"] != after_burn["mux"]
    after_burn = after_tgt

    clip = make("subtitle", *job_input["args"], "BURN=1", "START=1", "END=3")  # demux and mux
    assert clip.returncode == 0, clip.stderr
    after_clip = manifest(job)
    assert after_clip["demux"] != after_burn["demux"] and after_clip["mux"] != after_burn["mux"]
    assert json.loads((job / "media.json").read_text())["clip_end"] == 3.0
    assert (job / "params" / "asr.json").stat().st_mtime_ns == params_asr

    track = make("subtitle", *job_input["args"], "BURN=1", "START=1", "END=3", "AUDIO_TRACK=eng")
    assert track.returncode == 0 and json.loads((job / "media.json").read_text())["selected_track"] == 1


def test_status_reports_each_stage(job_input: dict) -> None:
    missing = make("status", *job_input["args"])
    assert missing.returncode == 0, missing.stderr
    assert "demux          missing" in missing.stdout
    assert make("subtitle", *job_input["args"]).returncode == 0
    done = make("status", *job_input["args"]).stdout
    assert "demux          done" in done and "mux            done" in done and "asr            missing" in done
    assert "translate.en   missing" in done
    changed = make("status", *job_input["args"], "BURN=1").stdout
    assert "demux          done" in changed and "mux            out of date" in changed


def test_unwritten_stage_fails_in_one_line(job_input: dict, mini_repo: Path) -> None:
    # ASR_MODEL names a model that is there, so preflight lets the run start
    result = make("transcribe", *job_input["args"], "ASR_MODEL=tiny.en-bundled", cwd=mini_repo)
    assert result.returncode != 0
    assert "make: stage separate is not available yet (stages/separate.py does not exist)" in result.stderr
    assert "Traceback" not in result.stderr
    assert (job_dir(job_input["out"]) / "audio.wav").is_file()  # the stages before it ran


def _stage_pids(marker: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if any(b"stages/demux.py" in part for part in cmdline) and any(marker.encode() in part for part in cmdline):
                pids.append(int(proc.name))
    return pids


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the stage process through /proc")
def test_sigkill_mid_stage_leaves_nothing_done_and_the_next_run_completes(tmp_path: Path, mini_repo: Path) -> None:
    source = make_silent_wav(tmp_path / "long talk.wav", seconds=60)
    out = tmp_path / "out"
    args = [f"FILE={source}", f"OUT_DIR={out}", "ASR_MODEL=tiny.en-bundled"]  # a model that is there: preflight passes
    proc = subprocess.Popen(["make", "--no-print-directory", "transcribe", *args], cwd=mini_repo, env=clean_env(PIPELINE_TEST_PAUSE="demux:60"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not list(out.glob("*/.audio.tmp-*.wav")):
            time.sleep(0.05)
        temporaries = list(out.glob("*/.audio.tmp-*.wav"))
        assert temporaries, "demux never started writing"
        job = temporaries[0].parent
        pids = _stage_pids(str(out))
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert not (job / "audio.wav").exists() and not (job / "media.json").exists()
    assert make("-q", str(job / "audio.wav"), *args, cwd=mini_repo).returncode == 1
    status = make("status", *args, cwd=mini_repo).stdout
    assert "demux          missing" in status
    again = make("transcribe", *args, cwd=mini_repo)
    assert "stage separate is not available yet" in again.stderr
    assert (job / "audio.wav").is_file() and (job / "media.json").is_file()
    assert not list(job.glob(".*.tmp-*"))  # the killed run's temporaries are gone
    assert make("-q", str(job / "audio.wav"), *args, cwd=mini_repo).returncode == 0


def test_settings_precedence_command_line_over_environment_over_dotenv(job_input: dict, mini_repo: Path) -> None:
    (mini_repo / ".env").write_text("START=1\nEND=3\n")
    source, out = job_input["source"], job_input["out"]
    tracks = next(a for a in job_input["args"] if a.startswith("MUX_TRACKS="))

    def clip(*args: str, **env: str) -> tuple[float, float]:
        result = make("subtitle", *args, tracks, env=clean_env(**env), cwd=mini_repo)
        assert result.returncode == 0, result.stderr
        facts = json.loads((job_dir(out) / "media.json").read_text())
        return facts["clip_start"], facts["clip_end"]

    assert clip(f"FILE={source}", f"OUT_DIR={out}") == (1.0, 3.0)  # .env over pipeline.env
    assert clip(FILE=str(source), OUT_DIR=str(out), START="0.5") == (0.5, 3.0)  # environment over .env
    assert clip(f"FILE={source}", f"OUT_DIR={out}", "START=2", START="0.5") == (2.0, 3.0)  # make VAR= over environment
