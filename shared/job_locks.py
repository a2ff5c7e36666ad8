"""The job's two locks: the short job lock around manifest and params writes, and the run lock.

The job lock (``.lock``, an OS file lock) is held for a moment by whoever writes the
manifest or the params files. The run lock (``.run.lock``) is held by one ``make`` run for
its whole life: a small holder process (:data:`HOLDER`, standard library only) keeps it until make
ends, so a second run on the same job stops at once with a message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.atomic import _pid_alive

LOCK_FILE = ".lock"
# Held by one `make` run for its whole life (see start_run_lock): a second run on the same
# job stops at once with a message instead of racing the first one's stages.
RUN_LOCK_FILE = ".run.lock"
# A run that finds the lock held by a make that has already exited waits this long for
# the holder process to notice and let go.
RUN_LOCK_GRACE = 3.0
RUN_LOCK_RECORD = 64  # bytes: "<make pid> <start time>", padded


class JobError(Exception):
    """A job that cannot be set up; the message says how to fix it."""


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")


@contextlib.contextmanager
def job_lock(directory: str | os.PathLike[str], timeout: float = 60.0) -> Iterator[None]:
    """Hold the job's lock (``.lock``, an OS file lock) for the block; JobError after ``timeout`` s."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fh = open(directory / LOCK_FILE, "a+b")  # noqa: SIM115 - held for the whole block
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                _lock(fh)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise JobError(f"{directory}: another run holds the job lock for more than {timeout:.0f} s") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            _unlock(fh)
    finally:
        fh.close()


if os.name == "nt":
    import msvcrt

    def _lock(fh: Any) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

    def _unlock(fh: Any) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(fh: Any) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fh: Any) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def wait_for_exit(pid: int, poll: float = 0.1) -> None:
    """Return when process ``pid`` has ended (a pidfd where the OS has them, else polling)."""
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return
        except OSError:
            fd = None
        if fd is not None:
            import select

            try:
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                poller.poll()
            finally:
                os.close(fd)
            return
    while _pid_alive(pid):
        time.sleep(poll)


def hold_run_lock(directory: str | os.PathLike[str], owner: int, ack: Any) -> int:
    """(The holder process.) Lock the job for ``owner``'s lifetime; write ``ok`` or ``busy`` to ``ack`` first."""
    directory = Path(directory)
    # read-write, not append: the holder line is rewritten in place at offset 0
    fh = os.fdopen(os.open(directory / RUN_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644), "r+b")
    try:
        _lock(fh)
    except OSError:
        ack.write("busy\n")
        ack.flush()
        return 1
    try:  # who holds it, for the message a second run prints; written in place (a full disk has no room to grow)
        fh.seek(0)
        fh.write(f"{owner} {now_iso()}".ljust(RUN_LOCK_RECORD - 1).encode() + b"\n")
        fh.flush()
    except OSError:
        pass
    ack.write("ok\n")
    ack.flush()
    ack.close()
    wait_for_exit(owner)
    return 0


def run_lock_owner(directory: str | os.PathLike[str]) -> tuple[int | None, str]:
    """(pid, start time) of the make run that holds the job's run lock, as its holder wrote them."""
    try:
        pid_text, _, since = (Path(directory) / RUN_LOCK_FILE).read_text(encoding="utf-8").strip().partition(" ")
        return int(pid_text), since
    except (OSError, ValueError):
        return None, ""


# The holder process's program (arguments: repository root, job directory, make's pid). It
# imports this module alone (the standard library and shared.atomic), not shared.job with
# its settings and registry: make waits for its "ok", so its start-up is the job's.
HOLDER = ("import sys; sys.path.insert(0, sys.argv[1]); from shared.job_locks import hold_run_lock; "
          "sys.exit(hold_run_lock(sys.argv[2], int(sys.argv[3]), sys.stdout))")


def start_run_lock(directory: str | os.PathLike[str], owner: int, grace: float = RUN_LOCK_GRACE) -> None:
    """Take the job's run lock for process ``owner`` (the make run); JobError when another run holds it.

    A small holder process takes the lock and keeps it until ``owner`` ends, so the lock
    spans the whole make run (every stage) and is released however make ends, SIGKILL
    included.
    """
    directory = Path(directory)
    deadline = time.monotonic() + grace
    while True:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(Path(__file__).resolve().parents[1]), str(directory), str(owner)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        assert holder.stdout is not None
        answer = holder.stdout.readline().decode(errors="replace").strip()
        holder.stdout.close()
        if answer == "ok":
            return
        holder.wait()
        pid, since = run_lock_owner(directory)
        if pid is not None and _pid_alive(pid) and pid != owner:
            raise JobError(f"another make run (pid {pid}, since {since}) is working on the job {directory}: "
                           f"wait for it to finish, or stop it (kill {pid}) and run make again")
        if time.monotonic() > deadline:
            raise JobError(f"the job {directory} stays locked ({directory / RUN_LOCK_FILE}): "
                           "if no other make run is working on it, end the process holding that file and run make again")
        time.sleep(0.05)  # the previous run's holder is letting go
