"""The job directory: its name, its parameter files, its manifest, its lock and its logs.

A job is one input file; its directory is ``OUT_DIR/<slug>``. The slug is readable (the
file's name, transliterated to ``[a-z0-9._-]``) plus a short hash of the file's resolved
absolute path: the same input always gets the same job, two ``movie.mp4`` in different
folders get two jobs, and the name is safe as a Make target (no spaces, colons, ``$``,
``%``, ``#`` or quotes).

Make calls this module once per run, at parse time (``python -m shared.job prepare``):
it names the job and writes ``params/<stage>.json`` for every stage, rewriting a file only
when that stage's effective parameters changed, so Make re-runs exactly the stages whose
settings moved. Which settings each stage depends on is the table :data:`STAGE_SETTINGS`.

Command line (run with the common interpreter, from the repository root):

    prepare [--vars-file F] [--hold-for PID]
                              print "JOB_DIR MUX_OUTPUT BURNED|- LANG..." and write the params files;
                              with --hold-for, first take the job's run lock for that make's lifetime
    hold --job-dir D --pid P  (internal) the process that holds the run lock until P ends
    dir                       print the job directory of FILE
    status --job-dir D --target STAGE=PATH ...
                              each stage: done / out of date / missing, with its time
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import errno
import hashlib
import importlib.metadata
import json
import logging
import os
import platform
import re
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import settings as settings_mod
from shared.atomic import _commit_pause as _commit_pause  # the atomic files: shared/atomic.py, re-exported
from shared.atomic import _pid_alive as _pid_alive
from shared.atomic import _windows_pid_alive as _windows_pid_alive
from shared.atomic import atomic_path as atomic_path
from shared.atomic import remove_stale_temporaries as remove_stale_temporaries
from shared.atomic import write_if_changed as write_if_changed
from shared.atomic import write_json as write_json
from shared.atomic import write_text as write_text
from shared.schema import SCHEMA_VERSION, Manifest, StageEntry

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK_FILE = ".lock"
# Held by one `make` run for its whole life (see start_run_lock): a second run on the same
# job stops at once with a message instead of racing the first one's stages.
RUN_LOCK_FILE = ".run.lock"
# A run that finds the lock held by a make that has already exited waits this long for
# the holder process to notice and let go.
RUN_LOCK_GRACE = 3.0
RUN_LOCK_RECORD = 64  # bytes: "<make pid> <start time>", padded
# A stage that fails with one of these says "no space left" in one line, not a traceback.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})
SLUG_NAME_MAX = 40
HASH_CHARS = 8

# Extensions whose inputs have no picture: the muxed result is an .mka.
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".m4a", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".mka", ".ac3", ".aiff", ".aif"})
# Extensions that stay MP4 (subtitles as mov_text); every other video becomes .mkv.
MP4_EXTENSIONS = frozenset({".mp4", ".m4v", ".mov"})

# Characters Make cannot carry in a target name, plus the shell's quoting characters.
_MAKE_UNSAFE = re.compile(r"[\s:$%#\"'`\\;|&*?<>()\[\]{}=!]")

# The settings each stage's result depends on: a change re-runs that stage and everything
# after it, and nothing before it. Values are the effective ones (hardware profile filled
# in); "translate" gets one params file per target language; settings whose name starts
# with a prefix in STAGE_SETTING_PREFIXES join the stage too (VAD_ONSET, ASR_BEAM_SIZE,
# the subtitle rules' SUB_* numbers), so a new tuning setting needs no change here.
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    "demux": ("AUDIO_TRACK", "START", "END"),  # + the input's identity (path, size, mtime)
    "separate": ("SEPARATE", "DEVICE"),
    "vad": ("VAD", "DEVICE"),  # auto picks by device
    # DIARIZE=auto decides from the counts and SUB_SPEAKER_LABELS (shared.speech.speakers.decide)
    "diarize": ("DIARIZE", "DIARIZE_BACKEND", "SPEAKERS", "MIN_SPEAKERS", "MAX_SPEAKERS", "SUB_SPEAKER_LABELS", "DEVICE"),
    # ALIGN: with whisper timing the asr pass times the words itself (transcript.json changes)
    "asr": ("ASR_BACKEND", "ASR_MODEL", "SRC", "DEVICE", "COMPUTE_TYPE", "GLOSSARY", "ALIGN"),
    "align": ("ALIGN", "DEVICE", "SRC", "SPEAKER_NAMES"),  # names: transcript.txt
    "translate": ("SRC", "TRANSLATOR", "LLM_POSTEDIT", "LLM_BASE_URL", "LLM_MODEL", "GLOSSARY"),  # + the language
    "subtitle": ("SRC", "TGT", "BILINGUAL", "SUB_FORMATS", "SPEAKER_NAMES"),
    "mux": ("TGT", "BILINGUAL", "BURN"),
}
STAGE_SETTING_PREFIXES: dict[str, tuple[str, ...]] = {
    "separate": ("SEPARATE_",),
    "vad": ("VAD_",),
    "asr": ("ASR_",),
    "translate": ("TRANSLATE_", "MAX_SENTENCE_"),
    "subtitle": ("SUB_",),
}
STAGES = tuple(STAGE_SETTINGS)
# Settings holding a file path whose content matters, not only its name.
CONTENT_SETTINGS = frozenset({"GLOSSARY"})


class JobError(Exception):
    """A job that cannot be set up; the message says how to fix it."""


# ---- names -----------------------------------------------------------------------------
def readable_name(path: str | os.PathLike[str]) -> str:
    """The file's stem as ASCII ``[a-z0-9._-]`` (``Movie (2001)`` -> ``movie-2001``); ``input`` if nothing is left."""
    stem = Path(path).stem
    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii").lower()
    name = re.sub(r"[^a-z0-9._-]+", "-", ascii_text)
    name = re.sub(r"-{2,}", "-", name).strip("-._")[:SLUG_NAME_MAX].strip("-._")
    return name or "input"


def input_identity(path: str | os.PathLike[str]) -> str:
    """The resolved absolute path the job's hash is made from (the same file, however named)."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


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


def target_languages(tgt: str) -> list[str]:
    """The TGT comma list as file tags (``ta,tam,Tamil`` -> ``["ta"]``), in order, without repeats;
    JobError on a language the table does not know (shared.languages.parse_language_list)."""
    from shared.languages import UnknownLanguage, parse_language_list

    try:
        return parse_language_list(tgt, "TGT")
    except UnknownLanguage as exc:
        raise JobError(str(exc)) from None


# ---- the lock --------------------------------------------------------------------------
@contextlib.contextmanager
def job_lock(directory: str | os.PathLike[str], timeout: float = 60.0) -> Iterator[None]:
    """Hold the job's lock (``.lock``, an OS file lock) for the block; JobError after ``timeout`` s."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fh = open(directory / LOCK_FILE, "a+b")  # noqa: SIM115 - held for the whole block
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                _lock(fh)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise JobError(f"{directory}: another run holds the job lock for more than {timeout:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            _unlock(fh)
    finally:
        fh.close()


if os.name == "nt":
    import msvcrt

    def _lock(fh: Any) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(fh: Any) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fh: Any) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fh: Any) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def wait_for_exit(pid: int, poll: float = 0.1) -> None:
    """Return when process ``pid`` has ended (a pidfd where the OS has them, else polling)."""
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        except OSError:
            fd = None
        if fd is not None:
            import select

            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.poll()
            finally:
                os.close(fd)
            return
    while _pid_alive(pid):
        time.sleep(poll)


def hold_run_lock(directory: str | os.PathLike[str], owner: int, ack: Any) -> int:
    """(The holder process.) Lock the job for ``owner``'s lifetime; write ``ok`` or ``busy`` to ``ack`` first."""
    directory = Path(directory)
    # read-write, not append: the holder line is rewritten in place at offset 0
    fh = os.fdopen(os.open(directory / RUN_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644), "r+b")
    try:
        _lock(fh)
    except OSError:
        ack.write("busy\n")
        ack.flush()
        return 1
    try:  # who holds it, for the message a second run prints; written in place (a full disk has no room to grow)
        fh.seek(0)
        fh.write(f"{owner} {now_iso()}".ljust(RUN_LOCK_RECORD - 1).encode() + b"\n")
        fh.flush()
    except OSError:
        pass
    ack.write("ok\n")
    ack.flush()
    ack.close()
    wait_for_exit(owner)
    return 0


def run_lock_owner(directory: str | os.PathLike[str]) -> tuple[int | None, str]:
    """(pid, start time) of the make run that holds the job's run lock, as its holder wrote them."""
    try:
        pid_text, _, since = (Path(directory) / RUN_LOCK_FILE).read_text(encoding="utf-8").strip().partition(" ")
        return int(pid_text), since
    except (OSError, ValueError):
        return None, ""


def start_run_lock(directory: str | os.PathLike[str], owner: int, grace: float = RUN_LOCK_GRACE) -> None:
    """Take the job's run lock for process ``owner`` (the make run); JobError when another run holds it.

    A small holder process takes the lock and keeps it until ``owner`` ends, so the lock
    spans the whole make run (every stage) and is released however make ends, SIGKILL
    included.
    """
    directory = Path(directory)
    deadline = time.monotonic() + grace
    while True:
        holder = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "hold", "--job-dir", str(directory), "--pid", str(owner)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        assert holder.stdout is not None
        answer = holder.stdout.readline().decode(errors="replace").strip()
        holder.stdout.close()
        if answer == "ok":
            return
        holder.wait()
        pid, since = run_lock_owner(directory)
        if pid is not None and _pid_alive(pid) and pid != owner:
            raise JobError(f"another make run (pid {pid}, since {since}) is working on the job {directory}: "
                           f"wait for it to finish, or stop it (kill {pid}) and run make again")
        if time.monotonic() > deadline:
            raise JobError(f"the job {directory} stays locked ({directory / RUN_LOCK_FILE}): "
                           "if no other make run is working on it, end the process holding that file and run make again")
        time.sleep(0.05)  # the previous run's holder is letting go


# ---- parameters ------------------------------------------------------------------------
def effective_settings(environ: Mapping[str, str] | None = None, root: Path = settings_mod.REPO_ROOT) -> dict[str, str]:
    """Every setting as the stages will see it: flag > env > .env > pipeline.env, hardware filled in."""
    values = settings_mod.resolve(root, environ)
    from shared.environment_manager import HARDWARE_SETTINGS, Manager

    try:
        hardware = Manager(root=root, environ=dict(environ if environ is not None else os.environ)).hardware()
    except (OSError, ValueError) as exc:  # no registry: the profile is unknown, not fatal here
        log.debug("no hardware profile: %s", exc)
        hardware = {}
    for name, key in HARDWARE_SETTINGS.items():
        if not values.get(name) and key in hardware:
            values[name] = str(hardware[key])
    return values


def _setting_value(name: str, value: str) -> Any:
    if name in CONTENT_SETTINGS and value:
        path = Path(value).expanduser()
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            digest = "unreadable"
        return {"path": value, "sha256": digest}
    return value


GLOSSARY_STAGES = ("asr", "translate")


def glossary_hashes(file: str | os.PathLike[str], setting: str) -> dict[str, str]:
    """sha256 of every glossary file the job reads (config/glossary.tsv, GLOSSARY, <input>.glossary.tsv).

    Editing any of them re-runs the stages that use them; a missing GLOSSARY file is left
    for the stage to report.
    """
    from shared.translation.glossary import GlossaryError, glossary_files

    try:
        files = glossary_files(settings_mod.REPO_ROOT, setting, file)
    except GlossaryError:
        files = []
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest() for path in files}


def stage_parameters(file: str | os.PathLike[str], values: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The params file content of every stage (``translate.<lang>`` per target language)."""
    params: dict[str, dict[str, Any]] = {}
    for stage, names in STAGE_SETTINGS.items():
        prefixes = STAGE_SETTING_PREFIXES.get(stage, ())
        chosen = list(names) + sorted(n for n in values if n.startswith(prefixes) and n not in names) if prefixes else list(names)
        entry = {name: _setting_value(name, values.get(name, "")) for name in chosen}
        if stage == "demux":
            source = Path(input_identity(file))
            stat = source.stat()
            entry["input"] = {"path": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
        if stage in GLOSSARY_STAGES:
            entry["glossaries"] = glossary_hashes(file, values.get("GLOSSARY", ""))
        if stage == "translate":
            for lang in target_languages(values.get("TGT", "")):
                params[f"translate.{lang}"] = dict(entry, language=lang)
            continue
        params[stage] = entry
    return params


def write_parameters(directory: str | os.PathLike[str], params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Write ``params/<name>.json`` for each entry whose content changed; the names written."""
    params_dir = Path(directory) / "params"
    written = []
    recorded = read_manifest(directory)["stages"]
    for name, entry in params.items():
        if write_if_changed(params_dir / f"{name}.json", {"stage": name.split(".")[0], "parameters": dict(entry)}):
            written.append(name)
            _restore_params_time(params_dir / f"{name}.json", recorded.get(name) or {})
    return written


def _restore_params_time(path: Path, entry: Mapping[str, Any]) -> None:
    """Back-date a params file rewritten to the settings its stage's output was last made with.

    A run with other settings that failed (or was refused) rewrote the file; going back to
    the settings of the output that is there must not redo that stage and all after it.
    The manifest records the params file's hash at each successful run.
    """
    try:
        if entry.get("params_sha256") != hashlib.sha256(path.read_bytes()).hexdigest():
            return
        started = dt.datetime.fromisoformat(str(entry["start"])).timestamp() - 1.0
    except (OSError, KeyError, ValueError, TypeError):
        return
    os.utime(path, (started, started))


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


def changed_parameters(directory: str | os.PathLike[str], params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The params names whose file is missing or differs from ``params`` (read only)."""
    from shared import job_status

    return [name for name, entry in params.items() if job_status.params_changes(directory, name, entry) is not None]


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
    burned = burn_output_name(path) if is_on(values.get("BURN")) else None
    return directory, mux_output_name(path), burned, languages, written


# ---- manifest --------------------------------------------------------------------------
def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def tool_versions(packages: Sequence[str] = ("click",), tools: Sequence[str] = ("ffmpeg",)) -> dict[str, str]:
    """Versions of python, the named packages and command-line tools (``unknown`` when absent)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    if tools:
        from shared import media

        for name in tools:
            versions[name] = media.tool_version(name)
    return versions


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """The job's manifest (an empty one when there is none or it is unreadable)."""
    path = Path(directory) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("stages"), dict):
            return data  # type: ignore[return-value]
    except (OSError, json.JSONDecodeError):
        pass
    return Manifest(schema_version=SCHEMA_VERSION, kind="manifest", job=Path(directory).name, stages={})


def record_stage(directory: str | os.PathLike[str], key: str, entry: Mapping[str, Any]) -> None:
    """Set the manifest entry of ``key`` (a stage, or ``translate.<lang>``) under the job lock."""
    with job_lock(directory):
        remove_stale_temporaries(Path(directory) / MANIFEST)  # left by a stage killed while recording
        manifest = read_manifest(directory)
        manifest["stages"][key] = StageEntry(**entry)  # type: ignore[typeddict-item]
        write_json(Path(directory) / MANIFEST, manifest)


class _JobLogFile(logging.FileHandler):
    """The job's log file; on a full disk it stops writing instead of printing a traceback per line."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            if not getattr(self, "_failed", False):
                self._failed = True
                print(f"{record.name}: cannot write the log {self.baseFilename}: {error.strerror or error}", file=sys.stderr)
            return
        super().handleError(record)


def configure_logging(stage: str, directory: str | os.PathLike[str], verbose: bool = False) -> Path:
    """(A stage's main only.) Log to stderr and append to ``logs/<stage>.log``; the log path."""
    log_path = Path(directory) / "logs" / f"{stage}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    to_stderr = logging.StreamHandler(sys.stderr)
    to_stderr.setFormatter(logging.Formatter(f"{stage}: %(message)s"))
    to_file = _JobLogFile(log_path, encoding="utf-8")
    to_file.setFormatter(logging.Formatter(f"%(asctime)s {stage} %(levelname)s %(message)s"))
    root.handlers[:] = [to_stderr, to_file]
    from shared import stage_log  # stderr lines, log-only tracebacks and uncaught errors into the log too

    stage_log.install(stage, log_path, to_file, verbose)
    return log_path


@dataclass
class StageRun:
    """One run of a stage: start/end lines, then its manifest entry when it succeeds.

    The stage sets ``audio_seconds`` (for the real-time factor), ``model``, ``revision``,
    ``device`` and anything in ``details`` while it runs.
    """

    stage: str
    directory: Path
    inputs: Sequence[str]
    outputs: Sequence[str]
    parameters: Mapping[str, Any]
    key: str | None = None
    packages: Sequence[str] = ("click",)
    tools: Sequence[str] = ("ffmpeg",)
    model: str | None = None
    revision: str | None = None
    device: str = "cpu"
    audio_seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> StageRun:
        self.started = now_iso()
        self._t0 = time.monotonic()
        log.info("%s -> %s", ", ".join(map(_short, self.inputs)), ", ".join(map(_short, self.outputs)))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        seconds = round(time.monotonic() - self._t0, 3)
        if exc_type is not None:
            log.info("failed after %.1f s", seconds)
            if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
                # The atomic writers already removed their temporaries: say what to do, no traceback.
                log.error("no space left on the disk holding %s (%s): nothing of this stage was kept; free some space "
                          "(or set OUT_DIR= to a bigger disk) and run make again", self.directory, exc.strerror)
                raise SystemExit(1) from None
            return
        rtf = round(seconds / self.audio_seconds, 4) if self.audio_seconds else None
        log.info("done in %.1f s%s", seconds, f" (real-time factor {rtf}, {self.audio_seconds:.1f} s of audio)" if rtf is not None else "")
        try:
            self._record(seconds, rtf)
        except OSError as exc:
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
            # The stage's output is in place but unrecorded; the non-zero exit makes Make delete it (.DELETE_ON_ERROR).
            log.error("no space left on the disk holding %s to record the stage (%s); free some space (or set "
                      "OUT_DIR= to a bigger disk) and run make again", self.directory, exc.strerror)
            raise SystemExit(1) from None

    def _record(self, seconds: float, rtf: float | None) -> None:
        entry = StageEntry(
            stage=self.stage,
            inputs=[str(p) for p in self.inputs],
            outputs=[str(p) for p in self.outputs],
            parameters=dict(self.parameters),
            model=self.model,
            revision=self.revision,
            device=self.device,
            start=self.started,
            end=now_iso(),
            seconds=seconds,
            audio_seconds=self.audio_seconds,
            real_time_factor=rtf,
            params_sha256=_file_sha256(self.directory / "params" / f"{self.key or self.stage}.json"),
            versions=tool_versions(self.packages, self.tools),
        )
        if self.details:
            entry["details"] = self.details
        record_stage(self.directory, self.key or self.stage, entry)


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def test_pause(stage: str) -> None:
    """Sleep when PIPELINE_TEST_PAUSE is ``<stage>:<seconds>``: lets tests kill a stage mid-write."""
    spec = os.environ.get("PIPELINE_TEST_PAUSE", "")
    name, _, seconds = spec.partition(":")
    if name == stage and seconds:
        log.debug("pausing %s s for a test", seconds)
        time.sleep(float(seconds))


def _short(path: Any) -> str:
    return Path(str(path)).name or str(path)


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
    p = sub.add_parser("hold", help="(internal) hold the job's run lock until --pid ends")
    p.add_argument("--job-dir", required=True, type=Path)
    p.add_argument("--pid", required=True, type=int)
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
        if args.command == "hold":
            return hold_run_lock(args.job_dir, args.pid, sys.stdout)
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
