"""The one language table: every code form a user, a model or a container uses.

A :class:`Language` is one language in one script (``hin_Deva``, ``kas_Arab``), with its
ISO 639-1 / 639-3 codes, the ISO 639-2/B tag that Matroska/MP4 muxing wants, the
FLORES-200 code NLLB uses, the IndicTrans2 tag, and the Whisper code. ``SRC``/``TGT`` and
the stages accept any of these forms (``hi``, ``hin``, ``hin_Deva``, ``Hindi``) through
:func:`resolve_language`; an unknown code is an :class:`UnknownLanguage` error that names
the close matches.

The rows of ``_ROWS`` were generated once from real source lists and committed:
- FLORES-200 codes: ``FAIRSEQ_LANGUAGE_CODES`` of transformers' NLLB tokenizer
  (transformers 4.57, models/nllb/tokenization_nllb.py): the 202 codes NLLB-200 knows;
- IndicTrans2 tags: the 22 scheduled languages of India in their scripts, plus eng_Latn,
  as IndicTrans2 and IndicTransToolkit's IndicProcessor name them;
- Whisper codes: faster-whisper's ``_LANGUAGE_CODES`` (its names from whisperx.utils);
- ISO 639-1/639-2B, macrolanguages and names: the ISO 639-3 tables (iso639-lang 2.6).
  A language with no ISO 639-2 code of its own gets its macrolanguage's tag (ary -> ara),
  else ``mis`` (uncoded).

Run ``python -m shared.languages [--backend nllb|indictrans2|whisper]`` to list them.
"""

from __future__ import annotations

import difflib
import sys
import unicodedata
from dataclasses import dataclass


class UnknownLanguage(ValueError):
    """A language code no form of the table knows; the message lists close matches."""


@dataclass(frozen=True)
class Language:
    """One language in one script, with its code in every system the pipeline talks to."""

    code: str  # canonical tag, FLORES-200 style: hin_Deva
    name: str  # English name
    iso639_1: str | None  # hi (None where ISO 639-1 has none)
    iso639_3: str  # hin (the individual language)
    iso639_2b: str  # hin: the bibliographic ISO 639-2 tag for muxing (ger, chi, ...)
    macrolanguage: str | None  # ISO 639-3 of the macrolanguage (arb -> ara), if any
    script: str  # ISO 15924: Deva, Latn, ...
    flores: str | None  # NLLB-200 language code, None when NLLB lacks it
    indictrans2: str | None  # IndicTrans2 tag, None when IndicTrans2 lacks it
    whisper: str | None  # Whisper language code, None when Whisper lacks it

    @property
    def is_indic(self) -> bool:
        """True for the scheduled languages of India that IndicTrans2 translates (not English)."""
        return self.indictrans2 is not None and self.code != "eng_Latn"

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"


# Where a language has several scripts, the one a bare code (ks, kas, Kashmiri) means.
DEFAULT_SCRIPT = {
    "ace": "Latn",
    "bjn": "Latn",
    "kas": "Arab",
    "knc": "Latn",
    "mni": "Beng",
    "sat": "Olck",
    "snd": "Arab",
    "taq": "Latn",
    "zho": "Hans",
}

# A macrolanguage code (ara, msa, fas) means its standard variety in NLLB's table.
MACROLANGUAGE_DEFAULT = {
    "aka": "twi_Latn",
    "ara": "arb_Arab",
    "aym": "ayr_Latn",
    "aze": "azj_Latn",
    "din": "dik_Latn",
    "fas": "pes_Arab",
    "ful": "fuv_Latn",
    "kau": "knc_Latn",
    "kok": "gom_Deva",
    "kur": "kmr_Latn",
    "lav": "lvs_Latn",
    "mlg": "plt_Latn",
    "mon": "khk_Cyrl",
    "msa": "zsm_Latn",
    "nep": "npi_Deva",
    "nor": "nob_Latn",
    "ori": "ory_Orya",
    "orm": "gaz_Latn",
    "pus": "pbt_Arab",
    "que": "quy_Latn",
    "sqi": "als_Latn",
    "swa": "swh_Latn",
    "tmh": "taq_Latn",
    "uzb": "uzn_Latn",
    "yid": "ydd_Hebr",
    "zho": "zho_Hans",
}

# (tag, name, ISO 639-1, ISO 639-2/B, macrolanguage, whisper code, whisper's name when it
#  differs, in NLLB-200, in IndicTrans2) -- generated, see the module docstring.
_ROWS: tuple[tuple[str, str, str, str, str, str, str, bool, bool], ...] = (
    ('ace_Arab', 'Achinese', '', 'ace', '', '', '', True, False),
    ('ace_Latn', 'Achinese', '', 'ace', '', '', '', True, False),
    ('acm_Arab', 'Mesopotamian Arabic', '', 'ara', 'ara', '', '', True, False),
    ('acq_Arab', "Ta'izzi-Adeni Arabic", '', 'ara', 'ara', '', '', True, False),
    ('aeb_Arab', 'Tunisian Arabic', '', 'ara', 'ara', '', '', True, False),
    ('afr_Latn', 'Afrikaans', 'af', 'afr', '', 'af', '', True, False),
    ('ajp_Arab', 'South Levantine Arabic', '', 'ara', 'ara', '', '', True, False),
    ('aka_Latn', 'Akan', 'ak', 'aka', '', '', '', True, False),
    ('als_Latn', 'Tosk Albanian', 'sq', 'alb', 'sqi', 'sq', 'Albanian', True, False),
    ('amh_Ethi', 'Amharic', 'am', 'amh', '', 'am', '', True, False),
    ('apc_Arab', 'Levantine Arabic', '', 'ara', 'ara', '', '', True, False),
    ('arb_Arab', 'Standard Arabic', 'ar', 'ara', 'ara', 'ar', 'Arabic', True, False),
    ('ars_Arab', 'Najdi Arabic', '', 'ara', 'ara', '', '', True, False),
    ('ary_Arab', 'Moroccan Arabic', '', 'ara', 'ara', '', '', True, False),
    ('arz_Arab', 'Egyptian Arabic', '', 'ara', 'ara', '', '', True, False),
    ('asm_Beng', 'Assamese', 'as', 'asm', '', 'as', '', True, True),
    ('ast_Latn', 'Asturian', '', 'ast', '', '', '', True, False),
    ('awa_Deva', 'Awadhi', '', 'awa', '', '', '', True, False),
    ('ayr_Latn', 'Central Aymara', '', 'aym', 'aym', '', '', True, False),
    ('azb_Arab', 'South Azerbaijani', '', 'aze', 'aze', '', '', True, False),
    ('azj_Latn', 'North Azerbaijani', 'az', 'aze', 'aze', 'az', 'Azerbaijani', True, False),
    ('bak_Cyrl', 'Bashkir', 'ba', 'bak', '', 'ba', '', True, False),
    ('bam_Latn', 'Bambara', 'bm', 'bam', '', '', '', True, False),
    ('ban_Latn', 'Balinese', '', 'ban', '', '', '', True, False),
    ('bel_Cyrl', 'Belarusian', 'be', 'bel', '', 'be', '', True, False),
    ('bem_Latn', 'Bemba (Zambia)', '', 'bem', '', '', '', True, False),
    ('ben_Beng', 'Bengali', 'bn', 'ben', '', 'bn', '', True, True),
    ('bho_Deva', 'Bhojpuri', '', 'bho', '', '', '', True, False),
    ('bjn_Arab', 'Banjar', '', 'may', 'msa', '', '', True, False),
    ('bjn_Latn', 'Banjar', '', 'may', 'msa', '', '', True, False),
    ('bod_Tibt', 'Tibetan', 'bo', 'tib', '', 'bo', '', True, False),
    ('bos_Latn', 'Bosnian', 'bs', 'bos', 'hbs', 'bs', '', True, False),
    ('bre_Latn', 'Breton', 'br', 'bre', '', 'br', '', False, False),
    ('brx_Deva', 'Bodo (India)', '', 'mis', '', '', '', False, True),
    ('bug_Latn', 'Buginese', '', 'bug', '', '', '', True, False),
    ('bul_Cyrl', 'Bulgarian', 'bg', 'bul', '', 'bg', '', True, False),
    ('cat_Latn', 'Catalan', 'ca', 'cat', '', 'ca', '', True, False),
    ('ceb_Latn', 'Cebuano', '', 'ceb', '', '', '', True, False),
    ('ces_Latn', 'Czech', 'cs', 'cze', '', 'cs', '', True, False),
    ('cjk_Latn', 'Chokwe', '', 'mis', '', '', '', True, False),
    ('ckb_Arab', 'Central Kurdish', '', 'kur', 'kur', '', '', True, False),
    ('crh_Latn', 'Crimean Tatar', '', 'crh', '', '', '', True, False),
    ('cym_Latn', 'Welsh', 'cy', 'wel', '', 'cy', '', True, False),
    ('dan_Latn', 'Danish', 'da', 'dan', '', 'da', '', True, False),
    ('deu_Latn', 'German', 'de', 'ger', '', 'de', '', True, False),
    ('dik_Latn', 'Southwestern Dinka', '', 'din', 'din', '', '', True, False),
    ('doi_Deva', 'Dogri', '', 'doi', '', '', '', False, True),
    ('dyu_Latn', 'Dyula', '', 'dyu', '', '', '', True, False),
    ('dzo_Tibt', 'Dzongkha', 'dz', 'dzo', '', '', '', True, False),
    ('ell_Grek', 'Modern Greek (1453-)', 'el', 'gre', '', 'el', 'Greek', True, False),
    ('eng_Latn', 'English', 'en', 'eng', '', 'en', '', True, True),
    ('epo_Latn', 'Esperanto', 'eo', 'epo', '', '', '', True, False),
    ('est_Latn', 'Estonian', 'et', 'est', '', 'et', '', True, False),
    ('eus_Latn', 'Basque', 'eu', 'baq', '', 'eu', '', True, False),
    ('ewe_Latn', 'Ewe', 'ee', 'ewe', '', '', '', True, False),
    ('fao_Latn', 'Faroese', 'fo', 'fao', '', 'fo', '', True, False),
    ('fij_Latn', 'Fijian', 'fj', 'fij', '', '', '', True, False),
    ('fin_Latn', 'Finnish', 'fi', 'fin', '', 'fi', '', True, False),
    ('fon_Latn', 'Fon', '', 'fon', '', '', '', True, False),
    ('fra_Latn', 'French', 'fr', 'fre', '', 'fr', '', True, False),
    ('fur_Latn', 'Friulian', '', 'fur', '', '', '', True, False),
    ('fuv_Latn', 'Nigerian Fulfulde', 'ff', 'ful', 'ful', '', '', True, False),
    ('gaz_Latn', 'West Central Oromo', 'om', 'orm', 'orm', '', '', True, False),
    ('gla_Latn', 'Scottish Gaelic', 'gd', 'gla', '', '', '', True, False),
    ('gle_Latn', 'Irish', 'ga', 'gle', '', '', '', True, False),
    ('glg_Latn', 'Galician', 'gl', 'glg', '', 'gl', '', True, False),
    ('gom_Deva', 'Goan Konkani', '', 'kok', 'kok', '', '', False, True),
    ('grn_Latn', 'Guarani', 'gn', 'grn', '', '', '', True, False),
    ('guj_Gujr', 'Gujarati', 'gu', 'guj', '', 'gu', '', True, True),
    ('hat_Latn', 'Haitian', 'ht', 'hat', '', 'ht', 'Haitian Creole', True, False),
    ('hau_Latn', 'Hausa', 'ha', 'hau', '', 'ha', '', True, False),
    ('haw_Latn', 'Hawaiian', '', 'haw', '', 'haw', '', False, False),
    ('heb_Hebr', 'Hebrew', 'he', 'heb', '', 'he', '', True, False),
    ('hin_Deva', 'Hindi', 'hi', 'hin', '', 'hi', '', True, True),
    ('hne_Deva', 'Chhattisgarhi', '', 'mis', '', '', '', True, False),
    ('hrv_Latn', 'Croatian', 'hr', 'hrv', 'hbs', 'hr', '', True, False),
    ('hun_Latn', 'Hungarian', 'hu', 'hun', '', 'hu', '', True, False),
    ('hye_Armn', 'Armenian', 'hy', 'arm', '', 'hy', '', True, False),
    ('ibo_Latn', 'Igbo', 'ig', 'ibo', '', '', '', True, False),
    ('ilo_Latn', 'Iloko', '', 'ilo', '', '', '', True, False),
    ('ind_Latn', 'Indonesian', 'id', 'ind', 'msa', 'id', '', True, False),
    ('isl_Latn', 'Icelandic', 'is', 'ice', '', 'is', '', True, False),
    ('ita_Latn', 'Italian', 'it', 'ita', '', 'it', '', True, False),
    ('jav_Latn', 'Javanese', 'jv', 'jav', '', 'jw', '', True, False),
    ('jpn_Jpan', 'Japanese', 'ja', 'jpn', '', 'ja', '', True, False),
    ('kab_Latn', 'Kabyle', '', 'kab', '', '', '', True, False),
    ('kac_Latn', 'Kachin', '', 'kac', '', '', '', True, False),
    ('kam_Latn', 'Kamba (Kenya)', '', 'kam', '', '', '', True, False),
    ('kan_Knda', 'Kannada', 'kn', 'kan', '', 'kn', '', True, True),
    ('kas_Arab', 'Kashmiri', 'ks', 'kas', '', '', '', True, True),
    ('kas_Deva', 'Kashmiri', 'ks', 'kas', '', '', '', True, True),
    ('kat_Geor', 'Georgian', 'ka', 'geo', '', 'ka', '', True, False),
    ('kaz_Cyrl', 'Kazakh', 'kk', 'kaz', '', 'kk', '', True, False),
    ('kbp_Latn', 'Kabiyè', '', 'mis', '', '', '', True, False),
    ('kea_Latn', 'Kabuverdianu', '', 'mis', '', '', '', True, False),
    ('khk_Cyrl', 'Halh Mongolian', 'mn', 'mon', 'mon', 'mn', 'Mongolian', True, False),
    ('khm_Khmr', 'Khmer', 'km', 'khm', '', 'km', '', True, False),
    ('kik_Latn', 'Kikuyu', 'ki', 'kik', '', '', '', True, False),
    ('kin_Latn', 'Kinyarwanda', 'rw', 'kin', '', '', '', True, False),
    ('kir_Cyrl', 'Kirghiz', 'ky', 'kir', '', '', '', True, False),
    ('kmb_Latn', 'Kimbundu', '', 'kmb', '', '', '', True, False),
    ('kmr_Latn', 'Northern Kurdish', 'ku', 'kur', 'kur', '', '', True, False),
    ('knc_Arab', 'Central Kanuri', 'kr', 'kau', 'kau', '', '', True, False),
    ('knc_Latn', 'Central Kanuri', 'kr', 'kau', 'kau', '', '', True, False),
    ('kon_Latn', 'Kongo', 'kg', 'kon', '', '', '', True, False),
    ('kor_Hang', 'Korean', 'ko', 'kor', '', 'ko', '', True, False),
    ('lao_Laoo', 'Lao', 'lo', 'lao', '', 'lo', '', True, False),
    ('lat_Latn', 'Latin', 'la', 'lat', '', 'la', '', False, False),
    ('lij_Latn', 'Ligurian', '', 'mis', '', '', '', True, False),
    ('lim_Latn', 'Limburgan', 'li', 'lim', '', '', '', True, False),
    ('lin_Latn', 'Lingala', 'ln', 'lin', '', 'ln', '', True, False),
    ('lit_Latn', 'Lithuanian', 'lt', 'lit', '', 'lt', '', True, False),
    ('lmo_Latn', 'Lombard', '', 'mis', '', '', '', True, False),
    ('ltg_Latn', 'Latgalian', '', 'lav', 'lav', '', '', True, False),
    ('ltz_Latn', 'Luxembourgish', 'lb', 'ltz', '', 'lb', '', True, False),
    ('lua_Latn', 'Luba-Lulua', '', 'lua', '', '', '', True, False),
    ('lug_Latn', 'Ganda', 'lg', 'lug', '', '', '', True, False),
    ('luo_Latn', 'Luo (Kenya and Tanzania)', '', 'luo', '', '', '', True, False),
    ('lus_Latn', 'Lushai', '', 'lus', '', '', '', True, False),
    ('lvs_Latn', 'Standard Latvian', 'lv', 'lav', 'lav', 'lv', 'Latvian', True, False),
    ('mag_Deva', 'Magahi', '', 'mag', '', '', '', True, False),
    ('mai_Deva', 'Maithili', '', 'mai', '', '', '', True, True),
    ('mal_Mlym', 'Malayalam', 'ml', 'mal', '', 'ml', '', True, True),
    ('mar_Deva', 'Marathi', 'mr', 'mar', '', 'mr', '', True, True),
    ('min_Latn', 'Minangkabau', '', 'min', 'msa', '', '', True, False),
    ('mkd_Cyrl', 'Macedonian', 'mk', 'mac', '', 'mk', '', True, False),
    ('mlt_Latn', 'Maltese', 'mt', 'mlt', '', 'mt', '', True, False),
    ('mni_Beng', 'Manipuri', '', 'mni', '', '', '', True, True),
    ('mni_Mtei', 'Manipuri', '', 'mni', '', '', '', False, True),
    ('mos_Latn', 'Mossi', '', 'mos', '', '', '', True, False),
    ('mri_Latn', 'Maori', 'mi', 'mao', '', 'mi', '', True, False),
    ('mya_Mymr', 'Burmese', 'my', 'bur', '', 'my', 'Myanmar', True, False),
    ('nld_Latn', 'Dutch', 'nl', 'dut', '', 'nl', '', True, False),
    ('nno_Latn', 'Norwegian Nynorsk', 'nn', 'nno', 'nor', 'nn', 'Nynorsk', True, False),
    ('nob_Latn', 'Norwegian Bokmål', 'nb', 'nob', 'nor', 'no', 'Norwegian', True, False),
    ('npi_Deva', 'Nepali', 'ne', 'nep', 'nep', 'ne', '', True, True),
    ('nso_Latn', 'Pedi', '', 'nso', '', '', '', True, False),
    ('nus_Latn', 'Nuer', '', 'mis', '', '', '', True, False),
    ('nya_Latn', 'Chichewa', 'ny', 'nya', '', '', '', True, False),
    ('oci_Latn', 'Occitan (post 1500)', 'oc', 'oci', '', 'oc', 'Occitan', True, False),
    ('ory_Orya', 'Odia', 'or', 'ori', 'ori', '', '', True, True),
    ('pag_Latn', 'Pangasinan', '', 'pag', '', '', '', True, False),
    ('pan_Guru', 'Panjabi', 'pa', 'pan', '', 'pa', 'Punjabi', True, True),
    ('pap_Latn', 'Papiamento', '', 'pap', '', '', '', True, False),
    ('pbt_Arab', 'Southern Pashto', 'ps', 'pus', 'pus', 'ps', 'Pashto', True, False),
    ('pes_Arab', 'Iranian Persian', 'fa', 'per', 'fas', 'fa', 'Persian', True, False),
    ('plt_Latn', 'Plateau Malagasy', 'mg', 'mlg', 'mlg', 'mg', 'Malagasy', True, False),
    ('pol_Latn', 'Polish', 'pl', 'pol', '', 'pl', '', True, False),
    ('por_Latn', 'Portuguese', 'pt', 'por', '', 'pt', '', True, False),
    ('prs_Arab', 'Dari', '', 'per', 'fas', '', '', True, False),
    ('quy_Latn', 'Ayacucho Quechua', 'qu', 'que', 'que', '', '', True, False),
    ('ron_Latn', 'Romanian', 'ro', 'rum', '', 'ro', '', True, False),
    ('run_Latn', 'Rundi', 'rn', 'run', '', '', '', True, False),
    ('rus_Cyrl', 'Russian', 'ru', 'rus', '', 'ru', '', True, False),
    ('sag_Latn', 'Sango', 'sg', 'sag', '', '', '', True, False),
    ('san_Deva', 'Sanskrit', 'sa', 'san', '', 'sa', '', True, True),
    ('sat_Beng', 'Santali', '', 'sat', '', '', '', True, False),
    ('sat_Olck', 'Santali', '', 'sat', '', '', '', False, True),
    ('scn_Latn', 'Sicilian', '', 'scn', '', '', '', True, False),
    ('shn_Mymr', 'Shan', '', 'shn', '', '', '', True, False),
    ('sin_Sinh', 'Sinhala', 'si', 'sin', '', 'si', '', True, False),
    ('slk_Latn', 'Slovak', 'sk', 'slo', '', 'sk', '', True, False),
    ('slv_Latn', 'Slovenian', 'sl', 'slv', '', 'sl', '', True, False),
    ('smo_Latn', 'Samoan', 'sm', 'smo', '', '', '', True, False),
    ('sna_Latn', 'Shona', 'sn', 'sna', '', 'sn', '', True, False),
    ('snd_Arab', 'Sindhi', 'sd', 'snd', '', 'sd', '', True, True),
    ('snd_Deva', 'Sindhi', 'sd', 'snd', '', '', '', False, True),
    ('som_Latn', 'Somali', 'so', 'som', '', 'so', '', True, False),
    ('sot_Latn', 'Southern Sotho', 'st', 'sot', '', '', '', True, False),
    ('spa_Latn', 'Spanish', 'es', 'spa', '', 'es', '', True, False),
    ('srd_Latn', 'Sardinian', 'sc', 'srd', '', '', '', True, False),
    ('srp_Cyrl', 'Serbian', 'sr', 'srp', 'hbs', 'sr', '', True, False),
    ('ssw_Latn', 'Swati', 'ss', 'ssw', '', '', '', True, False),
    ('sun_Latn', 'Sundanese', 'su', 'sun', '', 'su', '', True, False),
    ('swe_Latn', 'Swedish', 'sv', 'swe', '', 'sv', '', True, False),
    ('swh_Latn', 'Swahili', 'sw', 'swa', 'swa', 'sw', '', True, False),
    ('szl_Latn', 'Silesian', '', 'mis', '', '', '', True, False),
    ('tam_Taml', 'Tamil', 'ta', 'tam', '', 'ta', '', True, True),
    ('taq_Latn', 'Tamasheq', '', 'tmh', 'tmh', '', '', True, False),
    ('taq_Tfng', 'Tamasheq', '', 'tmh', 'tmh', '', '', True, False),
    ('tat_Cyrl', 'Tatar', 'tt', 'tat', '', 'tt', '', True, False),
    ('tel_Telu', 'Telugu', 'te', 'tel', '', 'te', '', True, True),
    ('tgk_Cyrl', 'Tajik', 'tg', 'tgk', '', 'tg', '', True, False),
    ('tgl_Latn', 'Tagalog', 'tl', 'tgl', '', 'tl', '', True, False),
    ('tha_Thai', 'Thai', 'th', 'tha', '', 'th', '', True, False),
    ('tir_Ethi', 'Tigrinya', 'ti', 'tir', '', '', '', True, False),
    ('tpi_Latn', 'Tok Pisin', '', 'tpi', '', '', '', True, False),
    ('tsn_Latn', 'Tswana', 'tn', 'tsn', '', '', '', True, False),
    ('tso_Latn', 'Tsonga', 'ts', 'tso', '', '', '', True, False),
    ('tuk_Latn', 'Turkmen', 'tk', 'tuk', '', 'tk', '', True, False),
    ('tum_Latn', 'Tumbuka', '', 'tum', '', '', '', True, False),
    ('tur_Latn', 'Turkish', 'tr', 'tur', '', 'tr', '', True, False),
    ('twi_Latn', 'Twi', 'tw', 'twi', 'aka', '', '', True, False),
    ('tzm_Tfng', 'Central Atlas Tamazight', '', 'mis', '', '', '', True, False),
    ('uig_Arab', 'Uighur', 'ug', 'uig', '', '', '', True, False),
    ('ukr_Cyrl', 'Ukrainian', 'uk', 'ukr', '', 'uk', '', True, False),
    ('umb_Latn', 'Umbundu', '', 'umb', '', '', '', True, False),
    ('urd_Arab', 'Urdu', 'ur', 'urd', '', 'ur', '', True, True),
    ('uzn_Latn', 'Northern Uzbek', 'uz', 'uzb', 'uzb', 'uz', 'Uzbek', True, False),
    ('vec_Latn', 'Venetian', '', 'mis', '', '', '', True, False),
    ('vie_Latn', 'Vietnamese', 'vi', 'vie', '', 'vi', '', True, False),
    ('war_Latn', 'Waray (Philippines)', '', 'war', '', '', '', True, False),
    ('wol_Latn', 'Wolof', 'wo', 'wol', '', '', '', True, False),
    ('xho_Latn', 'Xhosa', 'xh', 'xho', '', '', '', True, False),
    ('ydd_Hebr', 'Eastern Yiddish', 'yi', 'yid', 'yid', 'yi', 'Yiddish', True, False),
    ('yor_Latn', 'Yoruba', 'yo', 'yor', '', 'yo', '', True, False),
    ('yue_Hant', 'Yue Chinese', '', 'chi', 'zho', 'yue', 'Cantonese', True, False),
    ('zho_Hans', 'Chinese', 'zh', 'chi', '', 'zh', '', True, False),
    ('zho_Hant', 'Chinese', 'zh', 'chi', '', '', '', True, False),
    ('zsm_Latn', 'Standard Malay', 'ms', 'may', 'msa', 'ms', 'Malay', True, False),
    ('zul_Latn', 'Zulu', 'zu', 'zul', '', '', '', True, False),
)


def _build(rows) -> dict[str, Language]:
    table = {}
    for tag, name, iso1, iso2b, macro, whisper, _alt, nllb, it2 in rows:
        iso3, script = tag.split("_")
        table[tag] = Language(
            code=tag,
            name=name,
            iso639_1=iso1 or None,
            iso639_3=iso3,
            iso639_2b=iso2b,
            macrolanguage=macro or None,
            script=script,
            flores=tag if nllb else None,
            indictrans2=tag if it2 else None,
            whisper=whisper or None,
        )
    return table


LANGUAGES: dict[str, Language] = _build(_ROWS)


def _is_default_variant(lang: Language, variants: dict[str, int]) -> bool:
    if variants[lang.iso639_3] == 1:
        return True
    return DEFAULT_SCRIPT.get(lang.iso639_3) == lang.script


def _build_aliases(table: dict[str, Language]) -> dict[str, str]:
    """Lower-cased code or name -> tag; the earlier, more specific form wins a clash."""
    variants: dict[str, int] = {}
    for lang in table.values():
        variants[lang.iso639_3] = variants.get(lang.iso639_3, 0) + 1
    aliases: dict[str, str] = {}

    def add(key: str | None, tag: str) -> None:
        if key:
            aliases.setdefault(key.lower(), tag)

    for tag in table:  # 1. the exact tags
        add(tag, tag)
    alt_names = {row[0]: row[6] for row in _ROWS}
    defaults = [lang for lang in table.values() if _is_default_variant(lang, variants)]
    for lang in defaults:  # 2. codes of the language itself
        add(lang.iso639_3, lang.code)
        add(lang.iso639_1, lang.code)
        add(lang.whisper, lang.code)
    for macro, tag in MACROLANGUAGE_DEFAULT.items():  # 3. a macrolanguage means its standard variety
        add(macro, tag)
        add(table[tag].iso639_2b, tag)
    for lang in defaults:  # 4. bibliographic tags (ger, fre) of languages of their own
        if not lang.macrolanguage and lang.iso639_2b != "mis":
            add(lang.iso639_2b, lang.code)
    for lang in defaults:  # 5. names
        add(lang.name, lang.code)
        add(alt_names.get(lang.code), lang.code)
    return aliases


_ALIASES: dict[str, str] = _build_aliases(LANGUAGES)


def resolve_language(code: str) -> Language:
    """The :class:`Language` that ``code`` names, in any accepted form; else UnknownLanguage."""
    key = (code or "").strip().replace("-", "_").lower()
    tag = _ALIASES.get(key)
    if tag is None and key.count("_") == 1 and key.split("_")[0] in _ALIASES:
        base, subtag = key.split("_")
        if len(subtag) == 4:  # BCP 47 script (ks-Deva, zh-Hant): that language in that script
            iso3 = LANGUAGES[_ALIASES[base]].iso639_3
            tag = next((t for t, lang in LANGUAGES.items() if lang.iso639_3 == iso3 and lang.script.lower() == subtag), None)
        elif len(subtag) == 2 or subtag.isdigit():  # BCP 47 region (en-US, hi-IN, es-419): the language
            tag = _ALIASES[base]
    if tag is None:
        raise UnknownLanguage(unknown_message(code))
    return LANGUAGES[tag]


def close_matches(code: str, limit: int = 6) -> list[str]:
    """Accepted forms that look like ``code``, best first, each shown as ``form (tag)``."""
    key = (code or "").strip().replace("-", "_").lower()
    found = difflib.get_close_matches(key, list(_ALIASES), n=limit, cutoff=0.6)
    if not found and "_" in key:  # a tag with a wrong script: offer that language's tags
        found = [k for k in _ALIASES if k.startswith(key.split("_")[0] + "_")][:limit]
    return [f"{k} ({_ALIASES[k]})" if k != _ALIASES[k].lower() else _ALIASES[k] for k in found]


def unknown_message(code: str) -> str:
    """The error text for an unknown language code, with close matches and where to look."""
    matches = close_matches(code)
    hint = f"; did you mean: {', '.join(matches)}?" if matches else ""
    return (
        f"unknown language {code!r}{hint} Use an ISO 639-1/639-3 code, a FLORES-200 tag or an English "
        "name (hi, hin, hin_Deva, Hindi); `python -m shared.languages` lists all of them"
    )


def mux_language_tag(code: str | None) -> str:
    """The ISO 639-2/B tag a container track gets for ``code`` (any form); ``und`` when unknown."""
    if not code or code.strip().lower() in ("auto", "und", "unknown"):
        return "und"
    try:
        return resolve_language(code).iso639_2b
    except UnknownLanguage:
        return "und"


def file_tag(code: str) -> str:
    """The short BCP 47 tag subtitle files are named with (``movie.hi.srt``): what players read.

    ISO 639-1 where there is one, else 639-3; the script is added only where the language
    has several in the table and this is not the usual one (``ks-Deva``, ``mni-Mtei``).
    A code the table does not know is returned as it is.
    """
    try:
        lang = resolve_language(code)
    except UnknownLanguage:
        return code
    base = lang.iso639_1 or lang.iso639_3
    return base if _ALIASES.get(base.lower()) == lang.code else f"{base}-{lang.script}"


def parse_language_list(text: str, what: str = "TGT", strict: bool = True) -> list[str]:
    """A comma-separated list of languages in any accepted form as file tags, in order, without repeats.

    The one parser of TGT: ``ta,tam,Tamil`` is one Tamil (``["ta"]``), ``hin_Deva`` is ``hi``.
    ``strict``: an unknown language raises UnknownLanguage naming ``what``; otherwise it is
    kept lower-cased (callers that only estimate, like the model cache, never refuse).
    """
    found: list[str] = []
    for part in (text or "").split(","):
        code = part.strip()
        if not code:
            continue
        try:
            resolve_language(code)
        except UnknownLanguage as exc:
            if strict:
                raise UnknownLanguage(f"{what}: {exc}") from None
            tag = code.lower()
        else:
            tag = file_tag(code)
        if tag not in found:
            found.append(tag)
    return found


def languages_for(backend: str) -> list[Language]:
    """Every language a backend (nllb, indictrans2, whisper) handles, in tag order."""
    field = {"nllb": "flores", "indictrans2": "indictrans2", "whisper": "whisper"}.get(backend)
    if field is None:
        raise ValueError(f"unknown backend {backend!r}; known: nllb, indictrans2, whisper")
    return [lang for lang in LANGUAGES.values() if getattr(lang, field)]


# A short everyday phrase in each script Whisper writes Indic languages in. Whisper often
# writes Hindustani speech in the other script of the pair (Hindi in Urdu letters, Punjabi in
# Shahmukhi), most of all with the smaller models; a prompt in the language's own script
# steers the decoder to it (the prompt is Whisper's "previous text").
SCRIPT_PROMPTS = {
    "Deva": "हाँ, ठीक है।",
    "Arab": "جی ہاں، ٹھیک ہے۔",
    "Beng": "হ্যাঁ, ঠিক আছে।",
    "Guru": "ਹਾਂ, ਠੀਕ ਹੈ।",
    "Gujr": "હા, બરાબર છે.",
    "Orya": "ହଁ, ଠିକ ଅଛି।",
    "Taml": "ஆமாம், சரி.",
    "Telu": "అవును, సరే.",
    "Knda": "ಹೌದು, ಸರಿ.",
    "Mlym": "അതെ, ശരി.",
}

# The first word of a letter's Unicode name -> its ISO 15924 script code.
_UNICODE_SCRIPTS = {
    "LATIN": "Latn", "DEVANAGARI": "Deva", "ARABIC": "Arab", "BENGALI": "Beng", "GURMUKHI": "Guru",
    "GUJARATI": "Gujr", "ORIYA": "Orya", "TAMIL": "Taml", "TELUGU": "Telu", "KANNADA": "Knda",
    "MALAYALAM": "Mlym", "SINHALA": "Sinh", "THAI": "Thai", "CYRILLIC": "Cyrl", "GREEK": "Grek",
    "HEBREW": "Hebr", "HANGUL": "Hang", "HIRAGANA": "Jpan", "KATAKANA": "Jpan", "CJK": "Hani",
    "OL": "Olck", "MEETEI": "Mtei", "TIBETAN": "Tibt", "MYANMAR": "Mymr", "KHMER": "Khmr",
}


def script_prompt(code: str) -> str | None:
    """The phrase that steers Whisper to ``code``'s own script: for the languages of India
    written in a script with a phrase (Hindi, Urdu, Punjabi, Bengali, Tamil, ...); None for
    others (the Urdu phrase would pull Arabic or Persian speech toward Urdu words)."""
    try:
        lang = resolve_language(code)
    except UnknownLanguage:
        return None
    return SCRIPT_PROMPTS.get(lang.script) if lang.is_indic else None


def script_counts(text: str) -> dict[str, int]:
    """How many letters of ``text`` each script (ISO 15924) has; marks and digits don't count."""
    counts: dict[str, int] = {}
    for char in text:
        if not unicodedata.category(char).startswith("L"):
            continue
        word = unicodedata.name(char, "").split(" ", 1)[0]
        script = _UNICODE_SCRIPTS.get(word, "Zyyy")
        counts[script] = counts.get(script, 0) + 1
    return counts


def script_mismatch(text: str, code: str, share: float = 0.5) -> tuple[str, float] | None:
    """(the script most letters are in, its share) when under ``share`` of ``text``'s letters are
    in ``code``'s own script, else None (also for unknown languages and text without letters).
    Latin letters don't count against a non-Latin language: romanised words and names are
    ordinary in Hinglish speech; only another non-Latin script is a wrong script."""
    try:
        expected = resolve_language(code).script
    except UnknownLanguage:
        return None
    counts = script_counts(text)
    if expected != "Latn":
        counts.pop("Latn", None)
    total = sum(counts.values())
    if not total or counts.get(expected, 0) / total >= share:
        return None
    top = max(counts, key=lambda name: counts[name])
    return top, counts[top] / total


def main(argv: list[str] | None = None) -> int:
    """List the table (optionally one backend's languages) as tab-separated columns."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m shared.languages", description=main.__doc__)
    parser.add_argument("--backend", choices=["nllb", "indictrans2", "whisper"])
    parser.add_argument("code", nargs="?", help="resolve one code and print its record")
    args = parser.parse_args(argv)
    if args.code:
        try:
            lang = resolve_language(args.code)
        except UnknownLanguage as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for key, value in vars(lang).items():
            print(f"{key}\t{value if value is not None else '-'}")
        return 0
    rows = languages_for(args.backend) if args.backend else list(LANGUAGES.values())
    print("tag\tname\t639-1\t639-3\t639-2B\tNLLB\tIndicTrans2\twhisper")
    for lang in rows:
        cells = [lang.code, lang.name, lang.iso639_1, lang.iso639_3, lang.iso639_2b, lang.flores, lang.indictrans2, lang.whisper]
        print("\t".join(c or "-" for c in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
