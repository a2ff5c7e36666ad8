"""Shot changes for subtitle timing: detected with ffmpeg's scene filter, or read from a file.

Netflix's timing guidelines: a subtitle should not cross a shot change, and an in- or
out-time within 12 frames of one snaps to it (in-time on the change, out-time 2 frames
before it). SUB_SHOT_CHANGES says where the changes come from:

* ``off`` (default): none;
* ``auto``: ffmpeg's ``select='gt(scene,T)'`` on the video (scaled down first, so it is
  quick), T = SUB_SHOT_THRESHOLD; audio-only input has none;
* a path: a text file of times in seconds (whitespace or newline separated; ``#`` starts
  a comment), e.g. from an editor's EDL export.

Times are seconds on the job's clock (the clip's start is 0).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

log = logging.getLogger(__name__)

_PTS = re.compile(r"pts_time:\s*([0-9.]+)")


class ShotError(Exception):
    """Shot changes that cannot be had: the message says why and what to do."""


def parse_spec(value: str | None) -> str:
    """``off``, ``auto`` or a path, from SUB_SHOT_CHANGES; ValueError for a missing file."""
    text = (value or "").strip()
    if text.lower() in ("", "off", "0", "no", "false", "none"):
        return "off"
    if text.lower() == "auto":
        return "auto"
    if not Path(text).is_file():
        raise ValueError(f"SUB_SHOT_CHANGES={text!r}: give off, auto or a file of shot-change times in seconds")
    return text


def parse_threshold(value: str | None) -> float:
    """SUB_SHOT_THRESHOLD as a number in (0, 1)."""
    text = (value or "").strip() or "0.4"
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"SUB_SHOT_THRESHOLD={text!r} is not a number") from None
    if not 0 < number < 1:
        raise ValueError(f"SUB_SHOT_THRESHOLD={text!r} must be between 0 and 1")
    return number


def parse_snap(value: str | None) -> int:
    """SUB_SHOT_SNAP_FRAMES as a whole number of frames, 0 or more."""
    text = (value or "").strip() or "12"
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"SUB_SHOT_SNAP_FRAMES={text!r} must be a whole number of frames") from None
    if number < 0:
        raise ValueError(f"SUB_SHOT_SNAP_FRAMES={text!r} must not be negative")
    return number


def read_times(path: str | Path) -> list[float]:
    """Shot-change times from a text file; ShotError naming the first bad entry."""
    times = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ShotError(f"cannot read shot changes from {path}: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        for token in line.split("#", 1)[0].split():
            try:
                value = float(token)
            except ValueError:
                raise ShotError(f"{path} line {number}: {token!r} is not a time in seconds") from None
            if value < 0:
                raise ShotError(f"{path} line {number}: {token!r} is negative")
            times.append(value)
    return sorted(set(times))


def detect(source: str | Path, threshold: float, clip_start: float = 0.0, clip_end: float | None = None) -> list[float]:
    """Shot changes of the first video stream of ``source`` by ffmpeg's scene score."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        raise ShotError("SUB_SHOT_CHANGES=auto needs ffmpeg on PATH")
    command = [ffmpeg, "-hide_banner", "-nostats", "-nostdin"]
    if clip_start > 0:
        command += ["-ss", f"{clip_start:.3f}"]
    command += ["-i", str(source)]
    if clip_end is not None:
        command += ["-t", f"{max(0.0, clip_end - clip_start):.3f}"]
    command += ["-map", "0:v:0", "-an", "-sn",
                "-vf", f"scale=320:-2,select='gt(scene\\,{threshold})',showinfo", "-f", "null", "-"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ShotError(f"ffmpeg could not detect shot changes in {source}: {tail}")
    return sorted({round(float(m), 3) for m in _PTS.findall(result.stderr)})


def shot_changes(spec: str, media: Mapping | None, threshold: float) -> list[float] | None:
    """The shot changes ``spec`` asks for, on the job's clock; None when off or audio-only."""
    if spec == "off":
        return None
    if spec != "auto":
        return read_times(spec)
    if not media or not media.get("has_video") or not media.get("source"):
        log.info("SUB_SHOT_CHANGES=auto: no video in this input, so no shot changes")
        return None
    clip_start = float(media.get("clip_start") or 0.0)
    clip_end = media.get("clip_end")
    return detect(media["source"], threshold, clip_start, float(clip_end) if clip_end else None)
