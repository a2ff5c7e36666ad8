"""asr: vocals.wav + speech.json -> transcript.json (segments, language, scores, removals).

    python stages/asr.py JOB/vocals.wav JOB/speech.json -o JOB/transcript.json --job-dir JOB

Decodes the VAD stage's chunks (no second VAD pass) with the backend of ASR_BACKEND
(auto: mlx-whisper on Apple Silicon, else faster-whisper batched) and the model of
ASR_MODEL (empty: the hardware class's default from config/models.toml). SRC=auto detects
the language on the first speech and records its probability. The glossary's source
terms become the initial prompt and hotwords. Hallucination guards then remove text
outside VAD speech, repetition loops and low-confidence stock phrases; every removal is
listed in transcript.json ("removed"), the log and the manifest.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job_manifest, languages, model_integrity, settings
from shared import stage as skeleton
from shared.schema import SCHEMA_VERSION, SchemaError, TranscriptFile, check_kind
from shared.speech import asr as asr_mod
from shared.speech import guards
from shared.speech import stage as speech_stage
from shared.translation import glossary as glossary_mod


def job_input_file(job_dir: Path) -> str | None:
    """The job's input media (for its <name>.glossary.tsv): FILE, else media.json's source."""
    if settings.get("FILE"):
        return settings.get("FILE")
    try:
        return str(speech_stage.read_json(job_dir / "media.json").get("source") or "") or None
    except (OSError, ValueError):
        return None


def _optional_float(text: str, name: str) -> float | None:
    text = (text or "").strip()
    if not text or text.lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a number", param_hint=name) from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("audio", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("speech_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="transcript.json")
@click.option("--backend", default=skeleton.default_from("ASR_BACKEND"), show_default="ASR_BACKEND",
              type=skeleton.choice_of("ASR_BACKEND"))
@click.option("--model", "model_setting", default=skeleton.default_from("ASR_MODEL"), show_default="ASR_MODEL",
              help="model id of config/models.toml (empty: the hardware class default)")
@click.option("--language", default=skeleton.default_from("SRC"), show_default="SRC", help="auto or a language code")
@click.option("--task", default=skeleton.default_from("ASR_TASK"), show_default="ASR_TASK",
              type=skeleton.choice_of("ASR_TASK"))
@click.option("--beam-size", type=click.IntRange(1, 20), default=skeleton.default_from("ASR_BEAM_SIZE"), show_default="ASR_BEAM_SIZE")
@click.option("--temperatures", default=skeleton.default_from("ASR_TEMPERATURES"), show_default="ASR_TEMPERATURES")
@click.option("--compression-ratio-threshold", default=skeleton.default_from("ASR_COMPRESSION_RATIO_THRESHOLD"),
              show_default="ASR_COMPRESSION_RATIO_THRESHOLD")
@click.option("--logprob-threshold", default=skeleton.default_from("ASR_LOGPROB_THRESHOLD"), show_default="ASR_LOGPROB_THRESHOLD")
@click.option("--no-speech-threshold", default=skeleton.default_from("ASR_NO_SPEECH_THRESHOLD"), show_default="ASR_NO_SPEECH_THRESHOLD")
@click.option("--script-prompt", default=skeleton.default_from("ASR_SCRIPT_PROMPT"), show_default="ASR_SCRIPT_PROMPT",
              type=skeleton.choice_of("ASR_SCRIPT_PROMPT"), help="auto: a phrase in the language's own script steers Whisper to it")
@click.option("--glossary", default=skeleton.default_from("GLOSSARY"), show_default="GLOSSARY", help="TSV: source term, target term, language")
@click.option("--device", default=skeleton.default_from("DEVICE"), show_default="DEVICE")
@click.option("--compute-type", default=skeleton.default_from("COMPUTE_TYPE"), show_default="COMPUTE_TYPE")
@click.option("--batch-size", type=click.IntRange(1, 256), default=skeleton.default_from("BATCH_SIZE"), show_default="BATCH_SIZE")
@click.option("--threads", type=click.IntRange(0, 1024), default=skeleton.default_from("THREADS"), show_default="THREADS")
@skeleton.common_options("--output's folder")
def main(audio: Path, speech_json: Path, output: Path, job_dir: Path | None, backend: str, model_setting: str,
         language: str, task: str, beam_size: int, temperatures: str, compression_ratio_threshold: str,
         logprob_threshold: str, no_speech_threshold: str, script_prompt: str, glossary: str, device: str, compute_type: str,
         batch_size: int, threads: int, verbose: bool) -> None:
    """Transcribe the speech chunks of SPEECH_JSON from AUDIO."""
    from shared import models, policy

    job_dir = skeleton.start("asr", job_dir, output.parent, verbose)
    speech_stage.quiet_libraries()
    log = speech_stage.logging.getLogger("asr")

    try:
        speech = check_kind(speech_stage.read_json(speech_json), "speech", str(speech_json))
    except (SchemaError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="SPEECH_JSON") from None
    meta = skeleton.check_audio(audio)
    lang = models.whisper_language(language)
    lang = None if lang in ("", "auto") else lang
    try:  # the same glossary files the translate stage reads: config/, GLOSSARY, <input>.glossary.tsv
        terms = glossary_mod.hotwords(glossary_mod.glossary_files(speech_stage.repo_root(), glossary,
                                                                  job_input_file(job_dir)))
    except glossary_mod.GlossaryError as exc:
        raise click.BadParameter(str(exc), param_hint="GLOSSARY") from None
    prompt, hotwords = asr_mod.glossary_prompt(terms)
    script_phrase = languages.script_prompt(lang) if lang and script_prompt == "auto" else None
    if script_phrase:  # the script first: Whisper reads the prompt as the text before the speech
        prompt = f"{script_phrase} {prompt}" if prompt else script_phrase
    try:
        opts = asr_mod.AsrOptions(
            language=lang, task=task, beam_size=beam_size, temperatures=asr_mod.parse_temperatures(temperatures),
            compression_ratio_threshold=_optional_float(compression_ratio_threshold, "ASR_COMPRESSION_RATIO_THRESHOLD"),
            log_prob_threshold=_optional_float(logprob_threshold, "ASR_LOGPROB_THRESHOLD"),
            no_speech_threshold=_optional_float(no_speech_threshold, "ASR_NO_SPEECH_THRESHOLD"),
            initial_prompt=prompt, hotwords=hotwords, batch_size=batch_size, device=device or "cpu",
            compute_type=compute_type or "int8", threads=threads,
            word_timestamps=asr_mod.wants_word_timestamps(settings.get("ALIGN")))
        name = asr_mod.choose_backend(backend)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ASR settings") from None

    root = speech_stage.repo_root()
    hw_class = policy.hardware_class(root, {"DEVICE": device})
    from shared import selection

    try:
        model_id, model_path, why = asr_mod.select_model(model_setting, name, hw_class, speech_stage.cache_dir(), root,
                                                         lang)
    except models.ModelNotCached as exc:
        raise click.ClickException(str(exc)) from exc
    except selection.AsrModelProblem as exc:
        raise click.ClickException(str(exc)) from exc
    except models.RegistryError as exc:
        raise click.BadParameter(str(exc), param_hint="ASR_MODEL") from None
    spec = models.get_spec(model_id, root)
    decoder = asr_mod.ASR_BACKENDS[name](model_path, model_id, opts)
    chunks = speech["chunks"]
    regions = [(r["start"], r["end"]) for r in speech["regions"]]

    atomic.remove_stale_temporaries(output)
    parameters = {"backend": name, "model": model_id, "model_choice": why, **decoder.effective_settings(),
                  "glossary": glossary or None, "glossary_terms": len(terms), "script_prompt": script_phrase}
    with job_manifest.StageRun("asr", job_dir, [str(audio), str(speech_json)], [str(output)], parameters,
                      packages=("faster-whisper", "ctranslate2", "mlx-whisper"), tools=(), model=model_id,
                      device=parameters["device"]) as run:
        run.audio_seconds = meta.duration
        if chunks:
            with model_integrity.loading(model_id, model_path):
                decoder.load(len(chunks))
        result = decoder.transcribe(audio, chunks)
        if result.language == "und" and len(spec.languages) == 1 and spec.languages[0] != "*":
            result.language = spec.languages[0]  # no speech to detect on; the model knows one language
        refusal = None if lang else selection.detected_language_problem(model_id, result.language,
                                                                        result.language_probability, root, hw_class)
        if refusal:
            raise click.ClickException(refusal) from selection.AsrModelProblem(refusal)  # nothing written: the stage fails before its output
        probability = f" (probability {result.language_probability:.2f})" if result.language_probability is not None else ""
        one_language = len(spec.languages) == 1 and spec.languages[0] != "*"  # nothing to detect: said in `why`
        log.info("language %s%s%s, model %s (%s)", result.language, probability,
                 "" if lang or one_language else " detected", model_id, why)
        kept, removed = guards.apply_guards(result.segments, regions, guards.GuardOptions(
            no_speech_threshold=opts.no_speech_threshold if opts.no_speech_threshold is not None else 1.0,
            log_prob_threshold=opts.log_prob_threshold if opts.log_prob_threshold is not None else -99.0,
            prompt=script_phrase))
        for item in removed:
            log.info("removed %s at %.2f-%.2f s: %r", item["reason"], item["start"], item["end"], item["text"])
        for index, seg in enumerate(kept):
            seg["id"] = index
        wrong_script = languages.script_mismatch(" ".join(seg["text"] for seg in kept), result.language)
        if wrong_script:
            written, share = wrong_script
            fix = ("set ASR_SCRIPT_PROMPT=auto" if script_prompt == "off" and languages.script_prompt(result.language)
                   else "a larger ASR_MODEL (small or above) writes it more reliably")
            log.warning("warning: the transcript is %d%% in %s letters, not in the script %s is written in (%s): %s",
                        round(share * 100), written, result.language, languages.resolve_language(result.language).script, fix)
            result.details["script_mismatch"] = {"script": written, "share": round(share, 3)}
        if opts.word_timestamps:  # a guard that rewrote a segment's text leaves its words to the aligner
            result.details["words_dropped_by_guards"] = asr_mod.keep_matching_words(kept)
            result.details["segments_with_words"] = sum(1 for seg in kept if "words" in seg)
        transcript = TranscriptFile(
            schema_version=SCHEMA_VERSION, kind="transcript", language=result.language,
            language_probability=result.language_probability, backend=name, model=model_id,
            duration=round(meta.duration, 3), segments=kept, removed=removed,
        )
        run.details = {**result.details, "segments": len(kept), "removed": removed, "language": result.language,
                       "language_probability": result.language_probability}
        atomic.write_json(output, transcript)
        skeleton.test_pause("asr")


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "asr", own_process=True)
