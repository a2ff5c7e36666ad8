"""align: transcript.json + audio (+ speech.json) -> aligned.json (every word timed) + transcript.txt.

    python stages/align.py JOB/transcript.json JOB/vocals.wav -o JOB/aligned.json --job-dir JOB

ALIGN=wav2vec2: WhisperX forced alignment with the language's wav2vec2 model from the
registry (config/models.toml, shared.models.aligner_for); whisper: the ASR model's own
cross-attention word timestamps, computed by the asr stage in its decoding pass and read
from transcript.json (any Whisper language, no model loaded here; a segment without them
is aligned with the ASR model); auto: wav2vec2
where the language's aligner is cached, else whisper; off: words spread over their
segment. Words the aligner cannot place get interpolated times; word edges are refined
against the VAD regions of speech.json.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job_manifest, model_integrity
from shared import stage as skeleton
from shared.schema import AlignedTranscript, SchemaError, check_kind
from shared.speech import align as align_mod
from shared.speech import speakers as speakers_mod
from shared.speech import stage as speech_stage


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("transcript_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("audio", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="aligned.json")
@click.option("--speech", "speech_json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="speech.json for VAD refinement (default: beside TRANSCRIPT_JSON)")
@click.option("--txt", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="plain-text transcript to write (default: transcript.txt beside --output)")
@click.option("--speakers", "speakers_json", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="speakers.json of the diarize stage (default: beside TRANSCRIPT_JSON; absent or off: no speakers)")
@click.option("--speaker-names", default=skeleton.default_from("SPEAKER_NAMES"), show_default="SPEAKER_NAMES",
              help="SPEAKER_1=Asha,SPEAKER_2=Ravi: names in transcript.txt")
@click.option("--align", "method_setting", default=skeleton.default_from("ALIGN"), show_default="ALIGN",
              type=skeleton.choice_of("ALIGN"))
@click.option("--device", default=skeleton.default_from("DEVICE"), show_default="DEVICE")
@click.option("--compute-type", default=skeleton.default_from("COMPUTE_TYPE"), show_default="COMPUTE_TYPE")
@click.option("--threads", type=click.IntRange(0, 1024), default=skeleton.default_from("THREADS"), show_default="THREADS")
@skeleton.common_options("--output's folder")
def main(transcript_json: Path, audio: Path, output: Path, speech_json: Path | None, txt: Path | None,
         speakers_json: Path | None, speaker_names: str, job_dir: Path | None, method_setting: str, device: str, compute_type: str, threads: int, verbose: bool) -> None:
    """Time every word of TRANSCRIPT_JSON against AUDIO."""
    from shared import models

    job_dir = skeleton.start("align", job_dir, output.parent, verbose)
    speech_stage.quiet_libraries()
    log = logging.getLogger("align")
    txt = txt or output.with_name("transcript.txt")
    speech_json = speech_json or transcript_json.with_name("speech.json")
    try:
        transcript = check_kind(speech_stage.read_json(transcript_json), "transcript", str(transcript_json))
    except (SchemaError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="TRANSCRIPT_JSON") from None
    regions: list[tuple[float, float]] = []
    vad_padding = None
    if speech_json.is_file():
        try:
            speech = check_kind(speech_stage.read_json(speech_json), "speech", str(speech_json))
        except (SchemaError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--speech") from None
        regions = [(r["start"], r["end"]) for r in speech["regions"]]
        vad_padding = (speech.get("parameters") or {}).get("padding")
    else:
        log.warning("%s not found: word edges are not refined against VAD regions", speech_json)
    turns, names = _speakers(speakers_json or transcript_json.with_name("speakers.json"), speaker_names)
    meta = skeleton.check_audio(audio)

    root, cache = speech_stage.repo_root(), speech_stage.cache_dir()
    method, language, spec = choose(transcript, method_setting, root, cache)
    aligner = None
    model_id = None
    try:
        if method == "wav2vec2":
            if spec is None:
                raise click.BadParameter(f"no wav2vec2 aligner is registered for language {language!r}; use ALIGN=whisper "
                                         "(or add an align-<code> entry to config/models.toml)", param_hint="ALIGN")
            path = models.resolve(spec.id, cache, root)
            aligner = align_mod.Wav2Vec2Aligner(language, path, spec.backend, "cuda" if device == "cuda" else "cpu")
            model_id = spec.id
        elif method == "whisper":
            model_id = transcript["model"]
            if models.get_spec(model_id, root).backend != "faster-whisper":
                raise click.BadParameter(f"ALIGN=whisper needs a faster-whisper ASR model; {model_id} is not one",
                                         param_hint="ALIGN")
            path = models.resolve(model_id, cache, root)
            # the ASR pass's own word times; the model is loaded only for segments without them
            aligner = align_mod.AsrWordTimes(align_mod.WhisperAligner(language or "en", path, device, compute_type,
                                                                      threads))
    except models.ModelNotCached as exc:
        raise click.ClickException(str(exc)) from None
    except models.RegistryError as exc:
        raise click.BadParameter(str(exc), param_hint="transcript model") from None

    atomic.remove_stale_temporaries(output)
    atomic.remove_stale_temporaries(txt)
    parameters = {"align": method_setting, "method": method, "language": language, "device": device}
    # the aligners' packages are recorded where a model is loaded (the run depends on them)
    packages = MODEL_PACKAGES if align_mod.loads_model(method, transcript["segments"]) else ()
    with job_manifest.StageRun("align", job_dir, [str(transcript_json), str(audio)], [str(output), str(txt)], parameters,
                               packages=packages, tools=(), model=model_id, device=device) as run:
        run.audio_seconds = meta.duration
        if aligner is not None and transcript["segments"]:
            with model_integrity.loading(model_id or "", path):
                aligner.load()
        segments, counts = align_mod.align_segments(transcript["segments"], aligner, audio, regions, method,
                                                    vad_padding)
        if turns is not None:  # diarization ran: a speaker on every word and segment, split at changes
            segments, speaker_counts = speakers_mod.assign(segments, turns)
            counts = {**counts, **speaker_counts}
        aligned = AlignedTranscript(
            schema_version=transcript["schema_version"], kind="aligned", language=transcript["language"],
            language_probability=transcript.get("language_probability"), backend=transcript.get("backend", ""),
            model=transcript.get("model", ""), duration=transcript.get("duration", 0.0), segments=segments,
            removed=transcript.get("removed", []),
        )
        run.details = counts
        log.info("%d words timed by %s (%d interpolated; %d with digits or symbols, %d of them interpolated)",
                 counts["words"], method, counts["interpolated"], counts["symbol_words"],
                 counts["symbol_words_interpolated"])
        atomic.write_json(output, aligned)
        atomic.write_text(txt, speakers_mod.transcript_text(segments, names))
        skeleton.test_pause("align")


MODEL_PACKAGES = ("whisperx", "faster-whisper", "transformers", "torch")


def choose(transcript: dict, method_setting: str, root: Path, cache: Path):
    """(method, Whisper language, the language's registered aligner or None) for ALIGN=method_setting."""
    from shared import models

    language = models.whisper_language(transcript["language"] or "")
    spec = models.aligner_for(language, root) if language not in ("", "und") else None
    cached = spec is not None and models.model_state(spec, cache, root) == "cached"
    return align_mod.choose_method(method_setting, cached), language, spec


def runs_light(argv: list[str], environ: dict[str, str]) -> bool:
    """True when this run loads no model: ALIGN resolves to off, or to whisper with every
    segment carrying the word times of the ASR pass (the CPU default), so aligning is
    arithmetic on JSON. shared.environment_manager then runs :func:`main` in its own
    (common) interpreter instead of starting the ml one. Anything unclear (``--align`` on
    the command line, options before the inputs, an unreadable transcript, audio that is
    not a 16 kHz mono PCM WAV) is False: the stage runs as usual and reports it."""
    from shared import policy

    if len(argv) < 2 or any(a.startswith("-") for a in argv[:2]) or any(a.split("=", 1)[0] == "--align" for a in argv):
        return False
    if skeleton.pcm_info(Path(argv[1])) is None:
        return False
    try:
        transcript = check_kind(speech_stage.read_json(argv[0]), "transcript", argv[0])
        root = Path(environ.get("PIPELINE_ROOT") or speech_stage.REPO_ROOT)
        method, _, _ = choose(transcript, policy.setting("ALIGN", environ), root, policy.cache_root(environ, root))
    except Exception:  # noqa: BLE001 - anything unclear: the stage runs as usual and reports it
        return False
    return not align_mod.loads_model(method, transcript["segments"])


def _speakers(path: Path, names_text: str) -> tuple[list[dict] | None, dict[str, str]]:
    """(speaker turns, or None when diarization was off or absent; SPEAKER_NAMES as a map)."""
    try:
        names = speakers_mod.parse_names(names_text or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEAKER_NAMES") from None
    if not path.is_file():
        return None, names
    try:
        data = check_kind(speech_stage.read_json(path), "speakers", str(path))
    except (SchemaError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="--speakers") from None
    return speakers_mod.turns_of(data), names


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "align", own_process=True)
