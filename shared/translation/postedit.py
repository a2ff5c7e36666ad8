"""The LLM post-edit pass: fix the machine translation line by line, never the timing.

Lines are sent in chunks with a few neighbouring lines before and after as read-only
context, plus the glossary. The reply must hold exactly one line per edited line
(:func:`~shared.translation.backends.llm.parse_numbered`); a bad reply is asked again,
and when every attempt fails the NMT lines are kept and the fallback is logged. An edited
line that drops a glossary term the NMT line had keeps the NMT line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from shared.languages import Language
from shared.translation.backends.llm import LlmClient, ask_lines, numbered

log = logging.getLogger(__name__)

SYSTEM_POSTEDIT = (
    "You post-edit film subtitles translated by a machine from {src} to {tgt}. Improve idiom, names and "
    "songs, keep the meaning. Reply with exactly {n} lines, numbered 1 to {n} like the lines to edit, one "
    "edited translation per line, nothing else. Never merge or split lines; lines marked as context are "
    "not to be returned."
)


@dataclass
class PostEditResult:
    lines: list[str]
    edited: list[bool]  # True where the LLM's line replaced the NMT line
    fallbacks: int  # lines kept from NMT because a reply was unusable


def postedit(client: LlmClient, sources: Sequence[str], translations: Sequence[str], src: Language, tgt: Language,
             glossary_terms: Sequence[tuple[str, str]] = ()) -> PostEditResult:
    """Post-edit ``translations`` (one per source line); NMT lines kept where the LLM fails."""
    settings = client.settings
    lines = list(translations)
    edited = [False] * len(lines)
    fallbacks = 0
    step = max(1, settings.chunk_lines)
    ctx = max(0, settings.context_lines)
    for start in range(0, len(lines), step):
        end = min(len(lines), start + step)
        before = range(max(0, start - ctx), start)
        after = range(end, min(len(lines), end + ctx))
        parts = []
        if before:
            parts.append("Context before (do not return):\n" + "\n".join(f"- {sources[i]} => {translations[i]}" for i in before))
        parts.append("Lines to edit (source => machine translation):\n"
                     + numbered([f"{sources[i]} => {translations[i]}" for i in range(start, end)]))
        if after:
            parts.append("Context after (do not return):\n" + "\n".join(f"- {sources[i]} => {translations[i]}" for i in after))
        system = SYSTEM_POSTEDIT.format(src=src.name, tgt=tgt.name, n=end - start)
        if glossary_terms:
            system += " Always use these glossary terms (source -> target):\n" + "\n".join(f"{s} -> {t}" for s, t in glossary_terms)
        messages = [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]
        reply = ask_lines(client, messages, end - start, f"post-edit lines {start + 1}-{end}")
        if reply is None:
            fallbacks += end - start
            log.warning("llm post-edit: kept the machine translation of lines %d-%d (no usable reply)", start + 1, end)
            continue
        for offset, new_line in enumerate(reply):
            i = start + offset
            missing = [t for _s, t in glossary_terms if t.casefold() in lines[i].casefold() and t.casefold() not in new_line.casefold()]
            if missing:
                fallbacks += 1
                log.warning("llm post-edit: line %d dropped glossary term(s) %s; kept the machine translation", i + 1, ", ".join(missing))
                continue
            lines[i] = new_line
            edited[i] = True
    return PostEditResult(lines, edited, fallbacks)
