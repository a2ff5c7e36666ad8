"""One place for every pipeline decision that more than one module needs.

- the stages, in run order, and the GPU-heavy ones (the Makefile, job_params.py, gpu_lock and the
  environment registry are checked against :data:`STAGES` / :data:`GPU_STAGES` by
  tests/unit/test_policy.py);
- every setting's default, read once from config/pipeline.env (:func:`default`,
  :func:`setting`: what a stage falls back to when it runs outside the environment manager);
- the model cache root (:func:`cache_root`);
- the hardware profile, read once from config/hardware_cache.json (:func:`hardware_profile`)
  and the hardware class it implies (:func:`hardware_class`);
- every ``auto``: VAD, SEPARATE, ASR_BACKEND, DEVICE, COMPUTE_TYPE (:func:`resolve_auto`,
  :func:`vad_backend`, :func:`separate_on`, :func:`asr_backend`), decided from the hardware
  class and config/models.toml's ``[defaults.<class>]``, so the stage, the offline flag and
  cache-models agree about which model a run needs; DIARIZE (:func:`diarize_decision`, asked
  by the diarize stage and by shared.selection);
- which model each stage loads is shared.selection (built on these decisions and the
  registry of shared.models), the ASR model included (selection.choose_asr_model);
- what value each setting accepts is shared.validation (:data:`VALIDATORS`; preflight runs
  them and reports);
- which secret each stage may see (config/environments.toml ``[secrets]``,
  :func:`stage_secrets`).

Standard library only: the common environment, the bootstrap and every stage import it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from shared import settings as settings_mod

try:
    import tomllib
except ImportError:  # Python 3.10: the common environment carries tomli
    import tomli as tomllib  # type: ignore[no-redef]

if TYPE_CHECKING:
    from shared.speech.speakers import SpeakerCount

log = logging.getLogger(__name__)

REPO_ROOT = settings_mod.REPO_ROOT
HARDWARE_CACHE = Path("config") / "hardware_cache.json"
ENVIRONMENTS_TOML = Path("config") / "environments.toml"
CACHE_DIR_NAME = ".cache"

# Every stage of DESIGN.md, in the order a job runs them.
STAGES = ("demux", "separate", "vad", "diarize", "asr", "align", "translate", "subtitle", "mux")
# The stages that load a model onto the GPU: shared.gpu_lock runs one of them at a time per GPU.
GPU_STAGES = ("separate", "diarize", "asr", "align", "translate")
# Stages that load no model at all.
NO_MODEL_STAGES = frozenset({"demux", "mux", "subtitle"})

HARDWARE_CLASSES = ("cpu", "cuda", "apple-silicon")
DEVICE_CLASS = {"cuda": "cuda", "mps": "apple-silicon"}
# Used when bootstrap has not profiled the hardware yet: safe everywhere.
FALLBACK_HARDWARE = {"device": "cpu", "compute_type": "int8", "batch_size": 4, "asr_backend": "whisperx"}
# Settings whose empty value the hardware profile fills in, and the profile key it uses.
HARDWARE_SETTINGS = {"DEVICE": "device", "COMPUTE_TYPE": "compute_type", "BATCH_SIZE": "batch_size", "THREADS": "threads"}


# ---- settings ------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _defaults(root: Path) -> dict[str, str]:
    return {name: s.default for name, s in settings_mod.read_defaults(root).items()}


def defaults(root: Path = REPO_ROOT) -> dict[str, str]:
    """Every setting's default of config/pipeline.env (read once per root)."""
    return dict(_defaults(Path(root)))


def default(name: str, root: Path = REPO_ROOT) -> str:
    """The default of one setting; KeyError for a name config/pipeline.env does not define."""
    return _defaults(Path(root))[name]


def setting(name: str, environ: Mapping[str, str] | None = None, root: Path = REPO_ROOT) -> str:
    """A stage's view of a setting: the process environment (the environment manager sets
    every setting there), else the default of config/pipeline.env. Never a default of its own."""
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    return value if value is not None else default(name, root)


# Every switch that keeps a library of the stage environments from phoning home (usage
# traces, update and version checks), found in the installed sources; forced for every
# stage (by the environment manager, and by the stage skeleton for a stage run by hand),
# whatever the user's environment says: nothing about a job may leave the machine.
TELEMETRY_OFF = {
    # pyannote.audio 4 (pyannote/audio/telemetry/metrics.py): OpenTelemetry usage traces of
    # every pipeline run to its own server unless this is 0 (its default comes from a
    # config file that says true)
    "PYANNOTE_METRICS_ENABLED": "0",
    # opentelemetry-sdk (pulled in by pyannote): a no-op tracer, so no exporter ever sends
    "OTEL_SDK_DISABLED": "true",
    "OTEL_TRACES_EXPORTER": "none",
    "OTEL_METRICS_EXPORTER": "none",
    "OTEL_LOGS_EXPORTER": "none",
    # huggingface_hub (constants.py) and transformers (utils/hub.py, through it): no
    # telemetry pings; DO_NOT_TRACK is the cross-tool convention huggingface_hub also reads
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    # libraries the stages do not ship today but users add beside them (gradio UIs, wandb,
    # mlflow loggers through lightning): their documented opt-outs
    "GRADIO_ANALYTICS_ENABLED": "False",
    "WANDB_MODE": "disabled",
    "WANDB_DISABLED": "true",
}


# ---- the model cache -----------------------------------------------------------------
def cache_root(values: Mapping[str, str] | None = None, root: Path | str | None = None) -> Path:
    """The model cache: MODEL_CACHE_DIR of ``values`` (default: the process environment),
    a relative path taken from the repository root; else ``<root>/.cache``."""
    values = os.environ if values is None else values
    root = Path(root) if root is not None else REPO_ROOT
    configured = (values.get("MODEL_CACHE_DIR") or "").strip()
    if configured:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else root / path
    return root / CACHE_DIR_NAME


def user_hub_cache(values: Mapping[str, str] | None = None) -> Path:
    """The user's OWN Hugging Face hub cache (not ours), where `cache-models.sh --adopt` looks:
    ADOPT_FROM (cache-models.sh sets it from the user's HF_HUB_CACHE or HF_HOME before the
    environment manager points those at our cache), else the hub's default location."""
    values = os.environ if values is None else values
    if values.get("ADOPT_FROM"):
        return Path(values["ADOPT_FROM"]).expanduser()
    return Path(values.get("XDG_CACHE_HOME") or Path.home() / CACHE_DIR_NAME) / "huggingface" / "hub"


# ---- hardware ------------------------------------------------------------------------
def hardware_profile(root: Path = REPO_ROOT) -> dict:
    """config/hardware_cache.json as bootstrap wrote it ({} when absent or unreadable)."""
    path = Path(root) / HARDWARE_CACHE
    if not path.is_file():
        return {}
    try:
        profile = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        log.warning("ignoring unreadable %s: %s (run ./bootstrap.sh to redo it)", path, exc)
        return {}
    return profile if isinstance(profile, dict) else {}


def recommended_hardware(root: Path = REPO_ROOT) -> dict:
    """The profile's recommended device settings over safe defaults (every key present)."""
    recommended = dict(FALLBACK_HARDWARE, threads=os.cpu_count() or 1)
    found = hardware_profile(root).get("recommended", {})
    if isinstance(found, dict):
        recommended.update(found)
    return recommended


def hardware_class(root: Path = REPO_ROOT, values: Mapping[str, str] | None = None) -> str:
    """cpu, cuda or apple-silicon: DEVICE if set, else bootstrap's hardware profile."""
    device = (values or {}).get("DEVICE", "")
    if not device:
        recommended = hardware_profile(root).get("recommended", {})
        if recommended.get("hardware_class") in HARDWARE_CLASSES:
            return str(recommended["hardware_class"])
        device = str(recommended.get("device", ""))
    return DEVICE_CLASS.get(device, "cpu")


def _class_defaults(hw_class: str, root: Path) -> dict | None:
    from shared import models

    try:
        return models.class_defaults(hw_class, root)
    except models.RegistryError:
        return None


# ---- every "auto" --------------------------------------------------------------------
def vad_model_id(values: Mapping[str, str], root: Path = REPO_ROOT, hw_class: str | None = None) -> str:
    """The VAD model a run loads: VAD=auto is the hardware class's own ``vad`` of config/models.toml."""
    choice = (values.get("VAD", "auto") or "auto").strip().lower()
    if choice != "auto":
        return f"vad-{choice}"
    hw_class = hw_class or hardware_class(root, values)
    table = _class_defaults(hw_class, root)
    if table is None or not table.get("vad"):
        from shared import models

        raise models.RegistryError(f"no default vad model for hardware class {hw_class}")
    return str(table["vad"])


def vad_backend(setting_value: str, device: str, root: Path = REPO_ROOT) -> str:
    """VAD=``setting_value`` as a backend name (silero, pyannote): auto is the backend of the
    hardware class's default VAD model (config/models.toml), so Apple Silicon runs Silero as
    its defaults say. Without a registry entry: Silero on CPU, pyannote on a GPU."""
    choice = (setting_value or "auto").strip().lower()
    if choice != "auto":
        return choice
    hw_class = DEVICE_CLASS.get(device, "cpu")
    try:
        from shared import models

        spec = models.load_registry(root).models.get(vad_model_id({"VAD": "auto"}, root, hw_class))
    except Exception:  # noqa: BLE001 - an unreadable registry: the device decides
        spec = None
    if spec is not None and spec.backend in ("silero", "pyannote"):
        return spec.backend
    return "silero" if device in ("", "cpu") else "pyannote"


def separate_on(setting_value: str, device: str, root: Path = REPO_ROOT) -> bool:
    """SEPARATE=``setting_value``: auto is the hardware class's ``separate`` of config/models.toml
    (on with CUDA or MPS, off on CPU when the registry says nothing)."""
    choice = (setting_value or "auto").strip().lower()
    if choice not in ("auto", "on", "off"):
        raise ValueError(f"SEPARATE must be auto, on or off; not {choice!r}")
    if choice != "auto":
        return choice == "on"
    table = _class_defaults(DEVICE_CLASS.get(device, "cpu"), Path(root))
    if table is not None and "separate" in table:
        return bool(table["separate"])
    return device in ("cuda", "mps")


def asr_backend(values: Mapping[str, str], root: Path = REPO_ROOT, hw_class: str | None = None) -> str:
    """ASR_BACKEND as whisperx or mlx: auto is the hardware profile's ``asr_backend`` (bootstrap:
    mlx on macOS arm64) unless DEVICE or ``hw_class`` says otherwise; then mlx on the
    apple-silicon class, else whisperx."""
    choice = (values.get("ASR_BACKEND", "auto") or "auto").strip().lower()
    if choice != "auto":
        return choice
    if hw_class is None and not values.get("DEVICE"):
        profiled = hardware_profile(root).get("recommended", {}).get("asr_backend")
        if profiled in ("mlx", "whisperx"):
            return str(profiled)
    hw_class = hw_class or hardware_class(root, values)
    return "mlx" if hw_class == "apple-silicon" else "whisperx"


def resolve_auto(name: str, values: Mapping[str, str], root: Path = REPO_ROOT) -> str:
    """The effective value of a setting whose empty or ``auto`` value the pipeline decides."""
    value = (values.get(name, "") or "").strip()
    if name in HARDWARE_SETTINGS:
        return value or str(recommended_hardware(root).get(HARDWARE_SETTINGS[name], ""))
    device = resolve_auto("DEVICE", values, root)
    if name == "VAD":
        return vad_backend(value, device, root)
    if name == "SEPARATE":
        return "on" if separate_on(value, device, root) else "off"
    if name == "ASR_BACKEND":
        return asr_backend(values, root)
    return value


def diarize_decision(setting: str, count: SpeakerCount, workflow_asks: bool = False) -> tuple[bool, str]:
    """(run diarization?, why) for DIARIZE=auto|on|off.

    auto runs it when more than one speaker is likely (SPEAKERS or MIN_SPEAKERS above 1)
    or the workflow asks for speakers (``workflow_asks``: SUB_SPEAKER_LABELS=names). It
    never guesses from the audio, so auto on a plain run costs nothing.
    """
    value = (setting or "auto").strip().lower()
    if value in ("on", "1", "true", "yes"):
        return True, "DIARIZE=on"
    if value in ("off", "0", "false", "no"):
        return False, "DIARIZE=off"
    if value != "auto":
        raise ValueError(f"DIARIZE must be auto, on or off, not {setting!r}")
    if count.speakers > 1 or count.min_speakers > 1:
        return True, "DIARIZE=auto: SPEAKERS/MIN_SPEAKERS say more than one speaker"
    if count.speakers == 1:
        return False, "DIARIZE=auto: SPEAKERS=1"
    if workflow_asks:
        return True, "DIARIZE=auto: speaker names or labels are asked for"
    return False, "DIARIZE=auto: no sign of more than one speaker (set DIARIZE=on or SPEAKERS=N)"


# ---- which stage gets which secret ---------------------------------------------------
def secrets_table(root: Path = REPO_ROOT, config: Mapping | None = None) -> dict[str, tuple[str, ...]]:
    """config/environments.toml ``[secrets]`` (or that of an already read ``config``): each
    secret and the stages that receive it."""
    if config is None:
        path = Path(root) / ENVIRONMENTS_TOML
        if not path.is_file():
            return {}
        with open(path, "rb") as fh:
            config = tomllib.load(fh)
    return {name: tuple(stages) for name, stages in config.get("secrets", {}).items()}


def stage_secrets(stage: str, root: Path = REPO_ROOT, config: Mapping | None = None) -> frozenset[str]:
    """The secret names ``stage``'s process may see; every other secret is withheld."""
    return frozenset(name for name, stages in secrets_table(root, config).items() if stage in stages)
