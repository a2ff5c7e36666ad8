"""Word timing without a second pass: ASR words into transcript.json, align reusing them, onsets, symbols.

numpy lives in the ml environment, so each check's inputs go through the code there as a
short script (skipped when the ml environment is not built) that hands its results back as
JSON (tests.helpers.ml.in_ml); the assertions are here.
"""

from __future__ import annotations

from tests.helpers.ml import in_ml, pytestmark  # noqa: F401  (same markers and runner)


def test_decoder_units_become_the_words_of_the_text_clipped_to_the_chunk() -> None:
    found = in_ml("""
        from shared.speech.asr import _segment, words_from_units, keep_matching_words, wants_word_timestamps
        units = [(" At", 10.0, 10.2, 0.9), (" 7", 10.2, 10.4, 0.8), (":30,", 10.4, 10.9, 0.7), (" U", 11.0, 11.1, 0.9),
                 (".N.", 11.1, 11.6, 0.95), (" pays", 11.6, 12.9, 0.5)]
        seg = _segment(10.0, 12.5, " At 7:30, U.N. pays", -0.2, 0.01, 1.1, "en", units, (9.9, 12.5))
        words = [dict(w) for w in seg["words"]]
        unmatched = words_from_units("other text", units, (0, 99))
        without_units = sorted(_segment(0, 1, "x", 0, 0, 1, "en"))
        seg["text"] = "At 7:30, U.N."  # a guard rewrote the text: the words no longer fit
        dropped = keep_matching_words([seg])
        result = {"words": words, "unmatched": unmatched, "without_units": without_units, "dropped": dropped,
                  "keeps_words": "words" in seg,
                  "wants": {str(s): wants_word_timestamps(s) for s in ("whisper", "auto", None, "wav2vec2", "off")}}
    """)
    words = found["words"]
    assert [w["word"] for w in words] == ["At", "7:30,", "U.N.", "pays"]
    assert (words[1]["start"], words[1]["end"], words[1]["score"]) == (10.2, 10.9, 0.7)  # lowest of its units
    assert words[-1]["end"] == 12.5  # clipped to the chunk
    assert all(w["timed_by"] == "whisper" for w in words)
    assert found["unmatched"] is None
    assert "words" not in found["without_units"]  # no units: no words key
    assert found["dropped"] == 1 and not found["keeps_words"]
    assert found["wants"] == {"whisper": True, "auto": True, "None": True, "wav2vec2": False, "off": False}


def test_align_reuses_asr_words_and_loads_the_model_only_for_segments_without_them() -> None:
    found = in_ml("""
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
        first = {"loads": Fallback.loads, "counts": counts, "words": out[0]["words"]}
        bare = {"start": 3.0, "end": 4.0, "text": "at 7:30 sharp"}
        out, counts = align_segments([timed, bare], aligner, None, [], "whisper")
        result = {"timed_only": first, "with_bare": {"loads": Fallback.loads, "counts": counts, "words": out[1]["words"]}}
    """)
    first, second = found["timed_only"], found["with_bare"]
    assert first["loads"] == 0 and first["counts"]["segments_timed_in_asr"] == 1
    assert [(w["word"], w["start"], w["timed_by"]) for w in first["words"]] == [
        ("it", 1.0, "whisper"), ("costs", 1.2, "whisper"), ("$45", 1.5, "whisper")]
    assert first["counts"]["symbol_words"] == 1 and first["counts"]["symbol_words_interpolated"] == 0
    assert second["loads"] == 1 and second["counts"]["segments_timed_by_second_pass"] == 1
    words = second["words"]
    assert [w["word"] for w in words] == ["at", "7:30", "sharp"]  # never dropped
    assert all(w["timed_by"] == "interpolated" and 3.0 <= w["start"] <= w["end"] <= 4.0 for w in words), words
    assert second["counts"]["symbol_words"] == 2 and second["counts"]["symbol_words_interpolated"] == 1


def test_symbolic_words() -> None:
    symbolic = ["7:30", "$45", "2,000", "3.5%", "COVID-19", "U.N.", "well-timed.", "(2)"]
    plain = ["hello", "hello,", "don't", '"quoted"', "café", "Friday."]
    found = in_ml(f"""
        from shared.speech.align import is_symbolic
        result = {{word: bool(is_symbolic(word)) for word in {symbolic + plain!r}}}
    """)
    assert found == {**dict.fromkeys(symbolic, True), **dict.fromkeys(plain, False)}


def test_a_late_first_word_moves_to_the_vad_onset_and_nothing_else_does() -> None:
    found = in_ml("""
        from shared.speech.align import pull_onsets
        regions = [(1.0, 3.0), (5.0, 8.0), (10.0, 12.0)]
        words = [{"word": "late", "start": 1.4, "end": 1.8},
                 {"word": "next", "start": 1.9, "end": 2.5},
                 {"word": "far", "start": 6.0, "end": 6.5},
                 {"word": "early", "start": 10.0, "end": 10.4}]
        pulled = pull_onsets(words, regions, padding=0.1, max_pull=0.5)
        run_on = [{"word": "a", "start": 4.0, "end": 5.3}, {"word": "b", "start": 5.4, "end": 5.8}]
        result = {"pulled": pulled, "starts": [w["start"] for w in words],
                  "run_on_pulled": pull_onsets(run_on, regions, padding=0.1)}
    """)
    assert found["pulled"] == 1
    # late opens region 1, 0.3 s late: pulled to 1.1; next is not first in its region; far is
    # 0.9 s after the onset (beyond max_pull); early is already before the onset
    assert found["starts"] == [1.1, 1.9, 6.0, 10.0]
    assert found["run_on_pulled"] == 0  # speech runs into the region: no onset


def test_a_chunk_whose_decode_stopped_early_is_decoded_again_from_there() -> None:
    found = in_ml("""
        from shared.speech.asr import FasterWhisperBackend as B
        chunk = {"start": 1.0, "end": 30.5, "regions": [{"start": 1.0, "end": 26.5}, {"start": 27.0, "end": 30.5}]}
        found = [{"start": 1.0, "end": 26.2}]
        quiet = {"start": 1.0, "end": 30.5, "regions": [{"start": 1.0, "end": 26.5}]}
        result = {"speech_after": B.untranscribed_tail(chunk, found),
                  "padding_after": B.untranscribed_tail(chunk, [{"start": 1.0, "end": 30.0}]),
                  "no_words": B.untranscribed_tail(chunk, []),
                  "silence_after": B.untranscribed_tail(quiet, found)}
    """)
    assert found == {
        "speech_after": 26.2,  # 3.8 s of speech after the last segment
        "padding_after": None,  # only padding left
        "no_words": None,  # no words at all: decoding it again says the same
        "silence_after": None,  # silence after the last segment: nothing lost
    }


def test_a_decoded_chunk_is_split_into_sentences_by_its_words() -> None:
    found = in_ml("""
        from shared.speech.asr import split_sentences
        def w(word, start, end):
            return {"word": word, "start": start, "end": end, "score": 0.9, "timed_by": "whisper"}
        seg = {"start": 1.0, "end": 12.0, "text": "Hello there. How are you? fine thanks", "avg_logprob": -0.3,
               "words": [w("Hello", 1.0, 1.3), w("there.", 1.3, 1.7), w("How", 2.0, 2.2), w("are", 2.2, 2.4),
                         w("you?", 2.4, 2.8), w("fine", 5.0, 5.3), w("thanks", 5.3, 5.8)]}
        gap = {**seg, "text": "fine thanks", "words": [w("fine", 5.0, 5.3), w("thanks", 6.5, 6.8)]}
        bare = {"start": 0.0, "end": 1.0, "text": "no words"}
        result = {"parts": split_sentences(seg), "gap": split_sentences(gap), "bare": split_sentences(bare)}
    """)
    parts = found["parts"]
    assert [p["text"] for p in parts] == ["Hello there.", "How are you?", "fine thanks"]
    assert [(p["start"], p["end"]) for p in parts] == [(1.0, 1.7), (2.0, 2.8), (5.0, 5.8)]
    assert all(p["avg_logprob"] == -0.3 and [x["word"] for x in p["words"]] == p["text"].split() for p in parts)
    assert [p["text"] for p in found["gap"]] == ["fine", "thanks"]  # a 1.2 s pause
    assert found["bare"] == [{"start": 0.0, "end": 1.0, "text": "no words"}]


def test_a_zero_length_word_inside_speech_stays_put() -> None:
    found = in_ml("""
        from shared.speech.align import refine
        regions = [(124.0, 125.0), (126.044, 129.796)]
        words = [{"word": "The", "start": 126.472, "end": 126.472}, {"word": "train", "start": 126.472, "end": 126.75},
                 {"word": "to", "start": 126.75, "end": 126.9}]
        refine(words, regions)
        silent = [{"word": "x", "start": 125.3, "end": 125.3}]
        refine(silent, regions)
        result = {"words": [(w["start"], w["end"]) for w in words], "silent_start": silent[0]["start"]}
    """)
    assert found["words"] == [[126.472, 126.472], [126.472, 126.75], [126.75, 126.9]]
    assert found["silent_start"] in (125.0, 126.044)  # in silence: still snapped to the nearest region
