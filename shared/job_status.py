"""`make status`: each stage of FILE's job as done / out of date (and why) / missing, read only.

Nothing is written, deleted or created: the params a run would write are computed in memory
(shared.job_params.stage_parameters) and compared with the job's params files, the outputs' times
are compared with their inputs', and the job's run lock is only looked at. So looking never
makes the next run redo work, and a file never run gets no job directory.

    python -m shared.job_status --job-dir JOB --target STAGE=PATH ...   (FILE and the settings from the environment)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The stages each stage's outputs are made from (the Makefile's rules).
UPSTREAM: dict[str, tuple[str, ...]] = {
    "demux": (),
    "separate": ("demux",),
    "vad": ("separate",),
    "asr": ("separate", "vad"),
    "align": ("asr", "separate", "vad"),
    "translate": ("align",),
    "subtitle": ("align", "translate"),
    "mux": ("demux", "subtitle"),
}


def params_text(name: str, entry: Mapping[str, Any]) -> str:
    """The params file's exact text (what shared.job_params.write_parameters writes)."""
    return json.dumps({"stage": name.split(".")[0], "parameters": dict(entry)}, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def _show(value: Any) -> str:
    if isinstance(value, dict) and "sha256" in value:
        return f"{value.get('path')} ({str(value.get('sha256'))[:8]})"
    text = str(value) if value not in ("", None) else "(empty)"
    return text


def params_changes(directory: str | os.PathLike[str], name: str, entry: Mapping[str, Any]) -> list[str] | None:
    """None when ``params/<name>.json`` holds ``entry``; else what changed ("ASR_MODEL tiny.en -> small")."""
    path = Path(directory) / "params" / f"{name}.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ["not run with these settings yet"]
    if text == params_text(name, entry):
        return None
    try:
        old = json.loads(text).get("parameters", {})
    except (json.JSONDecodeError, AttributeError):
        return ["its params file is unreadable"]
    changes = []
    for key in sorted(set(old) | set(entry)):
        before, after = old.get(key), entry.get(key)
        if before == after:
            continue
        if key == "input":
            changes.append("the input file changed")
        elif key == "glossaries":
            changes.append("a glossary changed")
        else:
            changes.append(f"{key} {_show(before)} -> {_show(after)}")
    return changes or ["its settings changed"]


def running(directory: Path) -> str | None:
    """``make pid N since T`` when a run holds the job's run lock; looks only."""
    from shared import job_locks

    lock = directory / job_locks.RUN_LOCK_FILE
    if os.name == "nt" or not lock.is_file():
        return None
    import fcntl

    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        pid, since = job_locks.run_lock_owner(directory)
        return f"make pid {pid} since {since}" if pid else "another make run"
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _feeds(directory: Path, upstream: str, stage: str, target: str) -> Path:
    """The upstream output ``stage`` reads: demux's audio.wav feeds separate (media.json feeds mux)."""
    return directory / "audio.wav" if upstream == "demux" and stage != "mux" else Path(target)


def stage_states(directory: Path, targets: Sequence[tuple[str, str]], params: Mapping[str, Mapping[str, Any]],
                 mux_tracks: str = "") -> dict[str, str]:
    """Each stage key's state: done, out of date (why) or missing (MUX_TRACKS: mux reads that file, not subtitle's)."""
    upstream = dict(UPSTREAM, mux=("demux",)) if mux_tracks else UPSTREAM
    states: dict[str, str] = {}
    paths = dict(targets)
    for key, target in targets:
        stage = key.split(".")[0]
        ups = [k for k in paths if k.split(".")[0] in upstream.get(stage, ()) and k in states]
        output = Path(target)
        if not output.exists():
            states[key] = "missing"
            continue
        changes = params_changes(directory, key, params[key]) if key in params else None
        if changes:
            states[key] = f"out of date ({', '.join(changes)})"
            continue
        stale = [k for k in ups if states[k] != "done"]
        if stale:
            states[key] = f"out of date (after {stale[0]}, which is {states[stale[0]].split(' (')[0]})"
            continue
        mtime = _mtime(output) or 0.0
        newer = [k for k in ups if (_mtime(_feeds(directory, k, stage, paths[k])) or 0.0) > mtime]
        params_file = directory / "params" / f"{key}.json"
        if stage == "mux" and mux_tracks and (_mtime(Path(mux_tracks)) or 0.0) > mtime:
            states[key] = f"out of date ({mux_tracks} changed after it)"
        elif newer:
            states[key] = f"out of date ({newer[0]} ran after it)"
        elif (_mtime(params_file) or 0.0) > mtime:
            states[key] = "out of date (its settings were rewritten after it ran)"
        else:
            states[key] = "done"
    return states


def status_lines(directory: Path, targets: Sequence[tuple[str, str]], environ: Mapping[str, str]) -> list[str]:
    from shared import job, job_manifest, job_params

    values = job_params.effective_settings(environ)
    file = environ.get("FILE", "") or values.get("FILE", "")
    params = job_params.stage_parameters(job.check_input(file), values)
    if not directory.is_dir():
        return [f"job {directory}: nothing has run for this FILE yet (make transcribe|translate|subtitle FILE=... starts it)",
                *(f"  {key:<14} missing" for key, _target in targets)]
    manifest = job_manifest.read_manifest(directory)["stages"]
    holder = running(directory)
    lines = [f"job {directory}" + (f"  (running now: {holder})" if holder else "")]
    for key, state in stage_states(directory, targets, params, values.get("MUX_TRACKS", "")).items():
        entry = manifest.get(key) or {}
        when = f"{entry['end']}  {entry['seconds']:.1f} s" if entry.get("end") and entry.get("seconds") is not None else ""
        if holder and state != "done":
            state = f"running or waiting ({state})"
        lines.append(f"  {key:<14} {state}" + (f"   {when}" if when and state == "done" else ""))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    from shared import job

    parser = argparse.ArgumentParser(prog="python -m shared.job_status")
    parser.add_argument("--job-dir", required=True, type=Path)
    parser.add_argument("--target", action="append", default=[], metavar="STAGE=PATH")
    args = parser.parse_args(argv)
    pairs = [tuple(t.split("=", 1)) for t in args.target if "=" in t]
    try:
        print("\n".join(status_lines(args.job_dir, pairs, dict(os.environ))))  # type: ignore[arg-type]
    except job.JobError as exc:
        print(f"status: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
