"""Numbers, currency, times of day, percentages, abbreviations and hyphenated words get times.

espeak-ng speaks sentences full of them; the real vad and asr stages (tiny.en) transcribe
them, so the transcript holds whatever digits and symbols Whisper writes ("7:30", "$45",
"2,000", "3.5%"...). Both aligners then time that transcript: whisper (the ASR pass's own
word times) and wav2vec2 (WhisperX's CTC alignment with the tiny character model of
test_speech_align_wav2vec2, whose vocabulary has no digits or symbols at all). Every word
must come back, in order, with a start and an end, and the manifest must count the words
with digits or symbols and how many of them were interpolated.
"""

from __future__ import annotations

import json
import shutil

import pytest

from tests.integration.test_speech_align_wav2vec2 import seed_aligner
from tests.integration.test_speech_stages import ML_PYTHON, run_stage, speech_media, stage_env

pytestmark = [
    pytest.mark.ml, pytest.mark.slow,
    pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built"),
    pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox"),
]

SENTENCES = (
    "The meeting starts at 7:30 and the ticket costs $45.",
    "About 2,000 people came, up 3.5% from last year.",
    "COVID-19 changed how the U.N. works in 2021.",
    "Call 555-0199 before 9 PM on the 3rd of May.",
)


@pytest.fixture(scope="module")
def transcribed(tmp_path_factory) -> dict:
    job = tmp_path_factory.mktemp("symbols")
    cache = tmp_path_factory.mktemp("cache")
    truth = speech_media.build_speech(job / "vocals.wav", 22.0, sentences=SENTENCES, gaps=(0.6, 1.2, 0.9, 1.5))
    env = stage_env(cache)
    run_stage("vad", [str(job / "vocals.wav"), "-o", str(job / "speech.json"), "--job-dir", str(job)], env)
    run_stage("asr", [str(job / "vocals.wav"), str(job / "speech.json"), "-o", str(job / "transcript.json"),
                      "--job-dir", str(job)], env)
    return {"job": job, "cache": cache, "truth": truth}


def symbolic(word: str) -> bool:
    core = word.strip(".,!?;:\"'()")
    return any(not (c.isalpha() or c == "'") for c in core)


def check_every_word_timed(job, aligned_name: str, method: str) -> dict:
    transcript = json.loads((job / "transcript.json").read_text())
    aligned = json.loads((job / aligned_name).read_text())
    assert len(aligned["segments"]) == len(transcript["segments"])
    words = []
    for before, seg in zip(transcript["segments"], aligned["segments"], strict=True):
        assert seg["align_method"] == method
        assert [w["word"] for w in seg["words"]] == before["text"].split()  # nothing dropped, nothing split
        for w in seg["words"]:
            assert w["start"] is not None and w["end"] is not None and w["start"] <= w["end"], w
            assert w["timed_by"] in (method, "interpolated")
        words.extend(seg["words"])
    starts = [w["start"] for w in words]
    assert starts == sorted(starts)
    details = json.loads((job / "manifest.json").read_text())["stages"]["align"]["details"]
    expected = [w for w in words if symbolic(w["word"])]
    assert len(expected) >= 4, f"tiny.en wrote too few numbers/symbols to test: {[w['word'] for w in words]}"
    assert details["symbol_words"] == len(expected)
    assert details["symbol_words_interpolated"] == sum(1 for w in expected if w["timed_by"] == "interpolated")
    assert details["words"] == len(words)
    return details


def test_whisper_timing_times_numbers_and_symbols(transcribed):
    job = transcribed["job"]
    env = stage_env(transcribed["cache"], ALIGN="whisper")
    run_stage("align", [str(job / "transcript.json"), str(job / "vocals.wav"), "-o", str(job / "aligned.json"),
                        "--job-dir", str(job)], env)
    details = check_every_word_timed(job, "aligned.json", "whisper")
    assert details["segments_timed_in_asr"] >= 1 and details["segments_timed_by_second_pass"] == 0
    # the decoder's cross-attention times digits like any token: none needs interpolating
    assert details["symbol_words_interpolated"] == 0
    # each sentence starts near its spoken onset
    aligned = json.loads((job / "aligned.json").read_text())
    firsts = [seg["words"][0]["start"] for seg in aligned["segments"]]
    for sentence in transcribed["truth"]:
        assert min(abs(f - sentence.onset) for f in firsts) <= 0.3, (sentence, firsts)


def test_wav2vec2_timing_times_numbers_and_symbols(transcribed, tmp_path):
    job = transcribed["job"]
    toml = seed_aligner(transcribed["cache"], tmp_path)
    env = stage_env(transcribed["cache"], MODELS_TOML=str(toml), ALIGN="wav2vec2")
    run_stage("align", [str(job / "transcript.json"), str(job / "vocals.wav"), "-o", str(job / "aligned-w2v.json"),
                        "--job-dir", str(job)], env)
    details = check_every_word_timed(job, "aligned-w2v.json", "wav2vec2")
    assert details["symbol_words"] >= 4
