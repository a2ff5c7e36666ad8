"""shared.job and shared.media: job names, params files, atomic writes, manifest, times, languages."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import time
from pathlib import Path

import pytest

from shared import atomic, job, job_manifest, job_params, media

AWKWARD = ["Movie (2001).mkv", "-leading dash.mp4", "a $b `c` 'd' \"e\".mkv", "हिंदी फ़िल्म.mp4",
           "colon: and % and # .mkv", "   .mp4", "Ünïcödé café.webm"]


@pytest.mark.parametrize("name", AWKWARD)
def test_slug_is_make_safe_readable_and_stable(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    slug = job.slug(path)
    assert re.fullmatch(r"[a-z0-9._-]+-[0-9a-f]{8}", slug), slug
    assert job.check_make_safe(slug, "slug") == slug
    assert slug == job.slug(path)  # stable
    assert slug == job.slug(os.path.relpath(path))  # however the same file is named


def test_slug_readable_part_and_distinct_for_same_name(tmp_path: Path) -> None:
    a, b = tmp_path / "x" / "Movie (2001).mkv", tmp_path / "y" / "Movie (2001).mkv"
    assert job.slug(a).startswith("movie-2001-")
    assert job.readable_name("Ünïcödé café.webm") == "unicode-cafe"
    assert job.readable_name("हिंदी.mp4") == "input"
    assert job.slug(a) != job.slug(b)


def test_mux_output_names() -> None:
    assert job.mux_output_name("a/Film.MP4") == "film.subtitled.mp4"
    assert job.mux_output_name("a/Film.avi") == "film.subtitled.mkv"
    assert job.mux_output_name("talk.mp3") == "talk.subtitled.mka"
    assert job.burn_output_name("a/Film.mkv") == "film.burned.mkv"
    assert job.burn_output_name("talk.wav") is None


def test_make_unsafe_out_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(job.JobError, match="OUT_DIR"):
        job.job_dir(tmp_path / "a.mkv", str(tmp_path / "with space"))


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("1.5", 1.5), ("1:30", 90.0), ("00:01:30.250", 90.25),
                                               ("2:00:00", 7200.0), ("", None), (None, None), (3, 3.0)])
def test_parse_time(text, seconds) -> None:
    assert media.parse_time(text) == seconds


@pytest.mark.parametrize("text", ["abc", "-1", "1:75", "1:2:3:4", "nan", "inf"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        media.parse_time(text)


def test_language_tags() -> None:
    assert media.language_tag("hi") == ("hin", "Hindi")
    assert media.language_tag("hin_Deva") == ("hin", "Hindi")
    assert media.language_tag("en-US") == ("eng", "English")
    assert media.language_tag("deu") == ("ger", "German")
    assert media.language_tag("ger") == ("ger", "German")
    assert media.language_tag("") == ("und", "Unknown")
    assert media.same_language("hin", "hi") and not media.same_language("und", "und")


def test_target_languages() -> None:
    assert job_params.target_languages(" en, ta,en,,hin_Deva ") == ["en", "ta", "hi"]
    assert job_params.target_languages("") == []
    # One language however it is written (the bug: ta,tam scheduled Tamil twice), names too.
    assert job_params.target_languages("ta,tam,Tamil,tam_Taml") == ["ta"]
    assert job_params.target_languages("English,hi") == ["en", "hi"]
    for bad in ("e n", "en;rm", "../x", "klingonese"):
        with pytest.raises(job.JobError, match="TGT"):
            job_params.target_languages(bad)


def test_write_if_changed_keeps_mtime(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    assert atomic.write_if_changed(path, {"a": 1})
    old = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert not atomic.write_if_changed(path, {"a": 1})
    assert path.stat().st_mtime_ns == old
    assert atomic.write_if_changed(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}


def _settings(**over: str) -> dict[str, str]:
    values = {n: "" for names in job_params.STAGE_SETTINGS.values() for n in names}
    values.update(SRC="auto", SEPARATE="auto", VAD="auto", ALIGN="auto", TRANSLATOR="auto", BURN="0", SUB_FORMATS="srt,vtt")
    values.update(over)
    return values


def test_params_change_only_downstream_of_the_setting(tmp_path: Path) -> None:
    source = tmp_path / "in.mkv"
    source.write_bytes(b"x")
    directory = tmp_path / "job"
    first = job_params.write_parameters(directory, job_params.stage_parameters(source, _settings(TGT="en")))
    assert set(first) == {"demux", "separate", "vad", "diarize", "asr", "align", "translate.en", "subtitle", "mux"}
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, _settings(TGT="en"))) == []
    assert set(job_params.write_parameters(directory, job_params.stage_parameters(source, _settings(TGT="en,ta")))) == {"translate.ta", "subtitle", "mux"}
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, _settings(TGT="en,ta", BURN="1"))) == ["mux"]
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, _settings(TGT="en,ta", BURN="1", ASR_MODEL="m"))) == ["asr"]
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, _settings(TGT="en,ta", BURN="1", ASR_MODEL="m", SUB_MAX_CHARS="42"))) == ["subtitle"]
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, _settings(TGT="en,ta", BURN="1", ASR_MODEL="m", SUB_MAX_CHARS="42", START="5"))) == ["demux"]
    values = _settings(TGT="en,ta", BURN="1", ASR_MODEL="m", SUB_MAX_CHARS="42", START="5")
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, dict(values, VAD_ONSET="0.4"))) == ["vad"]
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, dict(values, VAD_ONSET="0.4", ASR_BEAM_SIZE="1"))) == ["asr"]
    assert set(job_params.write_parameters(directory, job_params.stage_parameters(
        source, dict(values, VAD_ONSET="0.4", ASR_BEAM_SIZE="1", TRANSLATE_BEAMS="2")))) == {"translate.en", "translate.ta"}
    values = dict(values, VAD_ONSET="0.4", ASR_BEAM_SIZE="1", TRANSLATE_BEAMS="2")
    # speakers: the count re-runs diarize (and, through speakers.json, align onwards); names only the writers
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, dict(values, SPEAKERS="2"))) == ["diarize"]
    assert set(job_params.write_parameters(directory, job_params.stage_parameters(
        source, dict(values, SPEAKERS="2", SPEAKER_NAMES="SPEAKER_1=Asha")))) == {"align", "subtitle"}


def test_params_follow_the_input_and_glossary_content(tmp_path: Path) -> None:
    source, glossary = tmp_path / "in.mkv", tmp_path / "g.tsv"
    source.write_bytes(b"x")
    glossary.write_text("a\tb\n")
    directory = tmp_path / "job"
    values = _settings(GLOSSARY=str(glossary), TGT="en")
    job_params.write_parameters(directory, job_params.stage_parameters(source, values))
    glossary.write_text("a\tc\n")
    assert set(job_params.write_parameters(directory, job_params.stage_parameters(source, values))) == {"asr", "translate.en"}
    source.write_bytes(b"xy")
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, values)) == ["demux"]


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "a.wav"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]
    with atomic.atomic_path(target) as tmp:
        assert tmp.suffix == ".wav" and tmp.parent == tmp_path
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "audio.wav"
    dead = tmp_path / ".audio.tmp-999999999.wav"  # no such pid
    alive = tmp_path / f".audio.tmp-{os.getppid()}.wav"
    dead.write_text("x")
    alive.write_text("x")
    assert atomic.remove_stale_temporaries(target) == [dead]
    assert alive.exists()


def _record(directory: str, n: int) -> None:
    for k in range(5):
        job_manifest.record_stage(directory, f"stage{n}.{k}", {"n": n, "k": k})


def test_concurrent_manifest_entries_are_all_kept(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    procs = [ctx.Process(target=_record, args=(str(tmp_path), n)) for n in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    stages = job_manifest.read_manifest(tmp_path)["stages"]
    assert len(stages) == 30


def test_stage_run_records_manifest_entry(tmp_path: Path) -> None:
    with job_manifest.StageRun("demux", tmp_path, ["in.mkv"], ["audio.wav"], {"start": "1"}, tools=()) as run:
        run.audio_seconds = 10.0
    entry = job_manifest.read_manifest(tmp_path)["stages"]["demux"]
    assert entry["parameters"] == {"start": "1"} and entry["audio_seconds"] == 10.0
    assert entry["seconds"] >= 0 and entry["start"] <= entry["end"]
    assert entry["versions"]["python"] and entry["real_time_factor"] is not None
    with pytest.raises(ValueError), job_manifest.StageRun("mux", tmp_path, [], [], {}, tools=()):
        raise ValueError
    assert "mux" not in job_manifest.read_manifest(tmp_path)["stages"]


def test_check_input(tmp_path: Path) -> None:
    with pytest.raises(job.JobError, match="FILE is not set"):
        job.check_input("")
    with pytest.raises(job.JobError, match="no such file"):
        job.check_input(str(tmp_path / "nope.mkv"))
    with pytest.raises(job.JobError, match="directory"):
        job.check_input(str(tmp_path))
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(job.JobError, match="empty"):
        job.check_input(str(tmp_path / "empty.mp4"))


def test_vars_file_keeps_literal_values(tmp_path: Path) -> None:
    path = tmp_path / "vars"
    path.write_text("FILE=a $b `c` = d.mkv\nTGT=en,ta\n")
    assert job.read_vars_file(str(path)) == {"FILE": "a $b `c` = d.mkv", "TGT": "en,ta"}


def test_params_follow_the_per_film_glossary_beside_the_input(tmp_path: Path) -> None:
    source = tmp_path / "Movie (2001).mkv"
    source.write_bytes(b"x")
    directory = tmp_path / "job"
    values = _settings(TGT="en")
    job_params.write_parameters(directory, job_params.stage_parameters(source, values))
    per_film = tmp_path / "Movie (2001).glossary.tsv"
    per_film.write_text("Basanti\tBasanti\n")  # a new glossary appears: ASR hotwords and translation change
    assert set(job_params.write_parameters(directory, job_params.stage_parameters(source, values))) == {"asr", "translate.en"}
    assert job_params.write_parameters(directory, job_params.stage_parameters(source, values)) == []
