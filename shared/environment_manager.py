"""Which interpreter runs a stage, and with which process environment.

The one place that decides, for a stage: its environment (config/environments.toml),
the interpreter inside it (POSIX ``bin/python``, Windows ``Scripts\\python.exe``), and
the variables it runs with: model cache paths (``HF_HOME``, ``TORCH_HOME``,
``MLX_CACHE_DIR`` under ``.cache/`` or ``MODEL_CACHE_DIR``), ``HF_HUB_OFFLINE=1`` when
the stage's models are all cached, device / compute type / batch size / threads from
``config/hardware_cache.json`` unless overridden, ``PYTHONUNBUFFERED``, ``VIRTUAL_ENV`` /
``PATH`` / ``PYTHONPATH``, and every pipeline setting resolved in the order
flag > environment > .env > config/pipeline.env.

Run as ``python -m shared.environment_manager COMMAND`` with the common interpreter:

    list                         environments: installed, up to date, their stages
    env STAGE [--set K=V]        the stage's process environment (secrets as ***)
    python STAGE                 the stage's interpreter
    run STAGE [--set K=V] -- CMD ARGS...
                                 run CMD in the stage's environment; its exit code passes
    check [--workflow NAME]      what is missing or stale; non-zero with the fix
    plan                         (bootstrap) environments this platform needs, in order
    stamp NAME                   (bootstrap) record NAME as built from its requirements
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import launcher, outcome, policy, selection
from shared import settings as settings_mod

try:
    import tomllib
except ImportError:  # Python 3.10: the common environment carries tomli
    import tomli as tomllib  # type: ignore[no-redef]

log = logging.getLogger(__name__)

REPO_ROOT = settings_mod.REPO_ROOT
ENVIRONMENTS_TOML = Path("config") / "environments.toml"
HARDWARE_CACHE = policy.HARDWARE_CACHE
VENVS_DIR = ".venvs"
STAMP_FILE = ".requirements.sha256"

# Variables the deprecated or competing cache settings would use to pull models from a
# place other than the one this manager chose; they are dropped from a stage's process.
SHADOWING_CACHE_VARS = ("TRANSFORMERS_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HUB_CACHE", "PYTORCH_TRANSFORMERS_CACHE")

# Used when bootstrap has not profiled the hardware yet: safe everywhere (shared.policy decides).
FALLBACK_HARDWARE = policy.FALLBACK_HARDWARE

HARDWARE_SETTINGS = policy.HARDWARE_SETTINGS


class EnvironmentError_(Exception):
    """A problem a user can fix; the message says how."""

    status = outcome.MISSING  # the exit status a stage failing on it ends with


def platform_tag(system: str | None = None, machine: str | None = None) -> str:
    """This machine as ``os-arch``: linux-x86_64, macos-arm64, windows-x86_64, ..."""
    if (system is None or machine is None) and hasattr(os, "uname"):  # POSIX: no `platform` import (a start-up cost)
        uname = os.uname()
        system, machine = system or uname.sysname, machine or uname.machine
    if system is None or machine is None:
        import platform

        system, machine = system or platform.system(), machine or platform.machine()
    system, machine = system.lower(), machine.lower()
    os_name = {"darwin": "macos", "windows": "windows"}.get(system, system)
    arch = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "aarch64", "arm64": "arm64"}.get(machine, machine)
    if os_name == "linux" and arch == "arm64":
        arch = "aarch64"
    if os_name == "macos" and arch == "aarch64":
        arch = "arm64"
    return f"{os_name}-{arch}"


def is_windows_tag(tag: str) -> bool:
    return tag.startswith("windows-")


@dataclass(frozen=True)
class Environment:
    """One environment of config/environments.toml, resolved for one platform."""

    name: str
    requirements: Path
    platforms: tuple[str, ...]
    description: str
    size_mb: int
    path: Path
    windows: bool
    verify: tuple[str, ...] = ()

    @property
    def python(self) -> Path:
        """The interpreter inside this environment."""
        if self.windows:
            return self.path / "Scripts" / "python.exe"
        return self.path / "bin" / "python"

    @property
    def bin_dir(self) -> Path:
        return self.path / ("Scripts" if self.windows else "bin")

    def installed(self) -> bool:
        return self.python.exists()

    def requirements_hash(self) -> str:
        return hashlib.sha256(self.requirements.read_bytes()).hexdigest()

    def built_hash(self) -> str | None:
        stamp = self.path / STAMP_FILE
        return stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else None

    def site_packages(self) -> list[Path]:
        if self.windows:
            return [self.path / "Lib" / "site-packages"]
        return sorted(self.path.glob("lib/python3*/site-packages"))

    def missing_packages(self) -> list[str]:
        """The ``verify`` modules with no folder or file in site-packages (no import: cheap)."""
        dirs = [d for d in self.site_packages() if d.is_dir()]

        def present(module: str) -> bool:
            return any((d / module).is_dir() or any(d.glob(module + ".*")) for d in dirs)

        return [m for m in self.verify if not present(m)]

    def state(self) -> str:
        """``missing``, ``stale`` (requirements changed since the build), ``broken`` (stamped,
        but a package it must hold is absent: e.g. an older bootstrap synced elsewhere) or
        ``up-to-date``."""
        if not self.installed():
            return "missing"
        if not self.requirements.is_file() or self.built_hash() != self.requirements_hash():
            return "stale"
        if self.missing_packages():
            return "broken"
        return "up-to-date"


@dataclass
class Manager:
    """Reads the environment registry for one repository and one platform."""

    root: Path = REPO_ROOT
    tag: str = field(default_factory=platform_tag)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        config_path = self.root / ENVIRONMENTS_TOML
        with open(config_path, "rb") as fh:
            self.config = tomllib.load(fh)
        self.windows = is_windows_tag(self.tag)

    # ---- registry -------------------------------------------------------------------
    def environments(self) -> dict[str, Environment]:
        """Every environment of the registry, in file order (common first)."""
        result = {}
        for name, spec in self.config["environments"].items():
            req = spec["requirements"].replace("{platform}", self.tag)
            result[name] = Environment(
                name=name,
                requirements=self.root / req,
                platforms=tuple(spec.get("platforms", [])),
                description=spec.get("description", ""),
                size_mb=int(spec.get("size_mb", 0)),
                path=self.root / VENVS_DIR / name,
                windows=self.windows,
                verify=tuple(spec.get("verify", [])),
            )
        return result

    def environment(self, name: str) -> Environment:
        envs = self.environments()
        if name not in envs:
            raise EnvironmentError_(f"unknown environment {name!r}; known: {', '.join(envs)}")
        return envs[name]

    def needed_here(self) -> list[Environment]:
        """The environments this platform builds, common first."""
        envs = [e for e in self.environments().values() if self.tag in e.platforms]
        envs.sort(key=lambda e: e.name != "common")
        return envs

    def stages(self) -> dict[str, str]:
        return dict(self.config["stages"])

    def workflows(self) -> dict[str, list[str]]:
        return {k: list(v) for k, v in self.config.get("workflows", {}).items()}

    def settings(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        return settings_mod.resolve(self.root, self.environ, overrides)

    def hardware(self) -> dict:
        """The recommended device settings of config/hardware_cache.json (or safe defaults)."""
        return policy.recommended_hardware(self.root)

    def stage_environment_name(self, stage: str, values: Mapping[str, str] | None = None) -> str:
        """The environment that runs ``stage`` with these settings."""
        stages = self.stages()
        if stage not in stages:
            raise EnvironmentError_(f"unknown stage {stage!r}; known stages: {', '.join(stages)}")
        name = stages[stage]
        backend = self.config.get("stage_backends", {}).get(stage)
        if backend:
            values = values if values is not None else self.settings()
            chosen = policy.resolve_auto(backend["setting"], values, self.root)
            name = backend["environments"].get(chosen, name)
        return name

    def stage_environment(self, stage: str, values: Mapping[str, str] | None = None) -> Environment:
        env = self.environment(self.stage_environment_name(stage, values))
        if self.tag not in env.platforms:
            raise EnvironmentError_(
                f"stage {stage!r} needs the {env.name!r} environment, which does not exist on "
                f"{self.tag} (it is built on: {', '.join(env.platforms)})"
            )
        return env

    # ---- the process environment -----------------------------------------------------
    def cache_root(self, values: Mapping[str, str]) -> Path:
        return policy.cache_root(values, self.root)

    def stage_secrets(self, stage: str) -> frozenset[str]:
        """The secrets ``stage`` is declared to receive (environments.toml ``[secrets]``)."""
        return policy.stage_secrets(stage, self.root, self.config)

    def process_environment(self, stage: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Every variable ``stage`` runs with (its declared secrets included: never print this raw).

        A secret (settings.is_secret) reaches the stage only when config/environments.toml's
        ``[secrets]`` names the stage for it; every other secret is removed, wherever it came from.
        """
        values = self.settings(overrides)
        env_obj = self.stage_environment(stage, values)
        child = {k: v for k, v in self.environ.items() if k not in SHADOWING_CACHE_VARS}
        for name in SHADOWING_CACHE_VARS:
            if name in self.environ:
                log.warning("%s is ignored: models live under HF_HOME (%s)", name, self.cache_root(values))
        child.update(values)
        granted = self.stage_secrets(stage)
        for name in [n for n in child if settings_mod.is_secret(n) and n not in granted]:
            del child[name]

        hardware = self.hardware()
        for name, key in HARDWARE_SETTINGS.items():
            if not values.get(name):
                child[name] = str(hardware.get(key, ""))
        threads = child.get("THREADS", "")
        if threads:
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                if name not in self.environ:  # the user's own value wins
                    child[name] = threads
        for name, value in MALLOC_TUNING.items():
            child.setdefault(name, value)  # the user's own value wins

        cache = self.cache_root(values)
        child["MODEL_CACHE_DIR"] = str(cache)
        child["HF_HOME"] = str(cache / "huggingface")
        child["TORCH_HOME"] = str(cache / "torch")
        child["MLX_CACHE_DIR"] = str(cache / "mlx")
        child.update(policy.TELEMETRY_OFF)
        if self.stage_models_cached(stage, values, cache):
            child["HF_HUB_OFFLINE"] = "1"

        sep = ";" if self.windows else ":"
        child["PYTHONUNBUFFERED"] = "1"
        child["VIRTUAL_ENV"] = str(env_obj.path)
        child["PATH"] = str(env_obj.bin_dir) + sep + self.environ.get("PATH", "")
        pythonpath = self.environ.get("PYTHONPATH", "")
        child["PYTHONPATH"] = str(self.root) + (sep + pythonpath if pythonpath else "")
        child["PIPELINE_ROOT"] = str(self.root)
        child["PIPELINE_STAGE"] = stage
        return child

    def stage_models_cached(self, stage: str, values: Mapping[str, str], cache: Path) -> bool:
        """True when every model ``stage`` may load is in the cache (so no network is needed)."""
        return selection.stage_models_cached(stage, values, cache, root=self.root)


# ---- command line --------------------------------------------------------------------
# glibc malloc in a stage's process: one arena, no mmap for large blocks, the heap never
# trimmed. CTranslate2's encoder allocates its attention scores (216 MB a batch for tiny at
# batch 4) and frees them again, and by default each such block is a fresh mmap whose every
# page faults when first touched: the asr stage on 10 minutes of speech took 1.85 million page
# faults and 6 to 8 s of system time, against 0.14 million and 2.4 s with these
# (docs/benchmarks.md, "The asr stage on a CPU"). Freed memory stays with the process, which ends with
# its stage; peak RSS is unchanged. Other C libraries (macOS, Windows) ignore the names.
MALLOC_TUNING = {"MALLOC_ARENA_MAX": "1", "MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "4294967295"}


def _parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    result = {}
    for pair in pairs:
        if "=" not in pair:
            raise EnvironmentError_(f"--set takes NAME=VALUE, not {pair!r}")
        name, value = pair.split("=", 1)
        result[name] = value
    return result


def _bootstrap_hint(env: Environment) -> str:
    return f"run ./bootstrap.sh --envs {env.name}  (Windows: .\\bootstrap.ps1 -Envs {env.name})"


def cmd_list(mgr: Manager, _args: argparse.Namespace) -> int:
    by_env: dict[str, list[str]] = {}
    for stage, env in mgr.stages().items():
        by_env.setdefault(env, []).append(stage)
    for stage, spec in mgr.config.get("stage_backends", {}).items():
        for env in spec["environments"].values():
            by_env.setdefault(env, []).append(f"{stage} ({spec['setting']})")
    print(f"{'environment':<12} {'state':<11} {'here':<5} stages")
    for env in mgr.environments().values():
        here = "yes" if mgr.tag in env.platforms else "no"
        state = env.state() if here == "yes" else "n/a"
        print(f"{env.name:<12} {state:<11} {here:<5} {', '.join(by_env.get(env.name, [])) or '-'}")
    return 0


def cmd_env(mgr: Manager, args: argparse.Namespace) -> int:
    child = mgr.process_environment(args.stage, _parse_sets(args.set))
    for name in sorted(child):
        print(f"{name}={settings_mod.redact(name, child[name])}")
    return 0


def cmd_python(mgr: Manager, args: argparse.Namespace) -> int:
    print(mgr.stage_environment(args.stage).python)
    return 0


def cmd_run(mgr: Manager, args: argparse.Namespace) -> int:
    command = list(args.argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise EnvironmentError_("run needs a command after --, e.g. run asr -- python stages/asr.py --help")
    env_obj = mgr.stage_environment(args.stage)
    if not env_obj.installed():
        raise EnvironmentError_(f"the {env_obj.name!r} environment for stage {args.stage!r} is not built: {_bootstrap_hint(env_obj)}")
    child = mgr.process_environment(args.stage, _parse_sets(args.set))
    stage_main = light_main(args.stage, command, child, mgr.root)
    if stage_main is not None:  # this interpreter can do it: no stage process
        return launcher.run_here(stage_main, command, child)
    if command[0] in ("python", "python3"):
        command[0] = str(env_obj.python)
    sys.stdout.flush()
    sys.stderr.flush()
    locks = take_gpu_lock(args.stage, child)
    try:  # not exec: the launcher stops the stage when its make is killed, and holds the job meanwhile
        return launcher.run(command, child, inherit=locks)
    except FileNotFoundError:
        raise EnvironmentError_(f"command not found: {command[0]}") from None


def take_gpu_lock(stage: str, child: Mapping[str, str]) -> list[int]:
    """(run) A GPU-heavy stage on cuda/mps first takes that GPU's lock (shared.gpu_lock): the
    descriptor for the stage to inherit; nothing on a CPU. In this process, so a stage starts
    one interpreter less than with ``python -m shared.gpu_lock`` in front."""
    device = (child.get("DEVICE") or "cpu").strip().lower()
    if stage not in policy.GPU_STAGES or device not in ("cuda", "mps"):
        return []
    from shared import gpu_lock

    path = gpu_lock.lock_path(device, child.get("OUT_DIR") or "out", child)
    if path is None:
        return []
    return [gpu_lock.acquire(path, stage, say=lambda text: print(text, file=sys.stderr, flush=True))]


# Stages whose file can tell, from the settings and inputs alone, that this run needs
# nothing but the common interpreter's packages (click, the standard library): the stage
# module's ``runs_light(argv, environ)`` says so, and its ``main`` then runs in this
# process instead of starting the stage's (ml) interpreter, with the same outputs and
# manifest entry. The common cases: diarize with DIARIZE resolving off, separate's
# pass-through (SEPARATE=auto on a CPU), and align timing words from the ASR pass's own
# word times (ALIGN=whisper, the CPU default: no model is loaded).
LIGHT_STAGES = ("separate", "diarize", "align")


def light_main(stage: str, command: Sequence[str], child: Mapping[str, str], root: Path):
    """The stage's Click ``main`` when ``command`` (python stages/STAGE.py ...) needs only this interpreter; else None."""
    if stage not in LIGHT_STAGES or len(command) < 2 or command[0] not in ("python", "python3"):
        return None
    script = Path(command[1])
    if script.resolve() != (Path(root) / "stages" / f"{stage}.py").resolve() or not script.is_file():
        return None
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_stage_{stage}", script)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError:  # the stage file needs more than this interpreter has: run it the usual way
        return None
    runs_light = getattr(module, "runs_light", None)
    if runs_light is None or not runs_light(list(command[2:]), child):
        return None
    return lambda: outcome.run_stage(module.main, stage)


def problems(mgr: Manager, workflow: str | None) -> list[str]:
    """What keeps ``workflow`` (or everything) from running here, each with its fix."""
    found = []
    workflows = mgr.workflows()
    if workflow is not None and workflow not in workflows:
        raise EnvironmentError_(f"unknown workflow {workflow!r}; known: {', '.join(workflows)}")
    stages = workflows[workflow] if workflow else list(mgr.stages())
    seen = set()
    for stage in stages:
        try:
            env = mgr.stage_environment(stage)
        except EnvironmentError_ as exc:
            found.append(str(exc))
            continue
        if env.name in seen:
            continue
        seen.add(env.name)
        state = env.state()
        if state == "missing":
            found.append(f"environment {env.name} is not built: {_bootstrap_hint(env)}")
        elif state == "stale":
            found.append(f"environment {env.name} is out of date with {env.requirements.relative_to(mgr.root)}: {_bootstrap_hint(env)}")
        elif state == "broken":
            found.append(f"environment {env.name} lacks {', '.join(env.missing_packages())}: {_bootstrap_hint(env)}")
    if not (mgr.root / HARDWARE_CACHE).is_file():
        found.append(f"no hardware profile ({HARDWARE_CACHE}): run ./bootstrap.sh")
    if workflow:
        values = mgr.settings()
        found.extend(selection.workflow_problems(workflow, values, mgr.cache_root(values), root=mgr.root))
    return found


def cmd_check(mgr: Manager, args: argparse.Namespace) -> int:
    found = problems(mgr, args.workflow)
    for line in found:
        print(f"missing: {line}")
    if args.workflow:
        values = mgr.settings()
        for line in selection.workflow_optional(args.workflow, values, mgr.cache_root(values), root=mgr.root):
            print(f"optional: {line}")
    if not found:
        print(f"ready: {args.workflow or 'all environments'}")
    return 1 if found else 0


def cmd_plan(mgr: Manager, _args: argparse.Namespace) -> int:
    for env in mgr.needed_here():
        print(f"{env.name}\t{env.requirements}\t{env.state()}\t{env.size_mb}\t{','.join(env.verify)}")
    return 0


def cmd_stamp(mgr: Manager, args: argparse.Namespace) -> int:
    env = mgr.environment(args.name)
    (env.path / STAMP_FILE).write_text(env.requirements_hash() + "\n", encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m shared.environment_manager",
        description="Which interpreter and process environment each pipeline stage runs with.",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this one)")
    parser.add_argument("--platform", default=None, metavar="TAG",
                        help="act as on another platform, e.g. windows-x86_64 (default: this machine)")
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("list", help="environments: installed, up to date, their stages")
    p = sub.add_parser("env", help="a stage's process environment as KEY=VALUE (secrets as ***)")
    p.add_argument("stage")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a setting, as a flag would give it")
    p = sub.add_parser("python", help="a stage's interpreter path")
    p.add_argument("stage")
    p = sub.add_parser("run", help="run a command in a stage's environment")
    p.add_argument("stage")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    p = sub.add_parser("check", help="what is missing or stale, with the fix")
    p.add_argument("--workflow", default=None)
    sub.add_parser("plan", help="environments this platform needs: name, requirements, state, size MB, modules to verify")
    p = sub.add_parser("stamp", help="record an environment as built from its current requirements")
    p.add_argument("name")
    return parser


COMMANDS = {"list": cmd_list, "env": cmd_env, "python": cmd_python, "run": cmd_run,
            "check": cmd_check, "plan": cmd_plan, "stamp": cmd_stamp}


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="environment_manager: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    try:
        mgr = Manager(root=args.root, tag=args.platform or platform_tag())
        return COMMANDS[args.verb](mgr, args)
    except EnvironmentError_ as exc:
        print(f"environment_manager: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
