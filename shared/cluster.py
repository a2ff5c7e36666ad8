"""ENGINE=ray batches: every media file of a folder as one Ray task running the same Make chain.

``make subtitle DIR=films/ ENGINE=ray`` lists the files with shared.batch (the same state
folder, OUT_DIR/.batch/<verb>-<hash>/) and then runs, in the cluster environment,

    python -m shared.cluster run --state-dir S --verb V

which connects to RAY_ADDRESS (or starts a local Ray), submits one task per file and waits.
A task runs ``make V FILE=<file>`` in the project checkout of the node it lands on, with
the settings the user gave (command line, environment, .env) and OUT_DIR made absolute:
input, OUT_DIR and MODEL_CACHE_DIR must be on storage every node sees at the same path.
Before it starts make, a task checks its node: the checkout (the one whose
.venvs/cluster runs Ray there, or PIPELINE_REPO) has the environments built and is at the
driver's commit; otherwise the job fails with that one line.

Ray reserves RAY_GPUS_PER_JOB GPUs and RAY_CPUS_PER_JOB CPUs per task. A task whose node
dies is retried elsewhere (RAY_MAX_RETRIES): the Make chain resumes from the last stage
that finished, since every output is written atomically. A job that fails on its input is
a result, not an error, so Ray never retries it. Ctrl-C cancels the tasks; finished jobs
keep their outputs. The end is shared.batch's table (plus the node of each job) and its
exit status: 0 when every file succeeded, 1 otherwise, 130 when interrupted.

The task function and its helpers use only the standard library (and ray): Ray ships them
to the workers by value, so a node needs no import path into this checkout.
"""

from __future__ import annotations

import argparse
import contextlib
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

from shared import atomic, batch, job, progress, settings

ROOT = Path(__file__).resolve().parents[1]
# Settings that steer the driver, not the jobs.
DRIVER_SETTINGS = ("FILE", "DIR", "ENGINE", "RAY_ADDRESS", "RAY_GPUS_PER_JOB", "RAY_CPUS_PER_JOB", "RAY_MAX_RETRIES")
# Make's own variables: a job's make is a fresh top-level make, not a sub-make of the driver's.
MAKE_VARIABLES = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "MAKE_TERMINATE")
CPUS_FOR_A_CPU_JOB = 4
PROGRESS_SECONDS = 5.0
CANCEL_GRACE_SECONDS = 15.0
# Environments a job's make needs on its node (common: the manager; ml: the speech stages).
JOB_ENVIRONMENTS = ("common", "ml")

# Run by the task next to make, in a session of its own (and forked once more, so that Ray,
# which may kill a dead worker's children, does not kill it): when the Ray worker dies (its
# node lost, `ray stop`), it ends make's whole process group (make, its recipes, the stage),
# so a lost node leaves no job running behind Ray's back. It ends when the group has ended.
WATCHDOG = """
import os, signal, sys, time
worker, group = int(sys.argv[1]), int(sys.argv[2])
if os.fork():
    os._exit(0)
def alive(check, pid):
    try:
        check(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
while alive(os.killpg, group):
    if not alive(os.kill, worker):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            time.sleep(5)
        break
    time.sleep(0.5)
"""


class ClusterError(Exception):
    """A batch that cannot run on Ray; the message says how to fix it."""


# ---- on the node (standard library only) -----------------------------------------------

def venv_python(repo: Path, name: str) -> Path:
    """The interpreter of .venvs/<name> in ``repo`` (POSIX or Windows layout)."""
    posix = repo / ".venvs" / name / "bin" / "python"
    return posix if os.name != "nt" else repo / ".venvs" / name / "Scripts" / "python.exe"


def git_commit(repo: Path) -> str | None:
    """The checkout's commit (``git rev-parse HEAD``); None when it is not a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else None


def node_checkout(environ: Mapping[str, str], fallback: str) -> Path:
    """The project checkout on this node: PIPELINE_REPO, else the one whose .venvs/cluster runs this worker."""
    if environ.get("PIPELINE_REPO"):
        return Path(environ["PIPELINE_REPO"])
    mine = Path(sys.prefix).resolve().parents[1]
    if (mine / "Makefile").is_file() and (mine / "shared").is_dir():
        return mine
    return Path(fallback)


def node_problem(repo: Path, commit: str | None, node: str) -> str | None:
    """One line saying why this node cannot run a job (no checkout, environments, other commit); None when it can."""
    if not (repo / "Makefile").is_file():
        return (f"node {node}: no checkout of the project at {repo} (clone it there and run ./bootstrap.sh "
                "--skip-cache -y, or set PIPELINE_REPO for the node's Ray)")
    missing = [name for name in JOB_ENVIRONMENTS if not venv_python(repo, name).exists()]
    if missing:
        return (f"node {node}: the {' and '.join(missing)} environment{'s are' if len(missing) > 1 else ' is'} "
                f"not built in {repo}: run ./bootstrap.sh --skip-cache -y there")
    if commit:
        here = git_commit(repo)
        if here != commit:
            return (f"node {node}: the checkout {repo} is at commit {(here or 'none (not a git checkout)')[:12]}, "
                    f"the driver's at {commit[:12]}: check out the same commit on every node")
    return None


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def run_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """(A Ray task.) Run ``make VERB FILE=...`` for one file on this node; what happened, as a dict."""
    import socket

    import ray

    started = time.monotonic()
    node_id = ray.get_runtime_context().get_node_id()
    host = socket.gethostname()
    # the node's name (ray start --node-name; Ray's default is the node's IP address)
    node = next((n.get("NodeName") for n in ray.nodes() if n.get("NodeID") == node_id), None) or host
    state = Path(spec["state"])
    index = spec["index"]
    running = state / "running" / f"{index}.json"
    result: dict[str, Any] = {"node": node, "node_id": node_id, "host": host, "exit_code": None, "seconds": None}
    try:
        _write_json(running, {"node": node, "node_id": node_id, "host": host, "since": time.time()})
    except OSError as exc:
        return dict(result, exit_code=3, setup_problem=(
            f"node {node}: cannot write the batch's state folder {state} ({exc.strerror or exc}): OUT_DIR must be on "
            "storage every node sees at the same path"))
    try:
        repo = node_checkout(os.environ, spec["repo"])
        problem = node_problem(repo, spec["commit"], node)
        if problem:
            return dict(result, exit_code=3, setup_problem=problem, seconds=round(time.monotonic() - started, 3))
        env = {k: v for k, v in os.environ.items() if k not in spec["drop"]}
        env.update(spec["settings"])
        env.update(FILE=spec["file"], GPU_LOCK_HOST=host)
        env.pop("DIR", None)
        log_path = state / "logs" / f"{index}.log"
        with open(log_path, "ab") as log:
            log.write(f"==== {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} on node {node} ({host}, "
                      f"Ray node {node_id[:12]}): make {spec['verb']} in {repo}\n".encode())
            log.flush()
            proc = subprocess.Popen(["make", "--no-print-directory", "-C", str(repo), spec["verb"], "DIR="], env=env,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            subprocess.Popen([sys.executable, "-c", WATCHDOG, str(os.getpid()), str(proc.pid)],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True).wait()
            try:
                code = proc.wait()
            except KeyboardInterrupt:  # ray.cancel: stop make like Ctrl-C does (it deletes a half-made target)
                try:
                    os.killpg(proc.pid, signal.SIGINT)
                    proc.wait(timeout=CANCEL_GRACE_SECONDS)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(proc.pid, signal.SIGKILL)
                raise
        return dict(result, exit_code=code, seconds=round(time.monotonic() - started, 3))
    finally:
        with contextlib.suppress(OSError):
            running.unlink()


# ---- the driver ------------------------------------------------------------------------

def per_job_resources(values: Mapping[str, str], cluster: Mapping[str, float],
                      nodes: Sequence[Mapping[str, float]]) -> tuple[float, float]:
    """(GPUs, CPUs) Ray reserves per job, from RAY_GPUS_PER_JOB / RAY_CPUS_PER_JOB and the cluster's resources."""
    def number(name: str) -> float | None:
        text = (values.get(name) or "auto").strip().lower()
        if text == "auto":
            return None
        try:
            value = float(text)
        except ValueError:
            raise ClusterError(f"{name}={text}: give a number (fractions allowed) or auto") from None
        if value < 0:
            raise ClusterError(f"{name}={text}: must be 0 or more")
        return value

    gpus, cpus = number("RAY_GPUS_PER_JOB"), number("RAY_CPUS_PER_JOB")
    if gpus is None:
        gpus = 1.0 if cluster.get("GPU", 0) > 0 else 0.0
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    if cpus is None:
        cpus = float(max(1, min(CPUS_FOR_A_CPU_JOB, int(most_cpus)))) if gpus == 0 else 1.0
    if gpus > most_gpus:
        raise ClusterError(f"RAY_GPUS_PER_JOB={gpus:g}, but no node of the cluster has more than {most_gpus:g} GPUs "
                           "(set RAY_GPUS_PER_JOB=0 for a CPU cluster)")
    if cpus > most_cpus:
        raise ClusterError(f"RAY_CPUS_PER_JOB={cpus:g}, but no node of the cluster has more than {most_cpus:g} CPUs")
    return gpus, cpus


def job_settings(environ: Mapping[str, str], root: Path = ROOT) -> dict[str, str]:
    """The settings a job gets on its node: those the user set (environment or .env), OUT_DIR absolute."""
    names = set(settings.read_defaults(root))
    dotenv = settings.read_dotenv(root)
    chosen = {name: value for name, value in dotenv.items() if name in names}
    chosen.update({name: environ[name] for name in names if name in environ})
    for name in DRIVER_SETTINGS:
        chosen.pop(name, None)
    values = settings.resolve(root, environ)
    chosen["OUT_DIR"] = str((root / (values.get("OUT_DIR") or "out")).absolute())
    if chosen.get("MODEL_CACHE_DIR"):
        chosen["MODEL_CACHE_DIR"] = str((root / chosen["MODEL_CACHE_DIR"]).absolute())
    return chosen


def record(state: Path, index: int, file: str, outcome: Mapping[str, Any] | None, error: str,
           out_dir: str) -> dict[str, Any]:
    """Write results/<index>.json in shared.batch's form (plus node) for one finished task."""
    try:
        directory: Path | None = job.job_dir(file, out_dir)
    except job.JobError:
        directory = None
    log_path = state / "logs" / f"{index}.log"
    outcome = outcome or {}
    code = outcome.get("exit_code")
    node = outcome.get("node") or "-"
    length = batch.media_seconds(directory) if directory else None
    seconds = outcome.get("seconds")
    if error:
        reason = error
    elif outcome.get("setup_problem"):
        reason = outcome["setup_problem"]
    elif code == 0:
        reason = ""
    else:
        text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
        reason = batch.failure_reason(text.rsplit("\n==== ", 1)[-1])  # the last attempt's lines
    ok = code == 0 and not error
    result = {"index": index, "file": file, "status": "ok" if ok else "failed", "exit_code": code, "seconds": seconds,
              "media_seconds": length, "real_time_factor": round(seconds / length, 4) if ok and length and seconds else None,
              "job_dir": str(directory) if directory else None, "log": str(log_path), "reason": reason, "node": node}
    atomic.write_json(state / "results" / f"{index}.json", result)
    return result


def progress_line(counts: Mapping[str, int], audio_seconds: float, elapsed: float) -> str:
    """``cluster: 3 done, 2 running, 1 failed, 4 queued; 1.52 audio h/h; 0:42 elapsed``."""
    rate = audio_seconds / elapsed if elapsed > 0 else 0.0
    minutes, secs = divmod(int(elapsed), 60)
    return (f"cluster: {counts['done']} done, {counts['running']} running, {counts['failed']} failed, "
            f"{counts['queued']} queued; {rate:.2f} audio h/h; {minutes}:{secs:02d} elapsed")


def connect(address: str) -> None:
    import ray

    try:
        ray.init(address=address or None, log_to_driver=False, logging_level="ERROR", configure_logging=True,
                 include_dashboard=False if not address else None)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "a local Ray"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterError(f"cannot reach {where}: {first} (start it with `ray start --head`; docs/cluster.md)") from exc


def run(state: Path, verb: str, environ: Mapping[str, str]) -> int:
    """Run the planned batch on Ray; the batch's exit status (0 all ok, 1 some failed, 130 interrupted)."""
    import ray

    planned = batch.read_plan(state)
    files: list[str] = planned["files"]
    values = settings.resolve(ROOT, environ)
    chosen = job_settings(environ)
    try:
        retries = int((values.get("RAY_MAX_RETRIES") or "3").strip())
    except ValueError:
        raise ClusterError(f"RAY_MAX_RETRIES={values.get('RAY_MAX_RETRIES')}: give a whole number") from None
    address = (values.get("RAY_ADDRESS") or "").strip()
    connect(address)
    try:
        alive = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        gpus, cpus = per_job_resources(values, ray.cluster_resources(), alive)
        if gpus == 0 and "THREADS" not in chosen and cpus >= 1:
            chosen["THREADS"] = str(int(cpus))  # a CPU job uses the cores Ray reserved for it
        if __name__ != "__main__":  # imported (tests): ship this module's task by value all the same
            ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
        task = ray.remote(run_job)
        shutil.rmtree(state / "running", ignore_errors=True)  # marks of an earlier run that was killed
        (state / "running").mkdir(parents=True)
        commit = git_commit(ROOT)
        drop = sorted(set(MAKE_VARIABLES) | set(DRIVER_SETTINGS))
        where = f"Ray at {address}" if address else "a local Ray"
        print(f"cluster: {len(files)} jobs on {where} ({len(alive)} node{'s' if len(alive) != 1 else ''}; "
              f"{gpus:g} GPU and {cpus:g} CPU per job)", file=sys.stderr, flush=True)
        refs = {}
        for index, file in enumerate(files, 1):
            spec = {"index": index, "file": file, "verb": verb, "state": str(state.absolute()), "repo": str(ROOT),
                    "commit": commit, "settings": chosen, "drop": drop}
            refs[task.options(num_gpus=gpus, num_cpus=cpus, max_retries=retries, retry_exceptions=False,
                              name=f"{verb} {Path(file).name}").remote(spec)] = index
        return wait_all(state, files, refs, planned["folder"], chosen["OUT_DIR"])
    finally:
        ray.shutdown()


def log_tail(path: Path, size: int = 65536) -> str:
    """The last ``size`` bytes of a job's log as text ('' when it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, path.stat().st_size - size))
            return fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def running_job_lines(state: Path, files: Sequence[str], folder: str, finished: Mapping[int, Any],
                      shown: dict[int, tuple[float, str]], now: float, every: float) -> list[str]:
    """Per-job progress of the running jobs, from their logs on the shared state folder:
    ``batch: [3/120] film.mp4: stage 5/8 asr 37% ... on worker-1``, a job's line at most once
    per ``every`` seconds and only when it changed (``shown`` remembers what each job showed)."""
    lines = []
    for mark in sorted((state / "running").glob("*.json")):
        if not mark.stem.isdigit() or int(mark.stem) in finished or int(mark.stem) > len(files):
            continue
        index = int(mark.stem)
        latest = progress.latest(log_tail(state / "logs" / f"{index}.log"))
        when, before = shown.get(index, (None, None))
        if not latest or latest == before or (when is not None and now - when < every):
            continue
        try:
            node = json.loads(mark.read_text(encoding="utf-8")).get("node") or "?"
        except (OSError, ValueError):
            node = "?"
        shown[index] = (now, latest)
        lines.append(f"batch: [{index}/{len(files)}] {batch.display_name(files[index - 1], folder)}: {latest} on {node}")
    return lines


def wait_all(state: Path, files: Sequence[str], refs: dict[Any, int], folder: str, out_dir: str) -> int:
    import ray
    from ray.exceptions import RayError, RayTaskError

    started = time.monotonic()
    pending = list(refs)
    finished: dict[int, dict[str, Any]] = {}
    tty = sys.stderr.isatty()
    last_line, last_time = "", 0.0
    job_lines: dict[int, tuple[float, str]] = {}
    every = progress.interval()

    def show(force: bool = False) -> None:
        nonlocal last_line, last_time
        for line in running_job_lines(state, files, folder, finished, job_lines, time.monotonic(), every):
            print(("\r" if tty else "") + line.ljust(len(last_line) if tty else 0), file=sys.stderr, flush=True)
        running = sum(1 for p in (state / "running").glob("*.json") if p.stem.isdigit() and int(p.stem) not in finished)
        counts = {"done": sum(1 for r in finished.values() if r["status"] == "ok"),
                  "failed": sum(1 for r in finished.values() if r["status"] != "ok"), "running": running}
        counts["queued"] = max(0, len(files) - len(finished) - running)
        audio = sum(r.get("media_seconds") or 0 for r in finished.values() if r["status"] == "ok")
        line = progress_line(counts, audio, time.monotonic() - started)
        if tty:
            print("\r" + line.ljust(len(last_line)), end="", file=sys.stderr, flush=True)
        elif force or line.split(";")[0] != last_line.split(";")[0] or time.monotonic() - last_time > 60:
            print(line, file=sys.stderr, flush=True)
            last_time = time.monotonic()
        last_line = line

    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=PROGRESS_SECONDS if not tty else 1.0)
            for ref in ready:
                index = refs[ref]
                outcome, error = None, ""
                try:
                    outcome = ray.get(ref)
                except RayTaskError as exc:  # a bug in the task itself: not retried
                    error = f"the Ray task failed: {str(exc.cause).strip().splitlines()[-1] if exc.cause else exc}"
                except RayError as exc:  # the node or worker died and Ray's retries ran out
                    error = f"Ray gave up: {str(exc).strip().splitlines()[0]}"
                result = record(state, index, files[index - 1], outcome, error, out_dir)
                finished[index] = result
                label = batch.display_name(files[index - 1], folder)
                if tty:
                    print("\r", end="", file=sys.stderr)
                if result["status"] == "ok":
                    print(f"batch: [{index}/{len(files)}] {label}: ok in {result['seconds']:.1f} s on {result['node']}",
                          file=sys.stderr, flush=True)
                else:
                    print(f"batch: [{index}/{len(files)}] {label}: FAILED on {result['node']} ({result['reason']}); "
                          f"log: {result['log']}", file=sys.stderr, flush=True)
                show(force=True)
            if not ready:
                show()
    except KeyboardInterrupt:
        print(f"\ncluster: interrupted: cancelling {len(pending)} job(s); finished jobs keep their outputs",
              file=sys.stderr, flush=True)
        try:
            for ref in pending:
                ray.cancel(ref, force=False)
            deadline = time.monotonic() + CANCEL_GRACE_SECONDS
            while pending and time.monotonic() < deadline:
                _, pending = ray.wait(pending, num_returns=len(pending), timeout=1.0)
            for ref in pending:
                ray.cancel(ref, force=True)
        except (KeyboardInterrupt, RayError) as exc:  # a second Ctrl-C, or Ray going away: the table all the same
            print(f"cluster: stopped waiting for the cancelled jobs ({type(exc).__name__})", file=sys.stderr, flush=True)
        finally:
            print(batch.table(batch.results(state)), flush=True)
        return 130
    if tty:
        print(file=sys.stderr)
    entries = batch.results(state)
    print(batch.table(entries))
    return 0 if all(e["status"] == "ok" for e in entries) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.cluster", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a planned batch (shared.batch list) on Ray; print the table")
    p.add_argument("--state-dir", required=True, type=Path)
    p.add_argument("--verb", required=True, choices=batch.VERBS)
    args = parser.parse_args(argv)
    try:
        return run(args.state_dir, args.verb, os.environ)
    except (ClusterError, batch.BatchError, job.JobError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before any job was submitted
        print("\ncluster: interrupted before the batch started", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:
        if exc.name == "ray":
            print("error: ray is not installed here: run the driver from .venvs/cluster (./bootstrap.sh --envs cluster)",
                  file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
