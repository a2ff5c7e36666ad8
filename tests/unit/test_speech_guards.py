"""Hallucination guards: what is removed, why, and that real speech stays."""

from __future__ import annotations

from shared.speech import guards


def seg(start, end, text, logprob=-0.2, no_speech=0.05):
    return {"start": start, "end": end, "text": text, "avg_logprob": logprob, "no_speech_prob": no_speech}


REGIONS = [(1.0, 5.0), (8.0, 12.0)]


def test_text_outside_speech_is_removed():
    kept, removed = guards.apply_guards([seg(1.2, 4.8, "Hello there."), seg(5.5, 7.5, "Ghost words.")], REGIONS)
    assert [s["text"] for s in kept] == ["Hello there."]
    assert removed == [{"start": 5.5, "end": 7.5, "text": "Ghost words.", "reason": "no-speech-region"}]


def test_repetition_loop_inside_a_segment_is_collapsed():
    text = "we went home " + "and then " * 6 + "slept."
    kept, removed = guards.apply_guards([seg(1.0, 5.0, text)], REGIONS)
    assert kept[0]["text"] == "we went home and then slept."
    assert removed[0]["reason"] == "repetition-loop" and removed[0]["text"].split().count("and") == 5


def test_repeated_segments_are_removed_after_the_second():
    segs = [seg(1.0, 2.0, "Thank you."), seg(2.0, 3.0, "Thank you."), seg(3.0, 4.0, "thank you"), seg(8.5, 9.0, "Next.")]
    kept, removed = guards.apply_guards(segs, REGIONS)
    assert [s["text"] for s in kept] == ["Thank you.", "Thank you.", "Next."]
    assert [r["reason"] for r in removed] == ["repetition-loop"]


def test_stock_phrases_go_only_when_unsure():
    unsure = seg(8.2, 11.0, "Thanks for watching!", logprob=-0.9)
    sure = seg(1.0, 3.0, "Thanks for watching!", logprob=-0.1, no_speech=0.01)
    credit = seg(9.0, 11.5, "Subtitles by the Amara.org community", logprob=-0.6)
    kept, removed = guards.apply_guards([sure, unsure, credit], REGIONS)
    assert kept == [sure]
    assert [r["reason"] for r in removed] == ["stock-phrase", "stock-phrase"]


def test_whisper_silence_verdict_is_removed():
    kept, removed = guards.apply_guards([seg(1.0, 4.0, "you", logprob=-1.5, no_speech=0.9)], REGIONS)
    assert kept == [] and removed[0]["reason"] == "no-speech"


def test_stock_phrase_pattern():
    assert guards.is_stock_phrase("Thank you for watching.")
    assert guards.is_stock_phrase("  please like and subscribe!")
    assert not guards.is_stock_phrase("Thanks for watching the kids yesterday, it helped.")


def test_the_script_prompt_echoed_back_goes_only_when_unsure():
    phrase = "हाँ, ठीक है।"
    regions = [(0.0, 10.0)]
    segments = [seg(0, 1, "हाँ ठीक है", logprob=-0.9), seg(2, 3, "हाँ, ठीक है।", logprob=-0.1),
                seg(4, 5, "हाँ, ठीक है, चलो", logprob=-0.9)]
    kept, removed = guards.apply_guards(segments, regions, guards.GuardOptions(prompt=phrase))
    assert [r["reason"] for r in removed] == ["prompt-echo"]
    assert [s["text"] for s in kept] == ["हाँ, ठीक है।", "हाँ, ठीक है, चलो"]
    # without the prompt the same unsure words are speech like any other
    kept, removed = guards.apply_guards(segments, regions)
    assert not removed and len(kept) == 3
