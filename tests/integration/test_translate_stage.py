"""stages/translate.py end to end on a hand-made aligned.json, with tiny models in a real cache.

The NLLB model is a tiny NLLB-architecture M2M100 with a sentencepiece vocabulary trained
in the test; the IndicTrans2 model is a tiny seq2seq STAND-IN (the real checkpoints are
network-only), wrapped by the real IndicProcessor. See tests/integration/tinymodels.py.
The fail-fast tests need no models and run in the test environment itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ML_PYTHON = REPO / ".venvs" / "ml" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAGE = REPO / "stages" / "translate.py"


WORDS = [  # (word, start, end) per segment
    [("मैं", 0.0, 0.2), ("घर", 0.3, 0.5), ("जा", 0.6, 0.7), ("रहा", 0.8, 0.9), ("हूँ।", 1.0, 1.2),
     ("Raju", 1.3, 1.5), ("कहाँ", 1.6, 1.8), ("है?", 1.8, 2.0)],
    [("I", 3.0, 3.1), ("am", 3.2, 3.3), ("going", 3.4, 3.6), ("to", 3.7, 3.8), ("the", 3.9, 4.0), ("office.", 4.1, 5.0)],
    [("yaar", 6.0, 6.2), ("tum", 6.3, 6.5), ("kahan", 6.6, 6.8), ("ho", 6.8, 7.0)],
]


def write_aligned(path: Path, language: str = "hi") -> Path:
    segments = []
    for i, words in enumerate(WORDS):
        segments.append({"id": i, "start": words[0][1], "end": words[-1][2], "text": " ".join(w for w, _, _ in words),
                         "words": [{"word": w, "start": s, "end": e, "score": 0.9, "timed_by": "wav2vec2"} for w, s, e in words]})
    path.write_text(json.dumps({"schema_version": 1, "kind": "aligned", "language": language, "language_probability": 0.9,
                                "backend": "whisperx", "model": "small", "duration": 8.0, "segments": segments,
                                "removed": []}, ensure_ascii=False), encoding="utf-8")
    return path


def stage_env(cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "TRANSLATE", "MAX_SENTENCE"))}
    env.update(MODEL_CACHE_DIR=str(cache), HF_HOME=str(cache / "huggingface"), HF_HUB_OFFLINE="1",
               MODELS_TOML=str(cache / "models.toml"), TRANSLATE_BEAMS="1", MAX_SENTENCE_TOKENS="16", DEVICE="cpu",
               TRANSLATOR="auto", LLM_POSTEDIT="0", SRC="auto", GLOSSARY="", FILE="", PYTHONPATH=str(REPO))
    env.update(extra)
    return env


def run_stage(python: Path, job: Path, lang: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(python), str(STAGE), str(job / "aligned.json"), "-o", str(job / f"translation.{lang}.json"),
                           "--language", lang, "--job-dir", str(job), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory):
    if not ML_PYTHON.exists():
        pytest.skip("the ml environment is not built")
    cache = tmp_path_factory.mktemp("model cache")  # a space, to catch quoting bugs
    proc = subprocess.run([str(ML_PYTHON), str(REPO / "tests" / "integration" / "tinymodels.py"), str(cache)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cache


@pytest.fixture
def job(tmp_path):
    folder = tmp_path / "job dir"
    folder.mkdir()
    write_aligned(folder / "aligned.json")
    return folder


# ---- fail fast: before any model loads (no ml environment needed) ----------------------
def _fast(job: Path, lang: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    cache = job / "empty cache"
    cache.mkdir(exist_ok=True)
    environment = stage_env(cache, **env)
    environment.pop("MODELS_TOML")
    return run_stage(Path(sys.executable), job, lang, environment, *args)


@pytest.mark.parametrize("lang,args,message", [
    ("xx", (), "unknown language 'xx'"),
    ("hindu", (), "did you mean: hindi (hin_Deva)"),
    ("fr", ("--translator", "indictrans2"), "indictrans2 cannot translate hin_Deva (Hindi) -> fra_Latn (French)"),
    ("fr", ("--src", "mni_Mtei"), "no backend translates mni_Mtei"),
    ("en", ("--src", "qq"), "unknown language 'qq'"),
    ("en", ("--translator", "google"), "'google' is not one of 'auto', 'indictrans2', 'nllb', 'llm'"),
])
def test_bad_codes_and_pairs_exit_2_before_loading(job, lang, args, message):
    proc = _fast(job, lang, *args)
    assert proc.returncode == 2, proc.stderr
    assert message in " ".join(proc.stderr.split())
    assert "through transformers" not in proc.stderr
    assert not (job / f"translation.{lang}.json").exists()


def test_llm_without_an_endpoint_is_a_usage_error(job):
    proc = _fast(job, "en", "--translator", "llm", LLM_BASE_URL="", LLM_MODEL="")
    assert proc.returncode == 2
    assert "needs LLM_BASE_URL and LLM_MODEL" in proc.stderr


def test_missing_model_names_the_cache_models_flag(job):
    proc = _fast(job, "fr")
    assert proc.returncode == 3, proc.stderr  # shared.outcome.MISSING: a model is missing, not a bad input
    assert "is not cached: run ./cache-models.sh --nllb" in proc.stderr


# ---- the real paths with tiny models ------------------------------------------------------
def _read(job: Path, lang: str) -> dict:
    return json.loads((job / f"translation.{lang}.json").read_text(encoding="utf-8"))


def _check_mapping(data: dict) -> None:
    flat = [w for seg in WORDS for w in seg]
    covered = [i for s in data["sentences"] for i in s["words"]]
    assert covered == list(range(len(flat)))  # every word in exactly one sentence, in order
    for s in data["sentences"]:
        assert (s["start"], s["end"]) == (flat[s["words"][0]][1], flat[s["words"][-1]][2])
        assert s["source"] == " ".join(flat[i][0] for i in s["words"])




@pytest.mark.ml
@pytest.mark.slow
def test_nllb_stage_writes_the_translation(tiny_cache, job):
    proc = run_stage(ML_PYTHON, job, "fr", stage_env(tiny_cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = _read(job, "fr")
    assert (data["kind"], data["schema_version"], data["source_language"], data["target_language"]) == (
        "translation", 1, "hin_Deva", "fra_Latn")
    assert (data["backend"], data["model"]) == ("nllb", "tiny-nllb")
    assert [s["source_language"] for s in data["sentences"]] == ["hin_Deva", "hin_Deva", "eng_Latn", "hin_Latn"]
    assert all(s["method"] == "nllb" and not s["kept"] and s["text"] for s in data["sentences"])
    _check_mapping(data)
    manifest = json.loads((job / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["stages"]["translate.fr"]
    assert entry["details"]["engines"] == {"tiny-nllb": "transformers"}
    assert "nllb: tiny-nllb through transformers" in proc.stderr


NLLB_CHECK = r"""
import json, sys
from pathlib import Path
from shared import models
from shared.languages import resolve_language as L
from shared.translation import ct2
from shared.translation.backends.base import TranslateOptions
from shared.translation.backends.nllb import NllbTranslator
cache, root = Path(sys.argv[1]), Path(sys.argv[2])
path = models.resolve("tiny-nllb", cache, root)
opts = TranslateOptions(beams=1, max_tokens=12, batch_size=3)
hf = NllbTranslator("tiny-nllb", path, opts)
texts = ["मैं अब घर जा रहा हूँ।", "Where are you going?", "Merci beaucoup, mon ami.", "हम कल सुबह मिलेंगे।"]
out = {}
for tgt in ("fra_Latn", "tam_Taml"):
    out["hf_" + tgt] = hf.translate(texts, L("hin_Deva"), L(tgt))
# the target language is forced as the first generated token
hf.tokenizer.src_lang = "hin_Deva"
enc = hf.tokenizer(texts[:1], return_tensors="pt")
gen = hf.model.generate(**enc, forced_bos_token_id=hf.tokenizer.convert_tokens_to_ids("deu_Latn"), num_beams=1, max_new_tokens=5)
out["first_tokens"] = hf.tokenizer.convert_ids_to_tokens(gen[0][:2].tolist())
out["source_tokens"] = hf.tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
target = ct2.convert("tiny-nllb", cache, root, quantization="float32")
out["marker"] = ct2.converted_path(cache, "tiny-nllb", "float32") is not None
fast = NllbTranslator("tiny-nllb", path, TranslateOptions(beams=1, max_tokens=12, batch_size=3, compute_type="float32"), ct2_path=target)
for tgt in ("fra_Latn", "tam_Taml"):
    out["ct2_" + tgt] = fast.translate(texts, L("hin_Deva"), L(tgt))
out["engine"] = fast.engine
print(json.dumps(out, ensure_ascii=False))
"""


@pytest.mark.ml
@pytest.mark.slow
def test_ctranslate2_gives_the_same_greedy_output_as_transformers(tiny_cache):
    env = stage_env(tiny_cache)
    proc = subprocess.run([str(ML_PYTHON), "-c", NLLB_CHECK, str(tiny_cache), str(REPO)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["first_tokens"] == ["</s>", "deu_Latn"]  # decoder start, then the forced language
    assert out["source_tokens"][0] == "hin_Deva" and out["source_tokens"][-1] == "</s>"
    assert out["marker"] and out["engine"] == "ctranslate2"
    for tgt in ("fra_Latn", "tam_Taml"):
        assert all(out["hf_" + tgt]), out
        assert out["ct2_" + tgt] == out["hf_" + tgt]
    assert out["hf_fra_Latn"] != out["hf_tam_Taml"]  # the target token steers generation


@pytest.mark.ml
@pytest.mark.slow
def test_stage_uses_the_int8_ctranslate2_copy_when_cached(tiny_cache, job):
    # the user's way: cache-models.sh --ct2 converts every cached NLLB model in the ml environment
    convert = subprocess.run([str(REPO / "cache-models.sh"), "--ct2", "--cache-dir", str(tiny_cache)],
                             cwd=REPO, env=stage_env(tiny_cache), capture_output=True, text=True, timeout=600, check=False)
    assert convert.returncode == 0, convert.stderr[-3000:]
    assert "converting to CTranslate2 int8: tiny-nllb" in convert.stderr
    assert (tiny_cache / "ct2" / "tiny-nllb-int8" / ".complete").is_file()
    proc = run_stage(ML_PYTHON, job, "de", stage_env(tiny_cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "through CTranslate2 (cpu, int8)" in proc.stderr
    entry = json.loads((job / "manifest.json").read_text(encoding="utf-8"))["stages"]["translate.de"]
    assert entry["details"]["engines"] == {"tiny-nllb": "ctranslate2"}
    off = run_stage(ML_PYTHON, job, "de", stage_env(tiny_cache, TRANSLATE_CT2="off"))
    assert "through transformers" in off.stderr


@pytest.mark.ml
@pytest.mark.slow
def test_indictrans2_path_keeps_english_and_uses_indicprocessor(tiny_cache, job):
    glossary = job / "film.glossary.tsv"
    glossary.write_text("Raju\tRaju\n", encoding="utf-8")
    proc = run_stage(ML_PYTHON, job, "en", stage_env(tiny_cache, FILE=str(job / "film.mkv")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = _read(job, "en")
    assert (data["backend"], data["model"], data["target_language"]) == ("indictrans2", "tiny-indictrans2", "eng_Latn")
    kept = [s for s in data["sentences"] if s["kept"]]
    assert [(s["source"], s["text"], s["method"]) for s in kept] == [("I am going to the office.", "I am going to the office.", "kept")]
    assert [s["method"] for s in data["sentences"]] == ["indictrans2", "indictrans2", "kept", "indictrans2"]
    _check_mapping(data)
    assert "glossary: 1 term(s)" in proc.stderr
    # into Tamil: IndicProcessor transliterates the model's Devanagari-script output to Tamil
    proc = run_stage(ML_PYTHON, job, "ta", stage_env(tiny_cache))
    assert proc.returncode == 0, proc.stderr[-3000:]
    texts = [s["text"] for s in _read(job, "ta")["sentences"]]
    assert all(texts)
    tamil = sum("\u0b80" <= ch <= "\u0bff" for t in texts for ch in t)
    # the dandas (U+0964/5) are shared punctuation of Indic scripts: they stay, whatever the script
    devanagari = sum("\u0900" <= ch <= "\u097f" and ch not in "\u0964\u0965" for t in texts for ch in t)
    # (a sign with no Tamil counterpart may stay Devanagari; the script as a whole is Tamil)
    assert tamil > 0 and devanagari < tamil, texts


IT2_CHECK = r"""
import json, sys
from pathlib import Path
from shared import models
from shared.languages import resolve_language as L
from shared.translation.backends.base import TranslateOptions
from shared.translation.backends.indictrans2 import IndicTrans2Translator
cache, root = Path(sys.argv[1]), Path(sys.argv[2])
t = IndicTrans2Translator("tiny-indictrans2", models.resolve("tiny-indictrans2", cache, root), TranslateOptions(beams=1, max_tokens=8))
seen = []
real = t.processor
class Recording:
    def preprocess_batch(self, batch, src_lang, tgt_lang):
        out = real.preprocess_batch(batch, src_lang=src_lang, tgt_lang=tgt_lang)
        seen.append(out)
        return out
    def postprocess_batch(self, sents, lang):
        return real.postprocess_batch(sents, lang=lang)
t.processor = Recording()
out = t.translate(["मैं १२.३४५ रुपये दूँगा", "<ID101> घर गया"], L("hin_Deva"), L("eng_Latn"))
print(json.dumps({"pre": seen, "out": out}, ensure_ascii=False))
"""


@pytest.mark.ml
@pytest.mark.slow
def test_indicprocessor_prefixes_tags_and_normalises_digits(tiny_cache):
    proc = subprocess.run([str(ML_PYTHON), "-c", IT2_CHECK, str(tiny_cache), str(REPO)], cwd=REPO,
                          env=stage_env(tiny_cache), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    first, second = result["pre"][0]  # (length-sorted batch: the longer sentence first)
    assert first.startswith("hin_Deva eng_Latn ")
    assert "<ID1>" in first.replace(" ", "") and "12.345" not in first and "१" not in first  # IndicProcessor's own numeral placeholder
    assert second.startswith("hin_Deva eng_Latn ") and "ID101" in second.replace(" ", "")
    assert len(result["out"]) == 2
