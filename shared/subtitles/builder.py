"""Cues from word timestamps: where to split, how to lay out lines, when to show them.

Two passes, both on the integer frame grid of the media (so a 2-frame gap is exactly two
frames, whatever the frame rate):

1. **Segmentation** (dynamic programming over split points, as Knuth and Plass break
   paragraphs: every cue boundary and line break of the whole word sequence is chosen at
   once, never by filling a cue until it is full). A candidate cue is a run of
   words; it is out when its text cannot be laid out in MAX_LINES lines of
   MAX_LINE_CHARS, or its speech lasts longer than MAX_DURATION, or it holds more than
   two speakers (two only as a dash cue: one line each, a leading hyphen, Netflix).
   Otherwise it costs (rules.Costs, the SUB_COST_* settings): a base cost per cue, the
   class of the break after it (sentence end < clause boundary < phrase < plain <
   forbidden: text.classify_break and breaking.toml), less for the pause there (the
   longer, the cheaper; a speaker change is as cheap as a sentence end), sentence ends and
   pauses left inside it, its line layout, and the time it needs beyond its speech
   (reading speed and minimum duration) past MAX_OUT_EXTEND or before its first word.
   Each cue's time window is the one pass 2 will give it, so the passes agree: its
   out-time may run into the silence after it up to MAX_LAG past its speech and
   MIN_GAP_FRAMES before the next word; its in-time may lead into the silence before it up
   to MAX_LEAD, but only past where the best cutting's previous cue ends. A cue whose needs
   do not fit its window is a rule violation; it is allowed at a very high cost so that
   the pass always returns the least-bad cutting (single words always form a candidate),
   or at DENSE_FRAME_COST per frame when its speech is too fast for any legal cue.
2. **Timing** (one sweep). In-time at the first word's frame; out-time at the end of the
   speech, moved later only as far as reading speed and minimum duration need (first up
   to MAX_OUT_EXTEND, then up to MAX_LAG), and only then an earlier in-time. Gaps of
   CHAIN_GAP_FRAMES or fewer are closed to MIN_GAP_FRAMES by extending the earlier cue,
   else by an earlier in-time of the later one, else opened past CHAIN_GAP_FRAMES.
3. **Shot changes** (optional): a lead-in or lag-out never crosses one, and in/out-times
   within SUB_SHOT_SNAP_FRAMES of one snap to it (out-time MIN_GAP_FRAMES before it),
   only when every rule still holds (see ``snap_to_shots``).

When the speech itself is denser than the rules allow (80 characters spoken in 2 s with
speech right before and after), no cutting can satisfy the reading speed: the builder
keeps every word, keeps cues in sync (never outside MAX_LEAD / MAX_LAG) and never
overlapping, and shows the dense cue as long as its window permits; the QC checker then
reports that cue's reading speed, and ``Cue.feasible`` is False for it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from shared.subtitles.rules import Costs, Rules
from shared.subtitles.text import (
    LINE_BREAK_COST,
    Break,
    classify_break,
    ends_sentence,
    grapheme_len,
    layout,
    layout_costs,
)

_EPS = 1e-6
_SPACES = re.compile(r"\s+")

# Segmentation costs (arbitrary units; one frame of extra time is a fraction of a unit).
# The break, cue, pause, sentence and speaker costs are settings (rules.Costs, SUB_COST_*);
# these few are internal.
PREFERRED_BREAK_COST = 0.5  # a break the caller asks for (translated tracks: source cue edges)
PAUSE_INSIDE_COST = 4.0  # per PAUSE_SPLIT of silence inside a cue
DASH = "-"  # starts each line of a two-speaker cue (Netflix: a hyphen, no space)
LAG_FRAME_COST = 0.5  # per frame needed past MAX_OUT_EXTEND
LEAD_FRAME_COST = 1.0  # per frame needed before the first word
VIOLATION_COST = 1e6  # per frame (or character) a cue cannot have
VIOLATION_CUE_FRAMES = 4  # a cue short of time costs this many frames' violation more
# Per frame a cue of *dense* speech is short of reading time: one of its sentences is spoken
# faster than SUB_MAX_CPS allows even with SUB_MAX_OUT_EXTEND after it, so no cutting can
# make it legal; there the cut follows the sentence and clause structure (the QC report
# lists the cue), instead of merging across sentences to win a few frames.
DENSE_FRAME_COST = 1.0


@dataclass(frozen=True)
class TimedWord:
    """One word and when it is spoken, in seconds."""

    text: str
    start: float
    end: float
    speaker: str | None = None  # the diarize stage's label, when it has run


@dataclass
class Cue:
    """One subtitle: its display time, its lines, the words it shows and their speech."""

    start: float
    end: float
    lines: tuple[str, ...]
    words: tuple[int, ...]  # indices into the builder's input words
    speech_start: float
    speech_end: float
    feasible: bool = True  # False: the speech left no way to meet every rule (see module doc)
    extra: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The lines joined by newlines."""
        return "\n".join(self.lines)


def clean_words(words: Sequence[TimedWord]) -> list[tuple[int, TimedWord]]:
    """Words worth showing, with their input index: text trimmed, times made monotonic.

    A word with no text is dropped; a start before the previous word's start is moved up
    to it; an end before the start is moved up to the start.
    """
    cleaned: list[tuple[int, TimedWord]] = []
    last_start = -math.inf
    for index, word in enumerate(words):
        text = _SPACES.sub(" ", str(word.text)).strip()
        if not text:
            continue
        start = float(word.start)
        end = float(word.end)
        if not (math.isfinite(start) and math.isfinite(end)):
            raise ValueError(f"word {index} ({text!r}) has no finite time: start={word.start}, end={word.end}")
        start = max(start, last_start, 0.0)
        end = max(end, start)
        last_start = start
        speaker = getattr(word, "speaker", None)
        cleaned.append((index, TimedWord(text, start, end, str(speaker) if speaker else None)))
    return cleaned


@dataclass
class _Frames:
    """Per-word frame facts for one build."""

    start: list[int]
    end: list[int]
    lead_lo: list[int]  # earliest in-time for a cue starting at this word
    lag_hi: list[int]  # latest out-time for a cue ending at this word
    soft_hi: list[int]  # out-time MAX_OUT_EXTEND past this word


def _frames(words: list[TimedWord], rules: Rules, fps: float) -> _Frames:
    starts = [math.floor(w.start * fps + _EPS) for w in words]
    ends = [max(s, math.ceil(w.end * fps - _EPS)) for s, w in zip(starts, words, strict=False)]
    lead_lo = [max(0, math.ceil((w.start - rules.max_lead) * fps - _EPS)) for w in words]
    lag_hi = [max(e, math.floor((w.end + rules.max_lag) * fps + _EPS)) for e, w in zip(ends, words, strict=False)]
    soft_hi = [min(h, max(e, math.floor((w.end + rules.max_out_extend) * fps + _EPS))) for e, h, w in zip(ends, lag_hi, words, strict=False)]
    return _Frames(starts, ends, lead_lo, lag_hi, soft_hi)


class _Builder:
    def __init__(
        self,
        words: list[TimedWord],
        rules: Rules,
        fps: float,
        media_end: float | None,
        joiner: str,
        preferred_breaks: Collection[int],
        costs: Costs,
        shot_changes: Sequence[float] = (),
        snap_frames: int = 12,
    ) -> None:
        if rules.max_cps <= 0:
            raise ValueError("the builder needs a reading-speed limit: SUB_MAX_CPS must be positive")
        self.words = words
        self.rules = rules
        self.costs = costs
        self.fr = rules.frames(fps)
        self.fps = fps
        self.joiner = joiner
        self.joiner_len = grapheme_len(joiner)
        self.f = _frames(words, rules, fps)
        self.media_end = math.inf if media_end is None else math.floor(media_end * fps + _EPS)
        self.shots = sorted({round(t * fps) for t in shot_changes if t >= 0})
        self.snap = snap_frames
        self.lengths = [grapheme_len(w.text) for w in words]
        n = len(words)
        self.line_cost = [0.0] * n
        self.boundary_cost = [0.0] * n  # cost of a cue break before word k
        self.inside_cost = [0.0] * n  # cost of keeping words k-1 and k in one cue
        self.speaker_change = [False] * (n + 1)  # words k-1 and k are said by different speakers
        self.changes = [0] * (n + 1)  # speaker changes before words 1..k
        class_cost = {Break.SENTENCE: costs.sentence, Break.CLAUSE: costs.clause, Break.PHRASE: costs.phrase,
                      Break.PLAIN: costs.plain, Break.FORBIDDEN: costs.forbidden}
        for k in range(1, n):
            kind = classify_break(words[k - 1].text, words[k].text)
            self.line_cost[k] = LINE_BREAK_COST[kind]
            cost = class_cost[kind]
            pause = max(0.0, words[k].start - words[k - 1].end)
            if rules.pause_split > 0 and pause > 0:
                # The longer the pause, the cheaper the break; a forbidden break stays costly.
                floor = cost / 2 if kind == Break.FORBIDDEN else min(cost, costs.sentence)
                cost = max(floor, cost - costs.pause * pause / rules.pause_split)
                if pause >= rules.pause_split:
                    self.inside_cost[k] += PAUSE_INSIDE_COST * pause / rules.pause_split
            a, b = words[k - 1].speaker, words[k].speaker
            if a and b and a != b:
                self.speaker_change[k] = True
                cost = min(cost, costs.sentence)
            self.changes[k] = self.changes[k - 1] + self.speaker_change[k]
            if k in preferred_breaks:
                cost = min(cost, PREFERRED_BREAK_COST)
            self.boundary_cost[k] = cost
            if kind == Break.SENTENCE and not self.speaker_change[k]:  # a dash cue pays speaker_dash instead
                self.inside_cost[k] += costs.sentence_inside
        if n:
            self.changes[n] = self.changes[n - 1]
        self.dense_prefix = [0]
        for dense in self._dense_words():
            self.dense_prefix.append(self.dense_prefix[-1] + dense)
        self.prefix = [0]
        for length in self.lengths:
            self.prefix.append(self.prefix[-1] + length)

    def _dense_words(self) -> list[bool]:
        """Per word: its sentence is spoken too fast for the reading-speed limit (see DENSE_FRAME_COST)."""
        words, rules = self.words, self.rules
        flags: list[bool] = []
        first = 0
        for k, word in enumerate(words):
            if ends_sentence(word.text) or k == len(words) - 1:
                # The most time the sentence could have as a cue of its own: half the pause
                # before it, and up to the next speech (less the gap) or MAX_LAG after it.
                chars = sum(self.lengths[first : k + 1]) + self.joiner_len * (k - first)
                before = (words[first].start - words[first - 1].end) / 2 if first else rules.max_lead
                after = words[k + 1].start - self.fr.min_gap / self.fps if k + 1 < len(words) else math.inf
                seconds = min(words[k].end + rules.max_lag, after) - (words[first].start - min(rules.max_lead, before))
                dense = rules.max_cps > 0 and chars > rules.max_cps * seconds
                flags.extend([dense] * (k + 1 - first))
                first = k + 1
        return flags

    # -- windows ---------------------------------------------------------------------------
    def out_limit(self, last: int) -> int:
        """Latest out-time of a cue whose last word is ``last``."""
        f = self.f
        limit = min(f.lag_hi[last], self.media_end)
        if last + 1 < len(self.words):
            limit = min(limit, f.start[last + 1] - self.fr.min_gap)
        return limit

    def static_in_limit(self, first: int) -> int:
        """Earliest in-time of a cue starting at ``first`` that no previous cue can contest."""
        f = self.f
        limit = f.lead_lo[first]
        if first > 0:
            limit = max(limit, f.lag_hi[first - 1] + self.fr.min_gap)
        return min(limit, f.start[first])

    def need(self, chars: int) -> int:
        """Fewest frames a cue of ``chars`` characters must show."""
        return max(self.fr.min_duration, self.fr.cps_frames(chars, self.rules.max_cps))

    def width(self, first: int, stop: int) -> int:
        """Characters of words ``first:stop`` on one line."""
        return self.prefix[stop] - self.prefix[first] + self.joiner_len * (stop - first - 1)

    def dash_at(self, first: int, stop: int) -> int | None:
        """Where the second speaker starts in a cue of words ``first:stop`` (None: one speaker)."""
        if self.changes[stop - 1] == self.changes[first]:
            return None
        return next(k for k in range(first + 1, stop) if self.speaker_change[k])

    def dash_fits(self, first: int, stop: int, split: int) -> bool:
        """Whether two speakers fit one cue: whole sentences, one line each with its dash, one change."""
        dash = grapheme_len(DASH)
        whole = (first == 0 or ends_sentence(self.words[first - 1].text)) and (
            stop == len(self.words) or ends_sentence(self.words[stop - 1].text)
        )
        return (
            whole  # each speaker's part is whole sentences: no dash cue that starts or ends mid-sentence
            and self.rules.max_lines >= 2
            and self.changes[stop - 1] - self.changes[first] == 1
            and self.width(first, split) + dash <= self.rules.max_line_chars
            and self.width(split, stop) + dash <= self.rules.max_line_chars
        )

    # -- pass 1 ----------------------------------------------------------------------------
    def candidate_cost(self, first: int, stop: int, chars: int, prev_out: int | None = None) -> tuple[float, int]:
        """The cost of words ``first:stop`` as one cue after a cue ending at ``prev_out``, and
        the out-time pass 2 gives it (None: no cue before, or its end unknown)."""
        f, fr = self.f, self.fr
        single = stop - first == 1
        cost = self.costs.cue + (self.boundary_cost[stop] if stop < len(self.words) else 0.0)
        cost += sum(self.inside_cost[first + 1 : stop])
        split = None if single else self.dash_at(first, stop)
        if split is not None:
            # Two speakers: a dash cue, one line each, or not at all.
            if not self.dash_fits(first, stop, split):
                return math.inf, 0
            cost += self.costs.speaker_dash
            chars += 2 * grapheme_len(DASH)
        elif chars > self.rules.max_line_chars:
            found = layout_costs(
                self.lengths[first:stop],
                [0.0, *self.line_cost[first + 1 : stop]],
                self.rules.max_line_chars,
                self.rules.max_lines,
                self.joiner_len,
            )
            if found is None:
                if not single:
                    return math.inf, 0
                cost += VIOLATION_COST * (chars - self.rules.max_line_chars + 1)
            else:
                cost += found[0]
        speech = f.end[stop - 1] - f.start[first]
        if speech > fr.max_duration:
            if not single:
                return math.inf, 0
            cost += VIOLATION_COST
        need = self.need(chars)
        hi = self.out_limit(stop - 1)
        if prev_out is None:
            lo = self.static_in_limit(first)
        else:  # the cue before ends where pass 2 will end it: the rest of the pause is ours
            lo = min(max(f.lead_lo[first], prev_out + fr.min_gap), f.start[first])
        start = f.start[first]
        if need > fr.max_duration:
            cost += VIOLATION_COST * (need - fr.max_duration)
            need = fr.max_duration
        if need > hi - lo:
            if self.dense_prefix[stop] > self.dense_prefix[first]:
                cost += DENSE_FRAME_COST * (need - (hi - lo))
            else:
                # Fewest frames short, and fewest cues that break a rule: one dense cue rather than two.
                cost += VIOLATION_COST * (need - (hi - lo) + VIOLATION_CUE_FRAMES)
        soft = min(f.soft_hi[stop - 1], hi)
        cost += LAG_FRAME_COST * max(0, min(start + need, hi) - soft)
        cost += LEAD_FRAME_COST * max(0, start + need - hi)
        # Where pass 2 puts the out-time (before chaining), for the next cue's window.
        if start + need > soft and start + need > hi:
            start = max(lo, min(start, hi - need))
        out = max(start + 1, min(max(f.end[stop - 1], start + need), hi, start + fr.max_duration))
        return cost, out

    def segment(self) -> list[tuple[int, int]]:
        n = len(self.words)
        best = [math.inf] * (n + 1)
        back = [0] * (n + 1)
        used: list[int | None] = [None] * (n + 1)  # out-time of the last cue of the best cutting
        best[0] = 0.0
        for stop in range(1, n + 1):
            chars = -self.joiner_len
            for first in range(stop - 1, -1, -1):
                chars += self.lengths[first] + self.joiner_len
                if first < stop - 1 and (
                    chars > self.rules.max_chars
                    or self.f.end[stop - 1] - self.f.start[first] > self.fr.max_duration
                    or self.changes[stop - 1] - self.changes[first] > 1
                ):
                    break
                if best[first] == math.inf:
                    continue
                cost, out = self.candidate_cost(first, stop, chars, used[first])
                total = best[first] + cost
                if total < best[stop]:
                    best[stop] = total
                    back[stop] = first
                    used[stop] = out
        spans = []
        stop = n
        while stop > 0:
            spans.append((back[stop], stop))
            stop = back[stop]
        return spans[::-1]

    # -- pass 2 ----------------------------------------------------------------------------
    def time(self, spans: list[tuple[int, int]]) -> list[dict]:
        f, fr = self.f, self.fr
        placed: list[dict] = []
        for first, stop in spans:
            last = stop - 1
            chars = self.width(first, stop)
            if self.dash_at(first, stop) is not None:
                chars += 2 * grapheme_len(DASH)
            need = min(self.need(chars), fr.max_duration)
            prev = placed[-1] if placed else None
            hi = self.out_limit(last)
            soft = min(f.soft_hi[last], hi)
            lo = f.lead_lo[first]
            if prev is not None:
                lo = max(lo, prev["out"] + fr.min_gap)
            start = f.start[first]
            if prev is not None:
                start = max(start, prev["out"] + fr.min_gap)
            if start + need > soft and start + need > hi:
                start = max(lo, min(start, hi - need))
            out = max(f.end[last], start + need)
            out = min(out, hi, start + fr.max_duration)
            out = max(out, start + 1)
            cue = {"first": first, "stop": stop, "in": start, "out": out, "need": need}
            if prev is not None:
                self.chain(prev, cue)
            placed.append(cue)
        if self.shots:
            self.snap_to_shots(placed)
        for cue in placed:
            cue["feasible"] = cue["out"] - cue["in"] >= cue["need"]
        return placed

    def _gap_ok(self, gap: int) -> bool:
        return gap == self.fr.min_gap or gap > self.fr.chain_gap

    def snap_to_shots(self, placed: list[dict]) -> None:
        """Move in/out-times onto shot changes (Netflix): never across one past the speech,
        and onto one within SUB_SHOT_SNAP_FRAMES, when every rule still holds.

        An in-time goes onto a change at or before its first word (not before MAX_LEAD);
        an out-time goes MIN_GAP_FRAMES before a change after its last word, earlier only
        while the cue keeps the time its reading speed needs. A move that would leave a gap
        the chaining rule forbids, or overlap a neighbour, is not made.
        """
        f, fr = self.f, self.fr
        for k, cue in enumerate(placed):
            first, last = cue["first"], cue["stop"] - 1
            prev_out = placed[k - 1]["out"] if k else -math.inf
            next_in = placed[k + 1]["in"] if k + 1 < len(placed) else math.inf
            # In-time: onto a change its lead-in crosses, else the nearest within reach, never
            # after the first word.
            crossing = [s for s in self.shots if cue["in"] < s <= f.start[first]]
            near = crossing[-1:] or [s for s in self.shots if abs(s - cue["in"]) <= self.snap and s < cue["in"]]
            for s in sorted(near, key=lambda s: abs(s - cue["in"])):
                if s < f.lead_lo[first] or cue["out"] - s > fr.max_duration or cue["out"] - s < cue["need"] and s > cue["in"]:
                    continue
                if k and not (s - prev_out >= fr.min_gap and self._gap_ok(s - prev_out)):
                    continue
                cue["in"] = s
                break
            # Out-time: never across a change after the speech; snap to one within reach.
            target = None
            crossing = [s for s in self.shots if max(cue["in"], f.end[last]) < s < cue["out"]]
            if crossing:
                target = crossing[0] - fr.min_gap
            else:
                near = [s - fr.min_gap for s in self.shots if abs(s - fr.min_gap - cue["out"]) <= self.snap]
                near = [t for t in near if t != cue["out"]]
                if near:
                    target = min(near, key=lambda t: abs(t - cue["out"]))
            if target is None:
                continue
            hi = min(self.out_limit(last), cue["in"] + fr.max_duration, next_in - fr.min_gap)
            ok = max(f.end[last], cue["in"] + 1) <= target <= hi
            if ok and k + 1 < len(placed):
                ok = self._gap_ok(next_in - target)
            new_in = cue["in"]
            if ok and target - new_in < cue["need"]:
                # Shorter than reading needs: only if an earlier in-time (into silence, no
                # change crossed, no forbidden gap) gives the time back.
                new_in = target - cue["need"]
                lo = max(f.lead_lo[first], prev_out + fr.min_gap)
                ok = new_in >= lo and not any(new_in < s <= cue["in"] for s in self.shots)
                ok = ok and (not k or self._gap_ok(new_in - prev_out))
            if ok:
                cue["in"], cue["out"] = new_in, target

    def chain(self, prev: dict, cue: dict) -> None:
        """Close a short gap between ``prev`` and ``cue`` to MIN_GAP_FRAMES, or open it."""
        f, fr = self.f, self.fr
        gap = cue["in"] - prev["out"]
        if not fr.min_gap < gap <= fr.chain_gap:
            return
        prev_last, first = prev["stop"] - 1, cue["first"]
        prev_out_max = min(f.lag_hi[prev_last], prev["in"] + fr.max_duration)
        target = cue["in"] - fr.min_gap
        if target <= prev_out_max:  # the earlier cue stays on until the next one
            prev["out"] = target
            return
        if prev["out"] + fr.min_gap >= f.lead_lo[first]:  # the later cue comes in earlier
            cue["in"] = prev["out"] + fr.min_gap
            cue["out"] = min(cue["out"], cue["in"] + fr.max_duration)
            return
        both = prev_out_max + fr.min_gap
        if f.lead_lo[first] <= both <= cue["in"]:
            prev["out"] = prev_out_max
            cue["in"] = both
            cue["out"] = min(cue["out"], cue["in"] + fr.max_duration)
            return
        shrunk = cue["in"] - fr.chain_gap - 1
        if shrunk - prev["in"] >= prev["need"]:
            prev["out"] = shrunk

    def build(self, indices: list[int]) -> list[Cue]:
        if not self.words:
            return []
        cues = []
        for placed in self.time(self.segment()):
            first, stop = placed["first"], placed["stop"]
            tokens = [w.text for w in self.words[first:stop]]
            split = self.dash_at(first, stop)
            if split is not None:
                lines = (DASH + self.joiner.join(tokens[: split - first]), DASH + self.joiner.join(tokens[split - first :]))
            else:
                lines = layout(tokens, self.rules.max_line_chars, self.rules.max_lines, self.joiner).lines
            cues.append(
                Cue(
                    start=placed["in"] / self.fps,
                    end=placed["out"] / self.fps,
                    lines=lines,
                    words=tuple(indices[first:stop]),
                    speech_start=self.words[first].start,
                    speech_end=self.words[stop - 1].end,
                    feasible=placed["feasible"],
                )
            )
        return cues


def build_cues(
    words: Sequence[TimedWord],
    rules: Rules,
    fps: float,
    media_end: float | None = None,
    joiner: str = " ",
    preferred_breaks: Collection[int] = (),
    costs: Costs | None = None,
    shot_changes: Sequence[float] = (),
    snap_frames: int = 12,
) -> list[Cue]:
    """Subtitle cues for ``words`` under ``rules`` at ``fps``.

    ``media_end`` (seconds) caps every out-time; ``joiner`` goes between words ("" for
    languages written without spaces); ``preferred_breaks`` are input word indices before
    which a cue break is nearly free (a translated track uses its source cues' edges);
    ``costs`` are the optimisation's preferences (default: rules.Costs()). Words that
    carry a ``speaker`` change cue at a speaker change, or share a cue with one line and
    a leading dash per speaker. ``shot_changes`` (seconds) are never crossed by a cue's
    lead-in or lag-out, and in/out-times within ``snap_frames`` of one snap to it.
    Every kept word appears in exactly one cue, in order; blank words are dropped.
    """
    cleaned = clean_words(words)
    indices = [index for index, _ in cleaned]
    position = {index: k for k, index in enumerate(indices)}
    preferred = {position[i] for i in preferred_breaks if i in position}
    builder = _Builder([w for _, w in cleaned], rules, fps, media_end, joiner, preferred, costs or Costs(),
                       shot_changes, snap_frames)
    return builder.build(indices)


def words_per_sentence(words: Sequence[TimedWord]) -> list[list[int]]:
    """Indices of ``words`` grouped into sentences by their final punctuation."""
    sentences: list[list[int]] = [[]]
    for index, word in enumerate(words):
        sentences[-1].append(index)
        if ends_sentence(word.text):
            sentences.append([])
    return [s for s in sentences if s]
