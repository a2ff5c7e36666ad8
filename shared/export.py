"""The end of every job verb: copy the final subtitles where players look, then list the outputs.

    python -m shared.export --verb VERB --job-dir JOB [--tracks subs/tracks.json] [--muxed M] [--output P ...]

EXPORT (config/pipeline.env) says where the subtitle files go besides the job folder:

- ``auto`` (default): beside the input when its folder is writable, else only the job folder;
- ``beside``: beside the input (an error when its folder is not writable);
- a folder path: into that folder;
- ``off``: nowhere else (the job folder keeps them).

Names are the ones media servers (Plex, Jellyfin, Kodi, VLC) match to a video: the input's
own stem plus the language tag, ``Movie (2001).en.srt``, ``Movie (2001).hi.srt``; a
bilingual track is ``Movie (2001).hi.bilingual-en.srt``; a track that names its speakers
(SUB_SPEAKER_LABELS=names: ``sdh`` in tracks.json) is ``Movie (2001).en.sdh.srt``, the
suffix Plex, Jellyfin and Kodi read as SDH (``.forced`` likewise for a track flagged
``forced``, which only a hand-made tracks file can be: the pipeline has no way to know which
lines are forced narrative). A file already there that this job
did not write (or that was changed since) is never overwritten: the copy gets a
``.subpipe`` suffix before the extension, and the list says so. Files are created with the
user's umask (the project's atomic writer), so a media server running as another user can
read them.

With START set, the subtitles of the job are timed to the clip; the exported files beside
the input are timed to the full film (shifted by START), and beside the muxed clip in the
job folder a copy is timed to that clip (shifted by the clip's keyframe lead-in).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import outcome
from shared import settings as settings_mod

RECORD = ".exported.json"  # in the job folder (bookkeeping, like the manifest): what this job wrote where (path -> sha256)
SUFFIX = "subpipe"


class ExportError(Exception):
    """EXPORT cannot be honoured; the message says how to fix it."""


@dataclass
class Exported:
    path: Path
    note: str = ""


def _sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def destination(setting: str, source: Path, job_dir: Path) -> Path | None:
    """The folder the subtitles are copied to for EXPORT=``setting`` (None: only the job folder)."""
    choice = (setting or "auto").strip()
    folder = source.parent
    if choice.lower() == "off":
        return None
    if choice.lower() in ("auto", "beside"):
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
        if choice.lower() == "auto":
            return None
        raise ExportError(f"EXPORT=beside: the input's folder {folder} is not writable: set EXPORT=<a folder> or EXPORT=off")
    target = Path(choice).expanduser()
    if not target.is_absolute():
        target = settings_mod.REPO_ROOT / target
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"EXPORT={choice}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(target, os.W_OK | os.X_OK):
        raise ExportError(f"EXPORT={choice}: the folder is not writable: choose another one, or EXPORT=off")
    return target


def track_names(stem: str, track: Mapping) -> str:
    """``Movie (2001).en`` for a source or target track, ``Movie (2001).hi.bilingual-en`` for a bilingual one;
    ``.sdh`` and ``.forced`` after the language for a track flagged so in tracks.json (Plex, Jellyfin and
    Kodi read ``Movie (2001).en.sdh.srt`` and ``Movie (2001).en.forced.srt``)."""
    from shared.languages import file_tag

    if track.get("role") == "bilingual":
        first, second = (list(track.get("languages") or []) + ["", ""])[:2]
        name = f"{stem}.{file_tag(first)}.bilingual-{file_tag(second)}"
    else:
        name = f"{stem}.{file_tag(str(track.get('language', 'und')))}"
    return name + "".join(f".{flag}" for flag in ("sdh", "forced") if track.get(flag) is True)


def shifted_text(path: Path, seconds: float) -> str:
    """The subtitle file's text with every cue moved by ``seconds`` (same format)."""
    import pysubs2

    subs = pysubs2.load(str(path), encoding="utf-8")
    subs.shift(s=seconds)
    return subs.to_string(path.suffix.lstrip(".").lower())


def _write(path: Path, text: str | None, source: Path) -> None:
    from shared.atomic import atomic_path

    with atomic_path(path) as tmp:
        if text is None:
            tmp.write_bytes(source.read_bytes())
        else:
            with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)


def place(target: Path, text: str | None, source: Path, record: dict[str, str]) -> Exported:
    """Write one file at ``target``, or beside it with the .subpipe suffix when a user's file is there."""
    chosen, note = target, ""
    if target.exists() and record.get(str(target)) != _sha(target):
        n = 1
        while True:
            chosen = target.with_name(f"{target.stem}.{SUFFIX}{'' if n == 1 else f'-{n}'}{target.suffix}")
            if not chosen.exists() or record.get(str(chosen)) == _sha(chosen):
                break
            n += 1
        note = f"(not {target.name}: a file of yours is there)"
    _write(chosen, text, source)
    record[str(chosen)] = _sha(chosen) or ""
    return Exported(chosen, note)


def export(job_dir: Path, tracks_json: Path, values: Mapping[str, str], muxed: Path | None = None) -> list[Exported]:
    """Copy every track's files per EXPORT (and the clip sidecars beside the muxed clip); what was written."""
    media = json.loads((job_dir / "media.json").read_text(encoding="utf-8"))
    source = Path(media["source"])
    tracks = json.loads(tracks_json.read_text(encoding="utf-8")).get("tracks") or []
    record_path = job_dir / RECORD
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        record = {}
    clip_start = float(media.get("clip_start") or 0.0)
    done: list[Exported] = []
    folder = destination(values.get("EXPORT", "auto"), source, job_dir)
    lead_in = _lead_in(job_dir) if muxed is not None else 0.0
    from shared import no_speech

    for track in tracks:
        if no_speech.track_is_empty(track, tracks_json.parent):
            continue  # no cues (no speech): nothing for a player to find
        for fmt, name in (track.get("files") or {}).items():
            file = tracks_json.parent / name
            if not file.is_file():
                continue
            if folder is not None:
                target = folder / f"{track_names(source.stem, track)}.{fmt}"
                done.append(place(target, shifted_text(file, clip_start) if clip_start else None, file, record))
            if muxed is not None and clip_start:
                # beside the muxed clip, timed to it: the clip starts on the keyframe before START
                clip_target = muxed.parent / f"{muxed.name.rsplit('.', 1)[0]}.{track_names('', track).lstrip('.')}.{fmt}"
                done.append(place(clip_target, shifted_text(file, lead_in), file, record))
    from shared.atomic import write_json

    write_json(record_path, record)
    return done


def _lead_in(job_dir: Path) -> float:
    from shared.job_manifest import read_manifest

    details = (read_manifest(job_dir)["stages"].get("mux") or {}).get("details") or {}
    return float(details.get("lead_in") or 0.0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.export")
    parser.add_argument("--verb", required=True)
    parser.add_argument("--job-dir", required=True, type=Path)
    parser.add_argument("--tracks", type=Path, help="the subtitle stage's tracks.json (its files are exported)")
    parser.add_argument("--muxed", type=Path, help="the muxed copy (clip sidecars go beside it)")
    parser.add_argument("--output", action="append", default=[], type=Path, help="another output to list")
    args = parser.parse_args(argv)
    values = settings_mod.resolve()
    outputs = [*args.output, *([args.muxed] if args.muxed else [])]
    if args.tracks is not None and args.tracks.is_file():
        tracks = json.loads(args.tracks.read_text(encoding="utf-8")).get("tracks") or []
        outputs += [args.tracks.parent / name for t in tracks for name in (t.get("files") or {}).values()]
    try:
        exported = export(args.job_dir, args.tracks, values, args.muxed) if args.tracks is not None and args.tracks.is_file() else []
    except (ExportError, OSError, ValueError) as exc:
        print(f"{args.verb}: error: {exc}", file=sys.stderr)
        outcome.record(outcome.USAGE if isinstance(exc, ExportError) else outcome.STAGE_FAILED, "export")
        return outcome.USAGE if isinstance(exc, ExportError) else outcome.STAGE_FAILED
    print(f"{args.verb}: done; the outputs:")
    for path in outputs:
        print(f"  {path}")
    for item in exported:
        print(f"  {item.path}" + (f"  {item.note}" if item.note else ""))
    from shared import no_speech  # a file without speech is done too: the last line says so

    if no_speech.job_has_speech(args.job_dir) is False:
        print(no_speech.message(no_speech.input_name(args.job_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
