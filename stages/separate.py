"""separate: audio.wav -> vocals.wav (Demucs vocals, 16 kHz mono) or a declared pass-through.

    python stages/separate.py JOB/audio.wav -o JOB/vocals.wav --job-dir JOB

SEPARATE=auto separates with CUDA or MPS and passes through on a CPU (Demucs costs more
than it gives there); the decision is recorded in the manifest either way. Separation
runs in overlapping windows (SEPARATE_WINDOW seconds), so peak memory does not grow with
the input's length. The model is the hardware class's separation model (htdemucs) from
the cache; --model demucs_unittest uses demucs' own untrained test model (tests).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job_manifest, model_integrity
from shared import stage as skeleton
from shared.speech import separate as sep_mod
from shared.speech import stage as speech_stage


def _link_or_copy(source: Path, target: Path) -> str:
    """Put ``source``'s bytes at ``target`` atomically: a hard link where possible, else a copy."""
    with atomic.atomic_path(target) as tmp:
        try:
            os.link(source, tmp)
            how = "hard link"
        except OSError:
            shutil.copyfile(source, tmp)
            how = "copy"
    return how


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("audio", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="vocals.wav")
@click.option("--separate", "setting", default=skeleton.default_from("SEPARATE"), show_default="SEPARATE",
              type=skeleton.choice_of("SEPARATE"))
@click.option("--model", "model_id", default="", help="demucs model id (default: the hardware class's; demucs_unittest: tests)")
@click.option("--device", default=skeleton.default_from("DEVICE"), show_default="DEVICE")
@click.option("--window", type=click.FloatRange(10.0, 600.0), default=skeleton.default_from("SEPARATE_WINDOW"),
              show_default="SEPARATE_WINDOW", help="seconds separated at a time")
@skeleton.common_options("--output's folder")
def main(audio: Path, output: Path, job_dir: Path | None, setting: str, model_id: str, device: str, window: float,
         verbose: bool) -> None:
    """Write the vocals of AUDIO (or AUDIO itself, declared, when separation is off)."""
    from shared import models, policy, selection

    job_dir = skeleton.start("separate", job_dir, output.parent, verbose)
    speech_stage.quiet_libraries()
    enabled = sep_mod.choose(setting, device)
    meta = skeleton.check_audio(audio, mono=True)
    root, cache = speech_stage.repo_root(), speech_stage.cache_dir()
    path = None
    if enabled:
        model_id = model_id or selection.default_model("separation", policy.hardware_class(root, {"DEVICE": device}), root)
        if model_id != sep_mod.TEST_MODEL:
            try:
                path = models.resolve(model_id, cache, root)
            except models.ModelNotCached as exc:
                raise click.ClickException(str(exc)) from None
            except models.RegistryError as exc:
                raise click.BadParameter(str(exc), param_hint="--model") from None
    why = {"on": "SEPARATE=on", "off": "SEPARATE=off"}.get(setting, f"SEPARATE=auto on {device}")
    parameters = {"separate": setting, "enabled": enabled, "decision": f"{'separate' if enabled else 'pass-through'} ({why})",
                  "device": device, "window_s": window}
    skeleton.clean_stale(output)
    with job_manifest.StageRun("separate", job_dir, [str(audio)], [str(output)], parameters,
                               packages=("demucs", "torch") if enabled else (),
                               tools=(), model=model_id if enabled else None, device=device) as run:
        run.audio_seconds = meta.duration
        if not enabled:
            how = _link_or_copy(audio, output)
            run.details = {"pass_through": True, "reason": why, "how": how}
            click.echo(f"separate: pass-through ({why}): vocals.wav is audio.wav ({how})", err=True)
            skeleton.test_pause("separate")
            return
        import torch

        if device == "cpu" and os.environ.get("THREADS"):
            torch.set_num_threads(max(1, int(os.environ["THREADS"])))
        with model_integrity.loading(model_id, path or "demucs' own test model"):
            model = sep_mod.load_model(model_id, path)
        facts = sep_mod.separate_vocals(model, audio, output, window=window, device="cuda" if device == "cuda" else
                                        ("mps" if device == "mps" else "cpu"))
        run.details = {"pass_through": False, **facts}
        skeleton.test_pause("separate")


# Options that decide on the command line: with one, the stage itself decides (runs_light says no).
DECIDING_OPTIONS = ("--separate", "--device")


def runs_light(argv: list[str], environ: dict[str, str]) -> bool:
    """True when the settings make this run a pass-through, which needs no ml package: then
    shared.environment_manager runs :func:`main` in its own (common) interpreter instead of
    starting the ml one (SEPARATE=auto on a CPU, the common case). Anything unclear (a
    deciding option on the command line, audio that is not a 16 kHz mono PCM WAV) is False."""
    from shared import policy

    if any(arg.split("=", 1)[0] in DECIDING_OPTIONS for arg in argv):
        return False
    if not argv or skeleton.pcm_info(Path(argv[0])) is None:  # a bad input: the stage reports it as usual
        return False
    return not sep_mod.choose(policy.setting("SEPARATE", environ), policy.setting("DEVICE", environ))


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "separate", own_process=True)
