"""Start a stage so that it dies with the make that started it, and holds its job while it runs.

The environment manager's ``run`` starts every stage through :func:`run`. Killing make
(even ``kill -9``) does not kill the shells and programs its recipes started: they are
re-parented and would run on, and a second make would start the same stage beside them.
So the launcher

- finds the make process that owns this stage (``PIPELINE_OWNER_PID``, which the
  Makefile's recipes set to their make, else the nearest ``make`` among its ancestors,
  else its parent) and watches it; when it is gone, the
  stage and everything it started get SIGTERM, then SIGKILL a second later, and the
  launcher exits 143;
- on Linux, starts the stage with ``PR_SET_PDEATHSIG`` (prctl through ctypes): if the
  launcher itself is killed, the kernel sends the stage SIGTERM;
- holds a shared lock on ``JOB/.stage.lock`` for the job given by the stage's
  ``--job-dir``, in the launcher and in the stage (the descriptor is inherited), so the
  lock lives exactly as long as the stage's process tree. A new make run on the job
  takes it exclusively (:func:`wait_for_running_stages`) before it runs anything: a
  stage left over from a killed run is waited for, never run twice. Stages of one run
  (make -j) share it.

Ctrl-C reaches the stage directly (same process group, as before); SIGTERM or SIGHUP
sent to the launcher alone is passed on to the stage.

macOS has no PDEATHSIG: the watch on make (polling) is what stops the stage there.
Native Windows: the launcher watches its parent process the same way (polling) but holds
no job lock, as make runs there are not locked (shared.job.prepare); a Windows job object
would also cover a killed launcher and is not used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

STAGE_LOCK_FILE = ".stage.lock"
POLL_SECONDS = 0.1
TERM_GRACE_SECONDS = 1.0
STAGE_LOCK_WAIT = 5.0
MAKE_NAMES = frozenset({"make", "gmake", "mingw32-make"})
PR_SET_PDEATHSIG = 1


class StageStillRunning(Exception):
    """A stage of an earlier (killed) run still works on the job; the message says what to do."""


# ---- processes ---------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, str, int] | None:
    """(name, state, parent pid) of ``pid`` from /proc (Linux); None when it is not there."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return name, fields[0], int(fields[1])


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as dead."""
    if pid <= 0:
        return False
    if os.name == "nt":
        from shared.atomic import _windows_pid_alive

        return _windows_pid_alive(pid)
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[1] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    if sys.platform != "linux":  # no /proc: ask ps whether it is a zombie
        state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True, check=False).stdout
        return bool(state.strip()) and not state.strip().startswith("Z")
    return True


def _parent_and_name(pid: int) -> tuple[int, str] | None:
    stat = _proc_stat(pid)
    if stat is not None:
        return stat[2], stat[0]
    if os.name == "nt":
        return None
    out = subprocess.run(["ps", "-o", "ppid=,comm=", "-p", str(pid)], capture_output=True, text=True, check=False).stdout
    parts = out.split(None, 1)
    if len(parts) != 2:
        return None
    return int(parts[0]), os.path.basename(parts[1].strip())


def owner_pid(environ: Mapping[str, str] | None = None) -> int:
    """The process whose end ends the stage: PIPELINE_OWNER_PID, else the nearest make ancestor, else the parent."""
    environ = os.environ if environ is None else environ
    configured = environ.get("PIPELINE_OWNER_PID", "").strip()
    if configured.isdigit():
        return int(configured)
    parent = os.getppid()
    pid, hops = parent, 0
    while pid > 1 and hops < 32:
        found = _parent_and_name(pid)
        if found is None:
            break
        ppid, name = found
        if name in MAKE_NAMES:
            return pid
        pid, hops = ppid, hops + 1
    return parent


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (Linux /proc; elsewhere ps), children before grandchildren."""
    children: dict[int, list[int]] = {}
    if Path("/proc").is_dir():
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = _proc_stat(int(entry.name))
                if stat is not None:
                    children.setdefault(stat[2], []).append(int(entry.name))
    elif os.name != "nt":
        out = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            with contextlib.suppress(ValueError):
                child, parent = map(int, line.split())
                children.setdefault(parent, []).append(child)
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(0), []):
            found.append(child)
            queue.append(child)
    return found


def _signal_tree(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, sig)


def stop_tree(proc: subprocess.Popen) -> None:
    """SIGTERM the stage and what it started; SIGKILL what is left after a second."""
    tree = [proc.pid, *descendants(proc.pid)]
    _signal_tree(tree, signal.SIGTERM)
    deadline = time.monotonic() + TERM_GRACE_SECONDS
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    _signal_tree([p for p in tree if alive(p)] + descendants(proc.pid), signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _die_with_parent_hook() -> Callable[[], None] | None:
    """Linux: a function for the child to call before exec, so that it gets SIGTERM when the
    launcher dies. ctypes is loaded here, in the launcher: importing it between fork and exec
    costs the stage's start some 50 ms (copy-on-write faults), calling prctl costs nothing."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None

    def die_with_parent() -> None:
        with contextlib.suppress(Exception):
            prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return die_with_parent


# ---- the job's stage lock ------------------------------------------------------------------
def job_dir_of(command: Sequence[str]) -> Path | None:
    """The ``--job-dir`` a stage command names (the Makefile always passes one)."""
    for index, arg in enumerate(command):
        if arg == "--":
            break
        if arg == "--job-dir" and index + 1 < len(command):
            return Path(command[index + 1])
        if arg.startswith("--job-dir="):
            return Path(arg.split("=", 1)[1])
    return None


def _open_stage_lock(directory: Path) -> int | None:
    with contextlib.suppress(OSError):
        directory.mkdir(parents=True, exist_ok=True)
        return os.open(directory / STAGE_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    return None


def hold_stage_lock(directory: Path) -> int | None:
    """A shared lock on the job's stage lock, as an inheritable descriptor (None where there is none)."""
    if os.name == "nt":
        return None
    import fcntl

    fd = _open_stage_lock(directory)
    if fd is None:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a new run checks the job (a moment)
    os.set_inheritable(fd, True)
    return fd


def wait_for_running_stages(directory: str | os.PathLike[str], timeout: float = STAGE_LOCK_WAIT) -> None:
    """(A new make run, holding the run lock.) Return once no stage of an earlier run works on the job.

    A stage whose make was killed stops within about a second (its launcher sees make go);
    one that does not within ``timeout`` is an error, never a second copy of it.
    """
    if os.name == "nt":
        return
    import fcntl

    directory = Path(directory)
    fd = _open_stage_lock(directory)
    if fd is None:
        return
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise StageStillRunning(
                        f"a stage of an earlier run is still working on the job {directory} (it holds "
                        f"{directory / STAGE_LOCK_FILE}): wait for it to end, or stop it (fuser -k "
                        f"{directory / STAGE_LOCK_FILE}) and run make again") from None
                time.sleep(0.05)
    finally:
        os.close(fd)


# ---- running ------------------------------------------------------------------------------
def run(command: Sequence[str], environ: Mapping[str, str], inherit: Sequence[int] = ()) -> int:
    """Run ``command`` as a stage: its exit status, 143 when its make went away (see the module doc).

    ``inherit``: locked descriptors (the GPU lock) the stage inherits; this process closes
    its copies once the stage has started, so each lock lives exactly as long as the stage
    (Windows: no inherited file locks, so they are closed when the stage has ended).
    """
    owner = owner_pid(environ)
    if not alive(owner):  # make went before the stage could start: do not start it
        return 143
    directory = job_dir_of(command)
    lock_fd = hold_stage_lock(directory) if directory is not None else None
    before_exec = _die_with_parent_hook() if sys.platform.startswith("linux") else None
    try:
        proc = subprocess.Popen(list(command), env=dict(environ), close_fds=False,
                                preexec_fn=before_exec)  # noqa: PLW1509 - one prctl call
    finally:
        for fd in ([lock_fd] if lock_fd is not None else []) + ([] if os.name == "nt" else list(inherit)):
            os.close(fd)  # the stage holds its own copy now (or nobody does, if it did not start)
    forwarded = {}

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(OSError):
            proc.send_signal(signum)

    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            forwarded[sig] = signal.signal(sig, forward)
    try:
        while True:
            try:
                code = proc.wait(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                if not alive(owner):
                    name = environ.get("PIPELINE_STAGE") or Path(str(command[0])).name
                    print(f"{name}: make (pid {owner}) is gone: stopping the stage", file=sys.stderr, flush=True)
                    stop_tree(proc)
                    return 143
            except KeyboardInterrupt:  # Ctrl-C reached the stage too: let it finish its own way
                continue
    finally:
        for sig, handler in forwarded.items():
            signal.signal(sig, handler)
        for fd in inherit if os.name == "nt" else ():
            os.close(fd)
    return 128 - code if code < 0 else code


def run_here(stage_main: Callable[[], object], command: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run a stage's ``main`` in this process (no interpreter start): its exit status, 143 when make went away.

    For a stage with nothing to do but record a decision (shared.environment_manager
    decides when). The same guarantees as :func:`run`: not started when make is already
    gone, the job's stage lock held while it runs, ``environ`` as its whole environment
    and ``command[1:]`` as its ``sys.argv``; a watcher thread ends this process (143) when
    make goes, as the launcher would stop a stage process.
    """
    owner = owner_pid(environ)
    if not alive(owner):
        return 143
    directory = job_dir_of(command)
    lock_fd = hold_stage_lock(directory) if directory is not None else None
    name = environ.get("PIPELINE_STAGE") or Path(str(command[1] if len(command) > 1 else command[0])).stem

    def watch() -> None:
        while alive(owner):
            time.sleep(POLL_SECONDS)
        print(f"{name}: make (pid {owner}) is gone: stopping the stage", file=sys.stderr, flush=True)
        os._exit(143)

    import logging
    import threading

    threading.Thread(target=watch, name="watch-make", daemon=True).start()
    os.environ.clear()
    os.environ.update(environ)
    sys.argv = [str(a) for a in command[1:]]
    logging.getLogger().handlers[:] = []  # the stage sets up its own logging
    try:
        stage_main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    return code
