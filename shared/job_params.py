"""The job's parameter files: which settings each stage's result depends on, and their values.

``params/<stage>.json`` holds the effective settings a stage ran with; it is rewritten
only when they change, so Make re-runs exactly the stages whose settings moved (and those
after them). The table is :data:`STAGE_SETTINGS`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared import settings as settings_mod
from shared.atomic import write_if_changed
from shared.job_locks import JobError
from shared.job_manifest import read_manifest

log = logging.getLogger(__name__)

# The settings each stage's result depends on: a change re-runs that stage and everything
# after it, and nothing before it. Values are the effective ones (hardware profile filled
# in); "translate" gets one params file per target language; settings whose name starts
# with a prefix in STAGE_SETTING_PREFIXES join the stage too (VAD_ONSET, ASR_BEAM_SIZE,
# the subtitle rules' SUB_* numbers), so a new tuning setting needs no change here.
STAGE_SETTINGS: dict[str, tuple[str, ...]] = {
    "demux": ("AUDIO_TRACK", "START", "END"),  # + the input's identity (path, size, mtime)
    "separate": ("SEPARATE", "DEVICE"),
    "vad": ("VAD", "DEVICE"),  # auto picks by device
    # DIARIZE=auto decides from the counts and SUB_SPEAKER_LABELS (shared.policy.diarize_decision)
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


def input_identity(path: str | os.PathLike[str]) -> str:
    """The resolved absolute path the job's hash is made from (the same file, however named)."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def input_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The input file as the demux params record it: its resolved path, size and mtime (OSError when it is gone)."""
    source = input_identity(path)
    stat = os.stat(source)
    return {"path": source, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def target_languages(tgt: str) -> list[str]:
    """The TGT comma list as file tags (``ta,tam,Tamil`` -> ``["ta"]``), in order, without repeats;
    JobError on a language the table does not know (shared.languages.parse_language_list)."""
    from shared.languages import UnknownLanguage, parse_language_list

    try:
        return parse_language_list(tgt, "TGT")
    except UnknownLanguage as exc:
        raise JobError(str(exc)) from None


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
            entry["input"] = input_record(file)
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


def changed_parameters(directory: str | os.PathLike[str], params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The params names whose file is missing or differs from ``params`` (read only)."""
    from shared import job_status

    return [name for name, entry in params.items() if job_status.params_changes(directory, name, entry) is not None]
