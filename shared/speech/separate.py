"""Demucs vocal separation in windows: peak memory follows the window, never the file.

The 16 kHz mono job audio is read a window at a time (soundfile), resampled to the
model's rate and channel count, separated with ``demucs.apply.apply_model`` (which itself
splits the window into the model's segments), and the vocals stem is resampled back to
16 kHz mono and written block by block. Consecutive windows overlap and are cross-faded,
so window edges leave no seam.
"""

from __future__ import annotations

import logging
from pathlib import Path

from shared.speech import audio as audio_io
from shared.speech.lazy import numpy as np
from shared.speech.stage import progress

log = logging.getLogger(__name__)

TEST_MODEL = "demucs_unittest"  # demucs' own untrained test model, built from code


def choose(setting: str, device: str) -> bool:
    """SEPARATE=auto: the hardware class's default of config/models.toml (on with CUDA or MPS,
    off on CPU; shared.policy decides); on/off as said."""
    from shared import policy

    return policy.separate_on(setting, device)


def load_model(model_id: str, path: Path | None):
    """The demucs model: the test model from code, or a bag from a cached snapshot folder."""
    if model_id == TEST_MODEL:
        from demucs.pretrained import get_model

        return get_model(TEST_MODEL)
    import yaml
    from demucs.apply import BagOfModels
    from demucs.hf import load_safetensors_model

    assert path is not None
    with open(Path(path) / f"{model_id}.yaml", encoding="utf-8") as fh:
        bag = yaml.safe_load(fh)
    models = [load_safetensors_model(Path(path) / f"{sig}.safetensors") for sig in bag["models"]]
    model = BagOfModels(models, bag.get("weights"), bag.get("segment"))
    model.eval()
    return model


def window_starts(duration: float, window: float, overlap: float) -> list[float]:
    """Start times of windows of ``window`` s overlapping by ``overlap`` s that cover ``duration``."""
    hop = window - overlap
    starts = [0.0]
    while starts[-1] + window < duration:
        starts.append(round(starts[-1] + hop, 6))
    return starts


def separate_vocals(model, source: Path, target: Path, window: float = 60.0, overlap: float = 2.0,
                    device: str = "cpu", shifts: int = 0) -> dict:
    """Write the vocals of ``source`` to ``target`` (16 kHz mono); facts for the manifest."""
    import julius
    import torch
    from demucs.apply import apply_model

    if overlap <= 0 or overlap >= window / 2:
        raise ValueError("the window overlap must be positive and under half the window")
    meta = audio_io.info(source)
    vocals_index = list(model.sources).index("vocals")
    sr, channels = int(model.samplerate), int(model.audio_channels)
    overlap_samples = int(overlap * audio_io.SAMPLE_RATE)
    starts = window_starts(meta.duration, window, overlap)
    pending: np.ndarray | None = None
    with audio_io.ChunkedWavWriter(target) as writer:
        for index, start in enumerate(progress(starts, total=len(starts), desc="separate")):
            mono = audio_io.read_window(source, start, start + window)
            wanted = len(mono)
            wav = torch.from_numpy(mono)
            if sr != audio_io.SAMPLE_RATE:
                wav = julius.resample_frac(wav, audio_io.SAMPLE_RATE, sr)
            wav = wav.unsqueeze(0).repeat(channels, 1)
            ref = wav.mean(0)
            mean, std = ref.mean(), ref.std().clamp_min(1e-8)
            with torch.inference_mode():
                out = apply_model(model, ((wav - mean) / std)[None], shifts=shifts, split=True, overlap=0.25,
                                  device=device, progress=False)
            vocals = (out[0, vocals_index] * std + mean).mean(0)
            if sr != audio_io.SAMPLE_RATE:
                vocals = julius.resample_frac(vocals, sr, audio_io.SAMPLE_RATE)
            current = vocals.cpu().numpy().astype(np.float32)[:wanted]
            if len(current) < wanted:
                current = np.pad(current, (0, wanted - len(current)))
            if pending is not None:
                n = min(len(pending), len(current))
                ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
                current[:n] = pending[:n] * (1.0 - ramp) + current[:n] * ramp
            if index == len(starts) - 1:
                writer.write(current)
                pending = None
            else:
                writer.write(current[:-overlap_samples])
                pending = current[-overlap_samples:]
    return {"windows": len(starts), "window_s": window, "overlap_s": overlap, "frames": meta.frames}
