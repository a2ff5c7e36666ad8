"""What the four speech stages share beyond shared.job: progress, models, glossary, settings."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from shared import outcome

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """``items``, with progress through shared.progress: a bar on a terminal, throttled lines
    (also in the job's log) anywhere else."""
    from shared import progress as progress_mod

    yield from progress_mod.track(items, desc, total)


def cache_dir() -> Path:
    """The model cache: MODEL_CACHE_DIR (the environment manager always sets it), else .cache/."""
    from shared import policy

    return policy.cache_root(root=REPO_ROOT)


def repo_root() -> Path:
    return Path(os.environ.get("PIPELINE_ROOT") or REPO_ROOT)


class ModelMissing(Exception):
    """A model the stage needs is not in the cache; the message names the cache-models flag."""

    status = outcome.MISSING  # the exit status a stage failing on it ends with


def resolve_model(model_id: str) -> Path:
    """The cached path of ``model_id`` (config/models.toml), or ModelMissing with the fix."""
    from shared import models

    try:
        return Path(models.resolve(model_id, cache_dir(), repo_root()))
    except models.ModelNotCached as exc:
        raise ModelMissing(str(exc)) from exc


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        return default


def quiet_libraries() -> None:
    """Hold the libraries' own INFO chatter back (a stage's main calls this after logging setup)."""
    for noisy in ("faster_whisper", "whisperx", "pyannote", "speechbrain", "lightning", "lightning_fabric",
                  "pytorch_lightning", "numba", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
