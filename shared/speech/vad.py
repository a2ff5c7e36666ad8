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
from typing import TYPE_CHECKING

from shared.speech import audio as audio_io
from shared.speech.lazy import numpy as np

if TYPE_CHECKING:
    from shared.schema import SpeechInfo

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


class SileroOnnx:
    """Silero VAD's ONNX model run with onnxruntime and numpy alone (no torch import: the
    stage starts in a fraction of a second). Each 512-sample frame is fed with the 64 samples
    before it and the recurrent state, as silero-vad's own OnnxWrapper does. With the
    package's sequence export (silero_vad_16k_sequence.onnx: the same network taking many
    frames per call, as faster-whisper runs it) a whole block goes in one call; the
    per-frame export (silero_vad.onnx) is run frame by frame."""

    FRAME = 512
    CONTEXT = 64

    def __init__(self, path: str | os.PathLike[str]):
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 3
        self.path = str(path)
        self.session = onnxruntime.InferenceSession(self.path, providers=["CPUExecutionProvider"], sess_options=opts)
        self.sequence = {i.name for i in self.session.get_inputs()} == {"input", "h", "c"}
        self.sr = np.array(16000, dtype=np.int64)
        self.reset_states()

    def reset_states(self) -> None:
        self.state = np.zeros((2, 1, 128), dtype=np.float32)
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(self.CONTEXT, dtype=np.float32)

    def __call__(self, frame: np.ndarray) -> float:
        """The speech probability of one 512-sample frame (state carried to the next call)."""
        return self.probabilities(frame)[0]

    def probabilities(self, samples: np.ndarray) -> list[float]:
        """One probability per 512-sample frame of ``samples`` (a multiple of 512 long)."""
        frames = samples.astype(np.float32, copy=False).reshape(-1, self.FRAME)
        if not len(frames):
            return []
        before = np.concatenate([self.context[None, :], frames[:-1, -self.CONTEXT:]], axis=0)
        inputs = np.concatenate([before, frames], axis=1)
        self.context = frames[-1, -self.CONTEXT:].copy()
        if self.sequence:
            out, self.h, self.c = self.session.run(None, {"input": inputs, "h": self.h, "c": self.c})
            return [float(p) for p in np.asarray(out).reshape(-1)]
        probs = []
        for row in inputs:
            out, self.state = self.session.run(None, {"input": row[None, :], "state": self.state, "sr": self.sr})
            probs.append(float(np.asarray(out).reshape(-1)[0]))
        return probs


def silero_stamps(probs: list[float], threshold: float, neg_threshold: float, min_speech_ms: int,
                  min_silence_ms: int, max_speech_s: float, audio_length_samples: int,
                  sampling_rate: int = 16000) -> list[dict]:
    """Speech stamps ({"start", "end"} in samples) from Silero's per-frame speech probabilities.

    The rules are silero-vad's (its ``get_speech_timestamps_from_probs`` with speech_pad_ms=0;
    the caller pads), computed here by jumping from event to event over index arrays instead
    of visiting every frame: a speech opens at a frame at or above ``threshold``; a pause
    opens at the first frame below ``neg_threshold`` after it and closes at the next frame at
    or above ``threshold`` (hysteresis); a pause that reaches ``min_silence_ms`` ends the
    speech where it opened; a speech longer than ``max_speech_s`` is cut at its longest
    closed pause of more than 98 ms (the next part starts where that pause closed), or, with
    none, right there. Speeches ended by a pause or by the file's end count only when longer
    than ``min_speech_ms``. tests/unit/test_speech_vad_onnx.py compares it with silero-vad.
    """
    window = 512 if sampling_rate == 16000 else 256
    p = np.asarray(probs, dtype=np.float64)
    n = len(p)
    loud = np.flatnonzero(p >= threshold)  # frames that open a speech or close a pause
    quiet = np.flatnonzero(p < neg_threshold)  # frames that open a pause (or end one that lasted)
    min_speech = sampling_rate * min_speech_ms / 1000
    min_silence = sampling_rate * min_silence_ms / 1000
    longest = sampling_rate * max_speech_s - window  # a speech of more samples than this is cut
    cut_pause = sampling_rate * 98 / 1000  # pauses longer than this are places to cut at
    pause_frames = math.ceil(min_silence / window) if min_silence > 0 else 0

    def first(frames: np.ndarray, at: int) -> int:  # the first of ``frames`` at or after frame ``at`` (n: none)
        k = int(np.searchsorted(frames, at))
        return int(frames[k]) if k < len(frames) else n

    def cut_frame(start: int, checked: int) -> int:  # the first frame after ``checked`` where the speech is too long
        if not math.isfinite(longest):
            return n
        return max(checked + 1, math.floor((start + longest) / window) + 1)

    def cut_here(cut: int) -> bool:
        """The speech is too long at frame ``cut``: cut it (:func:`_too_long`); True when a
        next part goes on from the cut, False when the speech ended there."""
        nonlocal start, pauses, checked, ended
        checked = cut
        rest = _too_long(speeches, start, pauses, cut * window)
        if rest is None:
            ended = cut
            return False
        start, pauses = rest, []
        return True

    speeches: list[dict] = []
    frame = first(loud, 0)
    while frame < n:  # a speech opens at ``frame``
        start = frame * window
        pauses: list[tuple[int, int]] = []  # closed pauses worth cutting at: (where it opened, length), in samples
        opened: int | None = None  # frame where the current pause opened
        checked = frame  # the length check has run up to this frame
        at = frame + 1
        ended: int | None = None  # frame after which the next speech may open, once this one ended
        while at < n and ended is None:
            cut = cut_frame(start, checked)
            if opened is None:
                event = min(first(quiet, at), cut)
                if event >= n:
                    break
                if event == cut:  # too long before any pause opened
                    if not cut_here(cut):
                        break
                    at = cut
                    if p[cut] < neg_threshold:
                        opened = cut
                    else:
                        at = cut + 1
                    continue
                opened, at = event, event
                continue
            close = first(loud, at)
            last = first(quiet, max(at, opened + pause_frames))
            if close < last and close <= cut:
                length = (close - opened) * window
                if length > cut_pause:
                    pauses.append((opened * window, length))
                opened, at = None, close
                if close == cut and not cut_here(cut):  # the length check runs in the frame that closed the pause
                    break
                at = close + 1
                continue
            if cut <= last and cut < n:  # too long in a pause: cut, and the pause opens again here
                opened = None
                if not cut_here(cut):
                    break
                if p[cut] < neg_threshold:
                    opened, at = cut, cut
                else:
                    at = cut + 1
                continue
            if last >= n:
                break
            if opened * window - start > min_speech:  # the pause lasted: the speech ended where it opened
                speeches.append({"start": start, "end": opened * window})
            ended = last
        if ended is None:  # open at the file's end
            if audio_length_samples - start > min_speech:
                speeches.append({"start": start, "end": audio_length_samples})
            break
        frame = first(loud, ended + 1)
    for speech in speeches:
        speech["start"] = int(max(0, speech["start"]))
        speech["end"] = int(min(audio_length_samples, speech["end"]))
    return speeches


def _too_long(speeches: list[dict], start: int, pauses: list[tuple[int, int]], here: int) -> int | None:
    """The speech from ``start`` reached its length limit at sample ``here``: end it at its
    longest closed pause and return where the next part starts (where that pause closed),
    or, with no pause to cut at, end it right here and return None (the speech is over)."""
    if not pauses:
        speeches.append({"start": start, "end": here})
        return None
    where, length = max(pauses, key=lambda pause: pause[1])
    speeches.append({"start": start, "end": where})
    return where + length


class SileroVad(VadBackend):
    """Silero VAD from the silero-vad package: its ONNX model through onnxruntime (no torch),
    fed in blocks of a minute. The registry names the package's JIT file; the ONNX file
    beside it is the same network (a JIT-only install still works, through torch)."""

    name = "silero"
    FRAME = 512  # samples per probability at 16 kHz
    BLOCK_SECONDS = 60.0

    @property
    def model_id(self) -> str:
        return "vad-silero"

    def load(self) -> None:
        from shared.speech.stage import resolve_model

        path = resolve_model(self.model_id)
        folder = path if path.is_dir() else path.parent
        names = ("silero_vad_16k_sequence.onnx", "silero_vad.onnx")  # one call per block, else per frame
        onnx = next((p for name in names for p in (folder / name, folder / "data" / name) if p.is_file()), None)
        if path.suffix == ".onnx" or onnx is not None:
            self.model = SileroOnnx(path if path.suffix == ".onnx" else onnx)
            self.runtime = "onnxruntime"
        else:
            from silero_vad.utils_vad import init_jit_model

            self.model = init_jit_model(str(path))
            self.runtime = "torch"

    def _probabilities(self):
        """A function: samples (a multiple of FRAME long) -> one probability per frame."""
        if self.runtime == "onnxruntime":
            return self.model.probabilities
        import torch

        def per_frame(samples: np.ndarray) -> list[float]:
            return [float(self.model(torch.from_numpy(samples[i : i + self.FRAME]), 16000).item())
                    for i in range(0, len(samples), self.FRAME)]

        return per_frame

    def detect(self, path: str | os.PathLike[str], duration: float) -> list[Region]:
        self.model.reset_states()
        probabilities = self._probabilities()
        probs: list[float] = []
        carry = np.zeros(0, dtype=np.float32)
        frames = 0
        if self.runtime == "torch":
            # inference_mode: without it autograd keeps every frame's graph alive through the
            # model's recurrent state, and memory grows with the film (1.6 GB at 20 min).
            import torch

            guard = torch.inference_mode()
        else:
            import contextlib

            guard = contextlib.nullcontext()
        from shared.progress import Progress

        meter = Progress("vad", round(duration, 1), "s of audio")
        with guard:
            for _, block in audio_io.iter_blocks(path, self.BLOCK_SECONDS):
                meter.update(round(len(block) / 16000, 1))
                samples = np.concatenate([carry, block])
                usable = len(samples) // self.FRAME * self.FRAME
                carry = samples[usable:]
                probs.extend(probabilities(samples[:usable]))
                frames += len(block)
            if len(carry):
                probs.extend(probabilities(np.pad(carry, (0, self.FRAME - len(carry)))))
        meter.close()
        stamps = silero_stamps(probs, threshold=self.opts.onset, neg_threshold=self.opts.effective_offset,
                               min_speech_ms=int(self.opts.min_speech * 1000),
                               min_silence_ms=int(self.opts.min_silence * 1000),
                               max_speech_s=self.opts.max_chunk, audio_length_samples=frames)
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


def speech_info(backend: VadBackend, regions: list[Region], duration: float) -> SpeechInfo:
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
