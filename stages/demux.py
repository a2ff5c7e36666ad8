"""demux: FILE -> audio.wav (16 kHz mono PCM of the chosen track and clip) + media.json.

    python stages/demux.py -o JOB/audio.wav --media-json JOB/media.json --job-dir JOB -- FILE

Probes the input with ffprobe (container, duration, streams, frame rate, audio tracks with
their language tags and default flags) into media.json (shared.schema.MediaInfo), picks
the audio track (AUDIO_TRACK: an index among the audio streams or a language code; else
the default-flagged track, else the first) and decodes it. START/END cut a clip of exactly
END-START seconds: the seek goes before the input, the duration after it. Bad input is a
usage error (exit 2) found before any decoding, and nothing is written for it.
"""

from __future__ import annotations

import json
import sys
import wave
from pathlib import Path
from typing import Any

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job_manifest, job_params, media, settings
from shared import stage as skeleton
from shared.schema import ASSUMED_FPS, AUDIO_SAMPLE_RATE, SCHEMA_VERSION, AudioTrack, MediaInfo

SAMPLE_RATE = AUDIO_SAMPLE_RATE
# Decoded audio may fall short of the container's claim by this much before the input
# counts as truncated (codec priming and container rounding stay well below it).
SHORTFALL_TOLERANCE_S = 0.5
# END may pass the container's duration by this much (rounding); more is an error.
END_TOLERANCE_S = 0.25


# The preflight's ffprobe of FILE, kept in the job folder by ``shared.job prepare`` (which
# runs the preflight in its process) with the input's identity: demux reads it instead of
# starting ffprobe again (60 to 180 ms) when it is of this very file (path, size, mtime).
PROBE_RECORD = ".probe.json"


def keep_probe(directory: Path, file: str | Path) -> None:
    """Write this process's ffprobe answer for ``file`` (if it probed it) to the job folder's PROBE_RECORD."""
    info = media.probed(file)
    if info is not None:
        atomic.write_json(Path(directory) / PROBE_RECORD, {"input": job_params.input_record(file), "probe": info})


def probe_input(file: Path, directory: Path) -> dict[str, Any]:
    """ffprobe's answer for ``file``: the kept one when it is of this very file, else ffprobe's now."""
    try:
        record = json.loads((directory / PROBE_RECORD).read_text(encoding="utf-8"))
        if record["input"] == job_params.input_record(file) and isinstance(record["probe"], dict):
            return record["probe"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # none kept, another file, or unreadable: ask ffprobe
    return media.probe(file)


def audio_tracks(info: dict[str, Any]) -> list[AudioTrack]:
    """The input's audio streams in order, as media.json lists them."""
    tracks: list[AudioTrack] = []
    for stream in info.get("streams") or []:
        if stream.get("codec_type") != "audio":
            continue
        tags = {k.lower(): v for k, v in (stream.get("tags") or {}).items()}
        tracks.append(AudioTrack(
            index=len(tracks),
            stream_index=int(stream.get("index", 0)),
            codec=str(stream.get("codec_name") or "unknown"),
            channels=int(stream.get("channels") or 0),
            sample_rate=int(stream.get("sample_rate") or 0),
            language=str(tags.get("language") or "und"),
            title=str(tags.get("title") or ""),
            default=bool((stream.get("disposition") or {}).get("default")),
        ))
    return tracks


def describe_tracks(tracks: list[AudioTrack]) -> str:
    return ", ".join(f"{t['index']}: {t['language']}{' (default)' if t['default'] else ''}" for t in tracks)


def choose_track(tracks: list[AudioTrack], wanted: str) -> int:
    """Index into ``tracks`` for AUDIO_TRACK ``wanted``; click.BadParameter when none fits."""
    wanted = (wanted or "").strip()
    if not wanted:
        defaults = [t["index"] for t in tracks if t["default"]]
        return defaults[0] if defaults else 0
    if wanted.isdigit():
        index = int(wanted)
        if index >= len(tracks):
            raise click.BadParameter(
                f"{index} is out of range: the input has {len(tracks)} audio track(s) ({describe_tracks(tracks)})",
                param_hint="AUDIO_TRACK")
        return index
    for track in tracks:
        if media.same_language(track["language"], wanted):
            return track["index"]
    raise click.BadParameter(f"no audio track in language {wanted!r}; the tracks are {describe_tracks(tracks)}",
                             param_hint="AUDIO_TRACK")


def clip_range(start_text: str, end_text: str, total: float) -> tuple[float, float]:
    """(start, end) seconds of the clip, checked against the input's duration."""
    try:
        start = media.parse_time(start_text) or 0.0
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="START") from None
    try:
        end = media.parse_time(end_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="END") from None
    if start >= total:
        raise click.BadParameter(f"{media.format_time(start)} is past the end of the input ({media.format_time(total)})",
                                 param_hint="START")
    if end is None:
        end = total
    if end <= start:
        raise click.BadParameter(f"END {media.format_time(end)} is not after START {media.format_time(start)}",
                                 param_hint="START/END")
    if end > total + END_TOLERANCE_S:
        raise click.BadParameter(f"{media.format_time(end)} is past the end of the input ({media.format_time(total)})",
                                 param_hint="END")
    return start, min(end, total)


def expected_audio_seconds(info: dict, track: dict, clip_start: float, clip_end: float) -> float:
    """Seconds of audio the clip should decode to: the audio stream may end before the video.

    Films often carry a soundtrack a little shorter than the picture; that is not damage.
    The stream's own end (its start_time + duration, as the container records it) bounds
    what a complete file can give; a truncated file still falls short of it.
    """
    stream = next((s for s in info.get("streams", []) if s.get("index") == track["stream_index"]), {})
    try:
        audio_end = float(stream.get("start_time") or 0.0) + float(stream["duration"])
    except (KeyError, TypeError, ValueError):
        return clip_end - clip_start
    return max(0.0, min(clip_end, audio_end) - clip_start)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as fh:
        return fh.getnframes() / float(fh.getframerate())


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_file", metavar="FILE", type=click.Path(path_type=Path, dir_okay=True))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="the 16 kHz mono WAV to write (JOB/audio.wav)")
@click.option("--media-json", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="where the ffprobe facts go (default: media.json beside --output)")
@click.option("--audio-track", default=lambda: settings.get("AUDIO_TRACK"), show_default="AUDIO_TRACK",
              help="audio stream: index among the audio streams or a language code")
@click.option("--start", default=lambda: settings.get("START"), show_default="START", help="clip start (s or hh:mm:ss)")
@click.option("--end", default=lambda: settings.get("END"), show_default="END", help="clip end (s or hh:mm:ss)")
@skeleton.common_options("--output's folder")
def main(input_file: Path, output: Path, media_json: Path | None, job_dir: Path | None,
         audio_track: str, start: str, end: str, verbose: bool) -> None:
    """Probe FILE and write its chosen audio track (clip) as 16 kHz mono PCM."""
    media_json = media_json or output.with_name("media.json")
    job_dir = skeleton.start("demux", job_dir, output.parent, verbose)

    try:
        info = probe_input(input_file, job_dir)
    except media.MediaError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    tracks = audio_tracks(info)
    if not tracks:
        raise click.BadParameter(f"{input_file}: has no audio stream, so there is nothing to transcribe", param_hint="FILE")
    total = media.duration(info)
    if not total:
        raise click.BadParameter(f"{input_file}: the container gives no duration; is the file truncated?", param_hint="FILE")
    selected = choose_track(tracks, audio_track)
    clip_start, clip_end = clip_range(start, end, total)
    clip_seconds = clip_end - clip_start

    videos = [s for s in info["streams"] if s.get("codec_type") == "video" and not media.is_picture(s)]
    fps = media.frame_rate(videos[0]) if videos else None
    source = Path(job_params.input_identity(input_file))
    facts = MediaInfo(
        schema_version=SCHEMA_VERSION, kind="media", source=str(source),
        container=str(info["format"].get("format_name", "")), duration=round(total, 3),
        has_video=bool(videos), fps=fps if videos else ASSUMED_FPS, fps_assumed=not videos,
        audio_tracks=tracks, subtitle_streams=sum(1 for s in info["streams"] if s.get("codec_type") == "subtitle"),
        selected_track=selected, clip_start=round(clip_start, 3), clip_end=round(clip_end, 3), audio=output.name,
    )
    parameters = {"audio_track": audio_track, "start": start, "end": end}
    skeleton.clean_stale(output, media_json)
    with job_manifest.StageRun("demux", job_dir, [str(source)], [str(output), str(media_json)], parameters) as run:
        run.audio_seconds = clip_seconds
        run.details = {"track": tracks[selected], "clip": [clip_start, clip_end]}
        with atomic.atomic_path(output) as wav_tmp, atomic.atomic_path(media_json) as json_tmp:
            args = []
            if clip_start > 0:
                args += ["-ss", f"{clip_start:.6f}"]
            args += ["-i", media.ff_path(input_file)]
            if clip_end < total:
                args += ["-t", f"{clip_seconds:.6f}"]
            args += ["-map", f"0:{tracks[selected]['stream_index']}", "-vn", "-sn", "-dn", "-ac", "1",
                     "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "wav", media.ff_path(wav_tmp)]
            try:
                media.run_ffmpeg(args, f"decode audio track {selected}")
            except media.MediaError as exc:
                if "No space left on device" in str(exc):  # ffmpeg's own words for ENOSPC
                    raise click.ClickException(f"no space left on the disk holding {job_dir}: free some space "
                                               "(or set OUT_DIR= to a bigger disk) and run make again") from None
                raise click.BadParameter(f"{input_file}: {exc}; the file looks damaged", param_hint="FILE") from None
            got = wav_seconds(wav_tmp)
            expected = expected_audio_seconds(info, tracks[selected], clip_start, clip_end)
            if got < expected - SHORTFALL_TOLERANCE_S:
                raise click.BadParameter(
                    f"{input_file}: decoded only {got:.2f} s of audio where {expected:.2f} s were expected: "
                    "the file is truncated or damaged", param_hint="FILE")
            json_tmp.write_text(json.dumps(facts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            skeleton.test_pause("demux")


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "demux", own_process=True)
