"""Writing subtitle tracks through pysubs2 (SRT, WebVTT, ASS), and their JSON and text.

Times are rounded to whole milliseconds once, here; the checker reads back the same
events, so a track's qc.json describes exactly what was written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pysubs2

from shared.subtitles.builder import Cue

# Format name -> pysubs2 format identifier; the file extension is the name.
FORMATS = {"srt": "srt", "vtt": "vtt", "ass": "ass"}


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder (the project's
    atomic writer: created with the user's umask, so a media server running as another user
    can read the sidecars; mkstemp's 0600 could not)."""
    from shared.job import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def to_ssafile(cues: Sequence[Cue], title: str = "") -> pysubs2.SSAFile:
    """A pysubs2 file holding ``cues`` (times rounded to milliseconds)."""
    subs = pysubs2.SSAFile()
    if title:
        subs.info["Title"] = title
    subs.info["PlayResX"] = "1920"
    subs.info["PlayResY"] = "1080"
    style = subs.styles["Default"]
    style.fontsize = 54
    style.outline = 2.5
    style.shadow = 0
    style.marginv = 60
    for cue in cues:
        event = pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000))
        event.plaintext = "\n".join(cue.lines)
        subs.events.append(event)
    return subs


def render(subs: pysubs2.SSAFile, fmt: str) -> str:
    """The text of ``subs`` in format ``fmt`` (srt, vtt or ass)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; choose from {', '.join(FORMATS)}")
    return subs.to_string(FORMATS[fmt])


def write_track(subs: pysubs2.SSAFile, base: Path, formats: Sequence[str]) -> dict[str, str]:
    """Write ``subs`` as ``base.<fmt>`` for each format; returns format -> path."""
    written = {}
    for fmt in formats:
        path = base.with_name(f"{base.name}.{fmt}")
        atomic_write_text(path, render(subs, fmt))
        written[fmt] = str(path)
    return written


def write_json(path: str | os.PathLike, data: object) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
