"""The job's manifest (``manifest.json``): one entry per stage run, written under the job lock.

:class:`StageRun` wraps a stage's work: a start line, an end line with the time taken,
and, when the stage succeeds, its entry (inputs, outputs, parameters, model, versions).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.atomic import remove_stale_temporaries, write_json
from shared.job_locks import job_lock, now_iso
from shared.schema import SCHEMA_VERSION, Manifest, StageEntry

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# A stage that fails with one of these says "no space left" in one line, not a traceback.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def tool_versions(packages: Sequence[str] = ("click",), tools: Sequence[str] = ("ffmpeg",)) -> dict[str, str]:
    """Versions of python, the named packages and command-line tools (``unknown`` when absent)."""
    versions = {"python": platform.python_version()}
    if packages:  # imported here: it costs 20-30 ms, and a record-only stage names no packages
        import importlib.metadata
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    if tools:
        from shared import media

        for name in tools:
            versions[name] = media.tool_version(name)
    return versions


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """The job's manifest (an empty one when there is none or it is unreadable)."""
    path = Path(directory) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("stages"), dict):
            return data  # type: ignore[return-value]
    except (OSError, json.JSONDecodeError):
        pass
    return Manifest(schema_version=SCHEMA_VERSION, kind="manifest", job=Path(directory).name, stages={})


def record_stage(directory: str | os.PathLike[str], key: str, entry: Mapping[str, Any]) -> None:
    """Set the manifest entry of ``key`` (a stage, or ``translate.<lang>``) under the job lock."""
    with job_lock(directory):
        remove_stale_temporaries(Path(directory) / MANIFEST)  # left by a stage killed while recording
        manifest = read_manifest(directory)
        manifest["stages"][key] = StageEntry(**entry)  # type: ignore[typeddict-item]
        write_json(Path(directory) / MANIFEST, manifest)


@dataclass
class StageRun:
    """One run of a stage: start/end lines, then its manifest entry when it succeeds.

    The stage sets ``audio_seconds`` (for the real-time factor), ``model``, ``revision``,
    ``device`` and anything in ``details`` while it runs.
    """

    stage: str
    directory: Path
    inputs: Sequence[str]
    outputs: Sequence[str]
    parameters: Mapping[str, Any]
    key: str | None = None
    packages: Sequence[str] = ("click",)
    tools: Sequence[str] = ("ffmpeg",)
    model: str | None = None
    revision: str | None = None
    device: str = "cpu"
    audio_seconds: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __enter__(self) -> StageRun:
        self.started = now_iso()
        self._t0 = time.monotonic()
        log.info("%s -> %s", ", ".join(map(_short, self.inputs)), ", ".join(map(_short, self.outputs)))
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        seconds = round(time.monotonic() - self._t0, 3)
        if exc_type is not None:
            log.info("failed after %.1f s", seconds)
            if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
                # The atomic writers already removed their temporaries: say what to do, no traceback.
                log.error("no space left on the disk holding %s (%s): nothing of this stage was kept; free some space "
                          "(or set OUT_DIR= to a bigger disk) and run make again", self.directory, exc.strerror)
                raise SystemExit(1) from None
            return
        rtf = round(seconds / self.audio_seconds, 4) if self.audio_seconds else None
        log.info("done in %.1f s%s", seconds, f" (real-time factor {rtf}, {self.audio_seconds:.1f} s of audio)" if rtf is not None else "")
        try:
            self._record(seconds, rtf)
        except OSError as exc:
            if exc.errno not in DISK_FULL_ERRNOS:
                raise
            # The stage's output is in place but unrecorded; the non-zero exit makes Make delete it (.DELETE_ON_ERROR).
            log.error("no space left on the disk holding %s to record the stage (%s); free some space (or set "
                      "OUT_DIR= to a bigger disk) and run make again", self.directory, exc.strerror)
            raise SystemExit(1) from None

    def _record(self, seconds: float, rtf: float | None) -> None:
        entry = StageEntry(
            stage=self.stage,
            inputs=[str(p) for p in self.inputs],
            outputs=[str(p) for p in self.outputs],
            parameters=dict(self.parameters),
            model=self.model,
            revision=self.revision,
            device=self.device,
            start=self.started,
            end=now_iso(),
            seconds=seconds,
            audio_seconds=self.audio_seconds,
            real_time_factor=rtf,
            params_sha256=_file_sha256(self.directory / "params" / f"{self.key or self.stage}.json"),
            versions=tool_versions(self.packages, self.tools),
        )
        if self.details:
            entry["details"] = self.details
        record_stage(self.directory, self.key or self.stage, entry)


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _short(path: Any) -> str:
    return Path(str(path)).name or str(path)
