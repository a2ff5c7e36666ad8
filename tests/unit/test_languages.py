"""The language table: every accepted code form, the backends' lists, mux tags, bad codes."""

from __future__ import annotations

import pytest

from shared.languages import (
    LANGUAGES,
    UnknownLanguage,
    languages_for,
    mux_language_tag,
    parse_language_list,
    resolve_language,
)

IT2_TAGS = ["asm_Beng", "ben_Beng", "brx_Deva", "doi_Deva", "gom_Deva", "guj_Gujr", "hin_Deva", "kan_Knda", "kas_Arab", "kas_Deva", "mai_Deva", "mal_Mlym", "mar_Deva", "mni_Beng", "mni_Mtei", "npi_Deva", "ory_Orya", "pan_Guru", "san_Deva", "sat_Olck", "snd_Arab", "snd_Deva", "tam_Taml", "tel_Telu", "urd_Arab", "eng_Latn"]


@pytest.mark.parametrize("form", ["hi", "hin", "hin_Deva", "Hindi", "HINDI", "hin-Deva", " hi "])
def test_every_form_of_hindi_is_one_record(form):
    lang = resolve_language(form)
    assert lang.code == "hin_Deva"
    assert (lang.iso639_1, lang.iso639_3, lang.iso639_2b, lang.flores, lang.indictrans2, lang.whisper) == (
        "hi", "hin", "hin", "hin_Deva", "hin_Deva", "hi")


@pytest.mark.parametrize("form,code,mux", [
    ("ta", "tam_Taml", "tam"), ("Tamil", "tam_Taml", "tam"), ("en", "eng_Latn", "eng"), ("de", "deu_Latn", "ger"),
    ("ger", "deu_Latn", "ger"), ("fr", "fra_Latn", "fre"), ("zh", "zho_Hans", "chi"), ("ar", "arb_Arab", "ara"),
    ("ara", "arb_Arab", "ara"), ("fa", "pes_Arab", "per"), ("ms", "zsm_Latn", "may"), ("ne", "npi_Deva", "nep"),
    ("or", "ory_Orya", "ori"), ("ks", "kas_Arab", "kas"), ("kas_Deva", "kas_Deva", "kas"), ("sat", "sat_Olck", "sat"),
    ("mni_Mtei", "mni_Mtei", "mni"), ("gom", "gom_Deva", "kok"), ("kok", "gom_Deva", "kok"), ("jw", "jav_Latn", "jav"),
    ("yue", "yue_Hant", "chi"), ("Cantonese", "yue_Hant", "chi"), ("no", "nob_Latn", "nob"), ("la", "lat_Latn", "lat"),
])
def test_forms_resolve(form, code, mux):
    assert resolve_language(form).code == code
    assert mux_language_tag(form) == mux


def test_backend_lists_have_their_sizes():
    assert len(languages_for("nllb")) == 202  # FLORES-200 as NLLB's tokenizer lists it
    assert sorted(lang.code for lang in languages_for("indictrans2")) == sorted(IT2_TAGS)
    assert len(languages_for("whisper")) == 100
    assert sum(lang.is_indic for lang in LANGUAGES.values()) == 25  # 22 languages, 3 with a second script


def test_whisper_codes_are_unique_and_round_trip():
    codes = [lang.whisper for lang in LANGUAGES.values() if lang.whisper]
    assert len(codes) == len(set(codes))
    for code in codes:
        assert resolve_language(code).whisper == code


def test_every_tag_resolves_to_itself_and_has_a_mux_tag():
    for tag, lang in LANGUAGES.items():
        assert resolve_language(tag) is lang
        assert len(lang.iso639_2b) == 3


@pytest.mark.parametrize("bad", ["hindu", "xx", "", "hin_Latn", "klingon"])
def test_unknown_codes_fail_with_choices(bad):
    with pytest.raises(UnknownLanguage) as info:
        resolve_language(bad)
    assert "python -m shared.languages" in str(info.value)


def test_close_matches_are_offered():
    with pytest.raises(UnknownLanguage, match=r"hindi \(hin_Deva\)"):
        resolve_language("hindu")


def test_mux_tag_of_unknown_is_und():
    assert mux_language_tag("auto") == "und"
    assert mux_language_tag("") == "und"
    assert mux_language_tag("qqq") == "und"


def test_cli_resolves_and_fails(capsys):
    from shared.languages import main

    assert main(["ta"]) == 0
    assert "tam_Taml" in capsys.readouterr().out
    assert main(["qqq"]) == 2
    assert main(["--backend", "indictrans2"]) == 0
    assert capsys.readouterr().out.count("\n") == 27  # header + 26 tags


def test_subtitle_file_tags_are_what_players_read_and_resolve_back():
    from shared.languages import file_tag

    cases = {"hin_Deva": "hi", "fra_Latn": "fr", "en": "en", "kas_Arab": "ks", "kas_Deva": "ks-Deva",
             "mni_Mtei": "mni-Mtei", "sat_Olck": "sat", "zho_Hant": "zh-Hant", "gom": "gom"}
    for code, tag in cases.items():
        assert file_tag(code) == tag, code
        assert resolve_language(tag).code == resolve_language(code).code  # the tag names the same language and script
    assert file_tag("xx") == "xx"  # unknown: left as written, for the caller to judge


def test_bcp47_region_and_script_subtags():
    assert resolve_language("en-US").code == "eng_Latn" and resolve_language("hi-IN").code == "hin_Deva"
    assert resolve_language("ks-Deva").code == "kas_Deva"
    with pytest.raises(UnknownLanguage):
        resolve_language("hi-Xyzz")  # an unknown script is not silently dropped


def test_language_lists_are_parsed_once_normalised_and_deduplicated():
    assert parse_language_list("ta, tam,Tamil,,en,eng_Latn") == ["ta", "en"]
    assert parse_language_list("ks_Deva,ks") == ["ks-Deva", "ks"]
    assert parse_language_list("") == []
    with pytest.raises(UnknownLanguage, match="^TGT: unknown language 'xq'"):
        parse_language_list("en,xq")
    assert parse_language_list("en,XQ", strict=False) == ["en", "xq"]


def test_script_prompts_steer_the_languages_of_india_only() -> None:
    from shared.languages import script_counts, script_prompt

    assert script_counts(script_prompt("hi")).keys() == {"Deva"}
    assert script_counts(script_prompt("hin_Deva")).keys() == {"Deva"}
    assert script_counts(script_prompt("ur")).keys() == {"Arab"}
    assert script_counts(script_prompt("pa")).keys() == {"Guru"}
    assert script_counts(script_prompt("ta")).keys() == {"Taml"}
    assert script_prompt("en") is None and script_prompt("ar") is None and script_prompt("xx") is None


def test_a_transcript_in_another_script_is_named_with_its_share() -> None:
    from shared.languages import script_mismatch

    assert script_mismatch("آموسم ببوبا شاہے, شاہو مارفر", "hi") == ("Arab", 1.0)
    assert script_mismatch("मेरा नाम राहुल है", "hi") is None
    # romanised Hinglish and English names inside Hindi are not a wrong script
    assert script_mismatch("main kal market gaya", "hi") is None
    assert script_mismatch("मैं कल Google office गया", "hi") is None
    top, share = script_mismatch("मेरा नाम है ஆமாம் சரி சரி சரி சரி", "hi")
    assert top == "Taml" and 0.5 < share < 1
    assert script_mismatch("hello there", "en") is None
    assert script_mismatch("", "hi") is None and script_mismatch("abc", "xx") is None
