"""Batch runs: every media file of a folder as its own job, then one table of how each went.

``make subtitle DIR=folder/`` (and transcribe/translate) calls this module three ways:

    list --dir D --verb V [--vars-file F]
        at parse time: find the media files under D (recursively, sorted, hidden files and
        folders and OUT_DIR skipped), write them to a state folder
        OUT_DIR/.batch/<verb>-<hash of D>/files.json and print "STATE_DIR COUNT ENGINE".
        Make then makes one target per index, so file names never enter target names;
        with ENGINE=ray it runs shared.cluster on the same state folder instead.
    run-one --state-dir S --index N -- MAKE ARGS...
        one item: run the sub-make with FILE=<file N> in its environment, its output in
        S/logs/N.log, and record status, time and real-time factor in S/results/N.json.
        While it runs, its latest progress line is shown at most once per PROGRESS_INTERVAL
        seconds: "batch: [3/120] film.mp4: stage 5/8 asr 37% (6/16 chunks) ETA 1:12, ..."
        between its "started" and its "ok in 81.0 s" / "FAILED (...)" lines.
        It exits 0 when the job failed (the batch goes on) and 130 when interrupted.
    report --state-dir S
        the table of files, status, media length, time and real-time factor; exit 1 when
        any file failed or did not run.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import atomic, job, no_speech, progress, settings

BATCH_DIR = ".batch"
VERBS = ("transcribe", "translate", "subtitle")
# Extensions of inputs a batch picks up (the audio ones come from shared.job).
VIDEO_EXTENSIONS = frozenset({".mkv", ".mp4", ".m4v", ".mov", ".avi", ".webm", ".ts", ".m2ts", ".mts", ".mpg",
                              ".mpeg", ".wmv", ".flv", ".3gp", ".ogv", ".vob"})
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | job.AUDIO_EXTENSIONS
# Outputs of earlier runs that sit beside their inputs are not inputs themselves.
OUTPUT_MARKERS = (".subtitled.", ".burned.")
LOG_TAIL_LINES = 3
ENGINES = ("local", "ray")


class BatchError(Exception):
    """A batch that cannot start; the message says how to fix it."""


def media_files(folder: str | os.PathLike[str], skip: Sequence[str | os.PathLike[str]] = ()) -> list[Path]:
    """Every media file under ``folder`` (recursive), sorted by path; hidden entries and ``skip`` folders left out."""
    root = Path(folder).expanduser()
    if not root.exists():
        raise BatchError(f"DIR={folder}: no such folder")
    if not root.is_dir():
        raise BatchError(f"DIR={folder}: not a folder (FILE= takes one file)")
    skipped = {os.path.realpath(p) for p in skip}
    found = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.realpath(Path(current, d)) not in skipped)
        for name in files:
            path = Path(current, name)
            if name.startswith(".") or path.suffix.lower() not in MEDIA_EXTENSIONS:
                continue
            if any(marker in name for marker in OUTPUT_MARKERS) or not path.is_file():
                continue
            found.append(path.absolute())
    return sorted(found, key=lambda p: str(p))


def state_dir(folder: str | os.PathLike[str], verb: str, out_dir: str) -> Path:
    """``OUT_DIR/.batch/<verb>-<8 hex of the folder's resolved path>``: one per folder and verb."""
    digest = hashlib.sha256(os.path.realpath(folder).encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return Path(out_dir) / BATCH_DIR / f"{verb}-{digest}"


def plan(folder: str, verb: str, environ: Mapping[str, str]) -> tuple[Path, list[Path]]:
    """Write the batch's file list (and clear old results); (state folder, files)."""
    if verb not in VERBS:
        raise BatchError(f"DIR= works with {', '.join(VERBS)}, not {verb!r}; give `make {verb}` one FILE=")
    values = settings.resolve(environ=environ)
    out_dir = values.get("OUT_DIR") or "out"
    job.check_make_safe(out_dir, "OUT_DIR")
    engine(environ)
    files = media_files(folder, skip=[out_dir])
    if not files:
        extensions = " ".join(sorted(MEDIA_EXTENSIONS))
        raise BatchError(f"DIR={folder}: no media files in it or its subfolders (looked for: {extensions})")
    state = state_dir(folder, verb, out_dir)
    try:
        for sub in ("results", "logs"):
            shutil.rmtree(state / sub, ignore_errors=True)
            (state / sub).mkdir(parents=True, exist_ok=True)
        atomic.write_json(state / "files.json", {"folder": str(Path(folder).absolute()), "verb": verb,
                                              "files": [os.fsdecode(p) for p in files]})
    except OSError as exc:
        raise BatchError(f"cannot write {state}: {exc.strerror or exc} (set OUT_DIR= to a writable folder)") from exc
    return state, files


def engine(environ: Mapping[str, str]) -> str:
    """The batch engine (ENGINE: local or ray), checked."""
    value = (settings.resolve(environ=environ).get("ENGINE") or "local").strip().lower()
    if value not in ENGINES:
        raise BatchError(f"ENGINE={value}: use one of {', '.join(ENGINES)} (ray: docs/cluster.md)")
    return value


def read_plan(state: Path) -> dict[str, Any]:
    return json.loads((state / "files.json").read_text(encoding="utf-8"))


def media_seconds(directory: Path) -> float | None:
    """The length of the job's audio (its clip), from media.json; None when demux did not finish."""
    try:
        facts = json.loads((directory / "media.json").read_text(encoding="utf-8"))
        return round(float(facts["clip_end"]) - float(facts["clip_start"]), 3)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def failure_reason(log_text: str) -> str:
    """The line of a failed job's log that says why (the last error line, else the last line)."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if ("error" in lowered or "failed" in lowered) and not lowered.startswith("make: ***") and "[makefile:" not in lowered:
            return line
    return lines[-1] if lines else "no output"


def run_one(state: Path, index: int, command: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run item ``index`` (1-based) of the batch with ``command``; record its result. 0 unless interrupted."""
    files = read_plan(state)["files"]
    file = files[index - 1]
    label = display_name(file, read_plan(state)["folder"])
    log_path = state / "logs" / f"{index}.log"
    child = dict(environ, FILE=file)
    child.pop("DIR", None)
    values = settings.resolve(environ=child)
    try:
        directory: Path | None = job.job_dir(file, values.get("OUT_DIR") or "out")
    except job.JobError:
        directory = None
    print(f"batch: [{index}/{len(files)}] {label}: started", file=sys.stderr, flush=True)
    started = time.monotonic()
    with open(log_path, "wb") as log_file:
        # close_fds=False: the sub-make needs make's jobserver descriptors for -j.
        proc = subprocess.Popen(list(command), env=child, stdin=subprocess.DEVNULL, stdout=log_file,
                                stderr=subprocess.STDOUT, close_fds=False)
        try:
            code = _wait_showing_progress(proc, log_path, f"batch: [{index}/{len(files)}] {label}: ")
        except KeyboardInterrupt:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            proc.wait()
            return 130
    seconds = round(time.monotonic() - started, 3)
    if code < 0 or code in (130, 143):  # the sub-make was stopped by a signal: so is the batch
        return 130
    length = media_seconds(directory) if directory else None
    log_text = log_path.read_text(encoding="utf-8", errors="replace")
    result = {"index": index, "file": file, "status": "ok" if code == 0 else "failed", "exit_code": code,
              "seconds": seconds, "media_seconds": length,
              "real_time_factor": round(seconds / length, 4) if code == 0 and length else None,
              "job_dir": str(directory) if directory else None, "log": str(log_path),
              "reason": "" if code == 0 else failure_reason(log_text),
              # done, with nothing to subtitle: counted as ok, shown in the "no speech" column
              "no_speech": code == 0 and directory is not None and no_speech.job_has_speech(directory) is False}
    atomic.write_json(state / "results" / f"{index}.json", result)
    if code == 0:
        print(f"batch: [{index}/{len(files)}] {label}: ok in {seconds:.1f} s" + (" (no speech)" if result["no_speech"] else ""),
              file=sys.stderr, flush=True)
    else:
        print(f"batch: [{index}/{len(files)}] {label}: FAILED ({result['reason']}); log: {log_path}", file=sys.stderr, flush=True)
    return 0


def _wait_showing_progress(proc: subprocess.Popen, log_path: Path, prefix: str, poll: float = 0.5) -> int:
    """Wait for the job, printing its latest progress line (``stage 5/8 asr 37% ...``) after
    ``prefix`` at most once per PROGRESS_INTERVAL seconds; its exit code."""
    every, offset, last_shown, shown = progress.interval(), 0, None, None
    while True:
        try:
            return proc.wait(timeout=poll)
        except subprocess.TimeoutExpired:
            pass
        try:
            with open(log_path, "rb") as fh:
                fh.seek(offset)
                new = fh.read()
        except OSError:
            continue
        cut = new.rfind(b"\n") + 1  # whole lines only; the rest is read again next time
        offset += cut
        line = progress.latest(new[:cut].decode("utf-8", errors="replace"))
        now = time.monotonic()
        if line and line != shown and (last_shown is None or now - last_shown >= every):
            print(prefix + line, file=sys.stderr, flush=True)
            last_shown, shown = now, line


def display_name(file: str, folder: str) -> str:
    """``file`` relative to the batch folder (as the user knows it)."""
    try:
        return str(Path(file).relative_to(folder))
    except ValueError:
        return file


def results(state: Path) -> list[dict[str, Any]]:
    """One entry per planned file, in order; ``status`` is ``not run`` where no result was recorded."""
    planned = read_plan(state)
    entries = []
    for index, file in enumerate(planned["files"], 1):
        path = state / "results" / f"{index}.json"
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            entry = {"index": index, "file": file, "status": "not run", "seconds": None, "media_seconds": None,
                     "real_time_factor": None, "reason": "the batch stopped before this file"}
        entry["name"] = display_name(file, planned["folder"])
        entries.append(entry)
    return entries


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, secs = divmod(float(value), 60)
    return f"{int(minutes)}:{secs:04.1f}" if minutes else f"{secs:.1f} s"


def table(entries: Sequence[Mapping[str, Any]]) -> str:
    """The report: one row per file (status, no speech, media length, time, real-time factor), failures' reasons below.

    Entries that name a ``node`` (ENGINE=ray) add a last column: the node that ran the job.
    """
    with_node = any(e.get("node") for e in entries)
    rows = [("file", "status", "no speech", "length", "time", "RTF") + (("node",) if with_node else ())]
    for e in entries:
        rtf = e.get("real_time_factor")
        rows.append((e["name"], e["status"], "yes" if e.get("no_speech") else "", _seconds(e.get("media_seconds")),
                     _seconds(e.get("seconds")), f"{rtf:.3f}" if rtf is not None else "-")
                    + ((e.get("node") or "-",) if with_node else ()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    # file, status and no speech read left to right; the figures line up on the right; the node reads left to right
    lines = ["  ".join(cell.ljust(w) if i < 3 or i > 5 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    failed = [e for e in entries if e["status"] != "ok"]
    ok = len(entries) - len(failed)
    silent = sum(1 for e in entries if e["status"] == "ok" and e.get("no_speech"))
    lines.append(f"{ok} of {len(entries)} succeeded" + (f" ({silent} with no speech)" if silent else "")
                 + (f", {len(failed)} failed" if failed else ""))
    for e in failed:
        lines.append(f"  {e['name']}: {e.get('reason') or e['status']}" + (f" (log: {e['log']})" if e.get("log") else ""))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.batch", description="Batch runs over a folder for the Makefile.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help='write the batch\'s file list; print "STATE_DIR COUNT"')
    p.add_argument("--dir", help="the folder (default: DIR from the environment or --vars-file)")
    p.add_argument("--verb", required=True)
    p.add_argument("--vars-file", help="NAME=value lines of settings given on make's command line")
    p = sub.add_parser("run-one", help="run one file of the batch and record its result")
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--index", required=True, type=int)
    p.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- MAKE ARGS")
    p = sub.add_parser("report", help="print the table; exit 1 when any file failed")
    p.add_argument("--state-dir", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            environ = dict(os.environ)
            environ.update(job.read_vars_file(args.vars_file))
            folder = args.dir or environ.get("DIR", "")
            if not folder:
                raise BatchError("DIR is not set: run e.g. make subtitle DIR=path/to/folder/")
            state, files = plan(folder, args.verb, environ)
            print(f"{state} {len(files)} {engine(environ)}")
            return 0
        if args.command == "run-one":
            command = list(args.argv)
            if command and command[0] == "--":
                command = command[1:]
            if not command:
                raise BatchError("run-one needs the make command after --")
            return run_one(args.state_dir, args.index, command, os.environ)
        entries = results(args.state_dir)
        print(table(entries))
        return 0 if all(e["status"] == "ok" for e in entries) else 1
    except (BatchError, job.JobError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
