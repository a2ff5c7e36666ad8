"""The skeleton every stage shares, so a stage's file holds only what is its own.

A stage (``stages/<name>.py``) is one Click command. This module gives it:

- :func:`common_options`: ``--job-dir`` and ``-v/--verbose``, the same on every stage;
- :func:`start`: the job directory created, logging to stderr and ``logs/<stage>.log``;
- :func:`clean_stale`: temporaries of its outputs left by killed runs removed;
- :func:`read_input`: a job file read and checked for its ``kind`` and schema version
  (shared.schema.check_kind), a bad one a one-line usage error;
- :func:`check_audio`: the 16 kHz (mono) check of the speech stages' input, before any
  model is loaded.

The two lines that put the repository on ``sys.path`` when a stage runs as a file stay in
the stage (they must run before this import); ruff's E402 is switched off for stages/ in
pyproject.toml instead of a ``noqa`` on every import.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from shared import atomic, stage_log
from shared.schema import AUDIO_SAMPLE_RATE, SchemaError, check_kind

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


def setting(name: str) -> str:
    """A setting as a stage sees it (flag > environment > .env > config/pipeline.env); an empty
    value is what shared.policy decides: the hardware profile for DEVICE, COMPUTE_TYPE, THREADS
    and BATCH_SIZE, else the default of config/pipeline.env. A stage restates no default."""
    from shared import policy, settings

    value = settings.get(name)
    if value:
        return value
    if name in policy.HARDWARE_SETTINGS:
        return policy.resolve_auto(name, {}, Path(os.environ.get("PIPELINE_ROOT") or policy.REPO_ROOT))
    return policy.defaults().get(name, "")


def default_from(name: str) -> Callable[[], str]:
    """A Click ``default=`` that reads :func:`setting` when the command runs."""
    return lambda: setting(name)


def choice_of(name: str) -> click.Choice:
    """A Click type accepting exactly the values setting ``name`` accepts (shared.validation),
    in any case, as preflight does."""
    from shared import validation

    return click.Choice(validation.choices_of(name), case_sensitive=False)


def common_options(default_dir: str = "--output's folder") -> Callable[[F], F]:
    """Add ``--job-dir`` and ``-v/--verbose`` to a stage command (``default_dir`` says the default in --help)."""

    def decorate(command: F) -> F:
        command = click.option("-v", "--verbose", is_flag=True, help="debug logging")(command)
        return click.option("--job-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                            help=f"the job directory: manifest and logs (default: {default_dir})")(command)

    return decorate


def start(stage: str, job_dir: Path | None, default_dir: Path, verbose: bool = False) -> Path:
    """The job directory (``job_dir`` or ``default_dir``), created, with logging set up for ``stage``;
    the libraries' telemetry is off (policy.TELEMETRY_OFF) even for a stage run by hand."""
    from shared import policy

    os.environ.update(policy.TELEMETRY_OFF)
    directory = Path(job_dir or default_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        stage_log.configure_logging(stage, directory, verbose)
    except OSError as exc:
        raise click.BadParameter(f"cannot write {directory}: {exc.strerror or exc}", param_hint="--job-dir / OUT_DIR") from None
    return directory


def clean_stale(*outputs: str | os.PathLike[str]) -> None:
    """Remove the temporaries of ``outputs`` that killed runs left behind."""
    for output in outputs:
        atomic.remove_stale_temporaries(output)


def read_input(path: str | os.PathLike[str], kind: str | tuple[str, ...], hint: str) -> dict:
    """The job file at ``path``, checked to be of ``kind`` at this schema version; a usage error naming ``hint`` otherwise."""
    try:
        with open(path, encoding="utf-8") as fh:
            return check_kind(json.load(fh), kind, str(path))
    except OSError as exc:
        raise click.BadParameter(f"{path}: {exc.strerror or exc}", param_hint=hint) from None
    except (SchemaError, ValueError) as exc:  # ValueError: not JSON
        raise click.BadParameter(f"{path}: {exc}" if str(path) not in str(exc) else str(exc), param_hint=hint) from None


def check_audio(audio: str | os.PathLike[str], hint: str = "AUDIO", mono: bool = False):
    """The sound file's AudioInfo, or a usage error unless it is 16 kHz (and mono).

    A PCM WAV (what demux writes) is read from its header (:func:`wav_header`), so a stage
    that needs no other audio library (the common interpreter has no soundfile) can check
    it; anything else goes through soundfile (shared.speech.audio.info)."""
    meta = wav_header(audio)
    if meta is None:
        from shared.speech import audio as audio_io

        try:
            meta = audio_io.info(audio)
        except RuntimeError as exc:
            raise click.BadParameter(f"{audio}: not a readable sound file ({exc})", param_hint=hint) from None
    if meta.sample_rate != AUDIO_SAMPLE_RATE or (mono and meta.channels != 1):
        shape = f"{meta.sample_rate} Hz, {meta.channels} channel(s)" if mono else f"{meta.sample_rate} Hz"
        wanted = "16 kHz mono" if mono else "16 kHz"
        raise click.BadParameter(f"{audio}: {shape}; the speech stages read {wanted} (re-run demux)", param_hint=hint)
    return meta


def wav_header(audio: str | os.PathLike[str]):
    """The AudioInfo of a PCM WAV read from its header with the standard library; None for
    anything else, and for a header that claims more frames than the file holds (a
    truncated file: soundfile then counts what is there)."""
    import wave

    from shared.speech.audio import AudioInfo

    try:
        with open(audio, "rb") as fh, wave.open(fh, "rb") as wav:
            meta = AudioInfo(sample_rate=wav.getframerate(), channels=wav.getnchannels(), frames=wav.getnframes())
            claimed_end = fh.tell() + meta.frames * wav.getsampwidth() * meta.channels  # wave stops at the data's start
            size = os.fstat(fh.fileno()).st_size
    except (wave.Error, EOFError, OSError):
        return None
    return meta if claimed_end <= size else None


def pcm_info(audio: str | os.PathLike[str]):
    """The AudioInfo of a 16 kHz mono PCM WAV (:func:`wav_header`); None for anything else."""
    meta = wav_header(audio)
    return meta if meta is not None and meta.sample_rate == AUDIO_SAMPLE_RATE and meta.channels == 1 else None


def test_pause(stage: str) -> None:
    """Sleep when PIPELINE_TEST_PAUSE is ``<stage>:<seconds>``: lets tests kill a stage mid-write."""
    spec = os.environ.get("PIPELINE_TEST_PAUSE", "")
    name, _, seconds = spec.partition(":")
    if name == stage and seconds:
        log.debug("pausing %s s for a test", seconds)
        time.sleep(float(seconds))
