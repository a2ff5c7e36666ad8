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
The ETA is the stage's own, from its rate so far.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
DEFAULT_INTERVAL = 10.0
REPO_ROOT = Path(__file__).resolve().parents[1]


def clock(seconds: float) -> str:
    """``1:12``, ``1:02:03``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def stage_place(stage: str, verb: str | None = None, root: Path = REPO_ROOT) -> str:
    """``stage 4/8 asr`` for ``stage`` in the verb's workflow; ``stage`` alone when unknown."""
    verb = verb if verb is not None else os.environ.get("PIPELINE_VERB", "")
    if not verb:
        return stage
    try:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        with open(root / "config" / "environments.toml", "rb") as fh:
            stages = list(tomllib.load(fh).get("workflows", {}).get(verb, []))
    except (OSError, ValueError):
        return stage
    if stage not in stages:
        return stage
    return f"stage {stages.index(stage) + 1}/{len(stages)} {stage}"


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get("PROGRESS_INTERVAL", "") or DEFAULT_INTERVAL))
    except ValueError:
        return DEFAULT_INTERVAL


class Progress:
    """Counts work done out of ``total`` and reports it (bar on a terminal, throttled lines elsewhere)."""

    def __init__(self, stage: str, total: float, unit: str = "", logger: logging.Logger | None = None,
                 every: float | None = None, terminal: bool | None = None):
        self.stage, self.total, self.unit = stage, float(total), unit
        self.log = logger or logging.getLogger(stage)
        self.every = interval() if every is None else every
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.place = stage_place(stage)
        self.done = 0.0
        self.started = time.monotonic()
        self.last_line: float | None = None
        self.bar = None
        if self.terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.place, unit=f" {unit}" if unit else "it", file=sys.stderr, leave=False)

    def line(self) -> str:
        percent = 100.0 * self.done / self.total if self.total else 100.0
        elapsed = time.monotonic() - self.started
        count = f" ({self.done:g}/{self.total:g}{' ' + self.unit if self.unit else ''})"
        eta = ""
        if 0 < self.done < self.total and elapsed > 0:
            eta = f" ETA {clock(elapsed * (self.total - self.done) / self.done)}"
        return f"{self.place} {percent:.0f}%{count}{eta}"

    def update(self, amount: float = 1.0) -> None:
        self.done = min(self.total, self.done + amount) if self.total else self.done + amount
        if self.bar is not None:
            self.bar.update(amount)
        now = time.monotonic()
        finished = self.total and self.done >= self.total
        if self.last_line is None or finished or now - self.last_line >= self.every:
            self.last_line = now
            if self.bar is None:
                self.log.info("%s", self.line())
            else:
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
