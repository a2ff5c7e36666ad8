"""Glossaries: TSV files of (source term, target term, optional language).

Sources, in order (a later file's entry for the same term wins): ``config/glossary.tsv``,
the file named by the ``GLOSSARY`` setting, and ``<input name>.glossary.tsv`` beside the
input media. Lines starting with ``#`` and blank lines are skipped. An entry with a
language applies to that target only (any accepted code form); one without applies to all.

During translation each source term is replaced by a placeholder (``<ID101>``: the form
IndicTrans2 is trained to copy, numbered above IndicProcessor's own), and the target term
is put back where the placeholder comes out. The same files feed the ASR prompt/hotwords
(:func:`hotwords`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.languages import Language, UnknownLanguage, resolve_language

log = logging.getLogger(__name__)

CONFIG_GLOSSARY = Path("config") / "glossary.tsv"
PLACEHOLDER_BASE = 101
_PLACEHOLDER = re.compile(r"[<\[]\s*ID\s*(\d+)\s*[>\]]", re.IGNORECASE)


class GlossaryError(ValueError):
    """A glossary file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Entry:
    source: str
    target: str
    language: str | None  # canonical tag, or None for every target


@dataclass
class Protected:
    """A sentence with its terms replaced by placeholders, and what each placeholder means."""

    text: str
    terms: dict[int, Entry]


def per_film_glossary(input_file: str | Path) -> Path:
    """``<input name>.glossary.tsv`` beside the input (``Movie (2001).glossary.tsv``)."""
    path = Path(input_file)
    return path.with_name(f"{path.stem}.glossary.tsv")


def glossary_files(root: Path, setting: str = "", input_file: str | Path | None = None) -> list[Path]:
    """The glossary files that exist for a job, in the order they are read."""
    candidates = [Path(root) / CONFIG_GLOSSARY]
    if setting:
        named = Path(setting).expanduser()
        if not named.is_file():
            raise GlossaryError(f"GLOSSARY={setting}: no such file")
        candidates.append(named)
    if input_file:
        candidates.append(per_film_glossary(input_file))
    seen: list[Path] = []
    for path in candidates:
        if path.is_file() and path.resolve() not in [p.resolve() for p in seen]:
            seen.append(path)
    return seen


def read_entries(path: Path) -> list[Entry]:
    """The entries of one TSV file; GlossaryError (file:line) on a malformed line."""
    entries = []
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8-sig").splitlines(), 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) < 2 or not cells[0] or not cells[1] or len(cells) > 3:
            raise GlossaryError(f"{path}:{number}: expected 'source<TAB>target[<TAB>language]', got {raw!r}")
        language = None
        if len(cells) == 3 and cells[2]:
            try:
                language = resolve_language(cells[2]).code
            except UnknownLanguage as exc:
                raise GlossaryError(f"{path}:{number}: {exc}") from None
        entries.append(Entry(cells[0], cells[1], language))
    return entries


class Glossary:
    """The entries that apply to one target language, longest source term first."""

    def __init__(self, entries: Iterable[Entry], target: Language):
        chosen: dict[str, Entry] = {}
        for entry in entries:
            if entry.language in (None, target.code):
                # a language-specific entry beats a general one for the same term
                key = entry.source.casefold()
                if key not in chosen or entry.language is not None or chosen[key].language is None:
                    chosen[key] = entry
        self.entries = sorted(chosen.values(), key=lambda e: -len(e.source))
        self.target = target
        self._pattern = (
            re.compile("|".join(rf"(?<!\w){re.escape(e.source)}(?!\w)" for e in self.entries), re.IGNORECASE)
            if self.entries else None
        )

    @classmethod
    def load(cls, files: Sequence[Path], target: Language) -> Glossary:
        entries: list[Entry] = []
        for path in files:
            entries.extend(read_entries(path))
        glossary = cls(entries, target)
        if files:
            log.info("glossary: %d term(s) for %s from %s", len(glossary.entries), target.code, ", ".join(map(str, files)))
        return glossary

    def __len__(self) -> int:
        return len(self.entries)

    def terms_in(self, text: str) -> list[Entry]:
        """The entries whose source term occurs in ``text``."""
        if self._pattern is None:
            return []
        found = {m.group(0).casefold() for m in self._pattern.finditer(text)}
        return [e for e in self.entries if e.source.casefold() in found]

    def protect(self, text: str) -> Protected:
        """``text`` with every source term replaced by a numbered placeholder."""
        if self._pattern is None:
            return Protected(text, {})
        by_term = {e.source.casefold(): e for e in self.entries}
        terms: dict[int, Entry] = {}

        def swap(match: re.Match) -> str:
            number = PLACEHOLDER_BASE + len(terms)
            terms[number] = by_term[match.group(0).casefold()]
            return f"<ID{number}>"

        return Protected(self._pattern.sub(swap, text), terms)

    @staticmethod
    def restore(text: str, protected: Protected) -> tuple[str, list[Entry]]:
        """The translation with placeholders replaced by target terms, and the terms it lost."""
        seen: set[int] = set()

        def back(match: re.Match) -> str:
            number = int(match.group(1))
            if number in protected.terms:
                seen.add(number)
                return protected.terms[number].target
            return match.group(0)

        restored = _PLACEHOLDER.sub(back, text)
        lost = [entry for number, entry in protected.terms.items() if number not in seen]
        return re.sub(r"\s{2,}", " ", restored).strip(), lost

    @staticmethod
    def inline(protected: Protected) -> str:
        """The source with each placeholder replaced by its target term (the retry for lost terms)."""
        return _PLACEHOLDER.sub(
            lambda m: protected.terms[int(m.group(1))].target if int(m.group(1)) in protected.terms else m.group(0),
            protected.text,
        )

    def prompt_lines(self) -> list[str]:
        """``source -> target`` lines for an LLM prompt."""
        return [f"{e.source} -> {e.target}" for e in self.entries]


def hotwords(files: Sequence[Path]) -> list[str]:
    """Every distinct source term of the files: the ASR stage's prompt/hotwords."""
    terms: dict[str, str] = {}
    for path in files:
        for entry in read_entries(path):
            terms.setdefault(entry.source.casefold(), entry.source)
    return list(terms.values())
