"""Which backend translates a language pair, decided before any model loads.

``auto``: a pair inside IndicTrans2's set (English and the 22 scheduled languages of
India, not English -> English) goes to IndicTrans2, any other pair of the FLORES-200
languages to NLLB. A pair no backend can do is a :class:`PairError` naming what each
backend covers.
"""

from __future__ import annotations

from shared.languages import Language, languages_for

BACKENDS = ("indictrans2", "nllb", "llm")
TRANSLATORS = ("auto",) + BACKENDS


class PairError(ValueError):
    """A language pair the chosen translator cannot do; the message lists the choices."""


def indictrans2_direction(src: Language, tgt: Language) -> str | None:
    """indic-en, en-indic or indic-indic for a pair IndicTrans2 translates, else None."""
    if src.indictrans2 is None or tgt.indictrans2 is None or src.code == tgt.code:
        return None
    if src.is_indic and tgt.code == "eng_Latn":
        return "indic-en"
    if src.code == "eng_Latn" and tgt.is_indic:
        return "en-indic"
    if src.is_indic and tgt.is_indic:
        return "indic-indic"
    return None


def supports(backend: str, src: Language, tgt: Language) -> bool:
    if backend == "indictrans2":
        return indictrans2_direction(src, tgt) is not None
    if backend == "nllb":
        return src.flores is not None and tgt.flores is not None and src.code != tgt.code
    if backend == "llm":
        return src.code != tgt.code  # a general chat model takes any pair; quality is its own
    raise ValueError(f"unknown backend {backend!r}")


def _coverage(backend: str) -> str:
    if backend == "indictrans2":
        tags = ", ".join(lang.code for lang in languages_for("indictrans2"))
        return f"indictrans2 translates English <-> and between the Indic languages {tags}"
    return "nllb translates between the 202 FLORES-200 languages (list: python -m shared.languages --backend nllb)"


def choose_backend(translator: str, src: Language, tgt: Language) -> str:
    """The backend that translates ``src`` -> ``tgt`` under TRANSLATOR=``translator``."""
    if translator not in TRANSLATORS:
        raise PairError(f"unknown translator {translator!r}; choose one of: {', '.join(TRANSLATORS)}")
    if src.code == tgt.code:
        raise PairError(f"source and target are both {tgt}: nothing to translate")
    if translator == "auto":
        for backend in ("indictrans2", "nllb"):
            if supports(backend, src, tgt):
                return backend
        raise PairError(f"no backend translates {src} -> {tgt}: {_coverage('indictrans2')}; {_coverage('nllb')}"
                        + _script_hint(src, tgt))
    if not supports(translator, src, tgt):
        others = [b for b in BACKENDS if b != translator and supports(b, src, tgt)]
        hint = f"; TRANSLATOR={others[0]} can" if others else ""
        raise PairError(f"{translator} cannot translate {src} -> {tgt}: {_coverage(translator)}{hint}" + _script_hint(src, tgt))
    return translator


def _script_hint(src: Language, tgt: Language) -> str:
    from shared.languages import LANGUAGES

    hints = []
    for lang in (src, tgt):
        others = [code for code, other in LANGUAGES.items() if other.iso639_3 == lang.iso639_3 and code != lang.code]
        if others:
            hints.append(f"{lang.code} is also written as {', '.join(others)}")
    return f" ({'; '.join(hints)})" if hints else ""


def model_role(backend: str, src: Language, tgt: Language) -> str:
    """The shared.selection.default_model role of a routed pair (nllb, indictrans2:<direction>)."""
    if backend == "indictrans2":
        direction = indictrans2_direction(src, tgt)
        if direction is None:
            raise PairError(f"indictrans2 cannot translate {src} -> {tgt}")
        return f"indictrans2:{direction}"
    return backend
