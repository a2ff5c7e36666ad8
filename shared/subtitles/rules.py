"""Subtitle timing and layout rules: one dataclass, its defaults read from the settings.

The numbers are Netflix's and the BBC's (see shared/reference/SUBTITLE_RULES.md); every
one is a SUB_* setting of config/pipeline.env (section "subtitle rules"), resolved
flag > environment > .env > pipeline.env through :func:`shared.settings.resolve`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from shared import schema
from shared import settings as settings_mod

# Frame rate used for frame-based rules when the media has none (audio-only input).
ASSUMED_FPS = schema.ASSUMED_FPS

# A small slack so float noise (5/6 s written as 0.833, 2 frames of 23.976 fps) never
# turns into a frame more or less.
_EPS = 1e-6


@dataclass(frozen=True)
class Rules:
    """The subtitle rules the builder follows and the checker enforces.

    Durations are seconds, gaps are frames at the media's frame rate.
    """

    max_line_chars: int = 42
    """Most grapheme clusters on one line (SUB_MAX_LINE_CHARS)."""
    max_lines: int = 2
    """Most lines in one subtitle (SUB_MAX_LINES)."""
    max_cps: float = 17.0
    """Most characters per second of display, spaces and punctuation included; a line
    break counts as one space (SUB_MAX_CPS). 0 switches the reading-speed check off."""
    min_duration: float = 0.833
    """Shortest display in seconds, 5/6 s (SUB_MIN_DURATION)."""
    max_duration: float = 7.0
    """Longest display in seconds (SUB_MAX_DURATION)."""
    min_gap_frames: int = 2
    """Fewest frames between one subtitle's out-time and the next in-time (SUB_MIN_GAP_FRAMES)."""
    chain_gap_frames: int = 12
    """Gaps of this many frames or fewer are closed to min_gap_frames (SUB_CHAIN_GAP_FRAMES)."""
    max_out_extend: float = 0.5
    """Seconds the out-time may run past the end of speech for reading speed before the
    builder prefers another split or merge (SUB_MAX_OUT_EXTEND)."""
    max_lead: float = 1.5
    """A subtitle never starts more than this many seconds before its speech (SUB_MAX_LEAD)."""
    max_lag: float = 1.5
    """A subtitle never ends more than this many seconds after its speech (SUB_MAX_LAG)."""
    pause_split: float = 0.5
    """A silence of at least this many seconds between words is a natural place for a new
    subtitle (SUB_PAUSE_SPLIT)."""

    def __post_init__(self) -> None:
        problems = []
        if self.max_line_chars < 1:
            problems.append("SUB_MAX_LINE_CHARS must be at least 1")
        if self.max_lines < 1:
            problems.append("SUB_MAX_LINES must be at least 1")
        if self.max_cps < 0:
            problems.append("SUB_MAX_CPS must be 0 (off) or positive")
        if self.min_duration < 0 or self.max_duration <= 0 or self.min_duration > self.max_duration:
            problems.append("need 0 <= SUB_MIN_DURATION <= SUB_MAX_DURATION and SUB_MAX_DURATION > 0")
        if self.min_gap_frames < 0 or self.chain_gap_frames < self.min_gap_frames:
            problems.append("need 0 <= SUB_MIN_GAP_FRAMES <= SUB_CHAIN_GAP_FRAMES")
        if min(self.max_out_extend, self.max_lead, self.max_lag, self.pause_split) < 0:
            problems.append("SUB_MAX_OUT_EXTEND, SUB_MAX_LEAD, SUB_MAX_LAG and SUB_PAUSE_SPLIT must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def max_chars(self) -> int:
        """Most characters one subtitle can hold (all its lines)."""
        return self.max_line_chars * self.max_lines

    def frames(self, fps: float) -> FrameRules:
        """The time rules in whole frames at ``fps``, rounded so they never loosen."""
        if fps <= 0:
            raise ValueError(f"frame rate must be positive, got {fps}")
        return FrameRules(
            fps=fps,
            min_duration=math.ceil(self.min_duration * fps - _EPS),
            max_duration=math.floor(self.max_duration * fps + _EPS),
            min_gap=self.min_gap_frames,
            chain_gap=self.chain_gap_frames,
        )

    def with_overrides(self, **changes: object) -> Rules:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def as_dict(self) -> dict[str, float | int]:
        """The rules as a plain mapping, for reports."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class FrameRules:
    """Rules in whole frames at one frame rate; the builder works on this integer grid."""

    fps: float
    min_duration: int
    max_duration: int
    min_gap: int
    chain_gap: int

    def cps_frames(self, chars: int, max_cps: float) -> int:
        """Fewest frames that show ``chars`` characters at ``max_cps`` or slower."""
        if max_cps <= 0:
            return 0
        return math.ceil(chars * self.fps / max_cps - _EPS)


# Setting name -> (field, type); the order of config/pipeline.env.
SETTING_FIELDS: dict[str, tuple[str, type]] = {
    "SUB_MAX_LINE_CHARS": ("max_line_chars", int),
    "SUB_MAX_LINES": ("max_lines", int),
    "SUB_MAX_CPS": ("max_cps", float),
    "SUB_MIN_DURATION": ("min_duration", float),
    "SUB_MAX_DURATION": ("max_duration", float),
    "SUB_MIN_GAP_FRAMES": ("min_gap_frames", int),
    "SUB_CHAIN_GAP_FRAMES": ("chain_gap_frames", int),
    "SUB_MAX_OUT_EXTEND": ("max_out_extend", float),
    "SUB_MAX_LEAD": ("max_lead", float),
    "SUB_MAX_LAG": ("max_lag", float),
    "SUB_PAUSE_SPLIT": ("pause_split", float),
}


def rules_from_settings(values: Mapping[str, str] | None = None) -> Rules:
    """Rules from resolved settings (``shared.settings.resolve()`` when not given).

    A setting that is empty keeps the dataclass default; one that is not a number is a
    ValueError naming the setting.
    """
    values = settings_mod.resolve() if values is None else values
    kwargs: dict[str, object] = {}
    for name, (field_name, kind) in SETTING_FIELDS.items():
        raw = str(values.get(name, "")).strip()
        if not raw:
            continue
        try:
            number = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number") from None
        if kind is int:
            if number != int(number):
                raise ValueError(f"{name}={raw!r} must be a whole number")
            number = int(number)
        kwargs[field_name] = number
    return Rules(**kwargs)  # type: ignore[arg-type]


def parse_fps(raw: str | float | None) -> float | None:
    """A frame rate from ``25``, ``29.97`` or ``30000/1001``; None when empty."""
    if raw is None:
        return None
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        text = raw.strip()
        if not text:
            return None
        try:
            if "/" in text:
                num, den = text.split("/", 1)
                value = float(num) / float(den)
            else:
                value = float(text)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"frame rate {raw!r} is not a number like 25, 29.97 or 30000/1001") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"frame rate {raw!r} must be a positive number")
    return value


@dataclass(frozen=True)
class Costs:
    """What the cue builder's optimisation prefers (arbitrary units), from the SUB_COST_* settings.

    A cue boundary costs its break class (sentence end < clause < phrase < plain <
    forbidden), less ``pause`` per SUB_PAUSE_SPLIT seconds of silence there; every cue
    costs ``cue``; a sentence end left inside a cue costs ``sentence_inside``; a
    two-speaker cue with dashes costs ``speaker_dash``. Rule violations are not costs:
    the builder avoids them wherever the speech allows.
    """

    cue: float = 4.0
    sentence: float = 0.0
    clause: float = 3.0
    phrase: float = 8.0
    plain: float = 14.0
    forbidden: float = 40.0
    pause: float = 3.0
    sentence_inside: float = 6.0
    speaker_dash: float = 3.0

    def __post_init__(self) -> None:
        negative = [name for name in COST_SETTING_FIELDS if getattr(self, COST_SETTING_FIELDS[name][0]) < 0]
        if negative:
            raise ValueError(f"{', '.join(negative)} must not be negative")

    def as_dict(self) -> dict[str, float]:
        """The costs as a plain mapping, for the manifest."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


COST_SETTING_FIELDS: dict[str, tuple[str, type]] = {
    "SUB_COST_CUE": ("cue", float),
    "SUB_COST_SENTENCE": ("sentence", float),
    "SUB_COST_CLAUSE": ("clause", float),
    "SUB_COST_PHRASE": ("phrase", float),
    "SUB_COST_PLAIN": ("plain", float),
    "SUB_COST_FORBIDDEN": ("forbidden", float),
    "SUB_COST_PAUSE": ("pause", float),
    "SUB_COST_SENTENCE_INSIDE": ("sentence_inside", float),
    "SUB_COST_SPEAKER_DASH": ("speaker_dash", float),
}


def costs_from_settings(values: Mapping[str, str] | None = None) -> Costs:
    """Costs from resolved settings; an empty one keeps the default, a non-number is a ValueError."""
    values = settings_mod.resolve() if values is None else values
    kwargs: dict[str, float] = {}
    for name, (field_name, _kind) in COST_SETTING_FIELDS.items():
        raw = str(values.get(name, "")).strip()
        if not raw:
            continue
        try:
            kwargs[field_name] = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number") from None
        if not math.isfinite(kwargs[field_name]):
            raise ValueError(f"{name}={raw!r} must be a finite number")
    return Costs(**kwargs)
