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

import logging
import os
import sys
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job, job_manifest, policy, settings
from shared import stage as skeleton
from shared.languages import Language, UnknownLanguage, resolve_language
from shared.schema import SCHEMA_VERSION, Translation
from shared.translation.backends.base import TranslateOptions
from shared.translation.backends.llm import LlmSettings
from shared.translation.glossary import Glossary, GlossaryError, glossary_files
from shared.translation.loader import ModelLoader
from shared.translation.routing import PairError, choose_backend
from shared.translation.sentences import group_sentences

log = logging.getLogger("translate")


_setting = skeleton.setting


def _root() -> Path:
    return Path(os.environ.get("PIPELINE_ROOT") or settings.REPO_ROOT)


def _cache() -> Path:
    return policy.cache_root(root=_root())


def _language(code: str, hint: str) -> Language:
    try:
        return resolve_language(code)
    except UnknownLanguage as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("aligned_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="translation.<lang>.json")
@click.option("--language", "--tgt", "tgt", required=True, help="the one target language (en, ta, hin_Deva, Tamil, ...)")
@click.option("--src", default=lambda: _setting("SRC"), show_default="SRC",
              help="spoken language; auto: the language aligned.json reports")
@click.option("--translator", default=lambda: _setting("TRANSLATOR"), show_default="TRANSLATOR",
              type=skeleton.choice_of("TRANSLATOR"))
@click.option("--postedit/--no-postedit", default=lambda: job.is_on(_setting("LLM_POSTEDIT")),
              show_default="LLM_POSTEDIT", help="LLM pass over the machine translation")
@click.option("--model", "model_override", default=lambda: _setting("TRANSLATE_MODEL"), show_default="TRANSLATE_MODEL",
              help="a model id of config/models.toml (empty: the hardware class default)")
@click.option("--glossary", "glossary_setting", default=lambda: _setting("GLOSSARY"), show_default="GLOSSARY",
              help="an extra glossary TSV (config/glossary.tsv and <input>.glossary.tsv are always read)")
@click.option("--input-file", default=lambda: os.environ.get("FILE", ""), show_default="FILE",
              help="the job's media file, to find <input name>.glossary.tsv beside it")
@click.option("--device", default=lambda: _setting("DEVICE"), show_default="DEVICE")
@click.option("--compute-type", default=lambda: _setting("COMPUTE_TYPE"), show_default="COMPUTE_TYPE")
@click.option("--threads", type=click.IntRange(0, 1024), default=lambda: _setting("THREADS"), show_default="THREADS")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=lambda: _setting("TRANSLATE_BATCH_SIZE"),
              show_default="TRANSLATE_BATCH_SIZE")
@click.option("--max-tokens", type=click.IntRange(8, 4096), default=lambda: _setting("MAX_SENTENCE_TOKENS"),
              show_default="MAX_SENTENCE_TOKENS")
@click.option("--max-words", type=click.IntRange(1, 1000), default=lambda: _setting("MAX_SENTENCE_WORDS"),
              show_default="MAX_SENTENCE_WORDS")
@click.option("--beams", type=click.IntRange(1, 64), default=lambda: _setting("TRANSLATE_BEAMS"), show_default="TRANSLATE_BEAMS")
@click.option("--ct2", type=skeleton.choice_of("TRANSLATE_CT2"), default=lambda: _setting("TRANSLATE_CT2"), show_default="TRANSLATE_CT2")
@skeleton.common_options("--output's folder")
def main(aligned_json: Path, output: Path, tgt: str, src: str, translator: str, postedit: bool, model_override: str,
         glossary_setting: str, input_file: str, job_dir: Path | None, device: str, compute_type: str, threads: int,
         batch_size: int, max_tokens: int, max_words: int, beams: int, ct2: str, verbose: bool) -> None:
    """Translate the sentences of ALIGNED_JSON into one target language."""
    from shared import models

    job_dir = skeleton.start("translate", job_dir, output.parent, verbose)
    target = _language(tgt, "--language")
    aligned = skeleton.read_input(aligned_json, ("aligned", "transcript"), "ALIGNED_JSON")
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
            timeout=float(_setting("LLM_TIMEOUT")), retries=int(_setting("LLM_RETRIES")),
            context_lines=int(_setting("LLM_CONTEXT_LINES")),
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
    loader = ModelLoader(options, model_override, llm, glossary, _root(), _cache())
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

    skeleton.clean_stale(output)
    parameters = {"source": source.code, "target": target.code, "translator": translator, "backend": backend,
                  "postedit": postedit, "glossary_terms": len(glossary), "batch_size": batch_size, "beams": beams,
                  "max_tokens": max_tokens}
    with job_manifest.StageRun("translate", job_dir, [str(aligned_json)], [str(output)], parameters, key=f"translate.{tgt}",
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
        atomic.write_json(output, translation)
        skeleton.test_pause("translate")


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "translate", own_process=True)
