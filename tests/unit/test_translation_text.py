"""Sentence grouping, per-sentence language id (Hinglish), glossary protection, routing."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.languages import resolve_language
from shared.translation.glossary import (
    Glossary,
    GlossaryError,
    glossary_files,
    hotwords,
    per_film_glossary,
    read_entries,
)
from shared.translation.langid import identify
from shared.translation.routing import PairError, choose_backend, indictrans2_direction, model_role
from shared.translation.sentences import flat_words, group_sentences

L = resolve_language


def _words(text: str, start: float, step: float = 0.4) -> list[dict]:
    return [{"word": w, "start": round(start + i * step, 2), "end": round(start + i * step + 0.3, 2), "score": 0.9,
             "timed_by": "wav2vec2"} for i, w in enumerate(text.split())]


def _aligned(*segments) -> dict:
    segs = []
    for i, (text, start) in enumerate(segments):
        words = _words(text, start)
        segs.append({"id": i, "start": words[0]["start"], "end": words[-1]["end"], "text": text, "words": words})
    return {"schema_version": 1, "kind": "aligned", "language": "hi", "segments": segs}


# ---- sentences -------------------------------------------------------------------------
def test_sentences_split_at_punctuation_across_segments():
    aligned = _aligned(("मैं घर जा रहा हूँ। तुम", 0.0), ("कहाँ हो? ठीक है", 2.0))
    sentences = group_sentences(aligned)
    assert [s.text for s in sentences] == ["मैं घर जा रहा हूँ।", "तुम कहाँ हो?", "ठीक है"]
    assert [s.words for s in sentences] == [[0, 1, 2, 3, 4], [5, 6, 7], [8, 9]]
    words = flat_words(aligned)
    for s in sentences:  # times come from the words the indices name
        assert s.start == words[s.words[0]]["start"] and s.end == words[s.words[-1]]["end"]


def test_sentences_split_at_pauses_and_length_guard():
    aligned = _aligned(("one two three", 0.0), ("four five", 10.0))
    assert [s.text for s in group_sentences(aligned)] == ["one two three", "four five"]
    long = _aligned((" ".join(f"w{i}" for i in range(25)), 0.0))
    sentences = group_sentences(long, max_words=10)
    assert [len(s.words) for s in sentences] == [10, 10, 5]
    assert sum((s.words for s in sentences), []) == list(range(25))


def test_segment_without_words_is_its_own_sentence():
    aligned = {"language": "en", "segments": [
        {"start": 0.0, "end": 1.0, "text": "hello there", "words": _words("hello there", 0.0)},
        {"start": 1.5, "end": 3.0, "text": " no words here ", "words": []},
    ]}
    sentences = group_sentences(aligned)
    assert [(s.text, s.words, s.start, s.end) for s in sentences][1] == ("no words here", [], 1.5, 3.0)


# ---- language id -------------------------------------------------------------------------
@pytest.mark.parametrize("text,label,routed", [
    ("मैं घर जा रहा हूँ", "hin_Deva", "hin_Deva"),
    ("yaar tum kahan ho, mujhe nahi pata", "hin_Latn", "hin_Deva"),
    ("I am going to the office now", "eng_Latn", "eng_Latn"),
    ("நான் வீட்டுக்கு போறேன்", "tam_Taml", "tam_Taml"),
    ("123 ...", "hin_Deva", "hin_Deva"),
])
def test_identify_in_a_hindi_job(text, label, routed):
    ident = identify(text, L("hi"))
    assert (ident.label, ident.language.code) == (label, routed)


def test_latin_text_of_a_latin_language_job_stays_that_language():
    assert identify("je suis à la maison", L("fr")).label == "fra_Latn"
    assert identify("kya hai yaar, main nahi aaunga", L("en")).label == "hin_Latn"


# ---- glossary ------------------------------------------------------------------------------
def _tsv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_glossary_files_and_languages(tmp_path):
    (tmp_path / "config").mkdir()
    _tsv(tmp_path / "config" / "glossary.tsv", "# term\ttarget\nRaju\tRaju\nbhaiya\tbrother\nbhaiya\tஅண்ணா\tta\n")
    film = tmp_path / "Movie (2001).mkv"
    per_film = _tsv(per_film_glossary(film), "Gabbar\tGabbar Singh\n")
    assert per_film.name == "Movie (2001).glossary.tsv"
    files = glossary_files(tmp_path, "", film)
    assert files == [tmp_path / "config" / "glossary.tsv", per_film]
    ta = Glossary.load(files, L("ta"))
    assert {(e.source, e.target) for e in ta.entries} == {("Raju", "Raju"), ("bhaiya", "அண்ணா"), ("Gabbar", "Gabbar Singh")}
    en = Glossary.load(files, L("en"))
    assert ("bhaiya", "brother") in {(e.source, e.target) for e in en.entries}
    assert hotwords(files) == ["Raju", "bhaiya", "Gabbar"]


def test_glossary_bad_lines_name_file_and_line(tmp_path):
    with pytest.raises(GlossaryError, match=r"g.tsv:2"):
        read_entries(_tsv(tmp_path / "g.tsv", "a\tb\nonly-one-cell\n"))
    with pytest.raises(GlossaryError, match=r"g2.tsv:1: unknown language 'xx'"):
        read_entries(_tsv(tmp_path / "g2.tsv", "a\tb\txx\n"))
    with pytest.raises(GlossaryError, match="no such file"):
        glossary_files(tmp_path, str(tmp_path / "missing.tsv"))


def test_protect_and_restore_terms():
    glossary = Glossary([*read_entries_from("Gabbar Singh\tगब्बर सिंह\nGabbar\tगब्बर\nRamgarh\tरामगढ़\n")], L("hi"))
    prot = glossary.protect("Gabbar Singh came to Ramgarh; gabbar laughed. Gabbarish is no term.")
    assert prot.text == "<ID101> came to <ID102>; <ID103> laughed. Gabbarish is no term."
    # the model moved and spaced the placeholders: they still come back
    text, lost = Glossary.restore("< ID102 > में [ID101] आया, <id103> हँसा", prot)
    assert text == "रामगढ़ में गब्बर सिंह आया, गब्बर हँसा" and lost == []
    text, lost = Glossary.restore("<ID101> आया", prot)
    assert [e.source for e in lost] == ["Ramgarh", "Gabbar"]
    assert Glossary.inline(prot).startswith("गब्बर सिंह came to रामगढ़;")


def read_entries_from(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return read_entries(_tsv(Path(tmp) / "g.tsv", text))


# ---- routing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("src,tgt,backend,role", [
    ("hi", "en", "indictrans2", "indictrans2:indic-en"),
    ("en", "ta", "indictrans2", "indictrans2:en-indic"),
    ("hi", "ta", "indictrans2", "indictrans2:indic-indic"),
    ("sat", "en", "indictrans2", "indictrans2:indic-en"),
    ("hi", "fr", "nllb", "nllb"),
    ("fr", "de", "nllb", "nllb"),
    ("en", "zh", "nllb", "nllb"),
])
def test_auto_routing(src, tgt, backend, role):
    assert choose_backend("auto", L(src), L(tgt)) == backend
    assert model_role(backend, L(src), L(tgt)) == role


def test_impossible_pairs_fail_with_choices():
    with pytest.raises(PairError, match="indictrans2 cannot translate .*fra_Latn.*TRANSLATOR=nllb can"):
        choose_backend("indictrans2", L("hi"), L("fr"))
    with pytest.raises(PairError, match="nllb cannot translate sat_Olck.*sat_Beng"):
        choose_backend("nllb", L("sat"), L("en"))
    with pytest.raises(PairError, match=r"no backend translates mni_Mtei \(Manipuri\) -> fra_Latn.*mni_Beng"):
        choose_backend("auto", L("mni_Mtei"), L("fr"))
    with pytest.raises(PairError, match="unknown translator"):
        choose_backend("google", L("hi"), L("en"))
    assert indictrans2_direction(L("en"), L("en")) is None
    assert choose_backend("llm", L("mni_Mtei"), L("fr")) == "llm"
