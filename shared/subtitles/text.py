"""Measuring and breaking subtitle text: grapheme counts, break classes, line layout.

Characters are user-perceived characters (extended grapheme clusters, ``regex``'s
``\\X``, which follows Unicode's rule that keeps a Devanagari conjunct with its virama
and vowel signs together), not code points: "क्षत्रिय" is 3 units, "தமிழ்" is 3.

Break rules (Netflix General Requirements): break after punctuation or before a
conjunction or preposition; never between an article or determiner and its noun, a
preposition and its object, a number and its unit, a first name and a surname, or a verb
and its subject pronoun, auxiliary or negation. The word lists are data
(breaking.toml), one table per language. Hindi puts
postpositions (में, से, को...) after the noun, so there the good break is after the
postposition and never before it; auxiliaries (है, था...) follow the verb, so never
break before them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

import regex

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from shared.languages import resolve_language

_GRAPHEME = regex.compile(r"\X")

SENTENCE_END = frozenset(".?!।॥…。？！")
CLAUSE_END = frozenset(",;:–—、，；：")
# Closing marks that may follow the punctuation that ends a word: 'end."' or 'end!)'.
_CLOSERS = "\"'”’»)]}"

# Languages written without spaces between words: tokens are joined with "".
NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue"})


def graphemes(text: str) -> list[str]:
    """The grapheme clusters of ``text``."""
    return _GRAPHEME.findall(text)


def grapheme_len(text: str) -> int:
    """How many user-perceived characters ``text`` shows."""
    return len(_GRAPHEME.findall(text))


def display_chars(lines: list[str]) -> int:
    """Characters of a subtitle for reading speed: its lines joined by one space."""
    return grapheme_len(" ".join(lines))


def base_language(code: str | None) -> str:
    """``hi`` from ``hi``, ``hin_Deva``, ``hi-IN`` or ``hin``; ``""`` when unknown."""
    if not code:
        return ""
    try:
        language = resolve_language(code.strip())
    except ValueError:
        return regex.split(r"[-_]", code.strip().lower())[0]
    return language.iso639_1 or language.iso639_3


def joiner_for(language: str | None) -> str:
    """The string between words of ``language``: a space, or nothing for zh, ja, th..."""
    return "" if base_language(language) in NO_SPACE_LANGUAGES else " "


# ---- per-language word lists -----------------------------------------------------------
# The lists themselves live in breaking.toml beside this module (one data file, not code).
BREAKING_TOML = Path(__file__).with_name("breaking.toml")


@dataclass(frozen=True)
class WordLists:
    """Words that attract or forbid a break, lowercased, without punctuation (breaking.toml)."""

    clause_before: frozenset[str] = frozenset()  # conjunctions, relative pronouns
    break_before: frozenset[str] = frozenset()  # prepositions
    break_after: frozenset[str] = frozenset()  # postpositions (the phrase ends there)
    no_break_after: frozenset[str] = frozenset()  # articles, pronouns, auxiliaries, negation, prepositions
    no_break_before: frozenset[str] = frozenset()  # postpositions, auxiliaries that follow the verb
    numbers: frozenset[str] = frozenset()  # number words
    units: frozenset[str] = frozenset()  # units that stay with their number
    script: str = ""  # a Unicode script name; "" applies to every other script


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def load_word_lists(path: Path = BREAKING_TOML) -> dict[str, WordLists]:
    """The word lists of ``path`` (breaking.toml), by language; ValueError when malformed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read the subtitle word lists {path}: {exc}") from None
    names = {f for f in WordLists.__dataclass_fields__ if f != "script"}
    tables = {}
    for language, table in data.items():
        unknown = set(table) - names - {"script"}
        if not isinstance(table, dict) or unknown:
            raise ValueError(f"{path}: [{language}] has unknown keys {sorted(unknown)}; known: {sorted(names)}, script")
        tables[language] = WordLists(
            **{k: _words(str(v)) for k, v in table.items() if k in names}, script=str(table.get("script", ""))
        )
    return tables


WORD_LISTS = load_word_lists()
ENGLISH = WORD_LISTS["en"]
HINDI = WORD_LISTS["hi"]
HINGLISH = WORD_LISTS["hi-Latn"]  # romanised Hindi: only words that cannot be read as English

_SCRIPTED = tuple((regex.compile(rf"\p{{{t.script}}}"), t) for t in WORD_LISTS.values() if t.script)
_UNSCRIPTED = tuple(t for t in WORD_LISTS.values() if not t.script)
_DIGITS = regex.compile(r"^[\p{N}][\p{N},.:/]*$")


def lists_for(token: str) -> tuple[WordLists, ...]:
    """The word lists that apply to ``token``, by its script (Hinglish mixes English and Hindi)."""
    found = tuple(t for pattern, t in _SCRIPTED if pattern.search(token))
    return found or _UNSCRIPTED


def bare(token: str) -> str:
    """``token`` lowercased without the punctuation around it (``"Hello,"`` -> ``hello``)."""
    stripped = token.strip()
    start, end = 0, len(stripped)
    while start < end and unicodedata.category(stripped[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(stripped[end - 1])[0] in "PS":
        end -= 1
    return stripped[start:end].lower().replace("’", "'")


def _final_mark(token: str) -> str:
    text = token.rstrip().rstrip(_CLOSERS)
    return text[-1] if text else ""


def ends_sentence(token: str) -> bool:
    """True when ``token`` ends a sentence (``.``, ``?``, ``!``, ``।``...)."""
    return _final_mark(token) in SENTENCE_END


def ends_clause(token: str) -> bool:
    """True when ``token`` ends with a comma, semicolon, colon or dash."""
    return _final_mark(token) in CLAUSE_END


def _capitalised(token: str) -> bool:
    word = token.strip().lstrip(_CLOSERS + "(\"'“‘«")
    return len(word) > 1 and word[0].isupper() and not word.isupper()


class Break(IntEnum):
    """How good a place between two words is for a line or subtitle break."""

    SENTENCE = 0  # after a full stop, question or exclamation mark
    CLAUSE = 1  # after a comma, semicolon, colon or dash; before a conjunction or relative pronoun
    PHRASE = 2  # before a preposition, after a postposition
    PLAIN = 3  # nothing for or against
    FORBIDDEN = 4  # article|noun, preposition|object, name|surname, number|unit, pronoun/auxiliary/negation|verb


def is_number(token: str) -> bool:
    """True for ``42``, ``3.5``, ``10:30`` or a number word of the token's language."""
    word = bare(token)
    return bool(_DIGITS.match(word)) or any(word in lists.numbers for lists in lists_for(token))


def classify_break(before: str, after: str) -> Break:
    """How good a break between the words ``before`` and ``after`` is."""
    if ends_sentence(before):
        return Break.SENTENCE
    if ends_clause(before):
        return Break.CLAUSE
    prev_word, next_word = bare(before), bare(after)
    prev_lists, next_lists = lists_for(before), lists_for(after)
    if is_number(before) and (is_number(after) or any(next_word in lists.units for lists in next_lists)):
        return Break.FORBIDDEN  # "twenty five", "5 kilometres"
    clause = any(next_word in lists.clause_before for lists in next_lists)
    phrase = any(next_word in lists.break_before for lists in next_lists) or any(
        prev_word in lists.break_after for lists in prev_lists
    )
    blocked_before = any(next_word in lists.no_break_before for lists in next_lists)
    blocked_after = any(prev_word in lists.no_break_after for lists in prev_lists)
    # A word that itself opens a phrase ("and", "of") never ends a line, even before another.
    leads = any(prev_word in lists.clause_before or prev_word in lists.break_before for lists in prev_lists)
    # A postposition both ends a phrase and must not start a line: "का" after a noun.
    if (clause or phrase) and not blocked_before and not (blocked_after and leads):
        return Break.CLAUSE if clause else Break.PHRASE
    if blocked_after or blocked_before:
        return Break.FORBIDDEN
    if _capitalised(before) and _capitalised(after) and prev_word != "i":
        return Break.FORBIDDEN  # likely a first name and a surname
    return Break.PLAIN


# ---- line layout -----------------------------------------------------------------------
# Cost of a line break by class; a bad break costs more than a lopsided shape.
LINE_BREAK_COST = {Break.SENTENCE: 0.0, Break.CLAUSE: 0.0, Break.PHRASE: 1.0, Break.PLAIN: 4.0, Break.FORBIDDEN: 20.0}
# Per character a line is longer than the line below it (prefer a bottom-heavy pyramid),
# and per character of difference at all (prefer balance).
TOP_HEAVY_COST = 0.3
IMBALANCE_COST = 0.05


@dataclass(frozen=True)
class Layout:
    """Tokens arranged in lines: ``breaks`` are token indices where a new line starts."""

    lines: tuple[str, ...]
    breaks: tuple[int, ...]
    cost: float
    fits: bool  # every line within the limit and no more lines than allowed


def _shape_cost(lengths: list[int]) -> float:
    cost = 0.0
    for upper, lower in zip(lengths, lengths[1:], strict=False):
        cost += TOP_HEAVY_COST * max(0, upper - lower) + IMBALANCE_COST * abs(upper - lower)
    return cost


def layout_costs(
    lengths: list[int], break_costs: list[float], max_line_chars: int, max_lines: int, joiner_len: int = 1
) -> tuple[float, tuple[int, ...]] | None:
    """Cheapest arrangement of tokens of ``lengths`` (graphemes) into the fewest lines.

    ``break_costs[k]`` is the cost of starting a new line at token ``k`` (index 0 unused).
    Returns (cost, line-start indices after the first) or None when nothing fits.
    """
    count = len(lengths)
    total = sum(lengths) + joiner_len * (count - 1)
    if total <= max_line_chars:
        return 0.0, ()
    prefix = [0]
    for length in lengths:
        prefix.append(prefix[-1] + length)

    def width(a: int, b: int) -> int:
        return prefix[b] - prefix[a] + joiner_len * (b - a - 1)

    if max_lines >= 2 and count >= 2:
        best: tuple[float, tuple[int, ...]] | None = None
        for k in range(1, count):
            top, bottom = width(0, k), width(k, count)
            if top > max_line_chars or bottom > max_line_chars:
                continue
            cost = break_costs[k] + _shape_cost([top, bottom])
            if best is None or cost < best[0]:
                best = (cost, (k,))
        if best is not None or max_lines == 2:
            return best
    if max_lines < 3 or count < 3:
        return None
    # Three or more lines (a MAX_LINES above 2): fewest lines, then cheapest breaks.
    for lines in range(3, min(max_lines, count) + 1):
        table: dict[tuple[int, int], tuple[float, tuple[int, ...]] | None] = {}

        def solve(start: int, remaining: int, table=table) -> tuple[float, tuple[int, ...]] | None:
            key = (start, remaining)
            if key in table:
                return table[key]
            result: tuple[float, tuple[int, ...]] | None = None
            if remaining == 1:
                if width(start, count) <= max_line_chars:
                    result = (0.0, ())
            else:
                for k in range(start + 1, count - remaining + 2):
                    if width(start, k) > max_line_chars:
                        break
                    rest = solve(k, remaining - 1)
                    if rest is None:
                        continue
                    cost = rest[0] + break_costs[k] + _shape_cost([width(start, k), width(k, rest[1][0] if rest[1] else count)])
                    if result is None or cost < result[0]:
                        result = (cost, (k, *rest[1]))
            table[key] = result
            return result

        found = solve(0, lines)
        if found is not None:
            return found
    return None


def layout(tokens: list[str], max_line_chars: int, max_lines: int, joiner: str = " ") -> Layout:
    """``tokens`` broken into lines by the rules; when they cannot fit, the least-bad lines.

    A token longer than a line is never cut: it gets a line of its own and the layout
    says it does not fit.
    """
    tokens = [t for t in tokens if t]
    if not tokens:
        return Layout((), (), 0.0, True)
    lengths = [grapheme_len(t) for t in tokens]
    costs = [0.0] + [LINE_BREAK_COST[classify_break(tokens[k - 1], tokens[k])] for k in range(1, len(tokens))]
    found = layout_costs(lengths, costs, max_line_chars, max_lines, grapheme_len(joiner))
    fits = found is not None
    if found is None:
        # Greedy fill: as many tokens per line as fit, a long token alone on its line.
        breaks_list: list[int] = []
        width = 0
        for k, length in enumerate(lengths):
            extra = length if width == 0 else width + len(joiner) + length
            if width and extra > max_line_chars:
                breaks_list.append(k)
                width = length
            else:
                width = extra
        found = (float("inf"), tuple(breaks_list))
    bounds = (0, *found[1], len(tokens))
    lines = tuple(joiner.join(tokens[a:b]) for a, b in zip(bounds, bounds[1:], strict=False))
    return Layout(lines, found[1], found[0], fits)
