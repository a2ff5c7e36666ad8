"""Measuring and breaking subtitle text: grapheme counts, break classes, line layout.

Characters are user-perceived characters (extended grapheme clusters, ``regex``'s
``\\X``, which follows Unicode's rule that keeps a Devanagari conjunct with its virama
and vowel signs together), not code points: "क्षत्रिय" is 3 units, "தமிழ்" is 3.

Break rules (Netflix General Requirements): break after punctuation or before a
conjunction or preposition; never between an article or determiner and its noun, a first
name and a surname, or a verb and its subject pronoun, auxiliary or negation. Hindi puts
postpositions (में, से, को...) after the noun, so there the good break is after the
postposition and never before it; auxiliaries (है, था...) follow the verb, so never
break before them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import IntEnum

import regex

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
@dataclass(frozen=True)
class WordLists:
    """Words that attract or forbid a break, lowercased, without punctuation."""

    break_before: frozenset[str] = frozenset()  # conjunctions, prepositions
    break_after: frozenset[str] = frozenset()  # postpositions (the phrase ends there)
    no_break_after: frozenset[str] = frozenset()  # articles, determiners, pronouns, auxiliaries, negation
    no_break_before: frozenset[str] = frozenset()  # postpositions, auxiliaries that follow the verb


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ENGLISH = WordLists(
    break_before=_words(
        "and but or nor so yet because although though while whereas if unless until when whenever where"
        " wherever which who whom whose whether than since after before about above across against along"
        " among around at behind below beneath beside between beyond by despite during except for from in"
        " inside into like near of off on onto outside over past through throughout to toward towards under"
        " underneath upon with within without"
    ),
    no_break_after=_words(
        "a an the this these those my your his her its our their some any no every each either neither"
        " i you he she it we they i'm you're he's she's it's we're they're i've you've we've they've i'll"
        " you'll he'll she'll we'll they'll i'd you'd he'd she'd we'd they'd"
        " am is are was were be been being have has had do does did will would shall should can could may"
        " might must not never don't doesn't didn't won't wouldn't can't cannot couldn't shouldn't isn't"
        " aren't wasn't weren't haven't hasn't hadn't mustn't to"
    ),
)

HINDI = WordLists(
    break_before=_words("और तथा एवं लेकिन पर परंतु परन्तु किंतु किन्तु मगर कि क्योंकि या अथवा अगर यदि जब तो जो इसलिए ताकि बल्कि"),
    break_after=_words("में से को के की का पर तक ने लिए वाला वाले वाली"),
    no_break_after=_words("नहीं न मत यह वह ये वो मैं हम तुम आप"),
    no_break_before=_words(
        "में से को के की का तक ने है हैं था थी थे हूँ हूं हो रहा रही रहे गया गई गए गयी चुका चुकी चुके सकता सकती सकते"
    ),
)

# Romanised Hindi in Hinglish: only words that cannot be read as English.
HINGLISH = WordLists(
    break_before=_words("aur lekin magar kyunki kyonki agar jab"),
    break_after=_words("mein mai ko se tak"),
    no_break_after=_words("nahi nahin mat"),
    no_break_before=_words("mein ko se tak hai hain tha thi hoon hun raha rahi rahe"),
)

_DEVANAGARI = regex.compile(r"\p{Devanagari}")


def lists_for(token: str) -> tuple[WordLists, ...]:
    """The word lists that apply to ``token``, by its script (Hinglish mixes both)."""
    if _DEVANAGARI.search(token):
        return (HINDI,)
    return (ENGLISH, HINGLISH)


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
    CLAUSE = 1  # after a comma, semicolon, colon or dash
    PHRASE = 2  # before a conjunction or preposition, after a postposition
    PLAIN = 3  # nothing for or against
    FORBIDDEN = 4  # article|noun, name|surname, pronoun/auxiliary/negation|verb


def classify_break(before: str, after: str) -> Break:
    """How good a break between the words ``before`` and ``after`` is."""
    if ends_sentence(before):
        return Break.SENTENCE
    if ends_clause(before):
        return Break.CLAUSE
    prev_word, next_word = bare(before), bare(after)
    prev_lists, next_lists = lists_for(before), lists_for(after)
    phrase_edge = any(next_word in lists.break_before for lists in next_lists) or any(
        prev_word in lists.break_after for lists in prev_lists
    )
    # A postposition both ends a phrase and must not start a line: "का" after a noun.
    if phrase_edge and not any(next_word in lists.no_break_before for lists in next_lists):
        return Break.PHRASE
    if any(prev_word in lists.no_break_after for lists in prev_lists):
        return Break.FORBIDDEN
    if any(next_word in lists.no_break_before for lists in next_lists):
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
