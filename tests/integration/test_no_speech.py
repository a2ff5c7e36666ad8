"""A file with no speech (silence, music-like tones, noise) is a result, not an error.

Through `make` with the real stages (tiny.en ASR, Silero VAD): `make subtitle` on each
file ends with exit 0 and "no speech found in NAME: no subtitle track written", the muxed
copy carries no (empty) subtitle stream, the manifest says so; a batch of them counts each
as done in its "no speech" column; `make translate` says the same.
"""

from __future__ import annotations

import array
import json
import random
import subprocess
from pathlib import Path

import pytest

from shared import batch, job
from tests.helpers.media import streams
from tests.integration import pipeline_runs as pr

pytestmark = pr.NEEDS_PIPELINE
SECONDS = 12.0
KINDS = ("silence", "tones", "noise")


def _noise_wav(path: Path) -> None:
    """Music-like noise: pink-ish noise (a running sum, leaky) under a slow tremolo, no voice."""
    rng = random.Random(19)
    samples, level = array.array("h"), 0.0
    for n in range(int(SECONDS * pr.speech_media.RATE)):
        level = 0.98 * level + rng.uniform(-1, 1)
        swell = 0.6 + 0.4 * ((n // 4000) % 2)
        samples.append(int(max(-1.0, min(1.0, level * 0.05 * swell)) * 32767))
    pr.speech_media.write_wav(path, samples)


def _input(folder: Path, kind: str) -> Path:
    wav = folder / f"{kind}.wav"
    if kind == "silence":
        pr.speech_media.build_silence(wav, SECONDS)
    elif kind == "tones":
        pr.speech_media.build_tones(wav, SECONDS)
    else:
        _noise_wav(wav)
    video = pr.video_with_tracks(folder / f"{kind} take.mp4", [(wav, "eng", True)], SECONDS)
    wav.unlink()
    return video


@pytest.fixture(scope="module")
def silent_batch(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("no speech")
    sources = {kind: _input(folder, kind) for kind in KINDS}
    cache = tmp_path_factory.mktemp("models")
    env = pr.clean_env(cache, **pr.tiny_translation_env(cache))
    out = tmp_path_factory.mktemp("work") / "out"
    result = pr.make("subtitle", f"DIR={folder}", f"OUT_DIR={out}", env=env)
    return {"folder": folder, "sources": sources, "env": env, "out": out, "result": result}


def test_a_batch_of_files_without_speech_is_done_and_says_no_speech(silent_batch) -> None:
    result = silent_batch["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 of 3 succeeded (3 with no speech)" in result.stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.endswith(".mp4") or ".mp4 " in line}
    for kind in KINDS:
        assert rows[kind][:4] == [kind, "take.mp4", "ok", "yes"], rows
    state = batch.state_dir(silent_batch["folder"], "subtitle", str(silent_batch["out"]))
    for index in range(1, 4):
        entry = json.loads((state / "results" / f"{index}.json").read_text())
        assert entry["status"] == "ok" and entry["no_speech"] is True


@pytest.mark.parametrize("kind", KINDS)
def test_the_muxed_copy_has_no_subtitle_stream_and_the_manifest_says_so(silent_batch, kind: str) -> None:
    source = silent_batch["sources"][kind]
    jobdir = silent_batch["out"] / job.slug(source)
    aligned = json.loads((jobdir / "aligned.json").read_text())
    assert not any(seg.get("words") for seg in aligned["segments"])  # the stages found nothing: right
    muxed = jobdir / job.mux_output_name(source)
    assert streams(muxed, "subtitle") == []  # no empty subtitle stream
    assert len(streams(muxed, "video")) == 1 and len(streams(muxed, "audio")) == 1  # the rest is all there
    mux = json.loads((jobdir / "manifest.json").read_text())["stages"]["mux"]
    assert mux["details"]["no_speech"] is True and mux["details"]["subtitle_tracks"] == 0
    assert mux["details"]["message"] == f"no speech found in {source.name}: no subtitle track written"


def test_make_subtitle_on_one_silent_file_ends_with_the_no_speech_line(silent_batch) -> None:
    source = silent_batch["sources"]["silence"]
    again = pr.make("subtitle", f"FILE={source}", f"OUT_DIR={silent_batch['out']}", env=silent_batch["env"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().splitlines()[-1] == f"no speech found in {source.name}: no subtitle track written"


def test_make_translate_on_tones_ends_with_the_no_speech_line(silent_batch) -> None:
    source = silent_batch["sources"]["tones"]
    result = pr.make("translate", f"FILE={source}", f"OUT_DIR={silent_batch['out']}", "TGT=fr", env=silent_batch["env"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == f"no speech found in {source.name}: no subtitle track written"
    jobdir = silent_batch["out"] / job.slug(source)
    assert json.loads((jobdir / "translation.fr.json").read_text())["sentences"] == []


def test_a_job_with_speech_keeps_its_normal_result_line(tmp_path: Path) -> None:
    jobdir = tmp_path / "job"
    jobdir.mkdir()
    (jobdir / "aligned.json").write_text(json.dumps({"segments": [{"text": " hello", "words": [{"word": "hello"}]}]}))
    run = subprocess.run([str(pr.COMMON_PYTHON), "-m", "shared.no_speech", "result", "--job-dir", str(jobdir), "--",
                          "subtitled: x.mkv"], cwd=pr.REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "subtitled: x.mkv"
    (jobdir / "aligned.json").write_text(json.dumps({"segments": []}))
    (jobdir / "media.json").write_text(json.dumps({"source": "/in/Quiet (2001).mkv"}))
    run = subprocess.run([str(pr.COMMON_PYTHON), "-m", "shared.no_speech", "result", "--job-dir", str(jobdir), "--",
                          "subtitled: x.mkv"], cwd=pr.REPO, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "no speech found in Quiet (2001).mkv: no subtitle track written"
