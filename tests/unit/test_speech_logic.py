"""Pure logic of the speech package: chunking, interpolation, refinement, backend choice, MLX settings.

The modules import numpy lazily (shared/speech/lazy.py), so the logic that needs no array
is imported and asserted here directly. What needs numpy (binarize, refine, the MLX backend
over a real WAV) is computed by a short script in the ml environment that prints its
results as JSON; the assertions stay here, in pytest (skipped when the ml env is not built).
mlx_whisper is replaced by a fake module: its selection and the settings passed to it are what is tested.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.speech import align, asr, vad
from tests.helpers.ml import ML_PYTHON, REPO, in_ml, needs_ml  # noqa: F401  (ML_PYTHON: for the tests that import it)


def test_the_logic_imports_without_numpy() -> None:
    code = ("import sys; from shared.speech import align, asr, audio, separate, vad; "
            "vad.merge_chunks([(0.0, 100.0)]); assert 'numpy' not in sys.modules")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True).returncode == 0


def test_a_deferred_module_is_imported_where_first_used_even_after_a_top_level_import() -> None:
    code = """if True:
        import sys
        from shared.speech.lazy import defer
        defer("colorsys")
        import colorsys                     # what a library's top level does
        assert type(sys.modules["colorsys"]).__name__ == "LazyModule"
        assert colorsys.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
        assert type(sys.modules["colorsys"]).__name__ == "module"  # the real one took its place
        import colorsys as again
        assert again.hls_to_rgb is sys.modules["colorsys"].hls_to_rgb
        import json; defer("json"); assert sys.modules["json"] is json  # imported already: untouched
        defer("xml"); import xml.dom        # a package: its submodules import through the stand-in
        assert xml.dom.Node
    """
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.ml
@needs_ml
def test_the_asr_backend_loads_without_importing_pyav() -> None:
    found = in_ml("""
        import sys
        from pathlib import Path
        from shared import models
        from shared.speech import asr
        root = Path(".").resolve()
        path = models.resolve("tiny.en-bundled", root / "no-cache", root)
        backend = asr.FasterWhisperBackend(Path(path), "tiny.en-bundled", asr.AsrOptions(language="en", threads=1))
        backend.load(1)
        result = {"av": type(sys.modules.get("av")).__name__, "fw": "faster_whisper" in sys.modules}
    """)
    assert found == {"av": "LazyModule", "fw": True}


def test_lazy_module_imports_on_first_use_and_then_is_the_module() -> None:
    from shared.speech.lazy import LazyModule

    lazy = LazyModule("colorsys")
    import colorsys

    assert lazy.rgb_to_hsv is colorsys.rgb_to_hsv and lazy.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "rgb_to_hsv" in vars(lazy)  # cached after the first lookup
    with pytest.raises(AttributeError):
        lazy.no_such_name  # noqa: B018


def test_regions_merge_into_chunks_of_at_most_30_s() -> None:
    regions = [(0.5, 10.0), (11.0, 25.0), (26.0, 33.0), (40.0, 110.0)]
    chunks = vad.merge_chunks(regions, 30.0)
    assert all(c["end"] - c["start"] <= 30.0 + 1e-6 for c in chunks), chunks
    assert chunks[0] == {"start": 0.5, "end": 25.0, "regions": [{"start": 0.5, "end": 10.0}, {"start": 11.0, "end": 25.0}]}
    assert [c["start"] for c in chunks] == [0.5, 26.0, 40.0, 63.333, 86.667]
    covered = sum(r["end"] - r["start"] for c in chunks for r in c["regions"])
    assert abs(covered - sum(b - a for a, b in regions)) < 0.01


def test_vad_options_are_checked() -> None:
    with pytest.raises(ValueError, match="onset"):
        vad.VadOptions(onset=1.5)


@pytest.mark.ml
@needs_ml
def test_binarize_hysteresis_gaps_short_regions_and_padding() -> None:
    regions = in_ml("""
        import numpy as np
        from shared.speech.vad import VadOptions, binarize
        probs = np.zeros(1000)            # 10 ms frames, 10 s
        probs[100:300] = 0.9              # 1.0-3.0 s speech
        probs[300:310] = 0.4              # dips below onset, above offset (0.35): stays open
        probs[310:350] = 0.9
        probs[370:400] = 0.9              # 0.2 s gap: bridged (min_silence 0.3)
        probs[600:610] = 0.9              # 0.1 s blip: dropped (min_speech 0.25)
        result = binarize(probs, 0.01, VadOptions(onset=0.5, min_speech=0.25, min_silence=0.3, padding=0.1), 10.0)
    """)
    assert regions == [[0.9, 4.1]]


def test_interpolation_and_method_choice() -> None:
    words = [{"word": "at", "start": 1.0, "end": 1.2, "score": 0.9, "timed_by": "wav2vec2"},
             {"word": "7:30", "start": None, "end": None, "score": None, "timed_by": None},
             {"word": "AM", "start": None, "end": None, "score": None, "timed_by": None},
             {"word": "sharp", "start": 2.0, "end": 2.4, "score": 0.8, "timed_by": "wav2vec2"}]
    align.interpolate(words, 0.9, 2.5)
    assert [w["timed_by"] for w in words] == ["wav2vec2", "interpolated", "interpolated", "wav2vec2"]
    assert words[1]["start"] == 1.2 and words[2]["end"] == 2.0 and words[1]["end"] == words[2]["start"]
    assert words[1]["end"] - words[1]["start"] > words[2]["end"] - words[2]["start"]  # by character share
    lone = [{"word": "hello", "start": None, "end": None}, {"word": "you", "start": None, "end": None}]
    align.interpolate(lone, 3.0, 4.0)
    assert lone[0]["start"] == 3.0 and lone[1]["end"] == 4.0
    assert align.choose_method("auto", True) == "wav2vec2" and align.choose_method("auto", False) == "whisper"
    assert align.choose_method("off", True) == "off"


@pytest.mark.ml
@needs_ml
def test_refinement_moves_word_edges_into_speech() -> None:
    moved = in_ml("""
        from shared.speech.align import refine
        result = refine([{"word": "a", "start": 0.6, "end": 1.5}, {"word": "b", "start": 5.2, "end": 5.4}], [(1.0, 5.0)])
    """)
    # a word starting in silence moves to its region's start; one fully in silence to the nearest edge
    assert moved[0]["start"] == 1.0 and moved[1]["end"] == 5.0 and moved[1]["start"] >= moved[0]["start"]


def test_whisper_units_that_split_words_differently_still_time_every_word() -> None:
    # the tokenizer's units split "well-timed." in two: the word spans both
    units = [("They", 0.0, 0.2, 0.9), ("well", 0.3, 0.5, 0.8), ("-timed.", 0.5, 0.9, 0.6)]
    assert align.map_units_to_words(["They", "well-timed."], units) == [(0.0, 0.2, 0.9), (0.3, 0.9, 0.6)]
    # one unit covering two words gives both its span
    assert align.map_units_to_words(["a", "b"], [("ab", 1.0, 2.0, 0.5)]) == [(1.0, 2.0, 0.5), (1.0, 2.0, 0.5)]
    # different text: no guessing
    assert align.map_units_to_words(["a"], [("x", 0.0, 1.0, 1.0)]) is None


def test_backend_selection() -> None:
    # auto is mlx only on Apple Silicon with mlx-whisper importable
    assert asr.choose_backend("auto", apple_silicon=True, have_mlx=True) == "mlx"
    assert asr.choose_backend("auto", apple_silicon=True, have_mlx=False) == "whisperx"
    assert asr.choose_backend("auto", apple_silicon=False, have_mlx=True) == "whisperx"
    assert asr.choose_backend("whisperx", apple_silicon=True) == "whisperx"
    with pytest.raises(ValueError, match="Apple Silicon"):
        asr.choose_backend("mlx", apple_silicon=False)
    assert asr.is_apple_silicon("Darwin", "arm64") and not asr.is_apple_silicon("Linux", "aarch64")
    assert asr.ASR_BACKENDS["mlx"] is asr.MlxBackend and asr.ASR_BACKENDS["whisperx"] is asr.FasterWhisperBackend
    assert asr.parse_temperatures("0, 0.2,0.4") == (0.0, 0.2, 0.4)
    assert asr.glossary_prompt(["Ravi", "Chennai"]) == ("Glossary: Ravi, Chennai.", "Ravi, Chennai")


def test_the_cpu_decodes_two_batches_at_once_sharing_threads_and_batch_size() -> None:
    def split(chunks: int, **opts) -> tuple[int, int, int]:
        return asr.FasterWhisperBackend(Path("/m"), "m", asr.AsrOptions(**opts)).split(chunks)

    assert split(21, threads=2, batch_size=4) == (2, 1, 2)  # as many chunks in flight as one batch of 4
    assert split(21, threads=8, batch_size=16) == (2, 4, 8)
    assert split(3, threads=3, batch_size=5) == (2, 1, 2)
    assert split(1, threads=2, batch_size=4) == (1, 2, 4)  # one chunk: its encoder pass keeps both threads
    assert split(2, threads=2, batch_size=4) == (2, 1, 1)  # two chunks: one each
    assert split(21, threads=1, batch_size=4) == (1, 1, 4)
    assert split(21, threads=0, batch_size=4) == (1, 0, 4)  # 0: CTranslate2's own thread count, one worker
    assert split(21, threads=2, batch_size=1) == (1, 2, 1)
    assert split(21, threads=8, batch_size=16, device="cuda") == (1, 8, 16)  # a GPU runs one batch at a time


def test_the_workers_batches_decode_at_the_same_time_and_come_back_in_order() -> None:
    """_decode hands each worker its batches (round robin) and runs the workers at once: each
    share waits at a barrier for the other, which a one-after-the-other loop never reaches."""
    import threading

    backend = asr.FasterWhisperBackend(Path("/m"), "m", asr.AsrOptions(threads=2, batch_size=4))
    backend.workers, backend.worker_batch = 2, 2
    both = threading.Barrier(2, timeout=10)
    shares = []

    def decode_share(pieces, spans, language):
        shares.append(list(pieces))
        both.wait()  # BrokenBarrierError after 10 s when the shares run one after the other
        return [[{"text": f"piece {p}"}] for p in pieces]

    backend._decode_share = decode_share
    out = backend._decode(list(range(7)), [(float(i), i + 1.0) for i in range(7)], "en")
    assert sorted(shares) == [[0, 1, 4, 5], [2, 3, 6]]  # batches of 2: 0-1 and 4-5 to one worker, 2-3 and 6 to the other
    assert out == [[{"text": f"piece {i}"}] for i in range(7)]


@pytest.mark.ml
@needs_ml
def test_mlx_settings_with_the_library_mocked() -> None:
    found = in_ml("""
        import os, sys, tempfile, types
        from pathlib import Path
        import numpy as np
        import soundfile as sf
        from shared.speech import asr
        calls = []
        fake = types.ModuleType("mlx_whisper")
        def transcribe(audio, **kw):
            calls.append([len(audio), {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}])
            return {"language": "hi", "segments": [{"start": 0.2, "end": 1.0, "text": " namaste", "avg_logprob": -0.3,
                                                     "no_speech_prob": 0.02, "compression_ratio": 1.1}]}
        fake.transcribe = transcribe
        sys.modules["mlx_whisper"] = fake
        available = asr.mlx_available()
        wav = os.path.join(tempfile.mkdtemp(), "a.wav")
        sf.write(wav, np.zeros(16000 * 10, dtype=np.float32), 16000)
        opts = asr.AsrOptions(language=None, beam_size=5, temperatures=(0.0, 0.4), initial_prompt="Glossary: Ravi.",
                              hotwords="Ravi, Chennai", compute_type="int8")
        backend = asr.MlxBackend(Path("/models/mlx-small"), "mlx-small", opts)
        backend.load()
        out = backend.transcribe(Path(wav), [{"start": 1.0, "end": 3.0}, {"start": 5.0, "end": 6.5}])
        result = {"available": available, "calls": calls, "language": out.language,
                  "probability": out.language_probability,
                  "segments": [[s["start"], s["end"], s["text"]] for s in out.segments],
                  "effective": backend.effective_settings()}
    """)
    assert found["available"] is True
    assert [n for n, _ in found["calls"]] == [32000, 24000]
    first, second = found["calls"][0][1], found["calls"][1][1]
    assert first["language"] is None and second["language"] == "hi"  # detected once, then fixed
    assert first["path_or_hf_repo"] == "/models/mlx-small" and first["task"] == "transcribe"
    assert first["temperature"] == [0.0, 0.4] and first["condition_on_previous_text"] is False
    assert "beam_size" not in first  # mlx-whisper has no beam search
    assert "Ravi, Chennai" in first["initial_prompt"] and "Glossary: Ravi." in first["initial_prompt"]
    assert found["language"] == "hi" and found["probability"] is None
    assert found["segments"] == [[1.2, 2.0, "namaste"], [5.2, 6.0, "namaste"]]
    eff = found["effective"]
    assert eff["beam_size"] is None and eff["device"] == "mlx" and eff["hotwords"] is None


def test_asr_hotwords_come_from_every_glossary_file_whatever_the_target(tmp_path):
    """The spoken source term matters to ASR for every target: the language column names a target."""
    from shared.translation.glossary import glossary_files, hotwords

    (tmp_path / "config").mkdir()
    rows = [["# source", "target", "lang"], ["Ravi", "Ravi"], ["Chennai", "சென்னை", "ta"], ["Dilli", "Delhi", "hi"], [""],
            ["Ravi", "Ravi"]]
    (tmp_path / "config" / "glossary.tsv").write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    film = tmp_path / "Movie (2001).mkv"
    (tmp_path / "Movie (2001).glossary.tsv").write_text("Basanti\tBasanti\n", encoding="utf-8")
    assert hotwords(glossary_files(tmp_path, "", film)) == ["Ravi", "Chennai", "Dilli", "Basanti"]
    assert hotwords(glossary_files(tmp_path, "", None)) == ["Ravi", "Chennai", "Dilli"]
