"""Damaged models are caught before they are used, and a model that will not load says so in one line.

Two checks, cheap to dear:

- every time a stage resolves a model (shared.models.resolve): each file's size and
  modification time against the cache's completion record (``manifests/<id>.json``,
  written by cache-models.sh when the model was fetched, imported, adopted or verified).
  A file that differs was changed on disk since it was cached: the stage refuses it with
  "model X was changed on disk since it was cached: run ./cache-models.sh --verify";
- ``./cache-models.sh --verify``: every file's sha256 against the record, which catches
  content damaged at the same size and time (a disk error, a careless copy). It re-fetches
  what is bad, re-records size and time of what is good, and records when the last full
  verify ran (``manifests/.last-verify.json``).

Loading itself is wrapped too (:func:`loading`): any exception while a model loads
becomes one line naming the model, its path and the fix; the traceback goes to the
stage's log only.

Needs only click and shared.models: the common environment (cache-models) and the ml
stages share it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from shared import models

log = logging.getLogger(__name__)

VERIFY_FIX = "run ./cache-models.sh --verify"
LAST_VERIFY = ".last-verify.json"
# Copies that keep times (cp -a, rsync -a, tar) may round them to the second (FAT: to 2 s).
MTIME_SLACK_NS = 2_000_000_000


class ModelChanged(models.ModelNotCached):
    """A cached model's file differs from its completion record; the message says how to fix it.

    A kind of "not cached" (the cache no longer holds what was recorded), so every stage
    that reports a missing model reports this one the same way, in one line.
    """

    def __init__(self, model_id: str, path: Path, why: str):
        self.model_id, self.path, self.why, self.fix = model_id, path, why, VERIFY_FIX
        Exception.__init__(self, f"model {model_id} was changed on disk since it was cached ({path}: {why}): {VERIFY_FIX}")


class ModelLoadFailed(click.ClickException):
    """A model that is in the cache but will not load; the message is one line with the fix (exit 1)."""


def file_record(path: Path) -> dict[str, int]:
    """The size and modification time a completion record keeps for ``path`` (links followed)."""
    stat = Path(path).stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def changed_file(path: Path, entry: Mapping[str, Any]) -> str | None:
    """Why ``path`` no longer matches its record ``entry`` (None when it does, or when it is missing)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None  # missing: "not cached", not "changed"
    try:
        size = int(entry["size"])
    except (KeyError, TypeError, ValueError):
        return None
    if stat.st_size != size:
        return f"{stat.st_size} bytes, recorded {size}"
    recorded = entry.get("mtime_ns")
    if isinstance(recorded, int) and abs(stat.st_mtime_ns - recorded) > MTIME_SLACK_NS:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stat.st_mtime_ns / 1e9))
        return f"modified {when}, after it was recorded"
    return None


def check_manifest(model_id: str, files: list[tuple[Path, Mapping[str, Any]]]) -> None:
    """Raise ModelChanged for the first of ``files`` ((path, record) pairs) that changed since it was recorded."""
    for path, entry in files:
        why = changed_file(path, entry)
        if why:
            raise ModelChanged(model_id, path, why)


def write_last_verify(cache: Path, model_ids: list[str], checked_files: int, failures: int) -> Path:
    """Record when the last full ``--verify`` ran and how it went (``manifests/.last-verify.json``)."""
    path = Path(cache) / "manifests" / LAST_VERIFY
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"verified_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "models": model_ids,
            "files": checked_files, "failures": failures}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_last_verify(cache: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(cache) / "manifests" / LAST_VERIFY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def loading(model_id: str, path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Turn any exception while loading ``model_id`` from ``path`` into one ModelLoadFailed line.

    The traceback is logged for the stage's log file only (``log_only``: shared.stage_log
    keeps such records off the terminal).
    """
    try:
        yield
    except (KeyboardInterrupt, SystemExit, ModelChanged, ModelLoadFailed):
        raise
    except MemoryError:
        raise ModelLoadFailed(f"not enough memory to load model {model_id} ({path}): use a smaller model, "
                              "COMPUTE_TYPE=int8, or close other programs") from None
    except Exception as exc:  # noqa: BLE001 - any library's failure becomes one line
        detail = " ".join(str(exc).split())[:200] or "no detail"
        log.error("loading model %s from %s failed", model_id, path, exc_info=True, extra={"log_only": True})
        raise ModelLoadFailed(f"model {model_id} could not be loaded from {path} ({type(exc).__name__}: {detail}): "
                              f"the files may be damaged: {VERIFY_FIX} (re-fetches damaged files)") from None
