"""stages/mux.py: soft subtitles in MKV/MP4/MKA checked with ffprobe, clips, burn-in, bad track lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.media import Track, streams, write_srt

REPO = Path(__file__).resolve().parents[2]
CUES_HI = [(0.2, 1.0, "नमस्ते"), (1.2, 1.9, "दुनिया")]
CUES_EN = [(0.2, 1.0, "hello"), (1.2, 1.9, "world")]


def run(script: str, *args: str | Path, **settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("AUDIO_TRACK", "START", "END", "BURN", "TGT")}
    env.update(settings)
    return subprocess.run([sys.executable, str(REPO / "stages" / script), *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=REPO, check=False)


def make_job(source: Path, job: Path, bilingual: bool = False, **settings: str) -> Path:
    """Demux ``source`` into ``job`` and write subs/tracks.json (hi source, en target)."""
    result = run("demux.py", "-o", job / "audio.wav", "--job-dir", job, "--", source, **settings)
    assert result.returncode == 0, result.stderr
    subs = job / "subs"
    subs.mkdir()
    write_srt(subs / "x.hi.srt", CUES_HI)
    write_srt(subs / "x.en.srt", CUES_EN)
    tracks = [{"role": "source", "language": "hi", "files": {"srt": "x.hi.srt"}},
              {"role": "target", "language": "en", "files": {"srt": "x.en.srt", "vtt": "missing.vtt"}}]
    if bilingual:
        write_srt(subs / "x.hi-en.srt", [(a, b, f"{h}\n{e}") for (a, b, h), (_, _, e) in zip(CUES_HI, CUES_EN, strict=True)])
        tracks.append({"role": "bilingual", "languages": ["hi", "en"], "files": {"srt": "x.hi-en.srt"}})
    (subs / "tracks.json").write_text(json.dumps({"schema_version": 1, "kind": "subtitles", "tracks": tracks}))
    return subs / "tracks.json"


def mux(job: Path, output: Path, *extra: str, **settings: str) -> subprocess.CompletedProcess:
    return run("mux.py", job / "media.json", job / "subs" / "tracks.json", "-o", output, "--job-dir", job, *extra, **settings)


def sub_facts(path: Path) -> list[tuple[str, str, str, int]]:
    return [(s["codec_name"], s["tags"].get("language"), s["tags"].get("title"), s["disposition"]["default"])
            for s in streams(path, "subtitle")]


def test_mkv_soft_subtitles_keep_every_stream_copied(media, tmp_path: Path) -> None:
    source = media.video("film.mkv", seconds=3, tracks=[Track("hin", 440, default=True), Track("eng", 880)])
    job = tmp_path / "job"
    make_job(source, job, bilingual=True)
    output = job / "film.subtitled.mkv"
    result = mux(job, output)
    assert result.returncode == 0, result.stderr
    before, after = streams(source), streams(output)
    kept = [(s["codec_type"], s["codec_name"], s.get("tags", {}).get("language")) for s in after[: len(before)]]
    assert kept == [(s["codec_type"], s["codec_name"], s.get("tags", {}).get("language")) for s in before]
    assert [s.get("extradata_size") for s in after[: len(before)]] == [s.get("extradata_size") for s in before]
    assert after[0]["width"] == before[0]["width"] and after[0].get("profile") == before[0].get("profile")
    assert sub_facts(output) == [("subrip", "hin", "Hindi", 0), ("subrip", "eng", "English (translated)", 1),
                                 ("subrip", "eng", "Hindi + English", 0)]
    assert "mux: done" in result.stderr


def test_sdh_and_forced_tracks_carry_their_flags(media, tmp_path: Path) -> None:
    """tracks.json's sdh (speaker names in the text) and forced (a hand-made track) become the
    stream's hearing_impaired and forced dispositions, and say so in the title."""
    source = media.video("film.mkv", seconds=3, tracks=[Track("hin", 440)])
    job = tmp_path / "job"
    tracks_json = make_job(source, job)
    data = json.loads(tracks_json.read_text())
    data["tracks"][0]["forced"] = True
    data["tracks"][1]["sdh"] = True
    tracks_json.write_text(json.dumps(data))
    output = job / "film.subtitled.mkv"
    result = mux(job, output)
    assert result.returncode == 0, result.stderr
    subs = streams(output, "subtitle")
    flags = [(s["tags"].get("title"), s["disposition"]["default"], s["disposition"]["hearing_impaired"],
              s["disposition"]["forced"]) for s in subs]
    assert flags == [("Hindi (forced)", 0, 0, 1), ("English (translated) (SDH)", 1, 1, 0)]


def test_video_is_copied_not_reencoded(media, tmp_path: Path) -> None:
    source = media.video("film.mkv", seconds=2, tracks=[Track("hin")])
    job = tmp_path / "job"
    make_job(source, job)
    output = job / "film.subtitled.mkv"
    assert mux(job, output).returncode == 0

    def packets(path: Path) -> list[str]:
        out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size",
                              "-of", "csv=p=0", str(path)], capture_output=True, text=True, check=True).stdout
        return out.split()
    assert packets(output) == packets(source)


def test_mp4_gets_mov_text_and_keeps_its_subtitles(media, tmp_path: Path) -> None:
    old = write_srt(media.path("old.srt"), [(0.1, 0.5, "old")])
    source = media.video("clip.mp4", seconds=3, tracks=[Track("eng", 440)], subtitles=[(str(old), "fre")])
    job = tmp_path / "job"
    make_job(source, job)
    output = job / "clip.subtitled.mp4"
    result = mux(job, output)
    assert result.returncode == 0, result.stderr
    facts = sub_facts(output)
    assert [f[:2] for f in facts] == [("mov_text", "fre"), ("mov_text", "hin"), ("mov_text", "eng")]
    assert facts[2][3] == 1 and facts[1][3] == 0
    # each added track is named where MP4 players look (the handler), not three identical "SubtitleHandler"s
    names = [s["tags"].get("handler_name") for s in streams(output, "subtitle")]
    assert names[1:] == ["Hindi", "English (translated)"]
    assert [s["codec_type"] for s in streams(output)][:2] == ["video", "audio"]


def test_clip_is_muxed_with_the_clip_range(media, tmp_path: Path) -> None:
    source = media.video("long.mkv", seconds=6, tracks=[Track("hin")])
    job = tmp_path / "job"
    make_job(source, job, START="2", END="4")
    output = job / "long.subtitled.mkv"
    assert mux(job, output).returncode == 0
    audio = streams(output, "audio")[0]
    fmt = json.loads(subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_format", str(output)],
                                    capture_output=True, text=True, check=True).stdout)["format"]
    lead_in = json.loads((job / "manifest.json").read_text())["stages"]["mux"].get("details", {}).get("lead_in", 0.0)
    assert 0 <= lead_in < 1.0  # the copied video starts on the keyframe at or before START (1 s GOP)
    assert float(fmt["duration"]) == pytest.approx(2.0 + lead_in, abs=0.1)
    assert audio["codec_name"] == "aac"
    first_cue = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "s:0", "-show_entries", "packet=pts_time",
                                "-of", "csv=p=0", str(output)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert float(first_cue) == pytest.approx(CUES_HI[0][0] + lead_in, abs=0.01)  # still on its picture


def test_clip_between_keyframes_delays_subtitles(media, tmp_path: Path) -> None:
    source = media.video("gop.mkv", seconds=6, tracks=[Track("hin")])  # keyframes every 1 s
    job = tmp_path / "job"
    make_job(source, job, START="2.5", END="4.5")
    output = job / "gop.subtitled.mkv"
    result = mux(job, output)
    assert result.returncode == 0, result.stderr
    lead_in = json.loads((job / "manifest.json").read_text())["stages"]["mux"]["details"]["lead_in"]
    assert lead_in == pytest.approx(0.5, abs=0.05)
    first_cue = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "s:0", "-show_entries", "packet=pts_time",
                                "-of", "csv=p=0", str(output)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert float(first_cue) == pytest.approx(CUES_HI[0][0] + 0.5, abs=0.05)


def test_audio_only_input_gives_mka(media, tmp_path: Path) -> None:
    source = media.audio("talk.m4a", seconds=2, language="hin")
    job = tmp_path / "job"
    make_job(source, job)
    output = job / "talk.subtitled.mka"
    result = mux(job, output)
    assert result.returncode == 0, result.stderr
    assert "audio-only input" in result.stderr
    assert [s["codec_type"] for s in streams(output)] == ["audio", "subtitle", "subtitle"]
    burned = mux(job, job / "talk2.subtitled.mka", "--burn")
    assert burned.returncode == 2 and "no video" in burned.stderr and not (job / "talk2.subtitled.mka").exists()


def test_burn_writes_a_hard_subtitled_copy_whatever_the_path(media, tmp_path: Path) -> None:
    source = media.video("it's: a \"film\", ok.mkv", seconds=2, size="320x240", tracks=[Track("hin")])
    job = tmp_path / "job: it's, [odd]"
    make_job(source, job)
    output = job / "film.subtitled.mkv"
    result = mux(job, output, BURN="1")
    assert result.returncode == 0, result.stderr
    burned = job / "film.burned.mkv"
    kinds = [s["codec_type"] for s in streams(burned)]
    assert kinds == ["video", "audio"]
    assert streams(burned, "video")[0]["codec_name"] == "h264"
    assert len(streams(output, "subtitle")) == 2
    # the picture changed where the subtitle is shown (0.2-1.0 s), so the encode is not a copy of the input
    def frame(path: Path) -> bytes:
        return subprocess.run(["ffmpeg", "-v", "error", "-ss", "0.5", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                               "-pix_fmt", "gray", "-"], capture_output=True, check=True).stdout
    plain, hard = frame(source), frame(burned)
    assert len(plain) == len(hard)
    assert sum(abs(a - b) > 60 for a, b in zip(plain, hard, strict=True)) > 100


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "cannot read"),
    (json.dumps({"schema_version": 1, "kind": "subtitles", "tracks": []}), "no subtitle tracks"),
    (json.dumps({"schema_version": 1, "kind": "subtitles", "tracks": [{"role": "x", "language": "en", "files": {}}]}), "role"),
    (json.dumps({"schema_version": 1, "kind": "subtitles",
                 "tracks": [{"role": "target", "language": "en", "files": {"srt": "gone.srt"}}]}), "does not exist"),
])
def test_bad_track_lists_fail_with_nothing_written(media, tmp_path: Path, content: str, message: str) -> None:
    source = media.video("film.mkv", seconds=2, tracks=[Track("hin")])
    job = tmp_path / "job"
    make_job(source, job)
    (job / "subs" / "tracks.json").write_text(content)
    output = job / "film.subtitled.mkv"
    result = mux(job, output)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not output.exists()
