"""`make subtitle` end to end on a 60 s film-like clip: espeak-ng sentences over a quiet music
bed, two audio tracks tagged Hindi and English (the English one default), and a file name
with spaces and unicode. The muxed video must carry every track, each subtitle track with
zero QC violations, and the manifest must record every stage of the workflow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared import job
from tests.helpers.media import streams
from tests.integration import pipeline_runs as pr

pytestmark = pr.NEEDS_PIPELINE
NAME = "Ek Shaam — एक शाम (2001) final cut.mkv"
SECONDS = 60.0


@pytest.fixture(scope="module")
def film(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("films") / "my films ü"
    folder.mkdir()
    english = folder / "english.wav"
    truth = pr.speech_track(english, SECONDS, music=0.12)
    hindi = folder / "hindi.wav"
    pr.speech_track(hindi, SECONDS, music=0.12, voice="hi")
    source = pr.video_with_tracks(folder / NAME, [(hindi, "hin", False), (english, "eng", True)], SECONDS)
    cache = tmp_path_factory.mktemp("cache")
    out = tmp_path_factory.mktemp("work") / "out"
    env = pr.clean_env(cache)
    result = pr.make("subtitle", f"FILE={source}", f"OUT_DIR={out}", env=env)
    return {"source": source, "truth": truth, "out": out, "env": env, "result": result,
            "job": out / job.slug(source)}


def test_the_run_succeeds(film) -> None:
    assert film["result"].returncode == 0, film["result"].stderr
    assert "Traceback" not in film["result"].stderr


def test_the_muxed_video_carries_every_track(film) -> None:
    muxed = film["job"] / f"{job.readable_name(NAME)}.subtitled.mkv"
    assert muxed.is_file()
    kinds = [s["codec_type"] for s in streams(muxed)]
    assert kinds == ["video", "audio", "audio", "subtitle"]
    audio_tags = [s["tags"]["language"] for s in streams(muxed, "audio")]
    assert audio_tags == ["hin", "eng"]
    (subtitle,) = streams(muxed, "subtitle")
    assert subtitle["tags"]["language"] == "eng" and subtitle["disposition"]["default"] == 1
    facts = json.loads((film["job"] / "media.json").read_text())
    assert facts["selected_track"] == 1 and facts["audio_tracks"][1]["language"] == "eng"
    assert facts["source"] == str(film["source"])


def test_every_subtitle_track_has_zero_qc_violations(film) -> None:
    tracks = json.loads((film["job"] / "subs" / "tracks.json").read_text())["tracks"]
    assert tracks
    for track in tracks:
        srt = film["job"] / "subs" / track["files"]["srt"]
        report = json.loads(srt.with_name(srt.name.replace(".srt", ".qc.json")).read_text())
        assert report["violation_count"] == 0, report["violations"]
        check = pr.make("qc", f"SUBS={srt}", env=film["env"])  # the standalone checker agrees
        assert check.returncode == 0, check.stdout + check.stderr


def test_the_words_are_the_script(film) -> None:
    text = re.sub(r"[^a-z ]", " ", (film["job"] / "transcript.txt").read_text().lower())
    spoken = set(text.split())
    script = [w for sentence in film["truth"] for w in re.sub(r"[^a-z ]", " ", sentence.text.lower()).split()]
    recall = sum(1 for w in script if w in spoken) / len(script)
    assert recall >= 0.85, (recall, text)  # tiny.en under a music bed: most, not all, words


def test_the_manifest_is_complete(film) -> None:
    manifest = json.loads((film["job"] / "manifest.json").read_text())
    stages = manifest["stages"]
    assert set(stages) == {"demux", "separate", "vad", "diarize", "asr", "align", "subtitle", "mux"}
    assert stages["diarize"]["details"]["enabled"] is False  # DIARIZE=auto, no sign of speakers: recorded, no model
    for name, entry in stages.items():
        for key in ("parameters", "model", "device", "start", "end", "seconds", "versions"):
            assert key in entry, f"{name} lacks {key}"
        assert entry["seconds"] >= 0 and entry["end"] >= entry["start"]
    assert stages["asr"]["model"] == "tiny.en-bundled" and stages["vad"]["model"]
    assert stages["separate"]["details"]["pass_through"] is True  # CPU: a recorded decision, not a silent copy
    assert abs(stages["demux"]["audio_seconds"] - SECONDS) < 0.5


def test_a_second_run_does_nothing(film) -> None:
    again = pr.make("subtitle", f"FILE={film['source']}", f"OUT_DIR={film['out']}", env=film["env"])
    assert again.returncode == 0 and not re.search(r"^(demux|vad|asr|align|subtitle|mux): ", again.stderr, re.M)


def test_status_says_done(film) -> None:
    status = pr.make("status", f"FILE={film['source']}", f"OUT_DIR={film['out']}", env=film["env"]).stdout
    for stage in ("demux", "separate", "vad", "asr", "align", "subtitle", "mux"):
        assert re.search(rf"^\s+{stage}\s+done", status, re.M), status


def test_the_input_is_untouched(film) -> None:
    assert Path(film["source"]).is_file() and not list(Path(film["source"]).parent.glob("*.subtitled.*"))
