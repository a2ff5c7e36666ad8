"""Translated tracks: timed by the source sentence, spread over its cues by length, same rules."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.subtitles.builder import TimedWord, build_cues
from shared.subtitles.checker import CheckCue, check_cues, check_sync
from shared.subtitles.rules import Rules
from shared.subtitles.translated import bilingual_cues, build_translated_track, split_proportionally

RULES = Rules()


def timed(text: str, start: float, per_word: float, gap: float = 0.05) -> list[TimedWord]:
    words = []
    for token in text.split():
        words.append(TimedWord(token, start, start + per_word))
        start += per_word + gap
    return words


def sentence(n: int, words: list[int], source: list[TimedWord], text: str) -> dict:
    return {"id": n, "source": " ".join(source[i].text for i in words), "text": text,
            "start": source[words[0]].start, "end": source[words[-1]].end, "words": words,
            "source_language": "hi", "kept": False, "method": "test"}


def test_split_is_proportional_and_prefers_good_breaks() -> None:
    tokens = ["red", "green", "blue", "grey,", "pink", "gold", "teal", "navy"]  # not number words: those stay together
    assert split_proportionally(tokens, [1, 1]) == [4]  # at the comma, the middle
    assert split_proportionally(tokens, [3, 1]) in ([6], [5])


def test_a_sentence_over_two_source_cues_is_spread_in_proportion() -> None:
    # One long source sentence the builder must cut in two (a pause in the middle).
    first = timed("मैं कल सुबह अपने पुराने दोस्त के घर गया था", 1.0, 0.35)
    second = timed("और वहाँ हमने बहुत देर तक पुरानी बातें कीं।", first[-1].end + 1.2, 0.35)
    words = first + second
    source_cues = build_cues(words, RULES, 25, media_end=20)
    assert len(source_cues) == 2
    english = "Yesterday morning I went to my old friend's house and there we talked about old times for a long while."
    track = build_translated_track([sentence(0, list(range(len(words))), words, english)], words, source_cues,
                                   RULES, 25, "en", media_end=20)
    assert len(track.cues) == 2
    # the break follows the source cue edge, and each part sits inside its source cue's speech
    assert track.cues[0].lines[-1].endswith("house") and track.cues[1].lines[0].startswith("and")
    for cue, src in zip(track.cues, source_cues, strict=True):
        assert src.speech_start - 1 / 25 <= cue.start and cue.end <= src.speech_end + RULES.max_lag
    assert " ".join(" ".join(c.lines) for c in track.cues) == english
    checked = [CheckCue(n, c.start, c.end, c.lines) for n, c in enumerate(track.cues, 1)]
    assert check_cues(checked, RULES, 25, 1e-6) == []
    # bilingual: every source word above exactly one translated cue
    both = bilingual_cues(track, words, RULES, "hi")
    assert [i for s in track.source_words for i in s] == list(range(len(words)))
    assert both[0].lines[0].startswith("मैं") and both[-1].lines[-1].endswith("while.")


@st.composite
def translated_speech(draw):
    t = draw(st.floats(0.0, 2.0))
    words, sentences = [], []
    for n in range(draw(st.integers(1, 8))):
        count = draw(st.integers(1, 14))
        indices = []
        for k in range(count):
            text = draw(st.sampled_from(["घर", "में", "गया", "और", "लेकिन", "दोस्त", "बाज़ार", "दिल्ली", "नहीं"])) + ("।" if k == count - 1 else "")
            duration = draw(st.floats(0.3, 0.8))
            indices.append(len(words))
            words.append(TimedWord(text, t, t + duration))
            t += duration + draw(st.sampled_from([0.0, 0.05, 0.1, 0.7]))
        t += draw(st.floats(0.2, 2.0))
        # translations at most about as long as the source: readable in the source's time
        length = draw(st.integers(1, count + 2))
        text = " ".join(draw(st.sampled_from(["the", "house", "friend", "went", "market,", "but", "not", "and", "Delhi"])) for _ in range(length))
        sentences.append(sentence(n, indices, words, text + "."))
    return words, sentences, t + 1.5


@settings(max_examples=100, deadline=None)
@given(translated_speech(), st.sampled_from([24.0, 25.0, 30000 / 1001]))
def test_translated_tracks_pass_the_checker_and_stay_in_their_span(data, fps) -> None:
    words, sentences, media_end = data
    source_cues = build_cues(words, RULES, fps, media_end=media_end)
    track = build_translated_track(sentences, words, source_cues, RULES, fps, "en", media_end=media_end)
    checked = [CheckCue(n, c.start, c.end, c.lines) for n, c in enumerate(track.cues, 1)]
    assert check_cues(checked, RULES, fps, 1e-6) == []
    assert check_sync(checked, [(c.speech_start, c.speech_end) for c in track.cues], RULES, 1e-6) == []
    # all translated words, in order
    assert " ".join(" ".join(c.lines) for c in track.cues).split() == " ".join(s["text"] for s in sentences).split()
    # each cue lies inside its sentences' source span (plus the allowed lead and lag)
    for cue in track.cues:
        spans = [sentences[track.token_sentence[t]] for t in cue.words]
        assert cue.start >= min(s["start"] for s in spans) - RULES.max_lead - 1e-6
        assert cue.end <= max(s["end"] for s in spans) + RULES.max_lag + 1e-6
