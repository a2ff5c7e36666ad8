"""ALIGN=wav2vec2 through WhisperX's real alignment code with a tiny CTC model built here.

The model (transformers Wav2Vec2ForCTC, a few small layers, a character vocabulary) is
saved with save_pretrained into the Hugging Face cache layout with the manifest
cache-models.sh writes, and registered for English in a test registry (MODELS_TOML), so
the stage resolves it exactly as it would a downloaded aligner.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.helpers import model_cache
from tests.integration.test_speech_stages import ML_PYTHON, REPO, run_stage, stage_env

pytestmark = [pytest.mark.ml, pytest.mark.slow,
              pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built")]

REPO_ID = "tests/tiny-wav2vec2-en"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
BUILD = r'''
import json, sys
from pathlib import Path
from transformers import (Wav2Vec2Config, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC,
                          Wav2Vec2Processor)
import torch
out = Path(sys.argv[1]); out.mkdir(parents=True)
vocab = {"<pad>": 0, "<unk>": 1, "|": 2, "'": 3}
for c in "abcdefghijklmnopqrstuvwxyz":
    vocab[c] = len(vocab)
(out / "vocab.json").write_text(json.dumps(vocab))
tokenizer = Wav2Vec2CTCTokenizer(str(out / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|")
extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                                     return_attention_mask=False)
Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)
torch.manual_seed(0)
config = Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, conv_dim=(32, 32, 32), conv_stride=(5, 4, 16), conv_kernel=(10, 8, 16),
                        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, pad_token_id=0)
Wav2Vec2ForCTC(config).save_pretrained(out)
'''


def seed_aligner(cache: Path, tmp: Path) -> Path:
    snapshot = model_cache.snapshot_dir(cache, REPO_ID, COMMIT)
    subprocess.run([str(ML_PYTHON), "-c", BUILD, str(snapshot)], check=True, timeout=300)
    model_cache.mark_cached(cache, "align-en", REPO_ID, COMMIT)
    registry = (REPO / "config" / "models.toml").read_text(encoding="utf-8")
    block = re.search(r'\[\[models\]\]\nid = "align-en"\n.*?(?=\n\[\[models\]\])', registry, re.S)
    assert block, "config/models.toml has no align-en entry"
    replacement = (f'[[models]]\nid = "align-en"\ndescription = "tiny test aligner"\nstage = "align"\n'
                   f'backend = "transformers"\ngroup = "align"\nsource = "hf"\nrepo = "{REPO_ID}"\nrevision = "{COMMIT}"\n'
                   'size_mb = 1\nlicence = "mit"\ngated = false\nplatforms = ["all"]\nlanguages = ["en"]\n')
    toml = tmp / "models.toml"
    toml.write_text(registry.replace(block.group(0), replacement), encoding="utf-8")
    return toml


def test_wav2vec2_alignment_times_every_word(tmp_path):
    cache = tmp_path / "cache"
    toml = seed_aligner(cache, tmp_path)
    env = stage_env(cache, MODELS_TOML=str(toml))
    import wave

    import speech_media  # bench/, put on sys.path by test_speech_stages

    wav = tmp_path / "audio.wav"
    speech_media.build_speech(wav, 12.0)
    with wave.open(str(wav)) as fh:
        duration = fh.getnframes() / fh.getframerate()
    text = "The weather was cold and clear on the morning of the trip, at 7:30 AM."
    transcript = {"schema_version": 1, "kind": "transcript", "language": "en", "language_probability": 1.0,
                  "backend": "whisperx", "model": "tiny.en-bundled", "duration": duration, "removed": [],
                  "segments": [{"id": 0, "start": 0.9, "end": 4.5, "text": text, "language": "en",
                                "avg_logprob": -0.2, "no_speech_prob": 0.01, "compression_ratio": 1.2}]}
    (tmp_path / "transcript.json").write_text(json.dumps(transcript))
    proc = run_stage("align", [str(tmp_path / "transcript.json"), str(wav), "-o", str(tmp_path / "aligned.json")], env)
    aligned = json.loads((tmp_path / "aligned.json").read_text())
    seg = aligned["segments"][0]
    assert seg["align_method"] == "wav2vec2", proc.stderr
    words = seg["words"]
    assert [w["word"] for w in words] == text.split()
    for w in words:
        assert w["start"] is not None and w["end"] is not None and w["start"] <= w["end"]
        assert 0.0 <= w["score"] <= 1.0
    by = {w["timed_by"] for w in words}
    assert "wav2vec2" in by, proc.stderr  # the CTC path placed words itself
    assert words == sorted(words, key=lambda w: w["start"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["stages"]["align"]["model"] == "align-en"
