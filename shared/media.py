"""ffprobe/ffmpeg wrappers, clip times and language tags for the media stages.

Every call passes paths as ``file:<absolute path>`` so names with a colon, a leading dash
or other characters ffmpeg would read as a protocol or an option reach it as plain files.
Errors a user can act on are :class:`MediaError` with a message that says what is wrong.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class MediaError(Exception):
    """The input cannot be used as media; the message says why."""


def ff_path(path: str | os.PathLike[str]) -> str:
    """``path`` as an ffmpeg/ffprobe input or output that is never read as a protocol or option."""
    return "file:" + str(Path(path).resolve())


def need_tool(name: str) -> str:
    """The path of ``name`` on PATH, or MediaError naming how to install it."""
    found = shutil.which(name)
    if not found:
        raise MediaError(f"{name} is not installed: install ffmpeg (apt install ffmpeg, brew install ffmpeg, winget install ffmpeg)")
    return found


_versions: dict[str, str] = {}
_version_runs: dict[str, subprocess.Popen[str]] = {}


def tool_version_soon(name: str = "ffmpeg") -> None:
    """Start ``name -version`` in the background, for :func:`tool_version` to read later.

    The tool's start-up (loading libav*) costs 60-190 ms here, as long as decoding a short
    clip; started beside that decode (:func:`run_ffmpeg` does), it costs the job nothing.
    """
    if name in _versions or name in _version_runs:
        return
    try:
        _version_runs[name] = subprocess.Popen([need_tool(name), "-hide_banner", "-version"], stdout=subprocess.PIPE,
                                               stderr=subprocess.DEVNULL, text=True)
    except (MediaError, OSError):
        _versions[name] = "unknown"


def tool_version(name: str = "ffmpeg") -> str:
    """The first line's version of ``ffmpeg``/``ffprobe`` (e.g. ``5.1.9-0+deb12u1``), or ``unknown``."""
    tool_version_soon(name)
    run = _version_runs.pop(name, None)
    if run is not None:
        match = re.match(r"\S+ version (\S+)", run.communicate()[0])
        _versions[name] = match.group(1) if match else "unknown"
    return _versions[name]


@functools.cache
def has_filter(name: str) -> bool:
    """True when this ffmpeg has the video filter ``name`` (``subtitles`` needs libass)."""
    try:
        out = subprocess.run([need_tool("ffmpeg"), "-hide_banner", "-filters"], capture_output=True, text=True, check=False).stdout
    except (MediaError, OSError):
        return False
    return any(line.split()[1:2] == [name] for line in out.splitlines() if line.strip())


_probed: dict[tuple[str, int, int], dict[str, Any]] = {}  # this process's answers, by (real path, size, mtime_ns)


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns


def probed(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What :func:`probe` answered in this process for this very file (same size and mtime), or None."""
    try:
        return _probed.get(_file_key(Path(path)))
    except OSError:
        return None


def probe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """ffprobe's format and streams of ``path``; MediaError when it is not readable media."""
    path = Path(path)
    if not path.exists():
        raise MediaError(f"{path}: no such file")
    if path.is_dir():
        raise MediaError(f"{path}: is a directory, not a media file (use DIR= for a folder)")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty")
    cmd = [need_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", ff_path(path)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    detail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    if result.returncode != 0:
        raise MediaError(f"{path}: not a media file ffprobe can read ({detail or 'no detail'}); is it truncated or mis-named?")
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise MediaError(f"{path}: ffprobe gave unreadable output ({exc})") from exc
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    if not streams or fmt.get("format_name") in (None, "tty"):
        raise MediaError(f"{path}: not a media file (ffprobe found no audio or video streams)")
    _probed[_file_key(path)] = data
    return data


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def frame_rate(stream: dict[str, Any]) -> float | None:
    """A video stream's frame rate in frames per second (avg, else r_frame_rate)."""
    for key in ("avg_frame_rate", "r_frame_rate"):
        text = str(stream.get(key) or "")
        if "/" in text:
            num, den = text.split("/", 1)
            n, d = _float(num), _float(den)
            if n and d:
                return round(n / d, 3)
    return None


def duration(info: dict[str, Any]) -> float | None:
    """The input's duration in seconds: the container's, else the longest stream's."""
    value = _float((info.get("format") or {}).get("duration"))
    if value:
        return value
    streams = [_float(s.get("duration")) for s in info.get("streams") or []]
    streams = [s for s in streams if s]
    return max(streams) if streams else None


def is_picture(stream: dict[str, Any]) -> bool:
    """True for a video stream that is cover art (an attached picture), not moving video."""
    return bool((stream.get("disposition") or {}).get("attached_pic"))


# ---- clip times ------------------------------------------------------------------------
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_time(text: str | float | int | None) -> float | None:
    """Seconds from ``90``, ``90.5``, ``1:30``, ``00:01:30.250``; None for empty; ValueError else."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        text = text.strip()
        if not text:
            return None
        match = _CLOCK.match(text)
        if match:
            hours, minutes, seconds = match.groups()
            if int(minutes) >= 60 or float(seconds) >= 60:
                raise ValueError(f"{text!r}: minutes and seconds must be below 60")
            value = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
        else:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"{text!r} is not a time: use seconds (90.5) or hh:mm:ss(.ms) (00:01:30.5)") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{text!r}: a time must be a finite number of seconds, 0 or more")
    return value


def format_time(seconds: float) -> str:
    """``seconds`` as hh:mm:ss.mmm (for messages and ffmpeg arguments)."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest / 1000:06.3f}"


# ---- languages -------------------------------------------------------------------------
def language_tag(code: str) -> tuple[str, str]:
    """(ISO 639-2/B tag for a container, English name) of ``code``: hi, hin, hin_Deva, Hindi...

    The one language table (shared/languages.py) decides; empty, auto and unknown codes
    give ("und", the code itself or "Unknown").
    """
    from shared.languages import UnknownLanguage, resolve_language

    text = (code or "").strip()
    if text.lower() in ("", "und", "auto"):
        return "und", "Unknown"
    try:
        found = resolve_language(text)
    except UnknownLanguage:
        return "und", text
    return found.iso639_2b, found.name


def same_language(a: str, b: str) -> bool:
    """True when two codes (hi, hin, hin_Deva) name the same language."""
    ta, tb = language_tag(a)[0], language_tag(b)[0]
    return ta != "und" and ta == tb


def run_ffmpeg(args: list[str], what: str) -> None:
    """Run ffmpeg with ``args`` (quiet); MediaError quoting ffmpeg's last error lines on failure."""
    cmd = [need_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    tool_version_soon("ffmpeg")  # the manifest will want it: found meanwhile
    log.debug("running %s", cmd)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = " | ".join(result.stderr.strip().splitlines()[-3:]) or f"exit code {result.returncode}"
        raise MediaError(f"ffmpeg failed to {what}: {detail}")
