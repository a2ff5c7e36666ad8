"""stages/demux.py on media made on the fly: tracks, clips, audio-only, and every bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import job_locks
from tests.helpers.media import Track, dominant_frequency, read_wav, wav_seconds

REPO = Path(__file__).resolve().parents[2]
SETTINGS = ("AUDIO_TRACK", "START", "END", "FILE", "OUT_DIR")


def demux(source: Path, out: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    env.update(settings)
    return subprocess.run([sys.executable, str(REPO / "stages" / "demux.py"), "-o", str(out / "audio.wav"),
                           "--job-dir", str(out), "--", str(source)],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False)


@pytest.fixture
def two_tracks(media):
    return media.video("two tracks.mkv", seconds=3, tracks=[Track("hin", 440), Track("eng", 880, default=True)])


def test_default_track_wav_format_and_media_json(two_tracks: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    result = demux(two_tracks, out)
    assert result.returncode == 0, result.stderr
    rate, channels, samples = read_wav(out / "audio.wav")
    assert (rate, channels) == (16000, 1)
    assert abs(len(samples) / rate - 3.0) < 0.1
    assert abs(dominant_frequency(out / "audio.wav") - 880) < 30  # the default-flagged (English) track
    facts = json.loads((out / "media.json").read_text())
    assert facts["kind"] == "media" and facts["has_video"] and facts["fps"] == 10.0 and not facts["fps_assumed"]
    assert [(t["language"], t["default"]) for t in facts["audio_tracks"]] == [("hin", False), ("eng", True)]
    assert facts["selected_track"] == 1 and facts["source"] == str(two_tracks.resolve())
    assert (facts["clip_start"], facts["clip_end"]) == (0.0, facts["duration"])
    assert "demux: two tracks.mkv -> audio.wav, media.json" in result.stderr
    assert "real-time factor" in result.stderr
    assert "done in" in (out / "logs" / "demux.log").read_text()
    entry = json.loads((out / "manifest.json").read_text())["stages"]["demux"]
    assert entry["audio_seconds"] == pytest.approx(3.0, abs=0.1)
    # found by `ffmpeg -version` run beside the decode (shared.media.tool_version_soon): the same answer
    banner = subprocess.run(["ffmpeg", "-hide_banner", "-version"], capture_output=True, text=True, check=True).stdout
    assert entry["versions"]["ffmpeg"] == banner.split()[2] != "unknown"


@pytest.mark.parametrize(("wanted", "frequency", "index"), [("0", 440, 0), ("1", 880, 1), ("hi", 440, 0), ("hin", 440, 0),
                                                            ("en", 880, 1), ("eng", 880, 1)])
def test_audio_track_by_index_or_language(two_tracks: Path, tmp_path: Path, wanted: str, frequency: int, index: int) -> None:
    out = tmp_path / "job"
    result = demux(two_tracks, out, AUDIO_TRACK=wanted)
    assert result.returncode == 0, result.stderr
    assert abs(dominant_frequency(out / "audio.wav") - frequency) < 30
    assert json.loads((out / "media.json").read_text())["selected_track"] == index


def test_first_track_without_default_flag(media, tmp_path: Path) -> None:
    source = media.video("nodefault.mp4", tracks=[Track(None, 660), Track("eng", 880)])
    assert demux(source, tmp_path / "j").returncode == 0
    assert abs(dominant_frequency(tmp_path / "j" / "audio.wav") - 660) < 30


@pytest.mark.parametrize(("start", "end", "seconds"), [("1", "2.5", 1.5), ("00:00:00.5", "00:00:03", 2.5), ("2", "", None)])
def test_clip_is_exact(media, tmp_path: Path, start: str, end: str, seconds: float | None) -> None:
    source = media.video("clip.mkv", seconds=4, tracks=[Track("eng", 440)])
    out = tmp_path / "job"
    result = demux(source, out, START=start, END=end)
    assert result.returncode == 0, result.stderr
    facts = json.loads((out / "media.json").read_text())
    if seconds is None:  # open end: to the end of the audio stream (codec padding: within 50 ms)
        assert facts["clip_end"] == facts["duration"]
        assert wav_seconds(out / "audio.wav") == pytest.approx(facts["duration"] - 2, abs=0.05)
    else:
        assert wav_seconds(out / "audio.wav") == pytest.approx(seconds, abs=0.002)  # sample-exact (1 ms)
        assert facts["clip_end"] - facts["clip_start"] == pytest.approx(seconds)
    assert facts["clip_start"] == pytest.approx(media_time(start))


def media_time(text: str) -> float:
    from shared.media import parse_time
    return parse_time(text) or 0.0


@pytest.mark.parametrize("name", ["talk.mp3", "talk.flac", "talk.m4a"])
def test_audio_only_inputs(media, tmp_path: Path, name: str) -> None:
    source = media.audio(name, seconds=2, frequency=500, language="hin")
    out = tmp_path / "job"
    result = demux(source, out)
    assert result.returncode == 0, result.stderr
    facts = json.loads((out / "media.json").read_text())
    assert not facts["has_video"] and facts["fps_assumed"] and facts["fps"] == 24.0
    assert abs(dominant_frequency(out / "audio.wav") - 500) < 30


def test_speech_input(media, need_espeak, tmp_path: Path) -> None:
    source = media.speech("hello.wav", "hello world, this is a test", pad=0.5)
    out = tmp_path / "job"
    assert demux(source, out).returncode == 0
    assert wav_seconds(out / "audio.wav") == pytest.approx(wav_seconds(source), abs=0.01)


def _bad_inputs(media, tmp_path: Path) -> dict:
    good = media.video("good.mkv", seconds=3, tracks=[Track("hin", 440)])
    folder = tmp_path / "a folder.mp4"
    folder.mkdir()
    empty = media.path("empty.mp4")
    empty.write_bytes(b"")
    return {
        "missing": (media.path("nope.mkv"), {}, "no such file"),
        "directory": (folder, {}, "directory"),
        "empty": (empty, {}, "empty"),
        "text named mp4": (media.text("notes.mp4"), {}, "not a media file"),
        "truncated": (media.truncated("cut.mp4"), {}, "truncated"),
        "no audio": (media.video("silent.mp4", tracks=[]), {}, "no audio stream"),
        "track out of range": (good, {"AUDIO_TRACK": "3"}, "out of range"),
        "track language absent": (good, {"AUDIO_TRACK": "ta"}, "no audio track in language"),
        "start after end": (good, {"START": "2", "END": "1"}, "not after START"),
        "start past the end": (good, {"START": "00:00:10"}, "past the end"),
        "end past the end": (good, {"END": "9"}, "past the end"),
        "bad time": (good, {"START": "soon"}, "not a time"),
    }


def test_bad_inputs_fail_clearly_with_nothing_written(media, tmp_path: Path) -> None:
    for case, (source, settings, message) in _bad_inputs(media, tmp_path).items():
        out = tmp_path / f"job {case}"
        result = demux(source, out, **settings)
        assert result.returncode == 2, (case, result.stderr)
        assert message in result.stderr, (case, result.stderr)
        assert "Traceback" not in result.stderr, case
        assert not (out / "audio.wav").exists() and not (out / "media.json").exists(), case
        leftovers = [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != job_locks.LOCK_FILE] if out.exists() else []
        assert leftovers == [], (case, leftovers)


def test_unwritable_job_dir(media, tmp_path: Path) -> None:
    source = media.video("good.mkv", tracks=[Track("eng")])
    blocker = tmp_path / "a file"
    blocker.write_text("x")
    result = demux(source, blocker / "job")
    assert result.returncode == 2 and "cannot write" in result.stderr and "Traceback" not in result.stderr


def test_failed_run_keeps_the_earlier_good_result(two_tracks: Path, tmp_path: Path) -> None:
    out = tmp_path / "job"
    assert demux(two_tracks, out).returncode == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (out / "audio.wav", out / "media.json", out / "manifest.json")}
    assert demux(two_tracks, out, AUDIO_TRACK="7").returncode == 2
    assert demux(two_tracks, out, START="1", END="0.5").returncode == 2
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before


def test_soundtrack_shorter_than_the_picture_is_not_damage(media, tmp_path: Path) -> None:
    """Films often end their audio before the picture: decode it all and go on."""
    speech = media.path("short audio.wav")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                    "-ar", "16000", str(speech)], check=True)
    video = media.path("long picture.mp4")
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=black:s=64x64:d=4",
                    "-i", str(speech), "-c:v", "libx264", "-c:a", "aac", str(video)], check=True)
    out = tmp_path / "job"
    result = demux(video, out)
    assert result.returncode == 0, result.stderr
    assert abs(wav_seconds(out / "audio.wav") - 2.0) < 0.1
    assert json.loads((out / "media.json").read_text())["duration"] > 3.5


def test_the_preflights_probe_is_reused_only_for_the_very_same_file(two_tracks: Path, tmp_path: Path) -> None:
    """`shared.job prepare` keeps the preflight's ffprobe answer in the job folder: demux reads it
    instead of starting ffprobe again, and probes afresh once the file has changed."""
    from shared import media as media_mod
    from stages import demux as demux_mod

    reference = tmp_path / "reference"
    assert demux(two_tracks, reference).returncode == 0
    job = tmp_path / "job"
    job.mkdir()
    demux_mod.keep_probe(job, two_tracks)  # nothing probed in this process yet: nothing kept
    assert not (job / demux_mod.PROBE_RECORD).exists()
    media_mod.probe(two_tracks)
    demux_mod.keep_probe(job, two_tracks)
    assert (job / demux_mod.PROBE_RECORD).is_file()
    no_ffprobe = tmp_path / "bin"  # ffmpeg only: a demux that started ffprobe would fail
    no_ffprobe.mkdir()
    (no_ffprobe / "ffmpeg").symlink_to(shutil.which("ffmpeg"))
    kept = demux(two_tracks, job, PATH=str(no_ffprobe))
    assert kept.returncode == 0, kept.stderr
    assert json.loads((job / "media.json").read_text()) == json.loads((reference / "media.json").read_text())
    assert (job / "audio.wav").read_bytes() == (reference / "audio.wav").read_bytes()
    os.utime(two_tracks, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))  # the file changed: probe again
    again = demux(two_tracks, job, PATH=str(no_ffprobe))
    assert again.returncode == 2 and "ffprobe is not installed" in again.stderr


def test_ffmpegs_version_is_asked_beside_its_first_run(tmp_path: Path) -> None:
    """run_ffmpeg starts `ffmpeg -version` as it starts the work, so the manifest's version costs no wait after it."""
    from shared import media as media_mod

    media_mod._versions.pop("ffmpeg", None)
    media_mod._version_runs.pop("ffmpeg", None)
    media_mod.run_ffmpeg(["-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "0.1", "-f", "null", "-"], "make silence")
    assert "ffmpeg" in media_mod._version_runs  # started with the work, not yet read
    banner = subprocess.run(["ffmpeg", "-hide_banner", "-version"], capture_output=True, text=True, check=True).stdout
    assert media_mod.tool_version("ffmpeg") == banner.split()[2]
    assert "ffmpeg" not in media_mod._version_runs and media_mod._versions["ffmpeg"] == banner.split()[2]
