"""A file with no speech (silence, music, tones) is a result, not an error.

The speech stages find nothing, the subtitle stage writes tracks with no cues, the mux
stage muxes no subtitle stream (an empty one would be refused by ffmpeg, or show as a
blank track in players) and records ``no_speech`` in the manifest; the verb ends with
exit 0 and one line:

    no speech found in NAME: no subtitle track written

Batches count such a file as done and show it in their "no speech" column.

Command line (run by the Makefile's verbs, with the common interpreter):

    result --job-dir J -- LINE      print LINE, or the no-speech line when J has no speech
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def transcript_has_speech(data: Mapping[str, Any]) -> bool:
    """True when a transcript/aligned file holds at least one word or non-blank segment."""
    for segment in data.get("segments") or []:
        if not isinstance(segment, dict):
            continue
        if segment.get("words") or str(segment.get("text", "")).strip():
            return True
    return False


def track_is_empty(track: Mapping[str, Any], folder: Path | None = None) -> bool:
    """True for a tracks.json entry the subtitle stage wrote with no cues (or whose file is blank).

    Hand-made tracks carry no cue count: they are empty only when every file they list is
    blank, so a real subtitle is never dropped.
    """
    if "cues" in track:
        try:
            return int(track["cues"]) == 0
        except (TypeError, ValueError):
            return False
    if folder is None:
        return False
    files = [folder / str(name) for name in (track.get("files") or {}).values()]
    try:
        return bool(files) and all(not p.read_bytes().strip() for p in files)
    except OSError:
        return False


def job_has_speech(job_dir: str | Path) -> bool | None:
    """Whether the job's aligned (else raw) transcript has any speech; None when neither exists yet."""
    job_dir = Path(job_dir)
    for name in ("aligned.json", "transcript.json"):
        data = _read(job_dir / name)
        if data is not None:
            return transcript_has_speech(data)
    return None


def input_name(job_dir: str | Path) -> str:
    """The input's file name as the user knows it (from media.json), else the job's name."""
    facts = _read(Path(job_dir) / "media.json") or {}
    source = str(facts.get("source") or "")
    return Path(source).name if source else Path(job_dir).name


def message(name: str) -> str:
    """The one line a run with no speech ends with."""
    return f"no speech found in {name}: no subtitle track written"


def result_line(job_dir: str | Path, line: str) -> str:
    """``line`` when the job has speech, else the no-speech line (the job's outputs still named)."""
    if job_has_speech(job_dir) is False:
        return message(input_name(job_dir))
    return line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.no_speech", description="The verbs' result line.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("result", help="print LINE, or the no-speech line when the job has no speech")
    p.add_argument("--job-dir", required=True, type=Path)
    p.add_argument("line", nargs=argparse.REMAINDER, metavar="-- LINE")
    args = parser.parse_args(argv)
    words = list(args.line)
    if words and words[0] == "--":
        words = words[1:]
    print(result_line(args.job_dir, " ".join(words)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
