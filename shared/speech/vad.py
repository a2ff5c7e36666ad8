"""Voice activity detection: one base class, pyannote and Silero behind it, one lookup table.

A backend turns 16 kHz mono audio into speech regions (seconds) using :class:`VadOptions`;
:func:`merge_chunks` then groups regions into chunks of at most ``max_chunk`` seconds,
the units the ASR stage decodes (Whisper's window is 30 s).
"""

from __future__ import annotations

import abc
import logging
import math
import os
from dataclasses import asdict, dataclass

from shared.speech import audio as audio_io
from shared.speech.lazy import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VadOptions:
    """Thresholds and durations of speech detection (seconds unless stated)."""

    onset: float = 0.5  # speech probability that starts a region
    offset: float | None = None  # probability below which a region ends (None: onset - 0.15)
    min_speech: float = 0.25  # regions shorter than this are dropped
    min_silence: float = 0.3  # gaps shorter than this are bridged
    padding: float = 0.1  # added to both edges of every region (never past the file)
    max_chunk: float = 30.0  # longest ASR chunk (a region longer than this is cut)

    def __post_init__(self) -> None:
        if not 0.0 < self.onset < 1.0:
            raise ValueError(f"VAD onset must be between 0 and 1, not {self.onset}")
        if self.offset is not None and not 0.0 < self.offset <= self.onset:
            raise ValueError(f"VAD offset must be in (0, onset={self.onset}], not {self.offset}")
        for name in ("min_speech", "min_silence", "padding"):
            if getattr(self, name) < 0:
                raise ValueError(f"VAD {name} must not be negative")
        if not 1.0 <= self.max_chunk <= 30.0:
            raise ValueError(f"VAD max_chunk must be between 1 and 30 s, not {self.max_chunk}")

    @property
    def effective_offset(self) -> float:
        return self.offset if self.offset is not None else max(0.01, self.onset - 0.15)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["offset"] = self.effective_offset
        return data


Region = tuple[float, float]


def binarize(probs: np.ndarray, step: float, opts: VadOptions, duration: float, first: float = 0.0) -> list[Region]:
    """Speech regions from per-frame probabilities (frame i centred at ``first + i*step``).

    Hysteresis: a region opens when the probability rises above ``onset`` and closes when
    it falls below ``offset``; then short gaps are bridged, short regions dropped, and
    each region padded.
    """
    regions: list[list[float]] = []
    active = False
    start = 0.0
    for i, p in enumerate(np.asarray(probs, dtype=np.float32)):
        t = first + i * step
        if not active and p > opts.onset:
            active, start = True, t
        elif active and p < opts.effective_offset:
            regions.append([start, t])
            active = False
    if active:
        regions.append([start, first + len(probs) * step])
    return finish_regions([(a, b) for a, b in regions], opts, duration)


def finish_regions(regions: list[Region], opts: VadOptions, duration: float) -> list[Region]:
    """Bridge gaps under min_silence, drop regions under min_speech, pad, clip to the file."""
    bridged: list[list[float]] = []
    for start, end in sorted(regions):
        if bridged and start - bridged[-1][1] < opts.min_silence:
            bridged[-1][1] = max(bridged[-1][1], end)
        else:
            bridged.append([start, end])
    kept = [(s, e) for s, e in bridged if e - s >= opts.min_speech]
    padded: list[list[float]] = []
    for start, end in kept:
        start, end = max(0.0, start - opts.padding), min(duration, end + opts.padding)
        if padded and start <= padded[-1][1]:
            padded[-1][1] = max(padded[-1][1], end)
        else:
            padded.append([start, end])
    return [(round(s, 3), round(e, 3)) for s, e in padded if e > s]


def split_long(regions: list[Region], max_len: float) -> list[Region]:
    """Regions no longer than ``max_len``: a longer one is cut into equal parts."""
    result: list[Region] = []
    for start, end in regions:
        length = end - start
        parts = math.ceil(length / max_len - 1e-9) if length > max_len else 1
        step = length / parts
        result.extend((round(start + i * step, 3), round(start + (i + 1) * step, 3)) for i in range(parts))
    return result


def merge_chunks(regions: list[Region], max_chunk: float = 30.0) -> list[dict]:
    """Consecutive regions grouped into chunks spanning at most ``max_chunk`` seconds."""
    chunks: list[dict] = []
    for start, end in split_long(regions, max_chunk):
        if chunks and end - chunks[-1]["start"] <= max_chunk:
            chunks[-1]["end"] = end
            chunks[-1]["regions"].append({"start": start, "end": end})
        else:
            chunks.append({"start": start, "end": end, "regions": [{"start": start, "end": end}]})
    return chunks


class VadBackend(abc.ABC):
    """A speech detector: ``detect(path, duration)`` -> regions. Subclasses fill the table."""

    name = ""

    def __init__(self, opts: VadOptions, device: str = "cpu"):
        self.opts = opts
        self.device = device

    @property
    @abc.abstractmethod
    def model_id(self) -> str:
        """The registry id of this backend's model."""

    @abc.abstractmethod
    def load(self) -> None:
        """Load the model (raising ModelMissing before any audio is read)."""

    @abc.abstractmethod
    def detect(self, path: str | os.PathLike[str], duration: float) -> list[Region]:
        """Speech regions (start, end) in seconds of the 16 kHz file at ``path``."""


class SileroVad(VadBackend):
    """Silero VAD from the silero-vad package (ONNX on CPU), fed in blocks of a minute."""

    name = "silero"
    FRAME = 512  # samples per probability at 16 kHz
    BLOCK_SECONDS = 60.0

    @property
    def model_id(self) -> str:
        return "vad-silero"

    def load(self) -> None:
        from shared.speech.stage import resolve_model

        path = resolve_model(self.model_id)
        if path.is_dir():
            path = next((p for p in (path / "silero_vad.onnx", path / "data" / "silero_vad.onnx") if p.is_file()), path)
        if path.suffix == ".onnx":
            from silero_vad.utils_vad import OnnxWrapper

            self.model = OnnxWrapper(str(path), force_onnx_cpu=True)
        else:
            from silero_vad.utils_vad import init_jit_model

            self.model = init_jit_model(str(path))

    def detect(self, path: str | os.PathLike[str], duration: float) -> list[Region]:
        import torch
        from silero_vad.utils_vad import get_speech_timestamps_from_probs

        self.model.reset_states()
        probs: list[float] = []
        carry = np.zeros(0, dtype=np.float32)
        frames = 0
        # inference_mode: without it autograd keeps every frame's graph alive through the
        # model's recurrent state, and memory grows with the film (1.6 GB at 20 min).
        from shared.progress import Progress

        meter = Progress("vad", round(duration, 1), "s of audio")
        with torch.inference_mode():
            for _, block in audio_io.iter_blocks(path, self.BLOCK_SECONDS):
                meter.update(round(len(block) / 16000, 1))
                samples = np.concatenate([carry, block])
                usable = len(samples) // self.FRAME * self.FRAME
                carry = samples[usable:]
                for i in range(0, usable, self.FRAME):
                    probs.append(float(self.model(torch.from_numpy(samples[i : i + self.FRAME]), 16000).item()))
                frames += len(block)
            if len(carry):
                padded = np.pad(carry, (0, self.FRAME - len(carry)))
                probs.append(float(self.model(torch.from_numpy(padded), 16000).item()))
        meter.close()
        stamps = get_speech_timestamps_from_probs(
            probs,
            sampling_rate=16000,
            threshold=self.opts.onset,
            neg_threshold=self.opts.effective_offset,
            min_speech_duration_ms=int(self.opts.min_speech * 1000),
            min_silence_duration_ms=int(self.opts.min_silence * 1000),
            max_speech_duration_s=self.opts.max_chunk,
            speech_pad_ms=0,
            audio_length_samples=frames,
        )
        regions = [(s["start"] / 16000, s["end"] / 16000) for s in stamps]
        # Silero already bridged and filtered; finish_regions pads (and merges what touches).
        return finish_regions(regions, VadOptions(**{**asdict(self.opts), "min_silence": 0.0, "min_speech": 0.0}), duration)


class PyannoteVad(VadBackend):
    """pyannote segmentation (the model bundled in the whisperx wheel): no token, no download."""

    name = "pyannote"

    @property
    def model_id(self) -> str:
        return "vad-pyannote"

    def load(self) -> None:
        from shared.speech.stage import resolve_model

        path = resolve_model(self.model_id)
        model_file = path / "pytorch_model.bin" if path.is_dir() else path
        import torch
        from pyannote.audio import Inference, Model

        model = Model.from_pretrained(str(model_file))
        self.inference = Inference(
            model,
            device=torch.device(self.device),
            pre_aggregation_hook=lambda scores: np.max(scores, axis=-1, keepdims=True),
        )

    def detect(self, path: str | os.PathLike[str], duration: float) -> list[Region]:
        import torch

        samples = audio_io.read_all(path)
        if len(samples) == 0:
            return []
        with torch.inference_mode():
            scores = self.inference({"waveform": torch.from_numpy(samples).unsqueeze(0), "sample_rate": 16000})
        window = scores.sliding_window
        probs = scores.data[:, 0] if scores.data.ndim == 2 else scores.data.reshape(len(scores.data), -1).max(axis=1)
        first = window[0].middle
        return binarize(probs, window.step, self.opts, duration, first=first)


VAD_BACKENDS: dict[str, type[VadBackend]] = {"silero": SileroVad, "pyannote": PyannoteVad}


def choose_backend(setting: str, device: str) -> str:
    """The backend for VAD=``setting``: auto is the backend of the hardware class's default VAD
    model (config/models.toml; shared.policy decides): Silero on CPU and Apple Silicon, pyannote on CUDA."""
    from shared import policy

    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        return policy.vad_backend("auto", device, policy.REPO_ROOT)
    if setting not in VAD_BACKENDS:
        raise ValueError(f"VAD must be auto, {', '.join(VAD_BACKENDS)}; not {setting!r}")
    return setting


def speech_info(backend: VadBackend, regions: list[Region], duration: float) -> dict:
    """The speech.json document for ``regions`` found by ``backend``."""
    from shared.schema import SCHEMA_VERSION, SpeechInfo, SpeechRegion

    return SpeechInfo(
        schema_version=SCHEMA_VERSION,
        kind="speech",
        backend=backend.name,
        model=backend.model_id,
        parameters=backend.opts.as_dict(),
        duration=round(duration, 3),
        regions=[SpeechRegion(start=s, end=e) for s, e in regions],
        chunks=merge_chunks(regions, backend.opts.max_chunk),
    )
