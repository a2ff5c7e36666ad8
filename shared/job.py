"""The job directory: its name, how Make prepares it, and the status command.

A job is one input file; its directory is ``OUT_DIR/<slug>``. The slug is readable (the
file's name, transliterated to ``[a-z0-9._-]``) plus a short hash of the file's resolved
absolute path: the same input always gets the same job, two ``movie.mp4`` in different
folders get two jobs, and the name is safe as a Make target (no spaces, colons, ``$``,
``%``, ``#`` or quotes).

Make calls this module once per run, at parse time (``python -m shared.job prepare``):
it names the job and writes ``params/<stage>.json`` for every stage, rewriting a file only
when that stage's effective parameters changed, so Make re-runs exactly the stages whose
settings moved. Which settings each stage depends on is the table
:data:`shared.job_params.STAGE_SETTINGS`.

The rest of the job lives beside this module: its locks (shared.job_locks), its params
files (shared.job_params), its manifest and StageRun (shared.manifest), its atomic files
(shared.atomic) and its logs (shared.stage_log).

Command line (run with the common interpreter, from the repository root):

    prepare [--vars-file F] [--hold-for PID]
                              print "JOB_DIR MUX_OUTPUT BURNED|- LANG..." and write the params files;
                              with --hold-for, first take the job's run lock for that make's lifetime
    dir                       print the job directory of FILE
    status --job-dir D --target STAGE=PATH ...
                              each stage: done / out of date / missing, with its time
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import logging
import os
import re
import subprocess
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import settings as settings_mod
from shared.job_locks import JobError, job_lock, start_run_lock
from shared.job_manifest import read_manifest
from shared.job_params import (
    changed_parameters,
    effective_settings,
    input_identity,
    stage_parameters,
    target_languages,
    write_parameters,
)

SLUG_NAME_MAX = 40
HASH_CHARS = 8

# Extensions whose inputs have no picture: the muxed result is an .mka.
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".mka", ".ac3", ".aiff", ".aif"})
# Extensions that stay MP4 (subtitles as mov_text); every other video becomes .mkv.
MP4_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov"})

# Characters Make cannot carry in a target name, plus the shell's quoting characters.
_MAKE_UNSAFE = re.compile(r"[\s:$%#\"'`\\;|&*?<>()\[\]{}=!]")


# ---- names -----------------------------------------------------------------------------
def readable_name(path: str | os.PathLike[str]) -> str:
    """The file's stem as ASCII ``[a-z0-9._-]`` (``Movie (2001)`` -> ``movie-2001``); ``input`` if nothing is left."""
    stem = Path(path).stem
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii").lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", ascii_text)
    name = re.sub(r"-{2,}", "-", name).strip("-._")[:SLUG_NAME_MAX].strip("-._")
    return name or "input"


def slug(path: str | os.PathLike[str]) -> str:
    """``<readable name>-<8 hex of the resolved path>``: stable, distinct, make-safe."""
    digest = hashlib.sha256(input_identity(path).encode("utf-8", "surrogateescape")).hexdigest()[:HASH_CHARS]
    return f"{readable_name(path)}-{digest}"


def check_make_safe(text: str, what: str) -> str:
    """``text`` unchanged when Make can use it in a target name; JobError naming ``what`` otherwise."""
    if not text or _MAKE_UNSAFE.search(text):
        raise JobError(f"{what} {text!r} cannot be used in make targets: choose a path without spaces, quotes or :$%#;&*?()[]{{}}=!")
    return text


def job_dir(file: str | os.PathLike[str], out_dir: str = "out") -> Path:
    """The job directory of ``file`` under ``out_dir``."""
    check_make_safe(out_dir, "OUT_DIR")
    return Path(out_dir) / slug(file)


def mux_output_name(file: str | os.PathLike[str]) -> str:
    """``<name>.subtitled.mkv|mp4|mka``: MP4 stays MP4 (mov_text), audio gives .mka, the rest .mkv."""
    ext = Path(file).suffix.lower()
    container = "mp4" if ext in MP4_EXTENSIONS else "mka" if ext in AUDIO_EXTENSIONS else "mkv"
    return f"{readable_name(file)}.subtitled.{container}"


def burn_output_name(file: str | os.PathLike[str]) -> str | None:
    """``<name>.burned.mkv|mp4``: the hard-subtitled copy BURN=1 asks for (None for audio inputs)."""
    name = mux_output_name(file)
    return None if name.endswith(".mka") else name.replace(".subtitled.", ".burned.")


def is_on(value: str | None) -> bool:
    """True for a switched-on setting: 1, true, yes, on."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def check_input(file: str) -> Path:
    """``file`` as a Path if it is an existing, non-empty regular file; JobError saying what is wrong."""
    if not file:
        raise JobError("FILE is not set: run e.g. make subtitle FILE=path/to/video.mkv")
    path = Path(file).expanduser()
    if not path.exists():
        raise JobError(f"FILE={file}: no such file")
    if path.is_dir():
        raise JobError(f"FILE={file}: is a directory; give one media file (DIR= takes a folder)")
    if not path.is_file():
        raise JobError(f"FILE={file}: not a regular file")
    if path.stat().st_size == 0:
        raise JobError(f"FILE={file}: the file is empty")
    return path


def read_vars_file(path: str | None) -> dict[str, str]:
    """``NAME=value`` lines Make wrote with $(file ...) for settings given on its command line."""
    if not path:
        return {}
    values = {}
    with contextlib.suppress(FileNotFoundError):
        for line in Path(path).read_text(encoding="utf-8", errors="surrogateescape").split("\n"):
            if "=" in line:
                name, value = line.split("=", 1)
                values[name] = value
    return values


def prepare(environ: Mapping[str, str], hold_for: int | None = None,
            dry: bool = False) -> tuple[Path, str, str | None, list[str], list[str]]:
    """Name FILE's job, create it, write its changed params (after taking the run lock for ``hold_for``).

    Returns (job dir, mux output name, burned copy name or None, target languages, params written).
    ``dry`` (make status, make -n): write and create nothing, and return the params that
    would be written instead.
    """
    values = effective_settings(environ)
    file = environ.get("FILE", "") or values.get("FILE", "")
    path = check_input(file)
    directory = job_dir(path, values.get("OUT_DIR") or "out")
    languages = target_languages(values.get("TGT", ""))
    if dry:
        burned = burn_output_name(path) if is_on(values.get("BURN")) else None
        return directory, mux_output_name(path), burned, languages, changed_parameters(directory, stage_parameters(path, values))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe_file = directory / f".write-test-{os.getpid()}"
        probe_file.write_bytes(b"")
        probe_file.unlink()
    except OSError as exc:
        raise JobError(f"cannot write the job directory {directory}: {exc.strerror or exc} (set OUT_DIR= to a writable folder)") from exc
    if hold_for is not None and os.name != "nt":
        # Native Windows: make's pid comes from MSYS bash and is not a Windows pid, so the
        # holder could not watch it; runs there are not locked (WSL behaves as Linux).
        start_run_lock(directory, hold_for)
        from shared import launcher  # a stage of a killed earlier run is waited for, never run twice

        try:
            launcher.wait_for_running_stages(directory)
        except launcher.StageStillRunning as exc:
            raise JobError(str(exc)) from None
    with job_lock(directory):
        written = write_parameters(directory, stage_parameters(path, values))
    from stages import demux  # the preflight's ffprobe of FILE, when it ran in this process, kept for demux

    demux.keep_probe(directory, path)
    burned = burn_output_name(path) if is_on(values.get("BURN")) else None
    return directory, mux_output_name(path), burned, languages, written


# ---- status ----------------------------------------------------------------------------
def stage_state(make: str, target: str, environ: Mapping[str, str] | None = None) -> str:
    """``done`` when Make has nothing to do for ``target``, ``out of date`` or ``missing`` otherwise."""
    if not Path(target).exists():
        return "missing"
    result = subprocess.run([make, "--no-print-directory", "-q", "--", target], env=dict(environ or os.environ),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return "done" if result.returncode == 0 else "out of date"


def status_lines(directory: Path, targets: Sequence[tuple[str, str]], make: str) -> list[str]:
    """One line per stage: name, state, when it last ran and for how long."""
    manifest = read_manifest(directory)["stages"]
    lines = [f"job {directory}"]
    for stage, target in targets:
        state = stage_state(make, target)
        entry = manifest.get(stage) or {}
        when = f"{entry['end']}  {entry['seconds']:.1f} s" if entry.get("end") and entry.get("seconds") is not None else "-"
        lines.append(f"  {stage:<14} {state:<12} {when}")
    return lines


# ---- command line --------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.job", description="Job directories for the Makefile.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help='print "JOB_DIR MUX_OUTPUT BURNED|- LANG..." and write changed params files')
    p.add_argument("--vars-file", help="NAME=value lines of settings given on make's command line")
    p.add_argument("--hold-for", type=int, metavar="PID", help="take the job's run lock until process PID (make) ends")
    p.add_argument("--dry", action="store_true", help="write nothing; add changed:<name> for each params file that would change")
    p.add_argument("--preflight", metavar="VERB", help="first run shared.preflight's checks for VERB; stop on a problem")
    p.add_argument("--names", default="", help="(with --preflight) the variable names given on make's command line")
    p = sub.add_parser("dir", help="print the job directory of FILE")
    p.add_argument("--vars-file")
    p = sub.add_parser("status", help="each stage: done / out of date / missing")
    p.add_argument("--job-dir", required=True, type=Path)
    p.add_argument("--target", action="append", default=[], metavar="STAGE=PATH")
    p.add_argument("--make", default=os.environ.get("MAKE", "make"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="job: %(message)s", stream=sys.stderr)
    try:
        environ = dict(os.environ)
        if args.command in ("prepare", "dir"):
            environ.update(read_vars_file(args.vars_file))
        if args.command == "prepare" and args.preflight:
            from shared import preflight

            status = preflight.report(*preflight.check(args.preflight, environ, args.names.split()), args.preflight)
            if status:
                return status
        if args.command == "prepare":
            directory, mux_name, burned, languages, written = prepare(environ, None if args.dry else args.hold_for, args.dry)
            changed = [f"changed:{name}" for name in written] if args.dry else []
            print(" ".join([str(directory), mux_name, burned or "-", *languages, *changed]))
        elif args.command == "dir":
            values = settings_mod.resolve(environ=environ)
            print(job_dir(check_input(environ.get("FILE", "")), values.get("OUT_DIR") or "out"))
        else:
            pairs = [tuple(t.split("=", 1)) for t in args.target if "=" in t]
            print("\n".join(status_lines(args.job_dir, pairs, args.make)))  # type: ignore[arg-type]
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        from shared import outcome

        outcome.record(outcome.USAGE, "prepare")
        return 2
    return 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
    sys.exit(1)
