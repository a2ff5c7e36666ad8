"""Speakers, shot changes, sentence integrity and the segmentation figures of the cue builder."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.subtitles import quality, shots
from shared.subtitles.builder import DASH, TimedWord, build_cues, words_per_sentence
from shared.subtitles.checker import CheckCue, check_cues, check_speakers, check_sync
from shared.subtitles.rules import Costs, Rules, costs_from_settings
from shared.subtitles.text import grapheme_len

RULES = Rules()


def said(text: str, start: float, speaker: str | None = None, per_word: float = 0.3, gap: float = 0.04) -> list[TimedWord]:
    words = []
    for token in text.split():
        words.append(TimedWord(token, start, start + per_word, speaker))
        start += per_word + gap
    return words


def as_check(cues) -> list[CheckCue]:
    return [CheckCue(n, c.start, c.end, c.lines) for n, c in enumerate(cues, 1)]


# ---- speakers --------------------------------------------------------------------------
def test_a_short_question_and_answer_share_a_dash_cue() -> None:
    words = [*said("Are you coming?", 1.0, "SPEAKER_1"), *said("Yes.", 2.15, "SPEAKER_2")]
    (cue,) = build_cues(words, RULES, 25, media_end=6)
    assert cue.lines == (f"{DASH}Are you coming?", f"{DASH}Yes.")
    assert check_speakers(as_check([cue]), [["SPEAKER_1"] * 3 + ["SPEAKER_2"]]) == []
    assert check_cues(as_check([cue]), RULES, 25, 1e-6) == []


def test_a_speaker_change_is_a_break_when_the_parts_are_long() -> None:
    first = "I was thinking we could drive to the coast this weekend if the weather holds."
    words = [*said(first, 1.0, "SPEAKER_1", 0.28), *said("That sounds wonderful to me.", 5.3, "SPEAKER_2")]
    cues = build_cues(words, RULES, 25, media_end=12)
    for cue in cues:
        assert len({words[i].speaker for i in cue.words}) == 1
    assert check_speakers(as_check(cues), [[words[i].speaker for i in c.words] for c in cues]) == []


def test_speakers_cut_even_mid_sentence_text() -> None:
    # ASR often misses punctuation: a speaker change still ends the cue.
    words = [*said("so what do you think about it", 1.0, "SPEAKER_1"), *said("I think it is fine", 3.6, "SPEAKER_2")]
    cues = build_cues(words, RULES, 25, media_end=8)
    assert all(len({words[i].speaker for i in c.words}) == 1 or all(line.startswith(DASH) for line in c.lines)
               for c in cues)


def test_the_checker_flags_two_speakers_without_dashes() -> None:
    cue = CheckCue(1, 1.0, 3.0, ("Are you coming? Yes.",))
    (problem,) = check_speakers([cue], [["SPEAKER_1", "SPEAKER_1", "SPEAKER_1", "SPEAKER_2"]])
    assert problem.rule == "speakers" and problem.figure == 2
    dashed = CheckCue(1, 1.0, 3.0, ("-Are you coming?", "-Yes."))
    assert check_speakers([dashed], [["SPEAKER_1", "SPEAKER_2"]]) == []
    assert check_speakers([cue], [[None, None]]) == []  # speakers unknown: nothing to say


# ---- sentences: never split one that fits ----------------------------------------------
SENTENCES = [
    "Where are you going?", "I am going home.", "It is late, and the last train leaves soon.",
    "Did Mary Jane Watson call?", "We need bread, milk and eggs.", "The shop is 3 kilometres away.",
    "Yes.", "No, thank you.", "Tell me what happened at the station this morning.",
    "They walked along the river until the sun went down.",
]


@st.composite
def conversation(draw):
    """Sentences at 10-15 characters a second with 0.1-0.4 s between them, two speakers."""
    t = draw(st.floats(0.2, 2.0))
    words: list[TimedWord] = []
    for _ in range(draw(st.integers(1, 12))):
        sentence = draw(st.sampled_from(SENTENCES))
        speaker = draw(st.sampled_from(["SPEAKER_1", "SPEAKER_2", None]))
        rate = draw(st.floats(10.0, 15.0))
        for token in sentence.split():
            duration = (grapheme_len(token) + 1) / rate
            words.append(TimedWord(token, t, t + duration, speaker))
            t += duration
        t += draw(st.floats(0.1, 0.4))
    return words, t + 2.0


def _fits_alone(words: list[TimedWord], sentence: list[int], rules: Rules) -> bool:
    chars = grapheme_len(" ".join(words[i].text for i in sentence))
    seconds = words[sentence[-1]].end - words[sentence[0]].start
    return chars <= rules.max_line_chars and seconds + rules.max_out_extend >= max(rules.min_duration, chars / rules.max_cps)


def _no_room(cues, violation, fps: float, media_end: float) -> bool:
    """True when the speech leaves no legal cue: a short cue between two other speakers' words whose
    window (their speech, the minimum gaps and whole frames) is shorter than the minimum duration
    ("Yes." with 0.25 s either side). The property holds only where the speech allows it."""
    if violation.rule != "min_duration":
        return False
    n = violation.cue
    before = cues[n - 1].speech_end if n > 0 else 0.0
    after = cues[n + 1].speech_start if n + 1 < len(cues) else media_end
    room = (math.floor(after * fps) - math.ceil(before * fps) - 2 * RULES.min_gap_frames) / fps
    return room < RULES.min_duration


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(conversation(), st.sampled_from([24.0, 25.0, 30000 / 1001]))
def test_no_word_lost_every_rule_kept_and_a_sentence_that_fits_is_never_split(data, fps) -> None:
    words, media_end = data
    cues = build_cues(words, RULES, fps, media_end=media_end)
    assert [i for c in cues for i in c.words] == list(range(len(words)))
    for cue in cues:
        shown = " ".join(line.removeprefix(DASH) for line in cue.lines).split()
        assert shown == [words[i].text for i in cue.words]
    checked = as_check(cues)
    assert [v for v in check_cues(checked, RULES, fps, resolution=1e-6) if not _no_room(cues, v, fps, media_end)] == []
    assert check_sync(checked, [(c.speech_start, c.speech_end) for c in cues], RULES, 1e-6) == []
    assert check_speakers(checked, [[words[i].speaker for i in c.words] for c in cues]) == []
    cue_of = {i: n for n, c in enumerate(cues) for i in c.words}
    for sentence in words_per_sentence(words):
        if _fits_alone(words, sentence, RULES):
            assert len({cue_of[i] for i in sentence}) == 1, [words[i].text for i in sentence]


# ---- costs ------------------------------------------------------------------------------
def test_costs_come_from_settings_and_bad_values_say_which() -> None:
    assert costs_from_settings({}) == Costs()
    assert costs_from_settings({"SUB_COST_PLAIN": "20"}).plain == 20.0
    with pytest.raises(ValueError, match="SUB_COST_CLAUSE"):
        costs_from_settings({"SUB_COST_CLAUSE": "cheap"})
    with pytest.raises(ValueError, match="SUB_COST_CUE"):
        costs_from_settings({"SUB_COST_CUE": "-1"})


def test_a_costlier_cue_merges_short_sentences() -> None:
    words = [*said("Yes.", 1.0), *said("Sure.", 1.45), *said("Fine.", 1.9)]
    many = build_cues(words, RULES, 25, media_end=6, costs=Costs(sentence_inside=50))
    few = build_cues(words, RULES, 25, media_end=6, costs=Costs(cue=40, sentence_inside=0))
    assert len(few) < len(many) or len(many) == 1


# ---- shot changes -----------------------------------------------------------------------
def test_a_lag_out_never_crosses_a_shot_change_and_snaps_within_twelve_frames() -> None:
    words = [*said("This is the first sentence.", 1.0), *said("And here is another one.", 5.0)]
    plain = build_cues(words, RULES, 25, media_end=10)
    assert [round(c.end, 2) for c in plain] == [2.68, 6.68]
    cut = build_cues(words, RULES, 25, media_end=10, shot_changes=[2.9, 4.6])
    assert round(cut[0].end * 25) == round(2.9 * 25) - 2  # out-time 2 frames before the change
    assert cut[1].start == pytest.approx(4.6)  # in-time snapped back onto the change (10 frames)
    far = build_cues(words, RULES, 25, media_end=10, shot_changes=[4.0])
    assert far[1].start == pytest.approx(5.0)  # 25 frames away: not snapped
    assert check_cues(as_check(cut), RULES, 25, 1e-6) == []


def test_an_extension_for_reading_speed_stops_at_a_shot_change() -> None:
    words = said("Absolutely everything happened yesterday", 5.0, per_word=0.5, gap=0.0)
    (cue,) = build_cues(words, RULES, 25, media_end=20)
    assert cue.end > 7.05
    # A change 0.2 s after the speech: the cue ends 2 frames before it and starts earlier
    # (into the silence before the speech) to keep its reading time.
    (cut,) = build_cues(words, RULES, 25, media_end=20, shot_changes=[7.2])
    assert round(cut.end * 25) == 180 - 2
    assert cut.start < 5.0 and cut.feasible
    assert check_cues(as_check([cut]), RULES, 25, 1e-6) == []
    # A change right at the end of the speech cannot be kept clear of: reading time wins.
    (tight,) = build_cues(words, RULES, 25, media_end=20, shot_changes=[7.04])
    assert tight.feasible and check_cues(as_check([tight]), RULES, 25, 1e-6) == []


def test_shot_change_settings_are_checked(tmp_path: Path) -> None:
    assert shots.parse_spec("") == "off" and shots.parse_spec("auto") == "auto"
    with pytest.raises(ValueError, match="SUB_SHOT_CHANGES"):
        shots.parse_spec(str(tmp_path / "missing.txt"))
    listing = tmp_path / "cuts.txt"
    listing.write_text("# from the edit\n1.5 3.25\n10\n", encoding="utf-8")
    assert shots.read_times(listing) == [1.5, 3.25, 10.0]
    listing.write_text("1.5 soon\n", encoding="utf-8")
    with pytest.raises(shots.ShotError, match="line 1: 'soon'"):
        shots.read_times(listing)
    with pytest.raises(ValueError, match="SUB_SHOT_THRESHOLD"):
        shots.parse_threshold("2")


@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg")
def test_auto_detects_a_cut_between_two_shots(tmp_path: Path) -> None:
    video = tmp_path / "two shots.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2",
                    "-f", "lavfi", "-i", "color=c=red:size=160x120:rate=25:duration=2",
                    "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-pix_fmt", "yuv420p",
                    str(video)], check=True)
    media = {"has_video": True, "source": str(video), "clip_start": 0.0, "clip_end": 4.0}
    found = shots.shot_changes("auto", media, 0.4)
    assert found and all(abs(t - 2.0) <= 0.05 for t in found)
    assert shots.shot_changes("auto", {"has_video": False, "source": str(video)}, 0.4) is None


# ---- the segmentation figures -----------------------------------------------------------
def test_segmentation_figures_and_reference_comparison() -> None:
    good = [("Where are you going?",), ("I am going home,",), ("because it is late.",)]
    figures = quality.segmentation(good)
    assert figures["sentence_or_clause"] == 1.0 and figures["dangling_ends"] == 0
    bad = [("I came back from",), ("the airport. It was",), ("late.",)]
    figures = quality.segmentation(bad)
    assert figures["sentence_or_clause"] == 0.0 and figures["dangling_cues"] == [1, 2]  # "from", "was"
    assert figures["mid_sentence_starts"] == 1.0
    result = quality.compare([1.0, 2.0, 5.0], [1.2, 2.5, 5.05, 9.0])
    assert (result["matched"], result["precision"], result["recall"]) == (2, 0.6667, 0.5)
