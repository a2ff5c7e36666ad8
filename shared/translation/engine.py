"""One transcript, one target language: identify, route, protect, translate, restore, post-edit.

The model loading is the caller's (``get_translator``), so this runs the same with real
models in the stage and with plain functions in tests.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shared.languages import Language
from shared.schema import Sentence
from shared.translation.backends.base import Translator
from shared.translation.glossary import Glossary, Protected
from shared.translation.langid import identify
from shared.translation.routing import PairError, choose_backend
from shared.translation.sentences import SourceSentence

log = logging.getLogger(__name__)

GetTranslator = Callable[[str, Language, Language], Translator]


@dataclass
class EngineResult:
    sentences: list[Sentence]
    backend: str  # the backend that translated most sentences ("kept" when none was needed)
    model: str  # its model id ("" when none)
    methods: dict[str, int] = field(default_factory=dict)  # sentences per method
    lost_terms: int = 0  # glossary terms no translation pass kept
    postedit_fallbacks: int = 0


def _translate_group(translator: Translator, texts: list[str], src: Language, tgt: Language) -> list[str | None]:
    if hasattr(translator, "translate_or_none"):
        return translator.translate_or_none(texts, src, tgt)
    return list(translator.translate(texts, src, tgt))


def translate_sentences(
    sentences: Sequence[SourceSentence],
    job_language: Language,
    target: Language,
    translator_choice: str,
    glossary: Glossary,
    get_translator: GetTranslator,
    postedit_client=None,
) -> EngineResult:
    """Every sentence translated into ``target`` (or kept), with its method recorded."""
    identified = [identify(s.text, job_language) for s in sentences]
    texts: list[str | None] = [None] * len(sentences)
    methods: list[str] = [""] * len(sentences)
    models_used: Counter[tuple[str, str]] = Counter()
    lost_total = 0

    groups: dict[tuple[str, str], list[int]] = {}
    for i, ident in enumerate(identified):
        if ident.language.code == target.code:
            texts[i], methods[i] = sentences[i].text, "kept"
            continue
        try:
            backend = choose_backend(translator_choice, ident.language, target)
        except PairError as exc:
            # the job's own pair was checked before loading; this is one odd sentence
            log.warning("sentence %d (%s) kept untranslated: %s", i, ident.label, exc)
            texts[i], methods[i] = sentences[i].text, "kept"
            continue
        groups.setdefault((backend, ident.language.code), []).append(i)

    for (backend, _src_code), indices in groups.items():
        src = identified[indices[0]].language
        translator = get_translator(backend, src, target)
        protected = [glossary.protect(sentences[i].text) for i in indices]
        outputs = _translate_group(translator, [p.text for p in protected], src, target)
        failed = [k for k, out in enumerate(outputs) if out is None]
        if failed:  # an llm chunk without a usable reply: the NMT route translates those lines
            fallback_backend = choose_backend("auto", src, target)
            log.warning("llm: %d line(s) fall back to %s", len(failed), fallback_backend)
            fallback = get_translator(fallback_backend, src, target)
            redone = fallback.translate([protected[k].text for k in failed], src, target)
            for k, out in zip(failed, redone, strict=True):
                outputs[k] = out
                methods[indices[k]] = fallback.name
                models_used[(fallback.name, fallback.model_id)] += 1
        restored, lost_total_group = _restore(translator, protected, outputs, src, target)
        lost_total += lost_total_group
        for k, i in enumerate(indices):
            texts[i] = restored[k]
            if not methods[i]:
                methods[i] = translator.name
                models_used[(translator.name, translator.model_id)] += 1

    fallbacks = 0
    if postedit_client is not None:
        fallbacks = _postedit(postedit_client, sentences, identified, texts, methods, glossary, job_language, target)

    result = []
    for i, s in enumerate(sentences):
        result.append(Sentence(
            id=i, source=s.text, text=texts[i] or "", source_language=identified[i].label,
            start=s.start, end=s.end, words=list(s.words), kept=methods[i] == "kept", method=methods[i],
        ))
    if models_used:
        (backend, model), _n = models_used.most_common(1)[0]
    else:
        backend, model = "kept", ""
    return EngineResult(result, backend, model, dict(Counter(methods)), lost_total, fallbacks)


def _restore(translator: Translator, protected: list[Protected], outputs: list[str | None], src: Language,
             target: Language) -> tuple[list[str], int]:
    """Outputs with glossary terms put back; a sentence that lost a term is translated once more
    with the target term written into the source (names and terms copy through)."""
    restored: list[str] = []
    retry: list[int] = []
    for k, (prot, out) in enumerate(zip(protected, outputs, strict=True)):
        text, lost = Glossary.restore(out or "", prot)
        restored.append(text)
        if lost:
            retry.append(k)
    lost_count = 0
    if retry:
        redone = translator.translate([Glossary.inline(protected[k]) for k in retry], src, target)
        for k, out in zip(retry, redone, strict=True):
            terms = list(protected[k].terms.values())
            missing = [e.target for e in terms if e.target.casefold() not in out.casefold()]
            if len(missing) < len([e for e in terms if e.target.casefold() not in restored[k].casefold()]) or not missing:
                restored[k] = out
            if missing:
                lost_count += len(missing)
                log.warning("glossary: %s lost term(s) %s in %r", translator.name, ", ".join(missing), restored[k][:80])
    return restored, lost_count


def _postedit(client, sentences, identified, texts, methods, glossary, job_language, target) -> int:
    from shared.translation.postedit import postedit

    order = [i for i, m in enumerate(methods) if m != "kept"]
    if not order:
        return 0
    src_lang = identified[order[0]].language
    terms = [(e.source, e.target) for e in glossary.entries]
    result = postedit(client, [sentences[i].text for i in order], [texts[i] or "" for i in order], src_lang, target, terms)
    for k, i in enumerate(order):
        if result.edited[k]:
            texts[i] = result.lines[k]
            methods[i] = "llm-postedit"
    return result.fallbacks
