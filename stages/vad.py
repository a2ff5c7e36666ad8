"""vad: vocals.wav -> speech.json (speech regions, and the <=30 s chunks ASR decodes).

    python stages/vad.py JOB/vocals.wav -o JOB/speech.json --job-dir JOB

VAD=auto picks Silero on CPU and pyannote on a GPU; both models ship inside installed
packages (silero-vad; the whisperx wheel's pyannote segmentation), resolved through the
model registry. Onset/offset thresholds, minimum speech and silence durations and padding
come from the VAD_* settings.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job_manifest, model_integrity
from shared import stage as skeleton
from shared.speech import stage as speech_stage
from shared.speech import vad as vad_mod


def _float_setting(name: str):
    def default() -> float | None:
        value = skeleton.setting(name).strip()
        return float(value) if value else None

    return default


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("audio", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="speech.json to write")
@click.option("--vad", "backend", default=skeleton.default_from("VAD"), show_default="VAD",
              type=skeleton.choice_of("VAD"), help="speech detector")
@click.option("--device", default=skeleton.default_from("DEVICE"), show_default="DEVICE",
              help="cpu, cuda, mps")
@click.option("--onset", type=float, default=_float_setting("VAD_ONSET"), show_default="VAD_ONSET")
@click.option("--offset", type=float, default=_float_setting("VAD_OFFSET"), show_default="VAD_OFFSET")
@click.option("--min-speech", type=float, default=_float_setting("VAD_MIN_SPEECH"), show_default="VAD_MIN_SPEECH")
@click.option("--min-silence", type=float, default=_float_setting("VAD_MIN_SILENCE"), show_default="VAD_MIN_SILENCE")
@click.option("--padding", type=float, default=_float_setting("VAD_PADDING"), show_default="VAD_PADDING")
@click.option("--max-chunk", type=float, default=30.0, show_default=True, help="longest ASR chunk, seconds")
@skeleton.common_options("--output's folder")
def main(audio: Path, output: Path, job_dir: Path | None, backend: str, device: str, onset: float | None,
         offset: float | None, min_speech: float | None, min_silence: float | None, padding: float | None,
         max_chunk: float, verbose: bool) -> None:
    """Find the speech in AUDIO (16 kHz mono) and group it into chunks for ASR."""
    job_dir = skeleton.start("vad", job_dir, output.parent, verbose)
    speech_stage.quiet_libraries()

    given = {"onset": onset, "offset": offset, "min_speech": min_speech, "min_silence": min_silence,
             "padding": padding, "max_chunk": max_chunk}
    try:
        opts = vad_mod.VadOptions(**{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="VAD_*") from None
    meta = skeleton.check_audio(audio)
    name = vad_mod.choose_backend(backend, device)
    detector = vad_mod.VAD_BACKENDS[name](opts, device=device)
    try:
        with model_integrity.loading(detector.model_id, getattr(detector, "model_path", None) or "its package"):
            detector.load()
    except speech_stage.ModelMissing as exc:
        raise click.ClickException(str(exc)) from None

    atomic.remove_stale_temporaries(output)
    parameters = {"vad": backend, "backend": name, "device": device, **opts.as_dict()}
    with job_manifest.StageRun("vad", job_dir, [str(audio)], [str(output)], parameters, packages=("silero-vad", "onnxruntime", "pyannote.audio"),
                      tools=(), model=detector.model_id, device=device) as run:
        run.audio_seconds = meta.duration
        regions = detector.detect(audio, meta.duration)
        info = vad_mod.speech_info(detector, regions, meta.duration)
        speech = sum(e - s for s, e in regions)
        run.details = {"regions": len(regions), "chunks": len(info["chunks"]), "speech_seconds": round(speech, 3)}
        click.echo(f"vad: {len(regions)} speech regions ({speech:.1f} s of {meta.duration:.1f} s) in "
                   f"{len(info['chunks'])} chunks", err=True)
        atomic.write_json(output, info)
        skeleton.test_pause("vad")


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "vad", own_process=True)
