"""The model registry (config/models.toml), the cache layout and stage-side resolution through the cache.

Stages never download. They ask :func:`resolve` for a model id and get a local path (a
snapshot folder, a checkpoint file, or a file inside an installed package), or a
:class:`ModelNotCached` whose message names the exact ``./cache-models.sh`` flag that
fetches it. Which models a run needs (and so whether a stage may run with
``HF_HUB_OFFLINE=1``, and what ``check`` and ``cache-models.sh --status`` report) is
shared.selection's decision, made from this registry; :func:`group_selection` says what
each ``cache-models.sh`` group flag fetches.

A model counts as cached when cache-models.sh finished it: ``<cache>/manifests/<id>.json``
exists (written last, atomically, after every file was fetched and hash-checked) and every
file it lists is present with its recorded size. Deciding this from local files only is
what lets a second ``./cache-models.sh --all`` make no network request.

Cache layout (the environment manager sets HF_HOME, TORCH_HOME and MLX_CACHE_DIR to it):

    <cache>/huggingface/hub/models--org--name/{blobs,snapshots/<commit>,refs/main}
    <cache>/torch/hub/checkpoints/<file>        url models (torch.hub's own place)
    <cache>/manifests/<id>.json                 completion record: files, sizes, sha256

Standard library only: the common environment (no torch) imports this.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the common environment carries tomli
    import tomli as tomllib  # type: ignore[no-redef]

from shared import outcome, policy

MODELS_TOML = Path("config") / "models.toml"
HARDWARE_CACHE = policy.HARDWARE_CACHE
MANIFESTS_DIR = "manifests"
HARDWARE_CLASSES = policy.HARDWARE_CLASSES
SOURCES = ("hf", "url", "package")
# The flags of cache-models.sh, one per group; "vad" models come with an environment.
GROUP_FLAGS = ("whisperx", "mlx", "align", "pyannote", "demucs", "indictrans2", "nllb")
NO_MODEL_STAGES = policy.NO_MODEL_STAGES

class ModelNotCached(Exception):
    """A model a stage needs is not in the cache; the message says how to fetch it."""

    status = outcome.MISSING  # the exit status a stage failing on it ends with

    def __init__(self, model_id: str, fix: str):
        self.model_id = model_id
        self.fix = fix
        super().__init__(f"model {model_id} is not cached: {fix}")


class RegistryError(Exception):
    """config/models.toml (or a setting naming a model) is wrong; the message says where."""


@dataclass(frozen=True)
class ModelSpec:
    """One entry of config/models.toml."""

    id: str  # short id used by --model and settings such as ASR_MODEL
    stage: str  # the stage that loads it (asr, align, vad, separate, translate, diarize)
    backend: str  # the library that loads it (faster-whisper, transformers, demucs, ...)
    group: str  # the cache-models.sh flag that fetches it, without "--"
    source: str  # hf | url | package
    description: str = ""
    repo: str = ""  # hf: "org/name"
    revision: str = "main"  # hf: a commit hash (pinned) or a branch resolved at download time
    allow_patterns: tuple[str, ...] = ()  # hf: files to fetch (fnmatch); empty: all
    url: str = ""  # url: where the file is
    filename: str = ""  # url: its name under TORCH_HOME/hub/checkpoints/
    sha256: str = ""  # url: expected sha256 ("" = recorded at download time)
    package: str = ""  # package: the distribution that ships it
    path: str = ""  # package: path inside site-packages
    environment: str = "ml"  # package: the environment it is installed in
    size_mb: int = 0  # approximate download size
    licence: str = ""
    gated: bool = False  # the hub wants a token and accepted terms
    platforms: tuple[str, ...] = ("all",)
    languages: tuple[str, ...] = ()

    @property
    def hub_url(self) -> str:
        """The page where a gated model's terms are accepted."""
        return f"https://huggingface.co/{self.repo}" if self.repo else self.url

    def available_on(self, platform_tag: str) -> bool:
        return "all" in self.platforms or platform_tag in self.platforms


@dataclass(frozen=True)
class Registry:
    """config/models.toml, parsed: models by id, and the per-hardware-class defaults."""

    models: dict[str, ModelSpec]
    defaults: dict[str, dict] = field(default_factory=dict)
    path: Path = MODELS_TOML


# ---- reading the registry ------------------------------------------------------------
def registry_path(root: Path) -> Path:
    """config/models.toml, or the file named by MODELS_TOML (tests, private registries)."""
    override = os.environ.get("MODELS_TOML", "")
    if override:
        return Path(override).expanduser()
    return Path(root) / MODELS_TOML


_CACHE: dict[tuple[str, float], Registry] = {}


def load_registry(root: Path) -> Registry:
    """The parsed registry (cached per file and modification time)."""
    path = registry_path(root)
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError as exc:
        raise RegistryError(f"cannot read the model registry {path}: {exc}") from None
    if key in _CACHE:
        return _CACHE[key]
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise RegistryError(f"{path}: {exc}") from None
    models: dict[str, ModelSpec] = {}
    for index, entry in enumerate(data.get("models", [])):
        spec = _spec_from_entry(entry, path, index)
        if spec.id in models:
            raise RegistryError(f"{path}: model id {spec.id!r} is listed twice")
        models[spec.id] = spec
    defaults = dict(data.get("defaults", {}))
    for hw_class, table in defaults.items():
        for key_name in ("asr", "asr_mlx", "vad", "separation", "nllb"):
            if table.get(key_name) and table[key_name] not in models:
                raise RegistryError(f"{path}: defaults.{hw_class}.{key_name} names unknown model {table[key_name]!r}")
        for direction, model_id in table.get("indictrans2", {}).items():
            if model_id not in models:
                raise RegistryError(f"{path}: defaults.{hw_class}.indictrans2.{direction} names unknown model {model_id!r}")
    reg = Registry(models=models, defaults=defaults, path=path)
    _CACHE[key] = reg
    return reg


def _spec_from_entry(entry: Mapping, path: Path, index: int) -> ModelSpec:
    where = f"{path}: models[{index}]"
    for required in ("id", "stage", "backend", "group", "source"):
        if not entry.get(required):
            raise RegistryError(f"{where} has no {required!r}")
    source = entry["source"]
    if source not in SOURCES:
        raise RegistryError(f"{where} ({entry['id']}): source must be one of {', '.join(SOURCES)}, not {source!r}")
    needs = {"hf": ("repo",), "url": ("url", "filename"), "package": ("path",)}[source]
    for required in needs:
        if not entry.get(required):
            raise RegistryError(f"{where} ({entry['id']}): a {source} model needs {required!r}")
    return ModelSpec(
        id=str(entry["id"]),
        stage=str(entry["stage"]),
        backend=str(entry["backend"]),
        group=str(entry["group"]),
        source=source,
        description=str(entry.get("description", "")),
        repo=str(entry.get("repo", "")),
        revision=str(entry.get("revision", "main")),
        allow_patterns=tuple(entry.get("allow_patterns", ())),
        url=str(entry.get("url", "")),
        filename=str(entry.get("filename", "")),
        sha256=str(entry.get("sha256", "")).lower(),
        package=str(entry.get("package", "")),
        path=str(entry.get("path", "")),
        environment=str(entry.get("environment", "ml")),
        size_mb=int(entry.get("size_mb", 0)),
        licence=str(entry.get("licence", "")),
        gated=bool(entry.get("gated", False)),
        platforms=tuple(entry.get("platforms", ("all",))),
        languages=tuple(entry.get("languages", ())),
    )


def registry(root: Path) -> dict[str, ModelSpec]:
    """Every model of the registry by id, in file order."""
    return dict(load_registry(root).models)


def get_spec(model_id: str, root: Path) -> ModelSpec:
    models = load_registry(root).models
    if model_id not in models:
        raise RegistryError(f"unknown model id {model_id!r}: see ./cache-models.sh --list")
    return models[model_id]


# ---- the hardware classes' defaults ---------------------------------------------------
def class_defaults(hw_class: str, root: Path) -> dict:
    defaults = load_registry(root).defaults
    if hw_class not in defaults:
        raise RegistryError(f"{registry_path(root)} has no [defaults.{hw_class}] table")
    return defaults[hw_class]


# ---- languages -----------------------------------------------------------------------
def _language(code: str):
    """The language table's record for ``code``, or None for auto, empty and unknown codes."""
    from shared.languages import UnknownLanguage, resolve_language

    code = code.strip()
    if code.lower() in ("", "auto"):
        return None
    try:
        return resolve_language(code)
    except UnknownLanguage:
        return None


def normalise_language(code: str) -> str:
    """``hi``, ``hin``, ``hin_Deva``, ``Hindi`` -> ``hi`` (ISO 639-1, else 639-3, from shared.languages).

    ``auto`` and "" stay as they are; a code the table does not know is returned lower-cased
    without its script or region, so the caller's own error names what the user wrote.
    """
    found = _language(code)
    if found is None:
        code = code.strip().lower()
        return code if code in ("", "auto") else code.replace("-", "_").split("_", 1)[0]
    return found.iso639_1 or found.iso639_3


def whisper_language(code: str) -> str:
    """The code Whisper (and WhisperX's aligners) use for ``code``: ``no`` for Norwegian, ``hi`` for hin_Deva.

    Falls back to :func:`normalise_language` for a language Whisper does not know.
    """
    found = _language(code)
    return found.whisper if found is not None and found.whisper else normalise_language(code)


def is_indic(code: str) -> bool:
    found = _language(code)
    return bool(found and found.is_indic)


def aligner_for(language: str, root: Path) -> ModelSpec | None:
    """The alignment model registered for a language, or None when there is none.

    The registry names languages as Whisper does (``no`` for Norwegian, where ISO 639-1
    says ``nb``), so every form of the language is tried.
    """
    found = _language(language)
    forms = {normalise_language(language), language.strip().lower()}
    if found is not None:
        forms |= {f for f in (found.whisper, found.iso639_1, found.iso639_3) if f}
    for spec in load_registry(root).models.values():
        if spec.stage == "align" and forms & set(spec.languages):
            return spec
    return None


def translation_models(backend: str, root: Path, hw_class: str = "cpu", direction: str | None = None) -> list[ModelSpec]:
    """The registered models of a translation backend (indictrans2, nllb), the class default first.

    With ``direction`` (indictrans2 only): just the models for that direction.
    """
    models = [m for m in load_registry(root).models.values() if m.stage == "translate" and m.backend == backend]
    if direction is not None:
        models = [m for m in models if any(lang.replace("->", "-") == direction for lang in m.languages)]
    try:
        table = class_defaults(hw_class, root)
    except RegistryError:
        table = {}
    wanted = table.get("indictrans2", {}).get(direction or "", "") if backend == "indictrans2" else table.get(backend, "")
    models.sort(key=lambda m: m.id != wanted)
    return models


# ---- the cache -----------------------------------------------------------------------
def hub_dir(cache: Path) -> Path:
    return Path(cache) / "huggingface" / "hub"


def repo_dir(cache: Path, repo: str) -> Path:
    return hub_dir(cache) / ("models--" + repo.replace("/", "--"))


def checkpoints_dir(cache: Path) -> Path:
    return Path(cache) / "torch" / "hub" / "checkpoints"


def manifest_path(cache: Path, model_id: str) -> Path:
    return Path(cache) / MANIFESTS_DIR / f"{model_id}.json"


def read_manifest(cache: Path, model_id: str) -> dict | None:
    path = manifest_path(cache, model_id)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def manifest_file_path(cache: Path, manifest: dict, entry: Mapping) -> Path:
    """Where a file recorded in a manifest lives in the cache."""
    if manifest.get("source") == "hf":
        return repo_dir(cache, manifest["repo"]) / "snapshots" / manifest["commit"] / entry["path"]
    return Path(cache) / entry["path"]


def _site_packages(root: Path, environment: str) -> list[Path]:
    env = Path(root) / ".venvs" / environment
    found = sorted(env.glob("lib/python3*/site-packages")) + sorted(env.glob("Lib/site-packages"))
    return found


def package_path(spec: ModelSpec, root: Path) -> Path | None:
    """Where a package-bundled model is: in its environment, or this interpreter's packages."""
    candidates = _site_packages(Path(root).resolve(), spec.environment)
    here = Path(sysconfig.get_paths()["purelib"])
    if here not in candidates:
        candidates.append(here)
    for site in candidates:
        path = site / spec.path
        if path.exists():
            return path
    return None


def model_state(spec: ModelSpec, cache: Path, root: Path) -> str:
    """``cached``, ``partial`` (something on disk, not finished) or ``missing``; local only."""
    if spec.source == "package":
        return "cached" if package_path(spec, root) is not None else "missing"
    manifest = read_manifest(cache, spec.id)
    if manifest is not None and manifest_complete(cache, manifest):
        return "cached"
    if manifest is not None or _partial_files(spec, cache):
        return "partial"
    return "missing"


def manifest_complete(cache: Path, manifest: dict) -> bool:
    """Every file of the manifest is present with its recorded size."""
    try:
        for entry in manifest["files"]:
            path = manifest_file_path(cache, manifest, entry)
            if not path.is_file() or path.stat().st_size != int(entry["size"]):
                return False
    except (KeyError, TypeError, ValueError, OSError):
        return False
    return bool(manifest.get("files"))


def _partial_files(spec: ModelSpec, cache: Path) -> bool:
    if spec.source == "hf":
        blobs = repo_dir(cache, spec.repo) / "blobs"
        return blobs.is_dir() and any(blobs.iterdir())
    if spec.source == "url":
        target = checkpoints_dir(cache) / spec.filename
        return target.exists() or target.with_name(target.name + ".partial").exists()
    return False


def disk_bytes(spec: ModelSpec, cache: Path, root: Path) -> int:
    """Bytes this model takes on disk now (complete or not)."""
    if spec.source == "package":
        path = package_path(spec, root)
        if path is None:
            return 0
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    if spec.source == "hf":
        blobs = repo_dir(cache, spec.repo) / "blobs"
        return sum(p.stat().st_size for p in blobs.iterdir() if p.is_file()) if blobs.is_dir() else 0
    target = checkpoints_dir(cache) / spec.filename
    return sum(p.stat().st_size for p in (target, target.with_name(target.name + ".partial")) if p.is_file())


# ---- fixes ---------------------------------------------------------------------------
def fix_for(spec: ModelSpec, root: Path, values: Mapping[str, str] | None = None) -> str:
    """The one command that makes ``spec`` available."""
    if spec.source == "package":
        return f"run ./bootstrap.sh --envs {spec.environment}"
    if values is None:
        try:
            from shared import settings as settings_mod

            values = settings_mod.resolve(Path(root))
        except (OSError, ValueError):
            values = {}
    try:
        if spec.id in group_selection(spec.group, values, root):
            return f"run ./cache-models.sh --{spec.group}"
    except RegistryError:
        pass
    return f"run ./cache-models.sh --model {spec.id}"


def group_selection(group: str, values: Mapping[str, str], root: Path, hw_class: str | None = None) -> list[str]:
    """The model ids ``./cache-models.sh --<group>`` fetches with these settings.

    A group flag fetches what the hardware class's defaults and the current settings use,
    not every model of the group (every aligner alone is over 40 GB): ``--model ID``
    fetches any other.
    """
    hw_class = hw_class or policy.hardware_class(root, values)
    table = class_defaults(hw_class, root)
    models = load_registry(root).models
    ids: list[str] = []
    if group == "whisperx":
        chosen = values.get("ASR_MODEL", "")
        if chosen.startswith("mlx-"):
            chosen = chosen[4:]
        ids.append(chosen if chosen in models and models[chosen].group == "whisperx" else table["asr"])
    elif group == "mlx":
        if table.get("asr_mlx"):
            chosen = values.get("ASR_MODEL", "")
            candidate = chosen if chosen.startswith("mlx-") else f"mlx-{chosen}"
            ids.append(candidate if candidate in models else table["asr_mlx"])
    elif group == "align":
        languages = list(table.get("align_languages", []))
        src = normalise_language(values.get("SRC", "auto"))
        if src not in ("", "auto"):
            languages.append(src)
        ids.extend(spec.id for spec in (aligner_for(lang, root) for lang in languages) if spec is not None)
    elif group == "pyannote":
        ids.extend(m.id for m in models.values() if m.group == "pyannote")
    elif group == "demucs":
        ids.append(table["separation"])
    elif group == "indictrans2":
        ids.extend(table.get("indictrans2", {}).values())
    elif group == "nllb":
        ids.append(table["nllb"])
    else:
        raise RegistryError(f"unknown group {group!r}; groups: {', '.join(GROUP_FLAGS)}")
    return list(dict.fromkeys(ids))


def all_selection(values: Mapping[str, str], root: Path, hw_class: str | None = None) -> list[str]:
    """What ``--all`` fetches: every group's selection that this hardware class uses.

    That is the ASR model (plus its MLX form on Apple Silicon), the aligners of the
    class's languages and SRC, Demucs when separation is on, and the IndicTrans2 and NLLB
    defaults. Not the gated diarization pipeline, which no workflow runs.
    """
    hw_class = hw_class or policy.hardware_class(root, values)
    table = class_defaults(hw_class, root)
    groups = ["whisperx", "mlx", "align", "indictrans2", "nllb"]
    separate = values.get("SEPARATE", "auto") or "auto"
    if separate == "on" or (separate == "auto" and table.get("separate")):
        groups.append("demucs")
    ids: list[str] = []
    for group in groups:
        ids.extend(group_selection(group, values, root, hw_class))
    return list(dict.fromkeys(ids))


# ---- the contracts the environment manager and the stages use ------------------------
def resolve(model_id: str, cache: Path, root: Path) -> Path:
    """The local path of a model: snapshot folder, checkpoint file or package file.

    Never downloads. Raises ModelNotCached (message: ``model <ID> is not cached: run
    ./cache-models.sh --<flag>``) when it is not complete in the cache.
    """
    spec = get_spec(model_id, root)
    cache = Path(cache)
    if spec.source == "package":
        path = package_path(spec, root)
        if path is None:
            raise ModelNotCached(spec.id, fix_for(spec, root))
        return path
    manifest = read_manifest(cache, spec.id)
    if manifest is not None and isinstance(manifest.get("files"), list):
        from shared import model_integrity  # size and time against the completion record: ModelChanged

        model_integrity.check_manifest(spec.id, [(manifest_file_path(cache, manifest, e), e) for e in manifest["files"]
                                                 if isinstance(e, dict) and "path" in e])
    if manifest is None or not manifest_complete(cache, manifest):
        raise ModelNotCached(spec.id, fix_for(spec, root))
    if spec.source == "hf":
        return repo_dir(cache, spec.repo) / "snapshots" / manifest["commit"]
    return checkpoints_dir(cache) / spec.filename


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.models resolve ID``: print a model's local path (for scripts)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != "resolve":
        print("usage: python -m shared.models resolve MODEL_ID", file=sys.stderr)
        return 2
    root = Path(__file__).resolve().parents[1]
    cache = policy.cache_root(root=root)
    try:
        print(resolve(args[1], cache, root))
    except (ModelNotCached, RegistryError) as exc:
        print(f"models: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
