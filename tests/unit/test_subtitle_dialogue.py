"""Cues on speech like real conversation: an espeak-ng dialogue with 0.1-0.4 s pauses.

Two voices, questions and answers, a sentence longer than two lines, a list with commas,
numbers with units, a name of three words (tests/helpers/dialogue.py). The cue builder
must cut at sentence ends and clause boundaries (>= 90% of boundaries), never end a cue on
an article or preposition, keep every rule where the speech rate allows, and never put two
speakers in one cue without dashes.
"""

from __future__ import annotations

import functools

import pytest

from shared.subtitles import quality
from shared.subtitles.builder import TimedWord, build_cues
from shared.subtitles.checker import CheckCue, check_cues, check_speakers, check_sync
from shared.subtitles.rules import Rules
from shared.subtitles.text import ends_sentence
from tests.helpers import dialogue

pytestmark = pytest.mark.skipif(dialogue.ESPEAK is None, reason="needs espeak-ng")
RULES = Rules()
FPS = 24.0


@functools.cache
def spoken(speed: int = 150) -> tuple:
    original = dialogue.SPEED
    dialogue.SPEED = speed
    try:
        words, samples = dialogue.synthesize()
    finally:
        dialogue.SPEED = original
    return tuple(words), len(samples) / dialogue.RATE


def build(speed: int, speakers: bool):
    words, seconds = spoken(speed)
    timed = [TimedWord(w.word, w.start, w.end, w.speaker if speakers else None) for w in words]
    return words, build_cues(timed, RULES, FPS, media_end=seconds)


def as_check(cues) -> list[CheckCue]:
    return [CheckCue(n, c.start, c.end, c.lines) for n, c in enumerate(cues, 1)]


@pytest.mark.parametrize("speakers", [True, False], ids=["diarized", "no-speakers"])
def test_conversation_is_cut_at_sentences_and_clauses_within_the_rules(speakers: bool) -> None:
    words, cues = build(150, speakers)
    assert [i for c in cues for i in c.words] == list(range(len(words)))  # no word lost or duplicated
    ends = [(words[c.words[0]].speaker, words[c.words[-1]].speaker) for c in cues] if speakers else None
    figures = quality.segmentation([c.lines for c in cues], ends)
    assert figures["sentence_or_clause"] >= 0.9, figures
    assert figures["dangling_ends"] == 0, figures
    checked = as_check(cues)
    assert check_cues(checked, RULES, FPS, resolution=1e-6) == []
    assert check_sync(checked, [(c.speech_start, c.speech_end) for c in cues], RULES, 1e-6) == []
    if speakers:
        assert check_speakers(checked, [[words[i].speaker for i in c.words] for c in cues]) == []


def test_names_numbers_with_units_and_questions_stay_whole() -> None:
    words, cues = build(150, True)
    texts = [" ".join(c.lines).replace("\n", " ") for c in cues]
    for phrase in ("Mary Jane Watson", "forty five minutes", "3 kilometres", "2 kilograms"):
        assert any(phrase in t for t in texts), (phrase, texts)
    # a question and its answer by the other speaker never share a cue without dashes
    for cue in cues:
        labels = {words[i].speaker for i in cue.words}
        assert len(labels) == 1 or quality.has_dashes(cue.lines)
    # the long sentence (over two lines) is split at a clause boundary, not mid-phrase
    long = [c for c in cues if any(words[i].word in ("accident", "forever.") for i in c.words)]
    assert len(long) >= 2
    for a, b in zip(long, long[1:], strict=False):
        assert quality.segmentation([a.lines, b.lines])["sentence_or_clause"] == 1.0


def test_fast_conversation_keeps_the_structure_and_reports_what_it_cannot_fix() -> None:
    # espeak at 175 words a minute: about 18 characters a second, over the 17 cps limit,
    # with no long pauses to borrow from: some cues must break the reading speed.
    words, cues = build(175, True)
    ends = [(words[c.words[0]].speaker, words[c.words[-1]].speaker) for c in cues]
    figures = quality.segmentation([c.lines for c in cues], ends)
    assert figures["sentence_or_clause"] >= 0.9, figures
    assert figures["dangling_ends"] == 0
    problems = check_cues(as_check(cues), RULES, FPS, resolution=1e-6)
    assert {p.rule for p in problems} <= {"cps"}
    assert check_speakers(as_check(cues), [[words[i].speaker for i in c.words] for c in cues]) == []


def test_sentence_ends_are_where_the_cues_end() -> None:
    words, cues = build(150, True)
    starts_mid = [c for k, c in enumerate(cues[1:], 1) if not ends_sentence(words[cues[k - 1].words[-1]].word)]
    assert len(starts_mid) <= 0.2 * len(cues)


def test_a_translated_track_keeps_following_the_source_sentences() -> None:
    from shared.subtitles.translated import build_translated_track

    words, cues = build(150, True)
    _, seconds = spoken(150)
    timed = [TimedWord(w.word, w.start, w.end, w.speaker) for w in words]
    sentences = []
    for number in sorted({w.sentence for w in words}):
        indices = [i for i, w in enumerate(words) if w.sentence == number]
        text = " ".join(words[i].word for i in indices)
        # a stand-in translation of the same length: each word's letters reversed, punctuation kept at the end
        fake = " ".join(t.rstrip(".,?!")[::-1] + t[len(t.rstrip(".,?!")):] for t in text.split())
        sentences.append({"id": number, "start": words[indices[0]].start, "end": words[indices[-1]].end,
                          "words": indices, "text": fake})
    track = build_translated_track(sentences, timed, cues, RULES, FPS, "xx", media_end=seconds)
    source_cue_starts = {c.words[0] for c in cues}
    # every source sentence that starts a source cue starts a translated cue too, at its speech
    starts = {round(c.speech_start, 3) for c in track.cues}
    for s in sentences:
        if s["words"][0] in source_cue_starts:
            assert round(s["start"], 3) in starts, s["text"]
    # and a translated cue is on screen only around the speech of the sentences it translates
    for cue in track.cues:
        spoken_by = {track.token_sentence[t] for t in cue.words}
        first, last = sentences[min(spoken_by)], sentences[max(spoken_by)]
        assert cue.start >= first["start"] - RULES.max_lead - 1e-6 and cue.end <= last["end"] + RULES.max_lag + 1e-6
    assert check_cues(as_check(track.cues), RULES, FPS, resolution=1e-6) == []
