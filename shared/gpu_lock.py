"""One GPU, one heavy stage at a time: a lock file held for the stage process's whole life.

``python -m shared.environment_manager run`` (the Makefile's way to start every stage)
calls :func:`lock_path` and :func:`acquire` itself for the GPU-heavy stages (separate,
diarize, asr, align, translate) and hands the locked descriptor to the stage, so no extra
interpreter starts per stage. The same lock is a command for anything else:

    python -m shared.gpu_lock --stage NAME -- COMMAND ARGS...

When the stage's effective DEVICE is ``cuda`` or ``mps``, this takes an OS file lock on
``OUT_DIR/.locks/gpu-<device>.lock`` (waiting, with one line saying who holds it), marks
the descriptor inheritable and *execs* COMMAND: the lock then lives exactly as long as the
stage process, and the kernel releases it when that process ends, however it ends
(SIGKILL included). On a CPU it execs COMMAND straight away: CPU jobs run side by side.
Jobs that share a GPU must share OUT_DIR (the lock lives there). Windows has no exec that
keeps the process, so there the lock is held by this process while the stage runs as its child.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import job_locks, job_params, policy

LOCKS_DIR = ".locks"
GPU_DEVICES = ("cuda", "mps")
GPU_STAGES = policy.GPU_STAGES
POLL_SECONDS = 0.2


def lock_path(device: str, out_dir: str, environ: Mapping[str, str]) -> Path | None:
    """The lock file guarding ``device`` (None for a CPU: nothing to share)."""
    if device not in GPU_DEVICES:
        return None
    if device == "cuda":
        visible = (environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0].strip() or "0"
        name = f"gpu-cuda{visible}"
    else:
        name = "gpu-mps"
    # ENGINE=ray jobs of several nodes share OUT_DIR: each node's GPUs get their own locks.
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in environ.get("GPU_LOCK_HOST", "").strip())
    if host:
        name = f"{name}-{host}"
    return Path(out_dir) / LOCKS_DIR / f"{name}.lock"


def acquire(path: Path, stage: str, say=print) -> int:
    """Open and lock ``path`` (blocking); the locked descriptor, inheritable, with our holder line written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fh = os.fdopen(fd, "r+b", buffering=0, closefd=False)
    waited = False
    started = time.monotonic()
    while True:
        try:
            job_locks._lock(fh)
            break
        except OSError:
            if not waited:
                try:
                    holder = path.read_text(encoding="utf-8").strip() or "another job"
                except OSError:
                    holder = "another job"
                say(f"{stage}: waiting for the GPU ({holder} holds {path})")
                waited = True
            time.sleep(POLL_SECONDS)
    if waited:
        say(f"{stage}: got the GPU after {time.monotonic() - started:.1f} s")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{stage} pid {os.getpid()} since {job_locks.now_iso()}\n".encode(), 0)
    os.set_inheritable(fd, True)
    return fd


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.gpu_lock", description=__doc__.splitlines()[0])
    parser.add_argument("--stage", required=True)
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND ARGS")
    args = parser.parse_args(argv)
    command = list(args.argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        parser.error("a command to run is needed after --")
    values = job_params.effective_settings(os.environ)
    path = lock_path((values.get("DEVICE") or "cpu").strip().lower(), values.get("OUT_DIR") or "out", os.environ)
    if path is not None and args.stage in GPU_STAGES:
        acquire(path, args.stage, say=lambda text: print(text, file=sys.stderr, flush=True))
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # no real exec there: hold the lock in this process while the stage runs
        import subprocess

        try:
            return subprocess.call(command)
        except OSError as exc:
            print(f"gpu_lock: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
            return 127
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        print(f"gpu_lock: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
