"""Translated tracks: each translated sentence timed by its source sentence's speech.

A sentence's source words fall into one or more source cues; each such run of words is a
*piece*, with the speech span of those words. The translation is split into as many
parts as there are pieces, in proportion to the pieces' source length, at the best break
points near the proportional positions; each part's words are spread over its piece's
span in proportion to their length. Those timed words then go through the same builder
as the source track (so the same rules hold), with a nearly free break at every piece
edge so translated cues change where the source cues do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from shared.subtitles.builder import Cue, TimedWord, build_cues
from shared.subtitles.rules import Costs, Rules
from shared.subtitles.text import LINE_BREAK_COST, classify_break, grapheme_len, graphemes, joiner_for, layout

# Cost of one part being off its proportional length by the whole sentence, against the
# cost of a line-break class (LINE_BREAK_COST): a plain break 10% closer is worth it.
PROPORTION_COST = 40.0


@dataclass(frozen=True)
class Piece:
    """A run of a sentence's source words that one source cue shows."""

    sentence: int
    words: tuple[int, ...]
    start: float
    end: float
    weight: int  # source characters


@dataclass
class TranslatedTrack:
    """A translated track's cues and, per cue, the source words it translates."""

    cues: list[Cue]
    source_words: list[tuple[int, ...]]
    tokens: list[TimedWord]
    token_sentence: list[int]


def tokenize(text: str, language: str | None) -> list[str]:
    """Words of ``text`` (grapheme clusters for languages written without spaces)."""
    if joiner_for(language) == "":
        return [g for g in graphemes(text) if not g.isspace()]
    return text.split()


def sentence_words(sentence: Mapping, word_count: int) -> list[int]:
    """The aligned-word indices of a translated sentence, checked and in order."""
    indices = [int(i) for i in sentence.get("words") or []]
    for index in indices:
        if not 0 <= index < word_count:
            raise ValueError(
                f"sentence {sentence.get('id')} names word {index}, but the aligned transcript has {word_count} words"
            )
    return sorted(set(indices))


def pieces_for(sentences: Sequence[Mapping], words: Sequence[TimedWord], source_cues: Sequence[Cue]) -> list[list[Piece]]:
    """For each sentence, its pieces in order (one piece spanning the sentence when it has no words)."""
    cue_of = {}
    for number, cue in enumerate(source_cues):
        for index in cue.words:
            cue_of[index] = number
    result = []
    for number, sentence in enumerate(sentences):
        indices = sentence_words(sentence, len(words))
        runs: list[list[int]] = []
        last_cue = None
        for index in indices:
            cue = cue_of.get(index, -1 - index)
            if runs and cue == last_cue:
                runs[-1].append(index)
            else:
                runs.append([index])
            last_cue = cue
        pieces = []
        for run in runs:
            start = min(words[i].start for i in run)
            end = max(words[i].end for i in run)
            weight = sum(grapheme_len(words[i].text) + 1 for i in run)
            pieces.append(Piece(number, tuple(run), start, max(start, end), weight))
        if not pieces:
            start, end = float(sentence["start"]), float(sentence["end"])
            pieces.append(Piece(number, (), start, max(start, end), 1))
        result.append(pieces)
    return result


def _merge_to(pieces: list[Piece], count: int) -> list[Piece]:
    """Merge neighbouring pieces (the lightest pair first) until at most ``count`` remain."""
    pieces = list(pieces)
    while len(pieces) > max(1, count):
        pair = min(range(len(pieces) - 1), key=lambda k: pieces[k].weight + pieces[k + 1].weight)
        a, b = pieces[pair], pieces[pair + 1]
        pieces[pair : pair + 2] = [Piece(a.sentence, a.words + b.words, a.start, max(a.end, b.end), a.weight + b.weight)]
    return pieces


def split_proportionally(tokens: Sequence[str], weights: Sequence[int], joiner: str = " ") -> list[int]:
    """Token indices where parts 2..n start: near the weights' proportions, at good breaks."""
    parts = len(weights)
    count = len(tokens)
    if parts <= 1:
        return []
    if parts > count:
        raise ValueError("more parts than tokens")
    lengths = [grapheme_len(t) + len(joiner) for t in tokens]
    total = sum(lengths)
    prefix = [0]
    for length in lengths:
        prefix.append(prefix[-1] + length)
    weight_total = sum(weights)
    targets = []
    running = 0
    for w in weights[:-1]:
        running += w
        targets.append(total * running / weight_total)
    break_cost = [0.0] + [LINE_BREAK_COST[classify_break(tokens[k - 1], tokens[k])] for k in range(1, count)]
    # best[p][b]: cost of placing the starts of parts 2..p+1 with part p+1 starting at b.
    inf = math.inf
    best = [[inf] * (count + 1) for _ in range(parts)]
    back = [[0] * (count + 1) for _ in range(parts)]
    best[0][0] = 0.0
    for p in range(1, parts):
        for b in range(p, count - (parts - 1 - p)):
            here = PROPORTION_COST * abs(prefix[b] - targets[p - 1]) / total + break_cost[b]
            for a in range(p - 1, b):
                if best[p - 1][a] + here < best[p][b]:
                    best[p][b] = best[p - 1][a] + here
                    back[p][b] = a
    last = min(range(parts - 1, count), key=lambda b: best[parts - 1][b])
    starts = [last]
    for p in range(parts - 1, 1, -1):
        starts.append(back[p][starts[-1]])
    return starts[::-1]


def _spread(tokens: Sequence[str], start: float, end: float, joiner: str) -> list[TimedWord]:
    lengths = [grapheme_len(t) + len(joiner) for t in tokens]
    total = sum(lengths) or 1
    timed = []
    running = 0
    for token, length in zip(tokens, lengths, strict=False):
        a = start + (end - start) * running / total
        running += length
        b = start + (end - start) * running / total
        timed.append(TimedWord(token, a, b))
    return timed


def build_translated_track(
    sentences: Sequence[Mapping],
    words: Sequence[TimedWord],
    source_cues: Sequence[Cue],
    rules: Rules,
    fps: float,
    language: str | None,
    media_end: float | None = None,
    costs: Costs | None = None,
    shot_changes: Sequence[float] = (),
    snap_frames: int = 12,
) -> TranslatedTrack:
    """Cues for the translations in ``sentences`` (translation.<lang>.json's sentences)."""
    joiner = joiner_for(language)
    ordered = sorted(sentences, key=lambda s: (float(s["start"]), int(s.get("id", 0))))
    all_pieces = pieces_for(ordered, words, source_cues)
    tokens: list[TimedWord] = []
    token_sentence: list[int] = []
    preferred: set[int] = set()
    for number, (sentence, pieces) in enumerate(zip(ordered, all_pieces, strict=False)):
        text_tokens = tokenize(str(sentence.get("text", "")), language)
        if not text_tokens:
            continue
        pieces = _merge_to(pieces, len(text_tokens))
        starts = split_proportionally(text_tokens, [p.weight for p in pieces], joiner)
        bounds = [0, *starts, len(text_tokens)]
        for piece, a, b in zip(pieces, bounds, bounds[1:], strict=False):
            preferred.add(len(tokens))
            # The piece's speaker (diarize stage) goes with its translation: cues change or dash there too.
            speaker = getattr(words[piece.words[0]], "speaker", None) if piece.words else None
            tokens.extend(TimedWord(t.text, t.start, t.end, speaker) for t in _spread(text_tokens[a:b], piece.start, piece.end, joiner))
            token_sentence.extend([number] * (b - a))
    cues = build_cues(tokens, rules, fps, media_end=media_end, joiner=joiner, preferred_breaks=preferred, costs=costs,
                      shot_changes=shot_changes, snap_frames=snap_frames)
    source_words = _assign_source_words(cues, tokens, token_sentence, all_pieces, words)
    return TranslatedTrack(cues, source_words, tokens, token_sentence)


def _assign_source_words(
    cues: Sequence[Cue],
    tokens: Sequence[TimedWord],
    token_sentence: Sequence[int],
    all_pieces: Sequence[Sequence[Piece]],
    words: Sequence[TimedWord],
) -> list[tuple[int, ...]]:
    """Each source word of a translated sentence goes to the translated cue nearest its middle."""
    by_sentence: dict[int, list[tuple[int, float, float]]] = {}
    for number, cue in enumerate(cues):
        sentence_tokens: dict[int, list[int]] = {}
        for t in cue.words:
            sentence_tokens.setdefault(token_sentence[t], []).append(t)
        for sentence, toks in sentence_tokens.items():
            by_sentence.setdefault(sentence, []).append((number, tokens[toks[0]].start, tokens[toks[-1]].end))
    assigned: list[list[int]] = [[] for _ in cues]
    for sentence, pieces in enumerate(all_pieces):
        spans = by_sentence.get(sentence)
        if not spans:
            continue
        for piece in pieces:
            for index in piece.words:
                middle = (words[index].start + words[index].end) / 2
                number = min(spans, key=lambda s: (max(0.0, s[1] - middle, middle - s[2]), s[0]))[0]
                assigned[number].append(index)
    return [tuple(sorted(a)) for a in assigned]


def bilingual_cues(
    track: TranslatedTrack, words: Sequence[TimedWord], rules: Rules, source_language: str | None
) -> list[Cue]:
    """The translated cues with their source words' text laid out above the translation."""
    joiner = joiner_for(source_language)
    result = []
    for cue, source in zip(track.cues, track.source_words, strict=False):
        above = layout([words[i].text for i in source], rules.max_line_chars, rules.max_lines, joiner).lines
        result.append(
            Cue(cue.start, cue.end, (*above, *cue.lines), cue.words, cue.speech_start, cue.speech_end, cue.feasible, {"source_lines": len(above)})
        )
    return result


def bilingual_rules(rules: Rules) -> Rules:
    """The checker's rules for a bilingual track: twice the lines, reading speed not checked
    (a viewer reads one of the two languages; each has been held to the limit on its own track)."""
    return rules.with_overrides(max_lines=rules.max_lines * 2, max_cps=0.0)
