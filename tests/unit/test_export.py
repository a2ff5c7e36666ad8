"""shared/export.py: subtitles copied where players look, never over a user's file, readable
by other users, and timed to the film (and to the clip) when START cut a clip; sidecar
files written with the user's umask."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from shared import atomic, export, job_manifest
from shared.subtitles import formats
from tests.helpers.media import write_srt


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def make_job(tmp_path: Path, clip_start: float = 0.0, lead_in: float = 0.0) -> tuple[Path, Path, Path]:
    films = tmp_path / "My Films"
    films.mkdir()
    source = films / "Movie (2001).mkv"
    source.write_bytes(b"not really a film")
    folder = tmp_path / "out" / "movie-2001-12345678"
    subs = folder / "subs"
    subs.mkdir(parents=True)
    atomic.write_json(folder / "media.json", {"kind": "media", "source": str(source), "clip_start": clip_start})
    write_srt(subs / "movie-2001.hi.srt", [(1.0, 2.5, "नमस्ते")])
    write_srt(subs / "movie-2001.en.srt", [(1.0, 2.5, "hello")])
    write_srt(subs / "movie-2001.hi-en.srt", [(1.0, 2.5, "नमस्ते\nhello")])
    tracks = subs / "tracks.json"
    tracks.write_text(json.dumps({"kind": "subtitles", "tracks": [
        {"role": "source", "language": "hi", "files": {"srt": "movie-2001.hi.srt"}},
        {"role": "target", "language": "en", "files": {"srt": "movie-2001.en.srt"}},
        {"role": "bilingual", "language": "en", "languages": ["hi", "en"], "files": {"srt": "movie-2001.hi-en.srt"}}]}))
    if lead_in:
        job_manifest.record_stage(folder, "mux", {"stage": "mux", "details": {"lead_in": lead_in}})
    return source, folder, tracks


def first_cue(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[1]


def test_beside_the_input_with_media_server_names(tmp_path: Path, umask_022) -> None:
    source, folder, tracks = make_job(tmp_path)
    done = export.export(folder, tracks, {"EXPORT": "auto"})
    names = sorted(item.path.name for item in done)
    assert names == ["Movie (2001).en.srt", "Movie (2001).hi.bilingual-en.srt", "Movie (2001).hi.srt"]
    for item in done:
        assert item.path.parent == source.parent
        assert stat.S_IMODE(item.path.stat().st_mode) == 0o644  # a media server running as another user reads it
    assert first_cue(source.parent / "Movie (2001).en.srt") == "00:00:01,000 --> 00:00:02,500"


def test_sdh_and_forced_tracks_get_the_suffixes_media_servers_read(tmp_path: Path) -> None:
    source, folder, tracks = make_job(tmp_path)
    data = json.loads(tracks.read_text())
    data["tracks"][0]["sdh"] = True  # the subtitle stage's flag: speaker names in the text
    data["tracks"][1].update(sdh=False, forced=True)
    data["tracks"][2]["sdh"] = "yes"  # only a real true counts
    tracks.write_text(json.dumps(data))
    names = sorted(item.path.name for item in export.export(folder, tracks, {"EXPORT": "auto"}))
    assert names == ["Movie (2001).en.forced.srt", "Movie (2001).hi.bilingual-en.srt", "Movie (2001).hi.sdh.srt"]
    assert export.track_names("Movie", {"role": "source", "language": "en", "sdh": True, "forced": True}) == \
        "Movie.en.sdh.forced"


def test_a_users_file_is_never_overwritten_and_our_own_is_updated(tmp_path: Path) -> None:
    source, folder, tracks = make_job(tmp_path)
    mine = source.parent / "Movie (2001).en.srt"
    mine.write_text("the user's own subtitles\n")
    done = {item.path.name: item.note for item in export.export(folder, tracks, {"EXPORT": "beside"})}
    assert mine.read_text() == "the user's own subtitles\n"
    assert "Movie (2001).en.subpipe.srt" in done and "a file of yours is there" in done["Movie (2001).en.subpipe.srt"]
    again = {item.path.name for item in export.export(folder, tracks, {"EXPORT": "beside"})}
    assert "Movie (2001).en.subpipe.srt" in again and not (source.parent / "Movie (2001).en.subpipe-2.srt").exists()


def test_off_and_a_folder(tmp_path: Path) -> None:
    source, folder, tracks = make_job(tmp_path)
    assert export.export(folder, tracks, {"EXPORT": "off"}) == []
    library = tmp_path / "library"
    done = export.export(folder, tracks, {"EXPORT": str(library)})
    assert {item.path.parent for item in done} == {library} and not list(source.parent.glob("*.srt"))


def test_a_clip_gets_film_timed_and_clip_timed_sidecars(tmp_path: Path) -> None:
    source, folder, tracks = make_job(tmp_path, clip_start=60.0, lead_in=1.5)
    muxed = folder / "movie-2001.subtitled.mkv"
    export.export(folder, tracks, {"EXPORT": "auto"}, muxed)
    assert first_cue(source.parent / "Movie (2001).en.srt") == "00:01:01,000 --> 00:01:02,500"  # the full film
    assert first_cue(folder / "movie-2001.subtitled.en.srt") == "00:00:02,500 --> 00:00:04,000"  # the muxed clip


def test_subtitle_files_follow_the_umask(tmp_path: Path, umask_022) -> None:
    path = tmp_path / "x.en.srt"
    formats.atomic_write_text(path, "1\n00:00:01,000 --> 00:00:02,000\nhi\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
