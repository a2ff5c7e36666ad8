"""Preflight: everything a job verb can know before any stage runs, checked at once.

Make calls ``python -m shared.preflight check --verb VERB --vars-file F`` at parse time,
before ``shared.job prepare`` writes anything, so a wrong setting costs well under a
second, leaves the job untouched (no params rewritten, no output deleted) and lists every
problem at once, each with its fix:

- every setting's value: one validator per setting (shared.validation.VALIDATORS), reading the
  effective values through shared.settings; settings given on make's command line that do
  not exist ("unknown setting SUB_FORMAT: did you mean SUB_FORMATS?");
- every model the verb's workflow will load with these settings and this hardware class
  (shared.selection.stage_model_ids, completion records of the cache), the ASR model's
  languages against SRC (shared.selection.choose_asr_model: the stage uses the same choice);
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import outcome, policy, validation
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
    for name in validation.VALIDATORS:
        value = values.get(name, "")
        if name in settings_mod.SECRET_NAMES:
            continue
        problem = validation.validate(name, value, values)
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
    if src.lower() not in ("", "auto") and not validation._language(src, values):
        same = [t for t in values.get("TGT", "").split(",") if t.strip() and not validation._language(t, values)
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
            backend = policy.asr_backend(values, root, hw_class)
            model_backend = "mlx-whisper" if backend == "mlx" else "faster-whisper"
            try:
                selection.choose_asr_model(values.get("ASR_MODEL", ""), model_backend, hw_class, cache, root, language, backend)
            except models.ModelNotCached as exc:
                problems.append(Problem(f"model {exc.model_id} (asr) is not cached", exc.fix, outcome.MISSING))
            except selection.AsrModelProblem as exc:
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
        identity = job_params.input_record(path)
        folder = job.job_dir(path, values.get("OUT_DIR") or "out")
        if not folder.is_absolute():
            folder = ROOT / folder
        recorded = json.loads((folder / "params" / "demux.json").read_text(encoding="utf-8"))["parameters"]["input"]
        facts = json.loads((folder / "media.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, job.JobError):
        return None
    if recorded != identity:
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
    if total is not None and not (validation._time(values.get("START", ""), values) or validation._time(values.get("END", ""), values)):
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
