"""mux: FILE + the job's subtitle tracks -> <name>.subtitled.mkv|mp4|mka (soft subtitles).

    python stages/mux.py JOB/media.json JOB/subs/tracks.json -o JOB/<name>.subtitled.mkv \
        [--burn-output JOB/<name>.burned.mkv] --job-dir JOB

Keeps every original stream and copies it (no re-encoding); adds one subtitle stream per
track of ``tracks.json``: SRT (or ASS) in MKV/MKA, mov_text in MP4, each with its ISO
639-2 language tag and a readable title ("Hindi", "English (translated)", "Hindi +
English"), the default flag on the first target-language track (the source track when
there is no target), and the hearing_impaired / forced flags (titled "English (SDH)") on
a track tracks.json marks ``sdh`` / ``forced``. When media.json records a clip (START/END), the clip range is what
gets muxed, so subtitle times (relative to the clip start) line up. BURN=1 (or
--burn-output) also writes a copy with the first target track rendered into the picture.

tracks.json (written by the subtitle stage, or by hand for MUX_TRACKS=) is described once,
in shared/schema.py (SubtitleTracks, SubtitleTrack).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job, job_manifest, media, no_speech
from shared import stage as skeleton
from shared.schema import SchemaError, check_kind

log = logging.getLogger("mux")

ROLES = ("source", "target", "bilingual")
# Subtitle file formats each container takes, in order of preference.
CONTAINER_FORMATS = {"mkv": ("srt", "ass", "vtt"), "mka": ("srt", "ass", "vtt"), "mp4": ("srt", "vtt", "ass")}
SUBTITLE_CODEC = {"mkv": None, "mka": None, "mp4": "mov_text"}  # None: copy as it is (SRT/ASS)


def track_title(track: dict[str, Any]) -> str:
    """The readable title of a subtitle track."""
    if track.get("title"):
        return str(track["title"])
    if track["role"] == "bilingual":
        return " + ".join(media.language_tag(code)[1] for code in track["languages"])
    name = media.language_tag(track["language"])[1]
    name = f"{name} (translated)" if track["role"] == "target" else name
    flags = [label for flag, label in (("sdh", "SDH"), ("forced", "forced")) if track.get(flag) is True]
    return f"{name} ({', '.join(flags)})" if flags else name


def track_disposition(track: dict[str, Any], default: bool) -> str:
    """ffmpeg's -disposition for a track: default, hearing_impaired (sdh), forced; "0" for none."""
    flags = (["default"] if default else []) + (["hearing_impaired"] if track.get("sdh") is True else []) \
        + (["forced"] if track.get("forced") is True else [])
    return "+".join(flags) or "0"


def track_language(track: dict[str, Any]) -> str:
    """The ISO 639-2 tag of a track (a bilingual track is tagged with its target language)."""
    code = track["languages"][-1] if track["role"] == "bilingual" else track["language"]
    return media.language_tag(code)[0]


def read_tracks(path: Path, container: str) -> list[dict[str, Any]]:
    """The tracks of tracks.json with cues, each with the resolved ``file`` this container will carry.

    Tracks the subtitle stage wrote without a cue (no speech) are left out: the list is
    empty when the input had no speech at all.
    """
    try:
        data = check_kind(json.loads(path.read_text(encoding="utf-8")), "subtitles", str(path))
    except (OSError, json.JSONDecodeError, SchemaError) as exc:
        raise click.BadParameter(f"cannot read the subtitle track list: {exc}", param_hint="TRACKS") from None
    tracks = data.get("tracks")
    if not isinstance(tracks, list) or not tracks:
        raise click.BadParameter(f"{path}: lists no subtitle tracks, so there is nothing to mux", param_hint="TRACKS")
    result = []
    for n, track in enumerate(tracks):
        where = f"{path}: track {n}"
        if track.get("role") not in ROLES:
            raise click.BadParameter(f"{where}: role must be one of {', '.join(ROLES)}", param_hint="TRACKS")
        if track["role"] == "bilingual" and len(track.get("languages") or []) != 2:
            raise click.BadParameter(f"{where}: a bilingual track needs languages [source, target]", param_hint="TRACKS")
        if track["role"] != "bilingual" and not track.get("language"):
            raise click.BadParameter(f"{where}: has no language", param_hint="TRACKS")
        if no_speech.track_is_empty(track, path.parent):
            # ffmpeg refuses an empty SRT, and a blank stream would only confuse players
            log.info("%s has no cues: not muxed", track_title(track))
            continue
        files = track.get("files") or {}
        fmt = next((f for f in CONTAINER_FORMATS[container] if f in files), None)
        if fmt is None:
            raise click.BadParameter(f"{where}: no file in a format {container} carries ({', '.join(CONTAINER_FORMATS[container])})",
                                     param_hint="TRACKS")
        file = (path.parent / files[fmt]).resolve()
        if not file.is_file():
            raise click.BadParameter(f"{where}: {file} does not exist", param_hint="TRACKS")
        result.append(dict(track, file=file, format=fmt))
    return result


def default_track(tracks: list[dict[str, Any]]) -> int:
    """The index of the track that gets the default flag: the first target track, else the first."""
    return next((n for n, t in enumerate(tracks) if t["role"] == "target"), 0)


def clip_arguments(facts: dict[str, Any]) -> tuple[list[str], list[str]]:
    """ffmpeg arguments before and after the main input that cut media.json's clip."""
    start, end, total = float(facts["clip_start"]), float(facts["clip_end"]), float(facts["duration"])
    before = ["-ss", f"{start:.6f}"] if start > 0 else []
    after = ["-t", f"{end - start:.6f}"] if end < total else []
    return before, after


def keyframe_before(source: str, seconds: float) -> float:
    """The time of the last video keyframe at or before ``seconds`` (``seconds`` itself when there is none)."""
    window = f"{max(0.0, seconds - 30):.3f}%{seconds + 0.001:.3f}"
    cmd = [media.need_tool("ffprobe"), "-v", "error", "-select_streams", "v:0", "-read_intervals", window,
           "-show_entries", "packet=pts_time,flags", "-of", "csv=p=0", media.ff_path(source)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
    times = []
    for line in out.splitlines():
        pts, _, flags = line.partition(",")
        with contextlib.suppress(ValueError):
            if "K" in flags and float(pts) <= seconds + 1e-6:
                times.append(float(pts))
    return max(times) if times else seconds


def soft_mux(facts: dict[str, Any], tracks: list[dict[str, Any]], output: Path, container: str) -> float:
    """Write ``output``: the input's streams copied, plus one subtitle stream per track.

    A copied video can only start on a keyframe, so a clip starts at the keyframe at or
    before START and the subtitles are delayed by the difference: they stay on the
    picture they belong to. Returns that lead-in in seconds (0 without a clip).
    """
    start, end, total = float(facts["clip_start"]), float(facts["clip_end"]), float(facts["duration"])
    cut = keyframe_before(facts["source"], start) if start > 0 and facts["has_video"] else start
    lead_in = round(start - cut, 6)
    args = (["-ss", f"{cut:.6f}"] if cut > 0 else []) + ["-i", media.ff_path(facts["source"])]
    for track in tracks:
        args += (["-itsoffset", f"{lead_in:.6f}"] if lead_in > 0 else []) + ["-i", media.ff_path(track["file"])]
    if end < total or cut > 0:
        args += ["-t", f"{end - cut:.6f}"]
    args += ["-map", "0"] + [a for n in range(len(tracks)) for a in ("-map", f"{n + 1}:s")]
    args += ["-c", "copy"]
    codec = SUBTITLE_CODEC[container]
    existing = int(facts.get("subtitle_streams") or 0)
    chosen = default_track(tracks)
    for n, track in enumerate(tracks):
        k = existing + n
        if codec:
            args += [f"-c:s:{k}", codec]
        elif track["format"] == "vtt":
            args += [f"-c:s:{k}", "srt"]
        args += [f"-metadata:s:s:{k}", f"language={track_language(track)}", f"-metadata:s:s:{k}", f"title={track_title(track)}",
                 f"-disposition:s:{k}", track_disposition(track, n == chosen)]
        if container == "mp4":  # MP4 keeps a track's name in its handler (players show it), not in a title tag
            args += [f"-metadata:s:s:{k}", f"handler_name={track_title(track)}"]
    fmt = {"mkv": "matroska", "mka": "matroska", "mp4": "mp4"}[container]
    if container == "mp4":
        args += ["-movflags", "+faststart"]
    args += ["-fflags", "+bitexact", "-f", fmt, media.ff_path(output)]  # no random container ids: re-runs are byte-identical
    media.run_ffmpeg(args, f"mux {len(tracks)} subtitle track(s)")
    return lead_in


def burn(facts: dict[str, Any], track: dict[str, Any], output: Path, container: str) -> None:
    """Write ``output``: the video re-encoded with ``track`` rendered into it, audio copied.

    The subtitle is copied to a plain name in a temporary folder and ffmpeg runs there, so
    quotes, colons or commas in the job's paths never reach the filter's own syntax.
    """
    if not media.has_filter("subtitles"):
        raise click.ClickException("BURN=1 needs ffmpeg built with libass (the 'subtitles' filter); this ffmpeg lacks it")
    before, after = clip_arguments(facts)
    with tempfile.TemporaryDirectory(prefix="mux-burn-") as folder:
        name = f"track.{track['format']}"
        shutil.copyfile(track["file"], Path(folder) / name)
        args = [*before, "-i", media.ff_path(facts["source"]), *after, "-map", "0:v:0", "-map", "0:a?",
                "-vf", f"subtitles={name}", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-c:a", "copy"]
        if container == "mp4":
            args += ["-movflags", "+faststart"]
        args += ["-fflags", "+bitexact", "-f", "mp4" if container == "mp4" else "matroska", media.ff_path(output)]
        cmd = [media.need_tool("ffmpeg"), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
        result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            detail = " | ".join(result.stderr.strip().splitlines()[-3:])
            raise click.ClickException(f"ffmpeg failed to burn the subtitles in: {detail}")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("media_json", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.argument("tracks_json", metavar="TRACKS", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="the muxed file: .mkv, .mp4 (mov_text) or .mka (audio-only input)")
@click.option("--burn-output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="also write a hard-subtitled copy here (default with BURN=1: <name>.burned.<ext> beside -o)")
@click.option("--burn/--no-burn", "burn_wanted", default=lambda: job.is_on(skeleton.setting("BURN")),
              show_default="BURN", help="write the hard-subtitled copy")
@skeleton.common_options("media.json's folder")
def main(media_json: Path, tracks_json: Path, output: Path, burn_output: Path | None, burn_wanted: bool,
         job_dir: Path | None, verbose: bool) -> None:
    """Mux the subtitle tracks of TRACKS into the input that MEDIA_JSON describes."""
    job_dir = skeleton.start("mux", job_dir, media_json.parent, verbose)
    try:
        facts = check_kind(json.loads(media_json.read_text(encoding="utf-8")), "media", str(media_json))
    except (OSError, json.JSONDecodeError, SchemaError) as exc:
        raise click.BadParameter(str(exc), param_hint="MEDIA_JSON") from None
    source = Path(facts["source"])
    if not source.is_file():
        raise click.BadParameter(f"the input {source} is gone; run demux again", param_hint="MEDIA_JSON")
    container = output.suffix.lower().lstrip(".")
    if container not in CONTAINER_FORMATS:
        raise click.BadParameter(f"{output.name}: the output must end in .mkv, .mp4 or .mka", param_hint="-o")
    if not facts["has_video"] and container != "mka":
        log.warning("the input has no video: %s will carry the audio and the subtitles only", output.name)
    if facts["has_video"] and container == "mka":
        raise click.BadParameter(f"{output.name}: the input has video, so the output must be .mkv or .mp4", param_hint="-o")
    tracks = read_tracks(tracks_json, container)
    if burn_wanted and burn_output is None:
        burn_output = output.with_name(output.name.replace(".subtitled.", ".burned.") if ".subtitled." in output.name
                                       else f"{output.stem}.burned{output.suffix}")
    if burn_output is not None and not facts["has_video"]:
        raise click.BadParameter("the input has no video to burn subtitles into; leave BURN=0 for audio", param_hint="BURN")
    if not facts["has_video"]:
        log.info("audio-only input: writing the subtitle tracks into %s", output.name)
    if not tracks:
        log.info("%s (%s is a copy with the original streams only)", no_speech.message(source.name), output.name)

    outputs = [output] + ([burn_output] if burn_output else [])
    for path in outputs:
        atomic.remove_stale_temporaries(path)
    parameters = {"container": container, "burn": burn_output is not None,
                  "tracks": [{"role": t["role"], "language": track_language(t), "title": track_title(t), "format": t["format"]}
                             for t in tracks]}
    with job_manifest.StageRun("mux", job_dir, [str(source), str(tracks_json)], [str(p) for p in outputs], parameters) as run:
        run.audio_seconds = float(facts["clip_end"]) - float(facts["clip_start"])
        if not tracks:
            run.details.update(no_speech=True, subtitle_tracks=0, message=no_speech.message(source.name))
        with atomic.atomic_path(output) as tmp:
            try:
                lead_in = soft_mux(facts, tracks, tmp, container)
                if lead_in:
                    log.info("the clip starts %.3f s early, on the keyframe before START (subtitles delayed to match)", lead_in)
                    run.details["lead_in"] = lead_in
            except media.MediaError as exc:
                raise click.ClickException(str(exc)) from None
            if burn_output is not None and not tracks:  # nothing to burn in: the same copy
                with atomic.atomic_path(burn_output) as burn_tmp:
                    soft_mux(facts, tracks, burn_tmp, container)
            elif burn_output is not None:
                burn_track = tracks[default_track(tracks)]
                run.details["burned"] = track_title(burn_track)
                with atomic.atomic_path(burn_output) as burn_tmp:
                    burn(facts, burn_track, burn_tmp, container)


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "mux", own_process=True)
