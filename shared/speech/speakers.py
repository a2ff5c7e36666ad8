"""Speakers on words and segments: each word takes the speaker whose turns overlap it most.

The diarize stage writes speaker turns (speakers.json); this module gives every aligned
word a ``speaker`` (the largest total overlap with that speaker's turns wins; a word that
overlaps no turn takes the nearest turn), then splits a segment that spans a speaker
change at the word where the speaker changes, so every segment has one speaker.

Turns go into a :class:`TurnIndex`, a bucket index over fixed time bins: a lookup visits
only the turns that touch the word's bins, so labelling a film costs time linear in its
length, never words x turns. Display names (SPEAKER_NAMES) are resolved here too, so
every writer shows the same name for a label.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

BIN_SECONDS = 2.0


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


class TurnIndex:
    """Speaker turns indexed by time: overlap and nearest-turn lookups in O(turns touched)."""

    def __init__(self, turns: Iterable[Turn | Mapping[str, Any]], bin_seconds: float = BIN_SECONDS):
        items = [t if isinstance(t, Turn) else Turn(float(t["start"]), float(t["end"]), str(t["speaker"])) for t in turns]
        self.turns = sorted((t for t in items if t.end > t.start), key=lambda t: (t.start, t.end))
        self.bin = bin_seconds
        self.bins: dict[int, list[int]] = {}
        for i, turn in enumerate(self.turns):
            for b in range(int(turn.start // self.bin), int(math.ceil(turn.end / self.bin))):
                self.bins.setdefault(b, []).append(i)
        self.starts = [t.start for t in self.turns]
        # latest-ending turn among turns[:i+1], for the nearest turn before a time
        self.prefix_latest: list[int] = []
        best = -1
        for i, turn in enumerate(self.turns):
            if best < 0 or turn.end > self.turns[best].end:
                best = i
            self.prefix_latest.append(best)

    def __len__(self) -> int:
        return len(self.turns)

    def overlaps(self, start: float, end: float) -> dict[str, float]:
        """Total overlap in seconds of [start, end] with each speaker's turns (speakers with none left out)."""
        totals: dict[str, float] = {}
        if end <= start or not self.turns:
            return totals
        seen: set[int] = set()
        for b in range(int(start // self.bin), int(math.ceil(end / self.bin))):
            for i in self.bins.get(b, ()):
                if i in seen:
                    continue
                seen.add(i)
                turn = self.turns[i]
                overlap = min(end, turn.end) - max(start, turn.start)
                if overlap > 0:
                    totals[turn.speaker] = totals.get(turn.speaker, 0.0) + overlap
        return totals

    def nearest(self, start: float, end: float) -> str | None:
        """The speaker of the turn closest in time to [start, end] (None when there are no turns)."""
        if not self.turns:
            return None
        candidates: list[tuple[float, int]] = []
        after = bisect.bisect_left(self.starts, end)
        if after < len(self.turns):
            candidates.append((self.turns[after].start - end, after))
        if after > 0:
            before = self.prefix_latest[after - 1]
            candidates.append((max(0.0, start - self.turns[before].end), before))
        return self.turns[min(candidates)[1]].speaker

    def speaker_for(self, start: float, end: float) -> str | None:
        """The speaker with the largest overlap with [start, end]; the nearest turn's when none overlaps."""
        end = max(end, start + 1e-3)  # a zero-length word still sits inside a turn
        totals = self.overlaps(start, end)
        if totals:
            return max(sorted(totals.items()), key=lambda kv: kv[1])[0]  # ties: the first label
        return self.nearest(start, end)


def label_words(segments: Sequence[dict], index: TurnIndex) -> int:
    """Set ``speaker`` on every timed word of ``segments`` in place; the number labelled."""
    labelled = 0
    for seg in segments:
        for word in seg.get("words") or ():
            start, end = word.get("start"), word.get("end")
            if start is None or end is None:
                continue
            speaker = index.speaker_for(float(start), float(end))
            if speaker is not None:
                word["speaker"] = speaker
                labelled += 1
    return labelled


def split_by_speaker(segments: Sequence[dict], index: TurnIndex) -> list[dict]:
    """Segments with one speaker each: a segment whose words change speaker is split at that word.

    Words without a time take the speaker of the word before them (or after, at the start).
    A segment without words takes the speaker that overlaps it most. Ids are renumbered.
    """
    out: list[dict] = []
    for seg in segments:
        words = list(seg.get("words") or ())
        if not words:
            speaker = index.speaker_for(float(seg["start"]), float(seg["end"]))
            out.append({**seg, **({"speaker": speaker} if speaker else {})})
            continue
        _fill_untimed(words)
        runs: list[list[dict]] = []
        for word in words:
            if runs and runs[-1][-1].get("speaker") == word.get("speaker"):
                runs[-1].append(word)
            else:
                runs.append([word])
        if len(runs) == 1:
            speaker = words[0].get("speaker")
            out.append({**seg, "words": words, **({"speaker": speaker} if speaker else {})})
            continue
        for k, run in enumerate(runs):
            piece = {**seg, "words": run, "text": " ".join(w["word"] for w in run)}
            timed = [w for w in run if w.get("start") is not None]
            piece["start"] = seg["start"] if k == 0 else (timed[0]["start"] if timed else seg["start"])
            piece["end"] = seg["end"] if k == len(runs) - 1 else (timed[-1]["end"] if timed else seg["end"])
            if run[0].get("speaker"):
                piece["speaker"] = run[0]["speaker"]
            out.append(piece)
    for i, seg in enumerate(out):
        if "id" in seg:
            seg["id"] = i
    return out


def _fill_untimed(words: list[dict]) -> None:
    last = next((w["speaker"] for w in words if w.get("speaker")), None)
    for word in words:
        if word.get("speaker"):
            last = word["speaker"]
        elif last is not None:
            word["speaker"] = last


def assign(segments: Sequence[dict], turns: Iterable[Turn | Mapping[str, Any]]) -> tuple[list[dict], dict[str, int]]:
    """(segments with a speaker on every word and segment, counts) for ``turns``."""
    index = TurnIndex(turns)
    labelled = label_words(segments, index)
    split = split_by_speaker(segments, index)
    return split, {"labelled_words": labelled, "segments_split": len(split) - len(segments),
                   "speakers": len({s.get("speaker") for s in split if s.get("speaker")})}


# ---- how many speakers (whether to diarize at all: shared.policy.diarize_decision) ------
@dataclass(frozen=True)
class SpeakerCount:
    """The speaker count asked for: exact (``speakers``) or a range; 0 means not given."""

    speakers: int = 0
    min_speakers: int = 0
    max_speakers: int = 0

    def __post_init__(self) -> None:
        for name in ("speakers", "min_speakers", "max_speakers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name.upper()} must not be negative")
        if self.min_speakers and self.max_speakers and self.min_speakers > self.max_speakers:
            raise ValueError(f"MIN_SPEAKERS={self.min_speakers} is more than MAX_SPEAKERS={self.max_speakers}")
        if self.speakers and ((self.min_speakers and self.speakers < self.min_speakers)
                              or (self.max_speakers and self.speakers > self.max_speakers)):
            raise ValueError(f"SPEAKERS={self.speakers} is outside MIN_SPEAKERS..MAX_SPEAKERS")

    def as_dict(self) -> dict[str, int]:
        return {"speakers": self.speakers, "min_speakers": self.min_speakers, "max_speakers": self.max_speakers}


# ---- display names ---------------------------------------------------------------------
def parse_names(text: str) -> dict[str, str]:
    """SPEAKER_NAMES (``SPEAKER_1=Asha,SPEAKER_2=Ravi``) as a label -> name map; ValueError when malformed."""
    names: dict[str, str] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        label, sep, name = part.partition("=")
        label, name = label.strip(), name.strip()
        if not sep or not label or not name:
            raise ValueError(f"SPEAKER_NAMES: {part!r} is not LABEL=Name (e.g. SPEAKER_1=Asha,SPEAKER_2=Ravi)")
        names[label] = name
    return names


def display_name(label: str | None, names: Mapping[str, str]) -> str | None:
    """The name SPEAKER_NAMES gives ``label``, else the label itself."""
    if not label:
        return None
    return names.get(label, label)


# ---- the align stage's output step -----------------------------------------------------
def turns_of(speakers_json: Mapping[str, Any] | None) -> list[dict] | None:
    """The turns of a speakers.json (already read and kind-checked); None when diarization was off."""
    if not speakers_json or not speakers_json.get("enabled"):
        return None
    return list(speakers_json.get("turns") or [])


def transcript_text(segments: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> str:
    """The plain-text transcript: one segment a line, ``[Speaker] `` before a line whose speaker is known."""
    lines = []
    for seg in segments:
        text = str(seg.get("text", "")).strip()
        name = display_name(seg.get("speaker"), names or {})
        lines.append(f"[{name}] {text}\n" if name else f"{text}\n")
    return "".join(lines)


# ---- the subtitle stage: speakers of cues ------------------------------------------------
def cue_speakers(word_indices: Iterable[int], speakers: Sequence[str | None]) -> list[str]:
    """The speakers of a cue's words, each once, in the order they first speak."""
    found: list[str] = []
    for i in word_indices:
        label = speakers[i] if 0 <= i < len(speakers) else None
        if label and label not in found:
            found.append(label)
    return found
