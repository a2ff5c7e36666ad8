"""Per-sentence language identification for code-mixed speech (Hinglish and the like).

Two signals, both cheap and offline: the Unicode script of the letters, and for Latin
text a word-list vote between romanised Hindi and English. A Devanagari sentence in a
Hindi job is Hindi; a Latin sentence full of "hai", "nahi", "kya" is romanised Hindi
(reported as ``hin_Latn`` and translated as Hindi); a Latin sentence of "the", "is",
"you" is English, which a target of English keeps untranslated.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from shared.languages import Language, resolve_language

# The script of each Unicode block name prefix that matters here.
_SCRIPTS = {
    "LATIN": "Latn", "DEVANAGARI": "Deva", "BENGALI": "Beng", "GURMUKHI": "Guru", "GUJARATI": "Gujr",
    "ORIYA": "Orya", "TAMIL": "Taml", "TELUGU": "Telu", "KANNADA": "Knda", "MALAYALAM": "Mlym",
    "ARABIC": "Arab", "OL CHIKI": "Olck", "MEETEI MAYEK": "Mtei", "CYRILLIC": "Cyrl", "GREEK": "Grek",
    "HEBREW": "Hebr", "THAI": "Thai", "HANGUL": "Hang", "CJK": "Hans", "HIRAGANA": "Jpan", "KATAKANA": "Jpan",
    "SINHALA": "Sinh", "ETHIOPIC": "Ethi", "GEORGIAN": "Geor", "ARMENIAN": "Armn", "TIBETAN": "Tibt",
    "MYANMAR": "Mymr", "KHMER": "Khmr", "LAO": "Laoo",
}
# The language a script means when the job's language is written in another script.
SCRIPT_LANGUAGE = {
    "Deva": "hin_Deva", "Beng": "ben_Beng", "Guru": "pan_Guru", "Gujr": "guj_Gujr", "Orya": "ory_Orya",
    "Taml": "tam_Taml", "Telu": "tel_Telu", "Knda": "kan_Knda", "Mlym": "mal_Mlym", "Arab": "urd_Arab",
    "Olck": "sat_Olck", "Mtei": "mni_Mtei",
}

# Frequent romanised Hindi/Urdu words that are not English words (Hinglish chat spelling
# variants included).
ROMANISED_HINDI = frozenset("""
hai hain hu hoon hun ho tha thi nahi nahin nai na kya kyaa kyun kyon kyu kaise kaisa kaisi kab kahan
kaha kidhar idhar udhar yahan wahan mera meri mere tera teri tere tumhara tumhari hamara hamari apna apni
apne uska uski uske unka unki unke iska iski iske mujhe tujhe hume humein tumhe tumko mujhko aap aapka
aapki tum tu main mein mai hum woh wo voh yeh ye yah kuch koi sab bahut bohot bahot bhi bhai yaar
yar accha acha achha theek thik chalo chal jao jaa aao aaja karo kar karna karte karta karti raha rahi
rahe gaya gayi gaye hua hui hue tha diya liya dekho dekh suno bolo bol bata batao pata nahi haan
ji jee matlab lekin aur ya toh phir fir abhi kabhi sirf bas zaroor zarur pyaar pyar dil dost
ghar khana paani pani kaam logon bacha bachche beta beti maa papa baat baatein sach jhooth
kyunki isliye waise vaise jaise agar magar chahiye chahte chahta chahti sakta sakti sakte wala wali wale
""".split())  # noqa: SIM905 - a word list reads better as text
ENGLISH = frozenset("""
the a an is are was were be been being am i you he she it we they me him her us them my your his its our
their this that these those what which who whom whose where when why how not no yes do does did done
have has had will would shall should can could may might must of in on at to for from with by about
as into like through after over between out against during without before under around among and or but
if then than so because while just very really also only even there here all any some every each
""".split())  # noqa: SIM905
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


@dataclass(frozen=True)
class Identified:
    """What a sentence is: the language it is translated as, and the code recorded for it."""

    language: Language  # what the translator is told (romanised Hindi -> hin_Deva)
    label: str  # what the output records (hin_Latn for romanised Hindi)
    romanised: bool = False


def script_counts(text: str) -> dict[str, int]:
    """Letters per ISO 15924 script in ``text``."""
    counts: dict[str, int] = {}
    for char in text:
        if not (char.isalpha() or unicodedata.category(char).startswith("M")):
            continue  # letters and their combining vowel signs count; digits, punctuation do not
        name = unicodedata.name(char, "")
        for prefix, script in _SCRIPTS.items():
            if name.startswith(prefix):
                counts[script] = counts.get(script, 0) + 1
                break
    return counts


def dominant_script(text: str) -> str | None:
    counts = script_counts(text)
    return max(counts, key=lambda s: counts[s]) if counts else None


def romanised_hindi_score(text: str) -> tuple[int, int]:
    """(romanised Hindi words, English words) among the words of ``text``."""
    words = [w.lower() for w in _WORD.findall(text)]
    return sum(w in ROMANISED_HINDI for w in words), sum(w in ENGLISH for w in words)


def identify(text: str, declared: Language) -> Identified:
    """The language of one sentence of a job whose language is ``declared``."""
    script = dominant_script(text)
    if script is None:
        return Identified(declared, declared.code)
    if script == "Latn":
        if declared.script == "Latn" and declared.code != "eng_Latn":
            return Identified(declared, declared.code)  # French in a French job, and so on
        hindi, english = romanised_hindi_score(text)
        hindi_job = declared.iso639_3 in ("hin", "urd")
        if hindi > english or (hindi_job and hindi > 0 and hindi >= english):
            return Identified(resolve_language("hin_Deva"), "hin_Latn", romanised=True)
        return Identified(resolve_language("eng_Latn"), "eng_Latn")
    if script == declared.script:
        return Identified(declared, declared.code)
    if script in SCRIPT_LANGUAGE:
        return Identified(resolve_language(SCRIPT_LANGUAGE[script]), SCRIPT_LANGUAGE[script])
    return Identified(declared, declared.code)
