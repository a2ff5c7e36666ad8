"""The cue builder: property tests over speech a subtitler could subtitle, and crafted cases.

"Subtitlable" speech here: words of 1-11 grapheme clusters spoken at 8-15 characters per
second (a word and its space), 0.15-0.8 s each, with short gaps, pauses and sentence
punctuation; at least a second of media after the last word. Faster speech is tested on
its own (test_dense_speech_*), with the builder's documented behaviour.
"""

from __future__ import annotations

import pysubs2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.subtitles.builder import TimedWord, build_cues
from shared.subtitles.checker import CheckCue, check_cues, check_sync, cues_from_events
from shared.subtitles.formats import render, to_ssafile
from shared.subtitles.rules import Rules
from shared.subtitles.text import grapheme_len

RULES = Rules()
FPS_CHOICES = [24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60.0]
ENGLISH = ["I", "you", "the", "a", "and", "but", "to", "of", "in", "we", "will", "not", "go", "see", "house", "John", "Smith", "friend", "station", "train", "tomorrow", "yesterday", "beautiful", "understand", "remember", "never", "always", "because", "something"]
HINDI = ["मैं", "तुम", "घर", "में", "से", "को", "और", "लेकिन", "कि", "है", "था", "नहीं", "जाना", "क्षत्रिय", "स्त्री", "दिल्ली", "बाज़ार", "हिन्दी", "नमस्ते", "दोस्त"]
TAMIL = ["தமிழ்", "கொண்டு", "வீடு", "நான்"]
MARKS = [""] * 12 + [",", ".", "?", "!", "।"]


@st.composite
def speech(draw, max_words: int = 120):
    """Timed words a human subtitler could subtitle within the rules, and the media's end."""
    count = draw(st.integers(1, max_words))
    t = draw(st.floats(0.0, 3.0))
    words = []
    for _ in range(count):
        text = draw(st.sampled_from(ENGLISH + HINDI + TAMIL)) + draw(st.sampled_from(MARKS))
        rate = draw(st.floats(8.0, 15.0))
        duration = min(0.8, max(0.15, (grapheme_len(text) + 1) / rate))
        words.append(TimedWord(text, t, t + duration))
        t += duration
        kind = draw(st.sampled_from(["none", "none", "short", "short", "pause"]))
        t += {"none": 0.0, "short": draw(st.floats(0.0, 0.12)), "pause": draw(st.floats(0.3, 2.5))}[kind]
    return words, t + draw(st.floats(1.0, 3.0))


def as_check(cues) -> list[CheckCue]:
    return [CheckCue(n, c.start, c.end, c.lines) for n, c in enumerate(cues, 1)]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(speech(), st.sampled_from(FPS_CHOICES))
def test_every_cue_passes_the_checker_and_no_word_is_lost(data, fps) -> None:
    words, media_end = data
    cues = build_cues(words, RULES, fps, media_end=media_end)
    # every word once, in order, and the cue text is exactly its words
    flat = [i for c in cues for i in c.words]
    assert flat == list(range(len(words)))
    for cue in cues:
        assert " ".join(cue.lines).split() == [words[i].text for i in cue.words]
    # the checker finds nothing, in memory and after the SRT round trip
    checked = as_check(cues)
    assert check_cues(checked, RULES, fps, resolution=1e-6) == []
    assert check_sync(checked, [(c.speech_start, c.speech_end) for c in cues], RULES, resolution=1e-6) == []
    srt = pysubs2.SSAFile.from_string(render(to_ssafile(cues), "srt"))
    assert check_cues(cues_from_events(srt), RULES, fps) == []
    # never overlapping, always inside the media, each one feasible
    for a, b in zip(cues, cues[1:], strict=False):
        assert b.start >= a.end
    assert all(c.feasible and 0 <= c.start < c.end <= media_end + 1e-9 for c in cues)


@settings(max_examples=60, deadline=None)
@given(speech(max_words=30), st.sampled_from(FPS_CHOICES))
def test_stricter_rules_hold_too(data, fps) -> None:
    words, media_end = data
    rules = Rules(max_line_chars=37, max_cps=15.0, min_duration=1.0, chain_gap_frames=8)
    cues = build_cues(words, rules, fps, media_end=media_end)
    assert [i for c in cues for i in c.words] == list(range(len(words)))
    assert check_cues(as_check(cues), rules, fps, resolution=1e-6) == []


def _even(text: str, start: float, seconds_per_word: float, gap: float = 0.0) -> list[TimedWord]:
    words = []
    for token in text.split():
        words.append(TimedWord(token, start, start + seconds_per_word))
        start += seconds_per_word + gap
    return words


def test_sentences_become_their_own_cues() -> None:
    words = _even("Where are you going? I am going home. It is late.", 1.0, 0.3, 0.05)
    cues = build_cues(words, RULES, 25, media_end=20)
    assert [" ".join(c.lines) for c in cues][0].startswith("Where are you going?")
    assert any(" ".join(c.lines).startswith("I am going home.") for c in cues)


def test_a_short_word_is_extended_to_the_minimum_duration() -> None:
    words = [TimedWord("Yes.", 2.0, 2.25)]
    (cue,) = build_cues(words, RULES, 25, media_end=10)
    assert cue.start == 2.0
    assert abs(cue.end - (2.0 + 21 / 25)) < 1e-9  # 0.833 s rounded up to whole frames at 25 fps


def test_the_out_time_is_extended_for_reading_speed_within_half_a_second() -> None:
    # 40 characters spoken in 2.0 s need 40/17 = 2.35 s: out-time 0.36 s past speech
    words = _even("Absolutely everything happened yesterday", 5.0, 0.5)
    (cue,) = build_cues(words, RULES, 25, media_end=20)
    assert cue.start == 5.0
    assert 7.0 < cue.end <= 7.0 + RULES.max_out_extend
    assert grapheme_len(" ".join(cue.lines)) / (cue.end - cue.start) <= 17


def test_small_gaps_are_chained_to_two_frames() -> None:
    words = [*_even("This is the first sentence.", 1.0, 0.3), *_even("And here comes the second one.", 2.8, 0.3)]
    cues = build_cues(words, RULES, 25, media_end=10)
    assert len(cues) == 2
    assert round((cues[1].start - cues[0].end) * 25) == 2


def test_blank_words_are_dropped_and_times_made_monotonic() -> None:
    words = [TimedWord("one", 1.0, 1.4), TimedWord("  ", 1.4, 1.5), TimedWord("two", 0.9, 0.8)]
    (cue,) = build_cues(words, RULES, 25, media_end=10)
    assert cue.words == (0, 2)
    assert cue.lines == ("one two",)


def test_dense_speech_keeps_words_and_sync_and_is_reported() -> None:
    # 80 characters in 2 s between two other speakers' lines: 40 cps, no free time around.
    dense = "Sixteen thousand kilometres travelled overnight across mountains without stopping"
    assert grapheme_len(dense) >= 80
    words = [*_even("Before that I said something.", 0.0, 0.4), *_even(dense, 2.0, 2.0 / 9),
             *_even("After it came more talking right away.", 4.0, 0.4)]
    cues = build_cues(words, RULES, 25, media_end=8)
    assert [i for c in cues for i in c.words] == list(range(len(words)))
    checked = as_check(cues)
    problems = check_cues(checked, RULES, 25, resolution=1e-6)
    # only reading speed is broken, only on cues the builder marked, and sync still holds
    assert problems and {p.rule for p in problems} == {"cps"}
    assert {p.cue for p in problems} == {n for n, c in enumerate(cues, 1) if not c.feasible}
    assert check_sync(checked, [(c.speech_start, c.speech_end) for c in cues], RULES, 1e-6) == []
    for a, b in zip(cues, cues[1:], strict=False):
        assert round((b.start - a.end) * 25) >= 2


def test_dense_speech_uses_free_time_around_it() -> None:
    # The same burst with silence before and after: lead and lag make it legal.
    dense = "Sixteen thousand kilometres travelled overnight across mountains without stopping"
    words = _even(dense, 5.0, 2.0 / 9)
    cues = build_cues(words, RULES, 25, media_end=12)
    checked = as_check(cues)
    assert check_cues(checked, RULES, 25, resolution=1e-6) == []
    assert check_sync(checked, [(c.speech_start, c.speech_end) for c in cues], RULES, 1e-6) == []
    assert all(c.feasible for c in cues)


def test_a_single_long_word_is_kept_and_flagged() -> None:
    words = [TimedWord("x" * 50, 1.0, 4.0)]
    (cue,) = build_cues(words, RULES, 25, media_end=10)
    assert cue.lines == ("x" * 50,)
    assert [p.rule for p in check_cues(as_check([cue]), RULES, 25)] == ["line_chars"]
