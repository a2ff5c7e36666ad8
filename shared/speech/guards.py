"""Hallucination guards over ASR segments: each removal is returned, never silently dropped.

- text where the VAD found no speech is removed (``no-speech-region``);
- a phrase repeated in a loop inside a segment is collapsed to one, and a segment that
  repeats the previous ones word for word is removed (``repetition-loop``);
- Whisper's stock phrases from its training subtitles ("thanks for watching", "subtitles
  by ...") are removed when the decoder was not confident (``stock-phrase``);
- a segment Whisper itself scores as silence is removed (``no-speech``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STOCK_PHRASES = (
    r"thanks? (you )?(so much )?for watching",
    r"thank you for (listening|your attention)",
    r"(please )?(like (and|&) )?subscribe( to (my|our|the) channel)?",
    r"subtitles? (by|made by|created by)\b.*",
    r"(captions?|transcription|transcript|translation)s? by\b.*",
    r"amara\.org( community)?",
    r"see you (in the )?next (video|time)",
    r"www\.[a-z0-9.-]+",
)
_STOCK = re.compile(r"^\W*(?:" + "|".join(STOCK_PHRASES) + r")\W*$", re.IGNORECASE)


@dataclass(frozen=True)
class GuardOptions:
    """How strict the guards are."""

    min_overlap: float = 0.3  # share of a segment that must overlap VAD speech
    stock_logprob: float = -0.45  # a stock phrase decoded below this mean log-prob is dropped
    stock_no_speech: float = 0.3  # ...or with a no-speech probability above this
    loop_min_repeats: int = 3  # a phrase said this many times in a row is a loop
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    prompt: str | None = None  # the script phrase given as Whisper's prompt: echoed back, it is a stock phrase too


def overlap(start: float, end: float, regions: list[tuple[float, float]]) -> float:
    """Seconds of [start, end] covered by ``regions``."""
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in regions)


def collapse_loops(text: str, min_repeats: int = 3) -> tuple[str, str]:
    """``text`` with any phrase repeated ``min_repeats``+ times in a row said once; (text, removed)."""
    words = text.split()
    removed: list[str] = []
    i = 0
    out: list[str] = []
    while i < len(words):
        best = None
        for size in range(1, min(12, (len(words) - i) // min_repeats) + 1):
            phrase = [w.lower().strip(".,!?;:") for w in words[i : i + size]]
            count = 1
            while [w.lower().strip(".,!?;:") for w in words[i + count * size : i + (count + 1) * size]] == phrase:
                count += 1
            if count >= min_repeats and (best is None or count * size > best[0] * best[1]):
                best = (count, size)
        if best:
            count, size = best
            out.extend(words[i : i + size])
            removed.extend(words[i + size : i + count * size])
            i += count * size
        else:
            out.append(words[i])
            i += 1
    return " ".join(out), " ".join(removed)


def is_stock_phrase(text: str) -> bool:
    return bool(_STOCK.match(text.strip()))


def _norm(text: str) -> str:
    return re.sub(r"[^\w\s]", "", text.lower()).strip()


def apply_guards(segments: list[dict], regions: list[tuple[float, float]],
                 opts: GuardOptions = GuardOptions()) -> tuple[list[dict], list[dict]]:
    """(kept segments, removals) for ``segments`` checked against the VAD ``regions``."""
    kept: list[dict] = []
    removed: list[dict] = []

    def drop(seg: dict, reason: str, text: str | None = None) -> None:
        removed.append({"start": seg["start"], "end": seg["end"], "text": (text or seg["text"]).strip(), "reason": reason})

    recent: list[str] = []
    for seg in segments:
        text = seg["text"].strip()
        if not text:
            continue
        length = max(seg["end"] - seg["start"], 1e-3)
        covered = overlap(seg["start"], seg["end"], regions)
        if covered < opts.min_overlap * length and covered < 0.2:
            drop(seg, "no-speech-region")
            continue
        if (seg.get("no_speech_prob", 0.0) > opts.no_speech_threshold
                and seg.get("avg_logprob", 0.0) < opts.log_prob_threshold):
            drop(seg, "no-speech")
            continue
        echo = bool(opts.prompt) and _norm(text) == _norm(opts.prompt or "")
        if (is_stock_phrase(text) or echo) and (seg.get("avg_logprob", 0.0) < opts.stock_logprob
                                      or seg.get("no_speech_prob", 0.0) > opts.stock_no_speech):
            drop(seg, "prompt-echo" if echo else "stock-phrase")
            continue
        collapsed, loop = collapse_loops(text, opts.loop_min_repeats)
        if loop:
            drop(seg, "repetition-loop", loop)
            seg = {**seg, "text": collapsed}
        key = _norm(seg["text"])
        if key and len(recent) >= opts.loop_min_repeats - 1 and all(r == key for r in recent[-(opts.loop_min_repeats - 1):]):
            drop(seg, "repetition-loop")
            continue
        recent.append(key)
        kept.append(seg)
    return kept, removed
