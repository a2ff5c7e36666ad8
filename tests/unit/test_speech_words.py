"""Word timing without a second pass: ASR words into transcript.json, align reusing them, onsets, symbols.

numpy lives in the ml environment, so each check runs there as a short script (skipped
when the ml environment is not built), as in test_speech_logic.
"""

from __future__ import annotations

from tests.helpers.ml import pytestmark, run_ml  # noqa: F401  (same markers and runner)


def test_decoder_units_become_the_words_of_the_text_clipped_to_the_chunk():
    run_ml("""
        from shared.speech.asr import _segment, words_from_units, keep_matching_words, wants_word_timestamps
        units = [(" At", 10.0, 10.2, 0.9), (" 7", 10.2, 10.4, 0.8), (":30,", 10.4, 10.9, 0.7), (" U", 11.0, 11.1, 0.9),
                 (".N.", 11.1, 11.6, 0.95), (" pays", 11.6, 12.9, 0.5)]
        seg = _segment(10.0, 12.5, " At 7:30, U.N. pays", -0.2, 0.01, 1.1, "en", units, (9.9, 12.5))
        words = seg["words"]
        assert [w["word"] for w in words] == ["At", "7:30,", "U.N.", "pays"]
        assert (words[1]["start"], words[1]["end"], words[1]["score"]) == (10.2, 10.9, 0.7)  # lowest of its units
        assert words[-1]["end"] == 12.5  # clipped to the chunk
        assert all(w["timed_by"] == "whisper" for w in words)
        assert words_from_units("other text", units, (0, 99)) is None
        assert "words" not in _segment(0, 1, "x", 0, 0, 1, "en")  # no units: no words key
        seg["text"] = "At 7:30, U.N."  # a guard rewrote the text: the words no longer fit
        assert keep_matching_words([seg]) == 1 and "words" not in seg
        assert wants_word_timestamps("whisper") and wants_word_timestamps("auto") and wants_word_timestamps(None)
        assert not wants_word_timestamps("wav2vec2") and not wants_word_timestamps("off")
    """)


def test_align_reuses_asr_words_and_loads_the_model_only_for_segments_without_them():
    run_ml("""
        from shared.speech.align import AsrWordTimes, align_segments

        class Fallback:
            loads = 0
            def load(self):
                Fallback.loads += 1
            def words(self, audio, seg):
                return [{"word": w, "start": None, "end": None, "score": None, "timed_by": None}
                        for w in seg["text"].split()]

        timed = {"start": 1.0, "end": 2.0, "text": "it costs $45",
                 "words": [{"word": "it", "start": 1.0, "end": 1.2, "score": 0.9, "timed_by": "whisper"},
                           {"word": "costs", "start": 1.2, "end": 1.5, "score": 0.9, "timed_by": "whisper"},
                           {"word": "$45", "start": 1.5, "end": 2.0, "score": 0.6, "timed_by": "whisper"}]}
        aligner = AsrWordTimes(Fallback())
        out, counts = align_segments([timed], aligner, None, [], "whisper")
        assert Fallback.loads == 0 and counts["segments_timed_in_asr"] == 1
        assert [(w["word"], w["start"], w["timed_by"]) for w in out[0]["words"]] == [
            ("it", 1.0, "whisper"), ("costs", 1.2, "whisper"), ("$45", 1.5, "whisper")]
        assert counts["symbol_words"] == 1 and counts["symbol_words_interpolated"] == 0
        bare = {"start": 3.0, "end": 4.0, "text": "at 7:30 sharp"}
        out, counts = align_segments([timed, bare], aligner, None, [], "whisper")
        assert Fallback.loads == 1 and counts["segments_timed_by_second_pass"] == 1
        words = out[1]["words"]
        assert [w["word"] for w in words] == ["at", "7:30", "sharp"]  # never dropped
        assert all(w["timed_by"] == "interpolated" and 3.0 <= w["start"] <= w["end"] <= 4.0 for w in words)
        assert counts["symbol_words"] == 2 and counts["symbol_words_interpolated"] == 1
    """)


def test_symbolic_words():
    run_ml("""
        from shared.speech.align import is_symbolic
        for word in ("7:30", "$45", "2,000", "3.5%", "COVID-19", "U.N.", "well-timed.", "(2)"):
            assert is_symbolic(word), word
        for word in ("hello", "hello,", "don't", "\\"quoted\\"", "café", "Friday."):
            assert not is_symbolic(word), word
    """)


def test_a_late_first_word_moves_to_the_vad_onset_and_nothing_else_does():
    run_ml("""
        from shared.speech.align import pull_onsets
        regions = [(1.0, 3.0), (5.0, 8.0), (10.0, 12.0)]
        words = [{"word": "late", "start": 1.4, "end": 1.8},      # opens region 1, 0.3 s late: pulled to 1.1
                 {"word": "next", "start": 1.9, "end": 2.5},      # not first in its region
                 {"word": "far", "start": 6.0, "end": 6.5},       # 0.9 s after the onset: beyond max_pull
                 {"word": "early", "start": 10.0, "end": 10.4}]   # already before the onset: left alone
        assert pull_onsets(words, regions, padding=0.1, max_pull=0.5) == 1
        assert [w["start"] for w in words] == [1.1, 1.9, 6.0, 10.0]
        run_on = [{"word": "a", "start": 4.0, "end": 5.3}, {"word": "b", "start": 5.4, "end": 5.8}]
        assert pull_onsets(run_on, regions, padding=0.1) == 0  # speech runs into the region: no onset
    """)


def test_a_chunk_whose_decode_stopped_early_is_decoded_again_from_there():
    run_ml("""
        from shared.speech.asr import FasterWhisperBackend as B
        chunk = {"start": 1.0, "end": 30.5, "regions": [{"start": 1.0, "end": 26.5}, {"start": 27.0, "end": 30.5}]}
        found = [{"start": 1.0, "end": 26.2}]
        assert B.untranscribed_tail(chunk, found) == 26.2  # 3.8 s of speech after the last segment
        assert B.untranscribed_tail(chunk, [{"start": 1.0, "end": 30.0}]) is None  # only padding left
        assert B.untranscribed_tail(chunk, []) is None  # no words at all: decoding it again says the same
        quiet = {"start": 1.0, "end": 30.5, "regions": [{"start": 1.0, "end": 26.5}]}
        assert B.untranscribed_tail(quiet, found) is None  # silence after the last segment: nothing lost
    """)


def test_a_decoded_chunk_is_split_into_sentences_by_its_words():
    run_ml("""
        from shared.speech.asr import split_sentences
        def w(word, start, end):
            return {"word": word, "start": start, "end": end, "score": 0.9, "timed_by": "whisper"}
        seg = {"start": 1.0, "end": 12.0, "text": "Hello there. How are you? fine thanks", "avg_logprob": -0.3,
               "words": [w("Hello", 1.0, 1.3), w("there.", 1.3, 1.7), w("How", 2.0, 2.2), w("are", 2.2, 2.4),
                         w("you?", 2.4, 2.8), w("fine", 5.0, 5.3), w("thanks", 5.3, 5.8)]}
        parts = split_sentences(seg)
        assert [p["text"] for p in parts] == ["Hello there.", "How are you?", "fine thanks"]
        assert [(p["start"], p["end"]) for p in parts] == [(1.0, 1.7), (2.0, 2.8), (5.0, 5.8)]
        assert all(p["avg_logprob"] == -0.3 and [x["word"] for x in p["words"]] == p["text"].split() for p in parts)
        gap = {**seg, "text": "fine thanks", "words": [w("fine", 5.0, 5.3), w("thanks", 6.5, 6.8)]}
        assert [p["text"] for p in split_sentences(gap)] == ["fine", "thanks"]  # a 1.2 s pause
        bare = {"start": 0.0, "end": 1.0, "text": "no words"}
        assert split_sentences(bare) == [bare]
    """)


def test_a_zero_length_word_inside_speech_stays_put():
    run_ml("""
        from shared.speech.align import refine
        regions = [(124.0, 125.0), (126.044, 129.796)]
        words = [{"word": "The", "start": 126.472, "end": 126.472}, {"word": "train", "start": 126.472, "end": 126.75},
                 {"word": "to", "start": 126.75, "end": 126.9}]
        refine(words, regions)
        assert [(w["start"], w["end"]) for w in words] == [(126.472, 126.472), (126.472, 126.75), (126.75, 126.9)]
        silent = [{"word": "x", "start": 125.3, "end": 125.3}]  # in silence: still snapped to the nearest region
        refine(silent, regions)
        assert silent[0]["start"] in (125.0, 126.044)
    """)
