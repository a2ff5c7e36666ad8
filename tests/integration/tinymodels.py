"""Tiny translation models built on the spot, saved in the real Hugging Face cache layout.

Run in the ml environment (``python tests/integration/tinymodels.py CACHE``); it writes

    CACHE/huggingface/hub/models--test-org--tiny-nllb/{snapshots/<rev>/,refs/main}
    CACHE/huggingface/hub/models--test-org--tiny-indictrans2/{snapshots/<rev>/,refs/main}
    CACHE/manifests/<id>.json      (what cache-models.sh writes when a model is complete)
    CACHE/models.toml              a registry naming them, for MODELS_TOML

- ``tiny-nllb``: the NLLB architecture (M2M100ForConditionalGeneration, 2+2 layers,
  d_model 32) with transformers' NllbTokenizer over a sentencepiece model trained here on
  a few sentences, so it carries all 202 FLORES-200 language tokens.
- ``tiny-indictrans2``: a STAND-IN for IndicTrans2, whose real checkpoints are on the hub
  only (gated) and cannot be fetched by the tests. It is a tiny M2M100 seq2seq with a
  tokenizer that, like IndicTrans2's, reads the ``<src_tag> <tgt_tag>`` prefix that
  IndicProcessor writes; the IndicProcessor around it is the real one.

Weights are random (seeded): outputs are deterministic nonsense, which is enough to run
the real loading, tokenising, generation, CTranslate2 and post-processing paths.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a script in the ml environment: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers import model_cache

REVISION = "0123456789abcdef0123456789abcdef01234567"
NLLB_REPO = "test-org/tiny-nllb"
IT2_REPO = "test-org/tiny-indictrans2"
IT2_TAGS = ["asm_Beng", "ben_Beng", "brx_Deva", "doi_Deva", "gom_Deva", "guj_Gujr", "hin_Deva", "kan_Knda", "kas_Arab", "kas_Deva", "mai_Deva", "mal_Mlym", "mar_Deva", "mni_Beng", "mni_Mtei", "npi_Deva", "ory_Orya", "pan_Guru", "san_Deva", "sat_Olck", "snd_Arab", "snd_Deva", "tam_Taml", "tel_Telu", "urd_Arab", "eng_Latn"]

CORPUS = [
    "I am going home now.", "Where are you going?", "The film starts at nine.", "My brother is a good man.",
    "Thank you very much, my friend.", "We will meet tomorrow morning.", "Do not be afraid of the dark.",
    "मैं अब घर जा रहा हूँ।", "तुम कहाँ जा रहे हो?", "फ़िल्म नौ बजे शुरू होती है।", "मेरा भाई अच्छा आदमी है।",
    "बहुत बहुत धन्यवाद, मेरे दोस्त।", "हम कल सुबह मिलेंगे।", "अंधेरे से मत डरो।", "यार तुम कहाँ हो?",
    "நான் இப்போது வீட்டுக்கு போகிறேன்.", "நீ எங்கே போகிறாய்?", "Je rentre à la maison maintenant.",
    "Où vas-tu ?", "Le film commence à neuf heures.", "Merci beaucoup, mon ami.",
]


def snapshot_dir(cache: Path, repo: str) -> Path:
    return model_cache.snapshot_dir(cache, repo, REVISION)


def _finish(cache: Path, model_id: str, repo: str) -> Path:
    """refs/main and the completion manifest, as cache-models.sh leaves a finished model."""
    return model_cache.mark_cached(cache, model_id, repo, REVISION)


def _tiny_m2m100(vocab_size: int, pad: int, bos: int, eos: int):
    import torch
    from transformers import M2M100Config, M2M100ForConditionalGeneration

    torch.manual_seed(0)
    config = M2M100Config(
        vocab_size=vocab_size, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=256,
        pad_token_id=pad, bos_token_id=bos, eos_token_id=eos, decoder_start_token_id=eos, scale_embedding=True,
        dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    )
    return M2M100ForConditionalGeneration(config).eval()


def build_tiny_nllb(cache: Path) -> Path:
    import sentencepiece as spm
    from transformers import NllbTokenizer

    snap = snapshot_dir(cache, NLLB_REPO)
    snap.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        corpus.write_text("\n".join(CORPUS * 3) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(corpus), model_prefix=str(Path(tmp) / "spm"), vocab_size=200, model_type="unigram",
            character_coverage=1.0, hard_vocab_limit=False, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            minloglevel=2,
        )
        tokenizer = NllbTokenizer(vocab_file=str(Path(tmp) / "spm.model"))
        tokenizer.save_pretrained(str(snap))
    model = _tiny_m2m100(len(tokenizer), tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    model.save_pretrained(str(snap))
    return _finish(cache, "tiny-nllb", NLLB_REPO)


def build_tiny_indictrans2(cache: Path) -> Path:
    """The stand-in for IndicTrans2 (see the module docstring): tokenizer + tiny M2M100."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    snap = snapshot_dir(cache, IT2_REPO)
    snap.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", *IT2_TAGS]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=300, special_tokens=specials, unk_token="<unk>")
    tok.train_from_iterator(CORPUS * 3, trainer=trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    from tokenizers import decoders

    tok.decoder = decoders.Metaspace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", additional_special_tokens=list(IT2_TAGS))
    fast.save_pretrained(str(snap))
    model = _tiny_m2m100(len(fast), fast.pad_token_id, fast.bos_token_id, fast.eos_token_id)
    model.save_pretrained(str(snap))
    return _finish(cache, "tiny-indictrans2", IT2_REPO)


def write_registry(cache: Path) -> Path:
    """A models.toml naming the tiny models as the cpu defaults (point MODELS_TOML at it)."""
    path = cache / "models.toml"
    path.write_text(f"""\
[defaults.cpu]
indictrans2 = {{ indic-en = "tiny-indictrans2", en-indic = "tiny-indictrans2", indic-indic = "tiny-indictrans2" }}
nllb = "tiny-nllb"

[[models]]
id = "tiny-nllb"
stage = "translate"
backend = "nllb"
group = "nllb"
source = "hf"
repo = "{NLLB_REPO}"
revision = "{REVISION}"

[[models]]
id = "tiny-indictrans2"
stage = "translate"
backend = "indictrans2"
group = "indictrans2"
source = "hf"
repo = "{IT2_REPO}"
revision = "{REVISION}"
languages = ["indic->en", "en->indic", "indic->indic"]
""", encoding="utf-8")
    return path


def build_all(cache: Path) -> Path:
    build_tiny_nllb(cache)
    build_tiny_indictrans2(cache)
    return write_registry(cache)


if __name__ == "__main__":
    print(build_all(Path(sys.argv[1])))
