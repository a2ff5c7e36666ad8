"""Silero VAD without torch: our timestamp logic and the ONNX runner against silero-vad's own.

Runs in the ml environment (numpy, onnxruntime, and silero-vad with torch for the reference),
through tests.helpers.ml.in_ml: the scripts hand their results back as JSON and the
assertions are here.
"""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.ml import in_ml, pytestmark  # noqa: F401


def test_our_stamps_match_silero_vad_on_random_probabilities() -> None:
    trials = in_ml("""
        import numpy as np
        from silero_vad.utils_vad import get_speech_timestamps_from_probs
        from shared.speech.vad import silero_stamps
        rng = np.random.default_rng(3)
        result = []
        for trial in range(400):
            n = int(rng.integers(10, 4000))
            # runs of speech and silence, with noise: exercises bridging, short speech and the max-length
            # cut (at a pause, and with none to cut at); short runs make pauses at every frame offset
            run = int(rng.choice([3, 20]))
            level = np.repeat(rng.random(n // run + 1) > 0.45, run)[:n].astype(float)
            probs = np.clip(level * 0.8 + rng.normal(0, 0.2, n), 0, 1).tolist()
            opts = dict(threshold=float(rng.uniform(0.3, 0.7)), min_speech=int(rng.integers(0, 500)),
                        min_silence=int(rng.integers(0, 800)) if run == 20 else int(rng.integers(0, 200)),
                        max_speech=float(rng.choice([1.0, 5.0, 30.0, float("inf")])))
            neg = max(0.01, opts["threshold"] - 0.15)
            length = n * 512 - int(rng.integers(0, 512))
            ours = silero_stamps(probs, opts["threshold"], neg, opts["min_speech"], opts["min_silence"],
                                 opts["max_speech"], length)
            theirs = get_speech_timestamps_from_probs(probs, sampling_rate=16000, threshold=opts["threshold"],
                neg_threshold=neg, min_speech_duration_ms=opts["min_speech"],
                min_silence_duration_ms=opts["min_silence"], max_speech_duration_s=opts["max_speech"],
                speech_pad_ms=0, audio_length_samples=length)
            result.append({"opts": opts, "ours": ours, "theirs": theirs})
    """)
    assert len(trials) == 400
    assert any(t["theirs"] for t in trials)  # the random runs do contain speech
    for number, trial in enumerate(trials):
        assert trial["ours"] == trial["theirs"], (number, trial["opts"])


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")), reason="needs espeak-ng and sox")
def test_onnx_runner_gives_silero_vads_probabilities_and_no_torch_is_imported(tmp_path) -> None:
    wav = tmp_path / "speech.wav"
    found = in_ml(f"""
        import sys
        sys.path.insert(0, "bench")
        import speech_media
        speech_media.build_speech(__import__("pathlib").Path({str(wav)!r}), 20.0)
        from shared.speech import vad
        det = vad.SileroVad(vad.VadOptions())
        det.load()
        regions = det.detect({str(wav)!r}, 20.0)
        torch_imported = "torch" in sys.modules
        import numpy as np, torch
        from silero_vad.utils_vad import OnnxWrapper
        from shared.speech import audio
        samples = audio.read_all({str(wav)!r})
        import os
        ref = OnnxWrapper(os.path.join(os.path.dirname(det.model.path), "silero_vad.onnx"), force_onnx_cpu=True)
        det.model.reset_states()
        usable = len(samples) // 512 * 512
        ours = det.model.probabilities(samples[:7 * 512]) + det.model.probabilities(samples[7 * 512:usable])
        theirs = [float(ref(torch.from_numpy(samples[i:i + 512]), 16000).item()) for i in range(0, usable, 512)]
        from silero_vad.utils_vad import init_jit_model
        from shared.speech.stage import resolve_model
        jit = vad.SileroVad(vad.VadOptions())
        jit.model, jit.runtime = init_jit_model(str(resolve_model("vad-silero"))), "torch"
        old = jit.detect({str(wav)!r}, 20.0)  # the JIT model through torch, as the stage ran before
        result = {{"runtime": det.runtime, "torch_imported": torch_imported, "sequence": bool(det.model.sequence),
                   "path": str(det.model.path), "ours": [float(p) for p in ours], "theirs": theirs,
                   "regions": regions, "old": old}}
    """)
    assert found["runtime"] == "onnxruntime"
    assert not found["torch_imported"], "the ONNX path imported torch"
    assert found["sequence"], found["path"]  # the package's sequence export: one call per block
    ours, theirs = found["ours"], found["theirs"]
    assert len(ours) == len(theirs)
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    assert worst < 0.02, worst  # two exports of one network: float rounding apart
    regions, old = found["regions"], found["old"]
    assert len(regions) >= 3 and all(e - s > 1.0 for s, e in regions), regions
    assert len(old) == len(regions), (old, regions)
    assert all(abs(a - b) <= 0.05 for r, o in zip(regions, old, strict=True) for a, b in zip(r, o, strict=True)), (old, regions)
