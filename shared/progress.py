"""Progress you can see anywhere: one helper for every stage's loop.

    for chunk in progress.track(chunks, "asr", unit="chunks"):
        ...

On a terminal it draws a tqdm bar on stderr. Anywhere else (make's output piped to a file, a
batch, CI) it writes plain lines, at most one every PROGRESS_INTERVAL seconds (default 10;
the first and the last always), through the stage's logger, so each line lands in the
job's ``logs/<stage>.log`` too:

    asr: stage 4/8 asr 37% (6/16 chunks) ETA 1:12

"stage 4/8" is the stage's place in the verb's workflow (config/environments.toml), from
PIPELINE_VERB, which the Makefile exports; without it the line starts at the percentage.
The ETA is the stage's own, from its rate so far. When later stages of the workflow remain,
the line ends with the whole job's ETA too:

    asr: stage 4/8 asr 37% (6/16 chunks) ETA 1:12, job ETA 3:40

The job ETA is this stage's ETA plus, for each later stage, the job's audio length (the
demux stage's, from the job's manifest.json) times that stage's cost per audio second on
this machine: the median real-time factor the stage recorded in the manifests of the
RECENT_JOBS most recent jobs under the same OUT_DIR (every finished stage records one), or
FIRST_RUN_COST before any job has run that stage here. Nothing extra is written: the
record of past runs is the jobs' own manifests. Later stages that are already up to date
(a re-run) are counted all the same: the job ETA is an upper bound then.

Counts in bytes (``unit="bytes"``: downloads) are shown in MB with the rate:

    cache-models: download small 37% (180.2/484.0 MB, 11.6 MB/s) ETA 0:26

``latest(text)`` finds the last progress line in a job's output, for the per-job lines
of a batch (shared/batch.py): ``batch: [3/120] film.mp4: stage 4/8 asr 37% ...``.
"""

from __future__ import annotations

import logging
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
DEFAULT_INTERVAL = 10.0
REPO_ROOT = Path(__file__).resolve().parents[1]
RECENT_JOBS = 20  # past jobs under OUT_DIR whose manifests give each stage's cost here
# Seconds of work per second of audio for a stage no job under OUT_DIR has run yet: a
# first-run guess for a CPU with the default settings (separate and diarize are off there
# unless asked: a copy and a decision), corrected by the first job's manifest.
FIRST_RUN_COST = {"demux": 0.02, "separate": 0.05, "vad": 0.05, "diarize": 0.05, "asr": 0.5, "align": 0.2,
                  "translate": 0.3, "subtitle": 0.01, "mux": 0.05}
MB = 1024 * 1024  # "MB" as cache-models counts model sizes (MiB)


def clock(seconds: float) -> str:
    """``1:12``, ``1:02:03``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def workflow(verb: str | None = None, root: Path = REPO_ROOT) -> list[str]:
    """The verb's stages in order (config/environments.toml); [] when unknown."""
    verb = verb if verb is not None else os.environ.get("PIPELINE_VERB", "")
    if not verb:
        return []
    try:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        with open(root / "config" / "environments.toml", "rb") as fh:
            return list(tomllib.load(fh).get("workflows", {}).get(verb, []))
    except (OSError, ValueError):
        return []


def stage_place(stage: str, verb: str | None = None, root: Path = REPO_ROOT) -> str:
    """``stage 4/8 asr`` for ``stage`` in the verb's workflow; ``stage`` alone when unknown."""
    stages = workflow(verb, root)
    if stage not in stages:
        return stage
    return f"stage {stages.index(stage) + 1}/{len(stages)} {stage}"


def _manifest_stages(job_dir: Path) -> dict:
    from shared.job_manifest import read_manifest  # here: cache-models imports progress, not the manifest

    return read_manifest(job_dir)["stages"]


def stage_costs(out_dir: Path, recent: int = RECENT_JOBS) -> dict[str, float]:
    """Each stage's median real-time factor over the ``recent`` newest job manifests under ``out_dir``."""
    try:
        manifests = sorted((p for p in Path(out_dir).glob("*/manifest.json")), key=lambda p: p.stat().st_mtime,
                           reverse=True)[:recent]
    except OSError:
        return {}
    seen: dict[str, list[float]] = {}
    for path in manifests:
        for name, entry in _manifest_stages(path.parent).items():
            factor = entry.get("real_time_factor") if isinstance(entry, dict) else None
            if isinstance(factor, (int, float)) and factor >= 0:
                seen.setdefault(name, []).append(float(factor))
    return {name: statistics.median(values) for name, values in seen.items()}


def job_audio_seconds(job_dir: Path) -> float | None:
    """The job's audio length: what the demux stage recorded (the clip, with START/END)."""
    entry = _manifest_stages(job_dir).get("demux")
    value = entry.get("audio_seconds") if isinstance(entry, dict) else None
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def later_stages_seconds(stage: str, job_dir: Path | None, verb: str | None = None,
                         root: Path = REPO_ROOT) -> float | None:
    """Estimated seconds of the workflow's stages after ``stage`` for this job; None when unknown."""
    stages = workflow(verb, root)
    if job_dir is None or stage not in stages:
        return None
    later = stages[stages.index(stage) + 1:]
    if not later:
        return 0.0
    audio = job_audio_seconds(job_dir)
    if audio is None:
        return None
    costs = stage_costs(job_dir.parent)
    return sum(audio * costs.get(name, FIRST_RUN_COST.get(name, 0.1)) for name in later)


def job_dir_of_logger() -> Path | None:
    """The job folder of this stage process: its log file is ``JOB/logs/<stage>.log``."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler) and getattr(handler, "baseFilename", ""):
            path = Path(handler.baseFilename)
            if path.parent.name == "logs":
                return path.parent.parent
    return None


PROGRESS_LINE = re.compile(r"^(?:\S+: )?(stage \d+/\d+ \S+ \d+%.*)$")


def latest(text: str) -> str | None:
    """The last whole-job progress line (``stage 4/8 asr 37% ...``) in a job's output, without its prefix."""
    for line in reversed(text.replace("\r", "\n").splitlines()):
        match = PROGRESS_LINE.match(line.strip())
        if match:
            return match.group(1)
    return None


def megabytes(count: float) -> str:
    return f"{count / MB:.1f}"


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get("PROGRESS_INTERVAL", "") or DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL


class Progress:
    """Counts work done out of ``total`` and reports it (bar on a terminal, throttled lines elsewhere)."""

    def __init__(self, stage: str, total: float, unit: str = "", logger: logging.Logger | None = None,
                 every: float | None = None, terminal: bool | None = None,
                 emit: Callable[[str], None] | None = None, job_dir: Path | None = None):
        self.stage, self.total, self.unit = stage, float(total), unit
        self.log = logger or logging.getLogger(stage)
        self.emit = emit  # where plain lines go instead of the logger (cache-models prints its own)
        self.every = interval() if every is None else every
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.place = stage_place(stage)
        self.after = later_stages_seconds(stage, job_dir or job_dir_of_logger())  # the rest of the job
        self.done = 0.0
        self.started = time.monotonic()
        self.last_line: float | None = None
        self.bar = None
        if self.terminal:
            from tqdm import tqdm

            options = {"unit": "B", "unit_scale": True, "unit_divisor": 1000} if unit == "bytes" else \
                {"unit": f" {unit}" if unit else "it"}
            self.bar = tqdm(total=total, desc=self.place, file=sys.stderr, leave=False, **options)

    def line(self) -> str:
        percent = 100.0 * self.done / self.total if self.total else 100.0
        elapsed = time.monotonic() - self.started
        if self.unit == "bytes":
            rate = f", {megabytes(self.done / elapsed)} MB/s" if elapsed > 0 and self.done else ""
            count = f" ({megabytes(self.done)}/{megabytes(self.total)} MB{rate})"
        else:
            count = f" ({self.done:g}/{self.total:g}{' ' + self.unit if self.unit else ''})"
        eta = ""
        left = None
        if 0 < self.done < self.total and elapsed > 0:
            left = elapsed * (self.total - self.done) / self.done
            eta = f" ETA {clock(left)}"
        elif self.total and self.done >= self.total:
            left = 0.0
        if self.after and left is not None:
            eta += f", job ETA {clock(left + self.after)}"
        return f"{self.place} {percent:.0f}%{count}{eta}"

    def update(self, amount: float = 1.0) -> None:
        self.done = min(self.total, self.done + amount) if self.total else self.done + amount
        if self.bar is not None:
            self.bar.update(amount)
        now = time.monotonic()
        finished = self.total and self.done >= self.total
        if self.last_line is None or finished or now - self.last_line >= self.every:
            self.last_line = now
            if self.bar is None and self.emit is not None:
                self.emit(self.line())
            elif self.bar is None:
                self.log.info("%s", self.line())
            elif self.emit is None:
                _to_log_files(self.log, self.line())

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _to_log_files(logger: logging.Logger, text: str) -> None:
    """Write ``text`` to the job's log file only (the terminal shows the bar)."""
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 0, "%s", (text,), None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def track(items: Iterable[T], stage: str, total: int | None = None, unit: str = "",
          logger: logging.Logger | None = None) -> Iterator[T]:
    """``items``, counting one per item against ``total`` (len(items) when it has one)."""
    if total is None:
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = 0
    meter = Progress(stage, total or 0, unit, logger)
    try:
        for item in items:
            yield item
            meter.update(1)
    finally:
        meter.close()
