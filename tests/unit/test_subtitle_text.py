"""Grapheme counting and line-break rules of shared.subtitles.text."""

from __future__ import annotations

import pytest

from shared.subtitles.text import Break, classify_break, display_chars, grapheme_len, joiner_for, layout


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("क्षत्रिय", 3),  # conjunct + virama + vowel sign: 3 syllables on screen
        ("नमस्ते", 3),
        ("हिन्दी", 2),
        ("स्त्री", 1),
        ("தமிழ்", 3),  # Tamil: ta, mi, zh+pulli
        ("கொண்டு", 3),
        ("naïve", 5),
        ("e\u0301", 1),  # e + combining acute
        ("👍🏽", 1),
    ],
)
def test_graphemes_count_what_the_screen_shows(text: str, units: int) -> None:
    assert grapheme_len(text) == units
    assert grapheme_len(text) < len(text) or text == "naïve"


def test_display_chars_count_a_line_break_as_a_space() -> None:
    assert display_chars(["ab", "cd"]) == 5
    assert display_chars(["नमस्ते"]) == 3


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("there.", "I", Break.SENTENCE),
        ("है।", "वह", Break.SENTENCE),
        ('said."', "Then", Break.SENTENCE),
        ("yes,", "the", Break.CLAUSE),
        ("tired", "and", Break.CLAUSE),  # before a conjunction: a clause starts
        ("man", "who", Break.CLAUSE),  # before a relative pronoun
        ("walked", "into", Break.PHRASE),
        ("the", "house", Break.FORBIDDEN),  # article | noun
        ("John", "Smith", Break.FORBIDDEN),  # first name | surname
        ("we", "went", Break.FORBIDDEN),  # subject pronoun | verb
        ("will", "go", Break.FORBIDDEN),  # auxiliary | verb
        ("not", "go", Break.FORBIDDEN),  # negation | verb
        ("घर", "में", Break.FORBIDDEN),  # never before a Hindi postposition
        ("में", "रहता", Break.PHRASE),  # after it is a phrase end
        ("गया", "और", Break.CLAUSE),  # before a conjunction
        ("from", "the", Break.FORBIDDEN),  # never end on a preposition
        ("and", "when", Break.FORBIDDEN),  # nor on a conjunction, even before another
        ("is", "in", Break.PHRASE),  # before a preposition, after a main verb
        ("5", "kilometres", Break.FORBIDDEN),  # number | unit
        ("twenty", "percent", Break.FORBIDDEN),
        ("twenty", "five", Break.FORBIDDEN),
        ("Mary", "Jane", Break.FORBIDDEN),  # a three-word name
        ("दस", "किलोमीटर", Break.FORBIDDEN),
        ("जा", "रहा", Break.FORBIDDEN),  # verb | auxiliary
        ("नहीं", "जाना", Break.FORBIDDEN),  # negation | verb
        ("green", "car", Break.PLAIN),
    ],
)
def test_break_classes(before: str, after: str, kind: Break) -> None:
    assert classify_break(before, after) == kind


def test_one_line_when_it_fits() -> None:
    assert layout(["I", "will", "see", "you", "tomorrow."], 42, 2).lines == ("I will see you tomorrow.",)


def test_break_after_punctuation_rather_than_in_the_middle() -> None:
    tokens = ["When", "we", "got", "to", "the", "station", "at", "last,", "the", "train", "had", "already", "left", "for", "Delhi."]
    lines = layout(tokens, 42, 2).lines
    assert lines == ("When we got to the station at last,", "the train had already left for Delhi.")


def test_never_between_article_and_noun_or_name_and_surname() -> None:
    tokens = ["Yesterday", "afternoon", "my", "old", "friend", "Rahul", "Sharma", "bought", "the", "car"]
    for lines in (layout(tokens, 34, 2).lines, layout(tokens, 40, 2).lines):
        assert len(lines) == 2
        assert not lines[0].endswith(("Rahul", "the", "my"))


def test_before_a_conjunction_and_bottom_heavy() -> None:
    tokens = ["I", "waited", "for", "a", "very", "long", "time", "and", "nobody", "came", "to", "the", "door"]
    top, bottom = layout(tokens, 42, 2).lines
    assert bottom.startswith("and")
    assert len(top) <= len(bottom) + 2


def test_hindi_breaks_after_the_postposition() -> None:
    tokens = ["मैं", "कल", "सुबह", "अपने", "पुराने", "दोस्त", "के", "घर", "में", "रहने", "के", "लिए", "दिल्ली", "गया", "था"]
    top, bottom = layout(tokens, 30, 2).lines
    assert grapheme_len(top) <= 30 and grapheme_len(bottom) <= 30
    first_of_bottom = bottom.split()[0]
    assert first_of_bottom not in {"में", "के", "से", "को", "था", "लिए"}


def test_a_word_longer_than_a_line_is_kept_whole_and_flagged() -> None:
    result = layout(["a" * 50, "b"], 42, 2)
    assert not result.fits
    assert result.lines[0] == "a" * 50


def test_languages_without_spaces() -> None:
    assert joiner_for("ja") == "" and joiner_for("zho_Hans") == "" and joiner_for("hi") == " "


def test_the_word_lists_are_data_one_table_per_language() -> None:
    from shared.subtitles.text import BREAKING_TOML, WORD_LISTS, load_word_lists

    assert {"en", "hi", "hi-Latn"} <= set(WORD_LISTS)
    assert "from" in WORD_LISTS["en"].no_break_after and "में" in WORD_LISTS["hi"].no_break_before
    assert load_word_lists(BREAKING_TOML) == WORD_LISTS


def test_a_malformed_word_list_file_is_a_clear_error(tmp_path) -> None:
    import pytest

    from shared.subtitles.text import load_word_lists

    bad = tmp_path / "breaking.toml"
    bad.write_text('[en]\nno_brake_after = "the"\n')
    with pytest.raises(ValueError, match="unknown keys.*no_brake_after"):
        load_word_lists(bad)
