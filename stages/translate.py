"""translate: aligned.json -> translation.<lang>.json, one target language per run.

    python stages/translate.py JOB/aligned.json -o JOB/translation.ta.json --language ta --job-dir JOB

Words are grouped into sentences (each keeps its word indices and times), each sentence's
language is identified (Hinglish: romanised Hindi is translated as Hindi, an English
sentence with target English is kept), and the sentences go to the backend TRANSLATOR
picks: auto routes an Indic pair to IndicTrans2 and any other to NLLB (CTranslate2 int8
when a converted copy is cached). LLM_POSTEDIT=1 adds an LLM pass that must return one
line per line. Glossary terms (config/glossary.tsv, GLOSSARY, <input>.glossary.tsv) are
protected through translation. Every code, pair and setting is checked before a model
loads: a usage error exits 2 and names the valid choices.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import job, settings  # noqa: E402
from shared.languages import Language, UnknownLanguage, resolve_language  # noqa: E402
from shared.schema import SCHEMA_VERSION, SchemaError, Translation, check_kind  # noqa: E402
from shared.translation.backends.base import TranslateOptions, Translator  # noqa: E402
from shared.translation.backends.llm import LlmSettings  # noqa: E402
from shared.translation.glossary import Glossary, GlossaryError, glossary_files  # noqa: E402
from shared.translation.routing import TRANSLATORS, PairError, choose_backend, model_role  # noqa: E402
from shared.translation.sentences import group_sentences  # noqa: E402

log = logging.getLogger("translate")


def _setting(name: str, fallback: str = "") -> str:
    return settings.get(name) or fallback


def _root() -> Path:
    return Path(os.environ.get("PIPELINE_ROOT") or settings.REPO_ROOT)


def _cache() -> Path:
    configured = os.environ.get("MODEL_CACHE_DIR", "")
    return Path(configured).expanduser() if configured else _root() / ".cache"


def _language(code: str, hint: str) -> Language:
    try:
        return resolve_language(code)
    except UnknownLanguage as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


class ModelLoader:
    """Loads each NMT model once, on first use, from the cache (never from the network)."""

    def __init__(self, options: TranslateOptions, model_override: str, llm: LlmSettings | None, glossary: Glossary):
        from shared import models

        self.models = models
        self.options = options
        self.model_override = model_override
        self.llm = llm
        self.glossary = glossary
        self.root, self.cache = _root(), _cache()
        self.hw_class = models.hardware_class(self.root, {"DEVICE": options.device})
        self.loaded: dict[str, Translator] = {}
        self.engines: dict[str, str] = {}

    def model_id(self, backend: str, src: Language, tgt: Language) -> str:
        if self.model_override:
            spec = self.models.get_spec(self.model_override, self.root)
            if spec.backend == backend:
                return spec.id
        return self.models.default_model(model_role(backend, src, tgt), self.hw_class, self.root)

    def check_cached(self, backend: str, src: Language, tgt: Language) -> str:
        """The model id for the pair, after checking it is cached (ModelNotCached otherwise)."""
        model_id = self.model_id(backend, src, tgt)
        self.models.resolve(model_id, self.cache, self.root)
        return model_id

    def __call__(self, backend: str, src: Language, tgt: Language) -> Translator:
        if backend == "llm":
            if "llm" not in self.loaded:
                from shared.translation.backends.llm import LlmTranslator

                self.loaded["llm"] = LlmTranslator(self.llm, self.glossary.prompt_lines())
            return self.loaded["llm"]
        model_id = self.model_id(backend, src, tgt)
        if model_id not in self.loaded:
            from shared.translation import ct2
            from shared.translation.backends.base import load_nmt

            path = self.models.resolve(model_id, self.cache, self.root)
            converted = ct2.converted_path(self.cache, model_id) if backend == "nllb" and self.options.ct2 != "off" else None
            self.loaded[model_id] = load_nmt(backend, model_id, path, self.options, ct2_path=converted)
            self.engines[model_id] = self.loaded[model_id].engine
        return self.loaded[model_id]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("aligned_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="translation.<lang>.json")
@click.option("--language", "--tgt", "tgt", required=True, help="the one target language (en, ta, hin_Deva, Tamil, ...)")
@click.option("--src", default=lambda: _setting("SRC", "auto"), show_default="SRC",
              help="spoken language; auto: the language aligned.json reports")
@click.option("--translator", default=lambda: _setting("TRANSLATOR", "auto"), show_default="TRANSLATOR",
              type=click.Choice(TRANSLATORS))
@click.option("--postedit/--no-postedit", default=lambda: _setting("LLM_POSTEDIT", "0") in ("1", "true", "yes", "on"),
              show_default="LLM_POSTEDIT", help="LLM pass over the machine translation")
@click.option("--model", "model_override", default=lambda: _setting("TRANSLATE_MODEL"), show_default="TRANSLATE_MODEL",
              help="a model id of config/models.toml (empty: the hardware class default)")
@click.option("--glossary", "glossary_setting", default=lambda: _setting("GLOSSARY"), show_default="GLOSSARY",
              help="an extra glossary TSV (config/glossary.tsv and <input>.glossary.tsv are always read)")
@click.option("--input-file", default=lambda: os.environ.get("FILE", ""), show_default="FILE",
              help="the job's media file, to find <input name>.glossary.tsv beside it")
@click.option("--job-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the job directory: manifest and logs (default: --output's folder)")
@click.option("--device", default=lambda: _setting("DEVICE", "cpu"), show_default="DEVICE")
@click.option("--compute-type", default=lambda: _setting("COMPUTE_TYPE"), show_default="COMPUTE_TYPE")
@click.option("--threads", type=click.IntRange(0, 1024), default=lambda: _setting("THREADS", "0"), show_default="THREADS")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=lambda: _setting("TRANSLATE_BATCH_SIZE", "16"),
              show_default="TRANSLATE_BATCH_SIZE")
@click.option("--max-tokens", type=click.IntRange(8, 4096), default=lambda: _setting("MAX_SENTENCE_TOKENS", "200"),
              show_default="MAX_SENTENCE_TOKENS")
@click.option("--max-words", type=click.IntRange(1, 1000), default=lambda: _setting("MAX_SENTENCE_WORDS", "40"),
              show_default="MAX_SENTENCE_WORDS")
@click.option("--beams", type=click.IntRange(1, 64), default=lambda: _setting("TRANSLATE_BEAMS", "4"), show_default="TRANSLATE_BEAMS")
@click.option("--ct2", type=click.Choice(["auto", "off"]), default=lambda: _setting("TRANSLATE_CT2", "auto"), show_default="TRANSLATE_CT2")
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def main(aligned_json: Path, output: Path, tgt: str, src: str, translator: str, postedit: bool, model_override: str,
         glossary_setting: str, input_file: str, job_dir: Path | None, device: str, compute_type: str, threads: int,
         batch_size: int, max_tokens: int, max_words: int, beams: int, ct2: str, verbose: bool) -> None:
    """Translate the sentences of ALIGNED_JSON into one target language."""
    from shared import models

    job_dir = job_dir or output.parent
    job_dir.mkdir(parents=True, exist_ok=True)
    job.configure_logging("translate", job_dir, verbose)
    target = _language(tgt, "--language")
    try:
        with open(aligned_json, encoding="utf-8") as fh:
            aligned = check_kind(json.load(fh), ("aligned", "transcript"), str(aligned_json))
    except (SchemaError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise click.BadParameter(str(exc), param_hint="ALIGNED_JSON") from None
    if src in ("", "auto"):
        if not aligned.get("language"):
            raise click.BadParameter(f"{aligned_json} names no language; set SRC", param_hint="--src")
        source = _language(str(aligned["language"]), f"--src (the language of {aligned_json.name})")
    else:
        source = _language(src, "--src")

    llm = None
    if translator == "llm" or postedit:
        llm = LlmSettings(
            base_url=_setting("LLM_BASE_URL"), model=_setting("LLM_MODEL"), api_key=_setting("LLM_API_KEY"),
            timeout=float(_setting("LLM_TIMEOUT", "60")), retries=int(_setting("LLM_RETRIES", "2")),
            context_lines=int(_setting("LLM_CONTEXT_LINES", "2")),
        )
        if not llm.base_url or not llm.model:
            what = "TRANSLATOR=llm" if translator == "llm" else "LLM_POSTEDIT=1"
            raise click.UsageError(f"{what} needs LLM_BASE_URL and LLM_MODEL (set them in .env; LLM_API_KEY too if the API wants one)")

    sentences = group_sentences(aligned, max_words=max_words)
    kept_only = source.code == target.code
    backend = "kept"
    if not kept_only:
        try:
            backend = choose_backend(translator, source, target)
        except PairError as exc:
            raise click.BadParameter(str(exc), param_hint="--language/--src/--translator") from None
    try:
        glossary = Glossary.load(glossary_files(_root(), glossary_setting, input_file or None), target)
    except GlossaryError as exc:
        raise click.BadParameter(str(exc), param_hint="GLOSSARY") from None

    options = TranslateOptions(device=device, compute_type=compute_type, batch_size=batch_size, max_tokens=max_tokens,
                               beams=beams, threads=threads, ct2=ct2)
    loader = ModelLoader(options, model_override, llm, glossary)
    model_id = ""
    try:
        if model_override:
            models.get_spec(model_override, loader.root)
        if sentences and backend not in ("kept", "llm"):
            model_id = loader.check_cached(backend, source, target)
    except models.RegistryError as exc:
        raise click.BadParameter(str(exc), param_hint="--model") from None
    except models.ModelNotCached as exc:
        raise click.ClickException(str(exc)) from None

    from shared.translation.backends.llm import LlmClient
    from shared.translation.engine import translate_sentences

    job.remove_stale_temporaries(output)
    parameters = {"source": source.code, "target": target.code, "translator": translator, "backend": backend,
                  "postedit": postedit, "glossary_terms": len(glossary), "batch_size": batch_size, "beams": beams,
                  "max_tokens": max_tokens}
    with job.StageRun("translate", job_dir, [str(aligned_json)], [str(output)], parameters, key=f"translate.{tgt}",
                      packages=("transformers", "torch", "ctranslate2", "IndicTransToolkit"), tools=(),
                      model=model_id or None, device=device) as run:
        try:
            result = translate_sentences(sentences, source, target, "auto" if kept_only else translator, glossary, loader,
                                         LlmClient(llm) if postedit and llm else None)
        except models.ModelNotCached as exc:
            raise click.ClickException(str(exc)) from None
        translation = Translation(
            schema_version=SCHEMA_VERSION, kind="translation", source_language=source.code,
            target_language=target.code, backend=result.backend, model=result.model, sentences=result.sentences,
        )
        run.model = result.model or None
        run.details = {"sentences": len(result.sentences), "methods": result.methods, "engines": loader.engines,
                       "glossary_terms_lost": result.lost_terms, "postedit_fallbacks": result.postedit_fallbacks}
        log.info("%d sentence(s) %s -> %s: %s", len(result.sentences), source.code, target.code,
                 ", ".join(f"{k} {v}" for k, v in sorted(result.methods.items())) or "none")
        job.write_json(output, translation)
        job.test_pause("translate")


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "translate")
