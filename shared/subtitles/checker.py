"""The QC checker: every rule violation of a subtitle track, with cue number and figure.

Works on any SRT, WebVTT or ASS file (read with pysubs2) and on the builder's cues. Times
in a file are rounded to its format's resolution (1 ms for SRT/VTT, 10 ms for ASS), so a
figure is a violation only when it is past the limit by more than that resolution: 5/6 s
written as 00:00:00,833 is not too short, and 2 frames of 23.976 fps written as 83 ms is
not too small a gap.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pysubs2

from shared.subtitles.rules import ASSUMED_FPS, Rules
from shared.subtitles.text import display_chars, grapheme_len

log = logging.getLogger(__name__)

# Rule names, in the order a report lists them for one cue.
RULES = (
    "empty",
    "line_chars",
    "lines",
    "cps",
    "min_duration",
    "max_duration",
    "overlap",
    "min_gap",
    "chain_gap",
    "lead",
    "lag",
    "speakers",
)

FORMAT_RESOLUTION = {"srt": 0.001, "vtt": 0.001, "ass": 0.01, "ssa": 0.01}


class SubtitleFileError(Exception):
    """A subtitle file that cannot be read; the message says which and why."""


@dataclass(frozen=True)
class CheckCue:
    """What the checker needs of one cue: its number (1-based), times and lines."""

    number: int
    start: float
    end: float
    lines: tuple[str, ...]


@dataclass(frozen=True)
class Violation:
    """One broken rule: which cue, which rule, the figure found and the limit."""

    cue: int
    rule: str
    figure: float
    limit: float
    start: float
    message: str

    def as_dict(self) -> dict:
        """The violation as a JSON-ready mapping."""
        return asdict(self)


def _timestamp(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    millis = round(abs(seconds) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def check_cues(cues: Sequence[CheckCue], rules: Rules, fps: float, resolution: float = 0.001) -> list[Violation]:
    """Every violation of ``rules`` in ``cues`` at ``fps``; ``resolution`` is the time slack."""
    if fps <= 0:
        raise ValueError(f"frame rate must be positive, got {fps}")
    tol = resolution + 1e-9
    found: list[Violation] = []

    def add(cue: CheckCue, rule: str, figure: float, limit: float, message: str) -> None:
        found.append(Violation(cue.number, rule, round(figure, 3), round(limit, 3), round(cue.start, 3), message))

    for cue in cues:
        lines = [line.strip() for line in cue.lines]
        lines = [line for line in lines if line]
        duration = cue.end - cue.start
        if not lines:
            add(cue, "empty", 0, 1, "no visible text")
            continue
        for number, line in enumerate(lines, 1):
            chars = grapheme_len(line)
            if chars > rules.max_line_chars:
                add(cue, "line_chars", chars, rules.max_line_chars, f"line {number} has {chars} characters > {rules.max_line_chars}")
        if len(lines) > rules.max_lines:
            add(cue, "lines", len(lines), rules.max_lines, f"{len(lines)} lines > {rules.max_lines}")
        if rules.max_cps > 0:
            chars = display_chars(lines)
            shown = max(duration + tol, 1e-9)
            if chars / shown > rules.max_cps:
                cps = chars / duration if duration > 0 else math.inf
                add(cue, "cps", cps, rules.max_cps, f"{chars} characters in {duration:.3f} s = {cps:.1f} cps > {rules.max_cps:g}")
        if duration < rules.min_duration - tol:
            add(cue, "min_duration", duration, rules.min_duration, f"shown {duration:.3f} s < {rules.min_duration:g} s")
        if duration > rules.max_duration + tol:
            add(cue, "max_duration", duration, rules.max_duration, f"shown {duration:.3f} s > {rules.max_duration:g} s")

    ordered = sorted((c for c in cues if any(line.strip() for line in c.lines)), key=lambda c: (c.start, c.number))
    latest: CheckCue | None = None  # the cue that ends last among those already seen
    for cue in ordered:
        if latest is not None:
            gap = cue.start - latest.end
            frames = gap * fps
            if gap < -tol:
                add(cue, "overlap", -gap, 0, f"starts {-gap:.3f} s before cue {latest.number} ends")
            elif gap < rules.min_gap_frames / fps - tol:
                add(cue, "min_gap", frames, rules.min_gap_frames, f"gap after cue {latest.number} is {frames:.2f} frames < {rules.min_gap_frames} at {fps:g} fps")
            elif rules.min_gap_frames / fps + tol < gap <= rules.chain_gap_frames / fps + tol:
                add(
                    cue,
                    "chain_gap",
                    frames,
                    rules.chain_gap_frames,
                    f"gap after cue {latest.number} is {frames:.2f} frames: gaps of {rules.chain_gap_frames} frames or fewer close to {rules.min_gap_frames}",
                )
        if latest is None or cue.end > latest.end:
            latest = cue
    found.sort(key=lambda v: (v.cue, RULES.index(v.rule)))
    return found


def check_sync(
    cues: Sequence[CheckCue], speech: Sequence[tuple[float, float]], rules: Rules, resolution: float = 0.001
) -> list[Violation]:
    """Lead and lag violations: ``speech[k]`` is the (start, end) of the words of ``cues[k]``."""
    tol = resolution + 1e-9
    found = []
    for cue, (speech_start, speech_end) in zip(cues, speech, strict=False):
        lead = speech_start - cue.start
        lag = cue.end - speech_end
        if lead > rules.max_lead + tol:
            found.append(Violation(cue.number, "lead", round(lead, 3), rules.max_lead, round(cue.start, 3), f"starts {lead:.3f} s before its speech > {rules.max_lead:g} s"))
        if lag > rules.max_lag + tol:
            found.append(Violation(cue.number, "lag", round(lag, 3), rules.max_lag, round(cue.start, 3), f"ends {lag:.3f} s after its speech > {rules.max_lag:g} s"))
    return found


def check_speakers(cues: Sequence[CheckCue], speakers: Sequence[Sequence[str | None]]) -> list[Violation]:
    """Cues whose words come from two speakers or more without a dash per speaker line.

    ``speakers[k]`` are the speaker labels of the words of ``cues[k]`` (None where unknown);
    a cue is fine when its words have one known speaker, or when it has one line per
    speaker, each starting with a dash (Netflix).
    """
    from shared.subtitles.quality import has_dashes

    found = []
    for cue, labels in zip(cues, speakers, strict=False):
        known = list(dict.fromkeys(label for label in labels if label))
        if len(known) < 2:
            continue
        lines = [line for line in cue.lines if line.strip()]
        if has_dashes(lines) and len(lines) == len(known):
            continue
        found.append(Violation(cue.number, "speakers", len(known), 1, round(cue.start, 3),
                               f"words of {len(known)} speakers ({', '.join(known)}) without one dashed line each"))
    return found


def cues_from_events(subs: pysubs2.SSAFile) -> list[CheckCue]:
    """The checker's view of a pysubs2 file: dialogue events numbered in file order."""
    cues = []
    number = 0
    for event in subs.events:
        if event.is_comment:
            continue
        number += 1
        cues.append(CheckCue(number, event.start / 1000, event.end / 1000, tuple(event.plaintext.split("\n"))))
    return cues


def load_subtitles(path: str | os.PathLike) -> tuple[pysubs2.SSAFile, str]:
    """A subtitle file and its format (srt, vtt, ass, ...); SubtitleFileError when unreadable."""
    path = Path(path)
    if not path.exists():
        raise SubtitleFileError(f"{path}: no such file")
    if not path.is_file():
        raise SubtitleFileError(f"{path}: not a file")
    try:
        subs = pysubs2.load(str(path), encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubtitleFileError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (pysubs2.exceptions.Pysubs2Error, ValueError) as exc:
        raise SubtitleFileError(f"{path}: not a subtitle file pysubs2 can read ({exc})") from None
    fmt = subs.format or path.suffix.lstrip(".").lower()
    if fmt == "microdvd" or fmt == "tmp":
        raise SubtitleFileError(f"{path}: {fmt} subtitles have no real times; give SRT, WebVTT or ASS")
    return subs, fmt


@dataclass
class Report:
    """The result of checking one file or track."""

    path: str
    format: str
    fps: float
    fps_assumed: bool
    rules: Rules
    cues: int
    violations: list[Violation]

    def as_dict(self) -> dict:
        """A JSON-ready report (what qc.json holds)."""
        counts: dict[str, int] = {}
        for v in self.violations:
            counts[v.rule] = counts.get(v.rule, 0) + 1
        return {
            "file": self.path,
            "format": self.format,
            "fps": self.fps,
            "fps_assumed": self.fps_assumed,
            "fps_note": f"no frame rate given: {ASSUMED_FPS:g} fps assumed" if self.fps_assumed else "",
            "rules": self.rules.as_dict(),
            "cues": self.cues,
            "violation_count": len(self.violations),
            "by_rule": counts,
            "violations": [v.as_dict() for v in self.violations],
        }

    def lines(self) -> list[str]:
        """Human-readable lines: one per violation, then a summary."""
        out = [f"cue {v.cue} ({_timestamp(v.start)}): {v.rule}: {v.message}" for v in self.violations]
        note = f", {ASSUMED_FPS:g} fps assumed" if self.fps_assumed else f", {self.fps:g} fps"
        out.append(f"{self.path}: {self.cues} cues, {len(self.violations)} violations{note}")
        return out


def check_file(path: str | os.PathLike, rules: Rules, fps: float | None = None) -> Report:
    """Check one SRT/VTT/ASS file; ``fps`` None means 24 fps assumed (and the report says so)."""
    subs, fmt = load_subtitles(path)
    cues = cues_from_events(subs)
    used = fps if fps else ASSUMED_FPS
    violations = check_cues(cues, rules, used, FORMAT_RESOLUTION.get(fmt, 0.001))
    log.debug("checked %s: %d cues, %d violations", path, len(cues), len(violations))
    return Report(str(path), fmt, used, fps is None, rules, len(cues), violations)
