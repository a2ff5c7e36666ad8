"""Atomic files: the project's one writer that never leaves a half-written file in place.

A temporary beside the target (``.<stem>.tmp-<pid><suffix>``) is renamed onto it only when
the write completes; :func:`remove_stale_temporaries` deletes the temporaries of processes
that were killed. Every writer of the project (job files, subtitle files, the hardware
profile, the model cache's manifests) goes through :func:`write_text` or :func:`atomic_path`.
Standard library only. shared.job re-exports every name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` only when the block succeeds.

    The temporary name keeps the final extension (``x.tmp-123.wav``) so tools that choose a
    format by extension (ffmpeg) still work; it is removed when the block fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        _commit_pause()
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _commit_pause() -> None:
    """Sleep before an atomic rename when PIPELINE_TEST_COMMIT_PAUSE is ``<stage>:<seconds>`` and
    this process runs that stage (PIPELINE_STAGE): lets kill tests stop any stage with its
    output written but not yet in place."""
    name, _, seconds = os.environ.get("PIPELINE_TEST_COMMIT_PAUSE", "").partition(":")
    if name and seconds and name == os.environ.get("PIPELINE_STAGE"):
        time.sleep(float(seconds))


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Delete temporaries of ``path`` left by killed runs (their process is gone); return them."""
    path = Path(path)
    return _remove_dead(path.parent.glob(f".{path.stem}.tmp-*{path.suffix}"))


def remove_stale_temporaries_in(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete every temporary in ``folder`` that a killed run left (a stage that writes many files there)."""
    return _remove_dead(Path(folder).glob(".*.tmp-*"))


def _remove_dead(candidates) -> list[Path]:
    removed = []
    for tmp in candidates:
        match = re.search(r"\.tmp-(\d+)", tmp.name)
        if match and not _pid_alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a leftover of an earlier process that had our pid
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    from shared import launcher  # a killed process's zombie (not yet reaped) is dead, not running

    return launcher.alive(pid)


def _windows_pid_alive(pid: int) -> bool:
    """Windows: ask the process's exit code (os.kill(pid, 0) there would terminate the process)."""
    import ctypes

    kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.GetLastError() == 5  # access denied: it exists
    try:
        code = ctypes.c_ulong()
        return bool(kernel32.GetExitCodeProcess(handle, ctypes.byref(code))) and code.value == 259  # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename).

    The project's one atomic writer: its temporaries are the ones remove_stale_temporaries
    finds. Newlines are written as ``\n`` on every platform.
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_if_changed(path: str | os.PathLike[str], data: Any) -> bool:
    """Write ``data`` as JSON unless ``path`` already holds it (its mtime is then kept); True if written."""
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    path = Path(path)
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    write_text(path, text)
    return True
