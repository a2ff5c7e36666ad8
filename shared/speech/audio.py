"""Audio read and written in windows with soundfile, so memory never grows with length."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.schema import AUDIO_SAMPLE_RATE as SAMPLE_RATE
from shared.speech.lazy import numpy as np


@dataclass(frozen=True)
class AudioInfo:
    """Facts about a sound file: its rate, channel count, length in frames and seconds."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def info(path: str | os.PathLike[str]) -> AudioInfo:
    """The sample rate, channels and length of ``path``."""
    import soundfile as sf

    meta = sf.info(str(path))
    return AudioInfo(sample_rate=int(meta.samplerate), channels=int(meta.channels), frames=int(meta.frames))


def read_window(path: str | os.PathLike[str], start: float, end: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Mono float32 samples of ``path`` from ``start`` to ``end`` seconds (clipped to the file).

    The file must already be at ``sample_rate`` (the job's audio.wav and vocals.wav are
    16 kHz mono); a different rate is an error rather than a silent misread of times.
    """
    import soundfile as sf

    with sf.SoundFile(str(path)) as snd:
        if snd.samplerate != sample_rate:
            raise ValueError(f"{path}: {snd.samplerate} Hz, expected {sample_rate} Hz (re-run demux)")
        first = max(0, int(round(start * sample_rate)))
        last = min(snd.frames, int(round(end * sample_rate)))
        if last <= first:
            return np.zeros(0, dtype=np.float32)
        snd.seek(first)
        data = snd.read(last - first, dtype="float32", always_2d=True)
    return data.mean(axis=1).astype(np.float32) if data.shape[1] > 1 else data[:, 0]


def read_all(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Every sample of ``path`` as mono float32 (for stages whose model needs the whole signal)."""
    meta = info(path)
    return read_window(path, 0.0, meta.frames / max(meta.sample_rate, 1), sample_rate)


def iter_blocks(path: str | os.PathLike[str], block_seconds: float) -> Iterator[tuple[float, np.ndarray]]:
    """(start time, mono float32 block) over ``path`` in blocks of ``block_seconds``."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as snd:
        block = max(1, int(block_seconds * snd.samplerate))
        position = 0
        while position < snd.frames:
            data = snd.read(block, dtype="float32", always_2d=True)
            if not len(data):
                break
            mono = data.mean(axis=1).astype(np.float32) if data.shape[1] > 1 else data[:, 0]
            yield position / snd.samplerate, mono
            position += len(data)


class ChunkedWavWriter:
    """A 16-bit PCM WAV written block by block to ``<path>.tmp`` and renamed on close.

    Use as a context manager; an exception inside the block removes the partial file, so
    the target path only ever holds a complete file.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE, channels: int = 1):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".tmp")
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames = 0
        self._snd = None

    def __enter__(self) -> ChunkedWavWriter:
        import soundfile as sf

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._snd = sf.SoundFile(
            str(self.tmp), mode="w", samplerate=self.sample_rate, channels=self.channels, subtype="PCM_16", format="WAV"
        )
        return self

    def write(self, samples: np.ndarray) -> None:
        assert self._snd is not None, "use ChunkedWavWriter as a context manager"
        if len(samples):
            self._snd.write(np.clip(samples, -1.0, 1.0))
            self.frames += len(samples)

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._snd is not None
        self._snd.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
