"""Tiny media made on the fly for tests (ffmpeg, espeak-ng, sox), and ways to inspect it.

Everything is a few seconds long and small. Each audio track of a generated video is a
sine tone of its own frequency (or espeak-ng speech), so a test can tell which track a
stage picked by measuring the frequency of what came out (:func:`dominant_frequency`).

    from tests.helpers.media import make_video, Track
    make_video(tmp_path / "two.mkv", seconds=3,
               tracks=[Track("hin", 440, default=True), Track("eng", 880)])
"""

from __future__ import annotations

import array
import json
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
ESPEAK = shutil.which("espeak-ng")
SOX = shutil.which("sox")


@dataclass(frozen=True)
class Track:
    """One audio track of a generated file: a sine of ``frequency`` Hz, or ``speech`` text."""

    language: str | None = None  # container tag (hin, eng); None: untagged
    frequency: int = 440
    default: bool = False
    title: str | None = None
    speech: str | None = None  # espeak-ng text instead of a tone
    voice: str = "en"


def _ff(*args: str | Path) -> None:
    subprocess.run([FFMPEG or "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *map(str, args)], check=True)


def speech_wav(path: str | Path, text: str, voice: str = "en", rate: int = 16000, pad: float = 0.0) -> Path:
    """espeak-ng saying ``text`` as a mono WAV at ``rate`` Hz, with ``pad`` s of silence each side."""
    path = Path(path)
    raw = path.with_name(path.stem + ".espeak.wav")
    subprocess.run([ESPEAK or "espeak-ng", "-v", voice, "-w", str(raw), text], check=True)
    filters = f"adelay={int(pad * 1000)}:all=1,apad=pad_dur={pad}" if pad else "anull"
    _ff("-i", raw, "-af", filters, "-ac", "1", "-ar", str(rate), path)
    raw.unlink()
    return path


def tone_wav(path: str | Path, seconds: float = 2.0, frequency: int = 440, rate: int = 16000) -> Path:
    """A sine tone as a mono WAV."""
    _ff("-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate={rate}:duration={seconds}", "-ac", "1", path)
    return Path(path)


def make_video(path: str | Path, seconds: float = 3.0, tracks: Sequence[Track] = (Track("eng"),),
               size: str = "96x64", fps: int = 10, subtitles: Sequence[tuple[str, str]] = ()) -> Path:
    """A small video (codec by extension: H.264+AAC in MP4, H.264+AAC in MKV) with ``tracks``.

    ``subtitles`` are (srt file, language) pairs already to be carried by the input.
    No tracks: a video without audio.
    """
    path = Path(path)
    args: list[str | Path] = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}:duration={seconds}"]
    work = path.parent / f".{path.stem}-tracks"
    work.mkdir(exist_ok=True)
    for n, track in enumerate(tracks):
        if track.speech:
            wav = speech_wav(work / f"{n}.wav", track.speech, track.voice)
            args += ["-i", wav]
        else:
            args += ["-f", "lavfi", "-i", f"sine=frequency={track.frequency}:sample_rate=48000:duration={seconds}"]
    for srt, _lang in subtitles:
        args += ["-i", srt]
    args += ["-map", "0:v"]
    for n in range(len(tracks)):
        args += ["-map", f"{n + 1}:a"]
    for n in range(len(subtitles)):
        args += ["-map", f"{len(tracks) + 1 + n}:s"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(fps), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "48k"]
    if path.suffix.lower() in (".mp4", ".m4v", ".mov"):
        args += ["-c:s", "mov_text"]
    elif subtitles:
        args += ["-c:s", "srt"]
    for n, track in enumerate(tracks):
        if track.language:
            args += [f"-metadata:s:a:{n}", f"language={track.language}"]
        if track.title:
            args += [f"-metadata:s:a:{n}", f"title={track.title}"]
        args += [f"-disposition:a:{n}", "default" if track.default else "0"]
    for n, (_srt, lang) in enumerate(subtitles):
        args += [f"-metadata:s:s:{n}", f"language={lang}"]
    args += ["-shortest", path]
    _ff(*args)
    shutil.rmtree(work, ignore_errors=True)
    return path


def make_audio(path: str | Path, seconds: float = 3.0, frequency: int = 440, language: str | None = None) -> Path:
    """An audio-only file (codec by extension: .wav PCM, .mp3, .m4a AAC, .flac ...)."""
    args: list[str | Path] = ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=44100:duration={seconds}"]
    if language:
        args += ["-metadata:s:a:0", f"language={language}"]
    _ff(*args, path)
    return Path(path)


def make_silent_wav(path: str | Path, seconds: float, rate: int = 8000) -> Path:
    """A long but cheap input (silence, PCM) for tests that need a stage to take a while."""
    _ff("-f", "lavfi", "-i", f"anullsrc=r={rate}:cl=mono", "-t", str(seconds), "-c:a", "pcm_s16le", path)
    return Path(path)


def make_truncated(path: str | Path, seconds: float = 4.0, keep: float = 0.5) -> Path:
    """An MP4 cut to ``keep`` of its bytes (the index at its end is lost)."""
    path = Path(path)
    make_video(path, seconds=seconds)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_text_file(path: str | Path, text: str = "this is not a video\n") -> Path:
    """A text file, named however the test likes (``notes.mp4``)."""
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


def write_srt(path: str | Path, cues: Sequence[tuple[float, float, str]]) -> Path:
    """An SRT file from (start s, end s, text) cues."""
    def stamp(t: float) -> str:
        ms = round(t * 1000)
        return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"
    blocks = [f"{n}\n{stamp(a)} --> {stamp(b)}\n{text}\n" for n, (a, b, text) in enumerate(cues, 1)]
    Path(path).write_text("\n".join(blocks), encoding="utf-8")
    return Path(path)


def probe(path: str | Path) -> dict[str, Any]:
    """ffprobe's JSON (format + streams) of ``path``."""
    out = subprocess.run([FFPROBE or "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          "file:" + str(Path(path).resolve())], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def streams(path: str | Path, kind: str | None = None) -> list[dict[str, Any]]:
    """The streams of ``path`` (only ``kind``: video/audio/subtitle, when given)."""
    return [s for s in probe(path)["streams"] if kind is None or s.get("codec_type") == kind]


def pcm_wav(path: str | Path, seconds: float = 1.0, rate: int = 16000, channels: int = 1, sample: int = 0) -> Path:
    """A 16-bit PCM WAV of one constant ``sample`` value, written with the standard library (no ffmpeg)."""
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(channels)
        fh.setsampwidth(2)
        fh.setframerate(rate)
        fh.writeframes(array.array("h", [sample] * channels).tobytes() * int(rate * seconds))
    return Path(path)


def read_wav(path: str | Path) -> tuple[int, int, array.array]:
    """(sample rate, channels, 16-bit samples) of a PCM WAV."""
    with wave.open(str(path), "rb") as fh:
        assert fh.getsampwidth() == 2, "expected 16-bit PCM"
        samples = array.array("h", fh.readframes(fh.getnframes()))
        return fh.getframerate(), fh.getnchannels(), samples


def wav_seconds(path: str | Path) -> float:
    with wave.open(str(path), "rb") as fh:
        return fh.getnframes() / fh.getframerate()


def dominant_frequency(path: str | Path) -> float:
    """The frequency of a mono tone WAV, from its zero crossings (enough to tell 440 from 880 Hz)."""
    rate, _channels, samples = read_wav(path)
    crossings = sum(1 for a, b in zip(samples, samples[1:], strict=False) if (a < 0) != (b < 0))
    return crossings / 2 / (len(samples) / rate)
