"""ENGINE=ray batches (shared/cluster.py) on a real Ray cluster of two nodes on this machine.

The fast tests cover the driver's pieces without Ray: resources per job, the node checks
(environments, checkout commit), the settings a job carries, the progress line and the
node column of the table. The slow tests start a Ray head and a worker node
(tests/helpers/ray_nodes.py, one CPU each, named ``head`` and ``worker``) and run real
batches through `make ... ENGINE=ray`: three files with one broken, and a batch that loses
its worker node mid-job and must still finish, on the head, with the outputs of a local run.
The nodes get no pipeline settings of their own: ASR_MODEL and MODEL_CACHE_DIR reach the
jobs only through the driver.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from shared import batch, cluster, gpu_lock, job
from tests.helpers import ray_nodes
from tests.integration import pipeline_runs as pr


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


# ---- fast: the driver's pieces ---------------------------------------------------------

def test_resources_per_job_follow_the_cluster() -> None:
    gpu_nodes = [{"CPU": 16.0, "GPU": 2.0}, {"CPU": 8.0, "GPU": 1.0}]
    cpu_nodes = [{"CPU": 2.0}, {"CPU": 16.0}]
    auto = {"RAY_GPUS_PER_JOB": "auto", "RAY_CPUS_PER_JOB": "auto"}
    assert cluster.per_job_resources(auto, {"GPU": 3.0}, gpu_nodes) == (1.0, 1.0)
    assert cluster.per_job_resources(auto, {}, cpu_nodes) == (0.0, 4.0)
    assert cluster.per_job_resources(auto, {}, [{"CPU": 2.0}]) == (0.0, 2.0)  # never more than a node has
    assert cluster.per_job_resources({"RAY_GPUS_PER_JOB": "0.5", "RAY_CPUS_PER_JOB": "3"}, {"GPU": 3.0},
                                     gpu_nodes) == (0.5, 3.0)
    with pytest.raises(cluster.ClusterError, match="no node of the cluster has more than 0 GPUs"):
        cluster.per_job_resources({"RAY_GPUS_PER_JOB": "1"}, {}, cpu_nodes)
    with pytest.raises(cluster.ClusterError, match="more than 16 CPUs"):
        cluster.per_job_resources({"RAY_CPUS_PER_JOB": "32"}, {}, cpu_nodes)
    with pytest.raises(cluster.ClusterError, match="give a number"):
        cluster.per_job_resources({"RAY_GPUS_PER_JOB": "one"}, {}, cpu_nodes)


def test_a_node_without_environments_or_on_another_commit_says_so_in_one_line(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    assert "no checkout of the project at" in cluster.node_problem(repo, None, "n1")
    repo.mkdir()
    (repo / "Makefile").write_text("all:\n")
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "one")
    first = git(repo, "rev-parse", "HEAD")
    problem = cluster.node_problem(repo, first, "n1")
    assert problem == f"node n1: the common and ml environments are not built in {repo}: run ./bootstrap.sh --skip-cache -y there"
    for name in ("common", "ml"):
        python = cluster.venv_python(repo, name)
        python.parent.mkdir(parents=True)
        python.write_text("")
    assert cluster.node_problem(repo, first, "n1") is None
    git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "two")
    problem = cluster.node_problem(repo, first, "n1")
    assert problem is not None and "\n" not in problem
    assert problem.startswith(f"node n1: the checkout {repo} is at commit {git(repo, 'rev-parse', 'HEAD')[:12]}")
    assert problem.endswith(f"the driver's at {first[:12]}: check out the same commit on every node")


def test_jobs_carry_the_users_settings_not_the_drivers(tmp_path: Path) -> None:
    environ = {"TGT": "en,ta", "ENGINE": "ray", "RAY_ADDRESS": "10.0.0.1:6379", "RAY_GPUS_PER_JOB": "0.5",
               "DIR": "films", "OUT_DIR": "out/shared", "PATH": "/usr/bin", "MAKEFLAGS": "-j2"}
    chosen = cluster.job_settings(environ)
    assert chosen["TGT"] == "en,ta"
    assert chosen["OUT_DIR"] == str(pr.REPO / "out" / "shared")  # the same absolute path on every node
    assert not {"ENGINE", "RAY_ADDRESS", "RAY_GPUS_PER_JOB", "DIR", "PATH", "MAKEFLAGS"} & set(chosen)
    assert "SRC" not in chosen  # not set by the user: each node's defaults apply


def test_progress_line_and_the_node_column() -> None:
    line = cluster.progress_line({"done": 3, "running": 2, "failed": 1, "queued": 4}, 2 * 3600, 3600)
    assert line == "cluster: 3 done, 2 running, 1 failed, 4 queued; 2.00 audio h/h; 60:00 elapsed"
    entries = [{"name": "a.mkv", "status": "ok", "media_seconds": 60.0, "seconds": 30.0, "real_time_factor": 0.5,
                "node": "gpu-2"},
               {"name": "b.mkv", "status": "not run", "media_seconds": None, "seconds": None, "real_time_factor": None}]
    lines = batch.table(entries).splitlines()
    assert lines[0].split() == ["file", "status", "no", "speech", "length", "time", "RTF", "node"]
    assert lines[2].split() == ["a.mkv", "ok", "1:00.0", "30.0", "s", "0.500", "gpu-2"]
    assert lines[3].split() == ["b.mkv", "not", "run", "-", "-", "-", "-"]
    assert "node" not in batch.table([dict(entries[0], node=None)]).splitlines()[0]  # the local batch's table


def test_running_jobs_show_their_progress_from_the_shared_logs(tmp_path: Path) -> None:
    state = tmp_path / "state"
    for sub in ("running", "logs"):
        (state / sub).mkdir(parents=True)
    files = [str(tmp_path / "in" / name) for name in ("a.mkv", "film.mkv", "c.mkv")]
    (state / "running" / "2.json").write_text(json.dumps({"node": "worker-1"}))
    (state / "running" / "3.json").write_text(json.dumps({"node": "worker-2"}))
    log2 = state / "logs" / "2.log"
    log2.write_text("==== on node worker-1\nasr: stage 5/6 asr 37% (6/16 chunks) ETA 1:12, job ETA 1:40\n"
                    "asr: detected language hi (probability 0.91)\n")
    (state / "logs" / "3.log").write_text("demux: c.mkv -> audio.wav, media.json\n")  # no progress yet
    shown: dict = {}
    lines = cluster.running_job_lines(state, files, str(tmp_path / "in"), {}, shown, now=100.0, every=10.0)
    assert lines == ["batch: [2/3] film.mkv: stage 5/6 asr 37% (6/16 chunks) ETA 1:12, job ETA 1:40 on worker-1"]
    with log2.open("a") as fh:
        fh.write("asr: stage 5/6 asr 44% (7/16 chunks) ETA 1:05, job ETA 1:33\n")
    assert cluster.running_job_lines(state, files, str(tmp_path / "in"), {}, shown, now=105.0, every=10.0) == []
    assert cluster.running_job_lines(state, files, str(tmp_path / "in"), {}, shown, now=111.0, every=10.0) == [
        "batch: [2/3] film.mkv: stage 5/6 asr 44% (7/16 chunks) ETA 1:05, job ETA 1:33 on worker-1"]
    assert cluster.running_job_lines(state, files, str(tmp_path / "in"), {}, shown, now=130.0, every=10.0) == []  # unchanged
    assert cluster.running_job_lines(state, files, str(tmp_path / "in"), {2: {}}, {}, now=140.0, every=10.0) == []  # finished


def test_gpu_locks_are_per_node_under_ray() -> None:
    # jobs of different nodes share OUT_DIR; each node's GPU 1 is its own
    environ = {"CUDA_VISIBLE_DEVICES": "1", "GPU_LOCK_HOST": "gpu-2"}
    assert gpu_lock.lock_path("cuda", "o", environ) == Path("o/.locks/gpu-cuda1-gpu-2.lock")
    assert gpu_lock.lock_path("cuda", "o", dict(environ, GPU_LOCK_HOST="gpu 3/x")) == Path("o/.locks/gpu-cuda1-gpu_3_x.lock")
    assert gpu_lock.lock_path("cuda", "o", {"CUDA_VISIBLE_DEVICES": "1"}) == Path("o/.locks/gpu-cuda1.lock")
    assert gpu_lock.lock_path("cpu", "o", environ) is None


def test_unknown_engine_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"x")
    with pytest.raises(batch.BatchError, match="ENGINE=spark: use one of local, ray"):
        batch.plan(str(tmp_path / "in"), "subtitle", {"OUT_DIR": str(tmp_path / "out"), "ENGINE": "spark"})


# ---- slow: a real Ray cluster ----------------------------------------------------------

NEEDS_RAY = [*pr.NEEDS_PIPELINE,
             pytest.mark.skipif(not ray_nodes.RAY.exists(), reason="the cluster environment is not built (./bootstrap.sh --envs cluster)")]
SECONDS = 6.0


def needs_ray(test):
    for mark in NEEDS_RAY:
        test = mark(test)
    return test


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wav = tmp_path_factory.mktemp("speech") / "speech.wav"
    pr.speech_track(wav, SECONDS)
    return wav


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory):
    """Head and worker with one CPU each and no pipeline settings of their own; stopped, every process, at the end."""
    env = pr.clean_env(tmp_path_factory.mktemp("unused-cache"))
    for name in ("ASR_MODEL", "MODEL_CACHE_DIR"):
        env.pop(name)
    # Every job the nodes run waits 3 s in asr, its output written and not yet committed: a
    # 6 s clip otherwise finishes in under 4 s, and the tests that kill a node or press Ctrl-C
    # mid-batch would race the jobs they mean to stop (the nodes' environment reaches the stages).
    env["PIPELINE_TEST_PAUSE"] = "asr:3"
    nodes = ray_nodes.RayCluster(env, cpus=1).start()
    try:
        yield nodes
    finally:
        nodes.stop()
        assert nodes.pids() == [], "Ray processes were left behind"


def ray_make(nodes: ray_nodes.RayCluster, folder: Path, out: Path, env: dict[str, str]) -> list[str]:
    return ["make", "--no-print-directory", "subtitle", f"DIR={folder}", f"OUT_DIR={out}", "ENGINE=ray",
            f"RAY_ADDRESS={nodes.address}"]


def started_stages(log: str) -> set[str]:
    """The stages an attempt's log shows starting ("vad: audio.wav -> speech.json")."""
    return set(re.findall(r"(?m)^(\w+): .* -> ", log))


def finished_stages(log: str) -> set[str]:
    """The stages an attempt's log shows finishing ("asr: done in 2.1 s")."""
    return set(re.findall(r"(?m)^(\w+): done in ", log))


def table_rows(stdout: str) -> dict[str, list[str]]:
    """file -> [status, ..., node] from the table (names may hold spaces: split on two or more)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["file", "status"])
    rows = {}
    for line in lines[start + 2:]:
        if re.match(r"\d+ of \d+ succeeded", line):
            break
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = cells[1:]
    return rows


def attempts(log: Path) -> list[str]:
    """The log of each attempt of a job (the driver's task writes a ==== line before each)."""
    return ["====" + part for part in log.read_text(encoding="utf-8", errors="replace").split("====")[1:]]


def cluster_pids() -> set[int]:
    return {pid for pid in ray_nodes.live_pids() if str(ray_nodes.REPO / ".venvs" / "cluster").encode()
            in ray_nodes._cmdline(pid)}


@needs_ray
def test_without_ray_address_a_local_ray_runs_and_a_node_on_another_commit_says_so(tmp_path: Path) -> None:
    """No RAY_ADDRESS: the driver starts (and stops) a Ray of its own. Its node uses a checkout
    (PIPELINE_REPO) at another commit, so each job fails with the one line that says so."""
    stale = tmp_path / "stale checkout"
    stale.mkdir()
    (stale / "Makefile").write_text("all:\n")
    for name in ("common", "ml"):
        python = cluster.venv_python(stale, name)
        python.parent.mkdir(parents=True)
        python.write_text("")
    git(stale, "init", "-q")
    git(stale, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "old")
    folder = tmp_path / "films"
    folder.mkdir()
    for name in ("a.mp4", "b.mkv"):
        (folder / name).write_bytes(b"never read: the node check comes first")
    ray_tmp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    before = cluster_pids()
    env = pr.clean_env(tmp_path / "cache", PIPELINE_REPO=str(stale), RAY_TMPDIR=str(ray_tmp), **ray_nodes.RAY_ENV)
    env.pop("RAY_ADDRESS", None)
    try:
        done = pr.make("subtitle", f"DIR={folder}", f"OUT_DIR={tmp_path / 'out'}", "ENGINE=ray", env=env, timeout=300)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode != 0
    assert "on a local Ray (1 node;" in done.stderr, done.stderr
    rows = table_rows(done.stdout)
    assert [cells[0] for cells in rows.values()] == ["failed", "failed"], done.stdout
    line = (f"the checkout {stale} is at commit {git(stale, 'rev-parse', 'HEAD')[:12]}, the driver's at "
            f"{git(pr.REPO, 'rev-parse', 'HEAD')[:12]}: check out the same commit on every node")
    assert done.stdout.count(line) == 2, done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and cluster_pids() - before:
        time.sleep(0.5)
    assert not cluster_pids() - before, "the local Ray was left running"


@needs_ray
def test_ray_batch_of_three_with_one_broken_file(ray_cluster: ray_nodes.RayCluster, speech: Path, tmp_path: Path) -> None:
    folder = tmp_path / "my films"
    (folder / "part 2").mkdir(parents=True)
    pr.video_with_tracks(folder / "first 'one'.mp4", [(speech, "eng", True)], SECONDS)
    pr.video_with_tracks(folder / "part 2" / "second $two ü.mkv", [(speech, "eng", True)], SECONDS)
    (folder / "broken.mkv").write_text("this is not a video")
    out = tmp_path / "out"
    env = pr.clean_env(tmp_path / "cache", **ray_nodes.RAY_ENV)
    done = subprocess.run(ray_make(ray_cluster, folder, out, env), cwd=pr.REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode != 0, done.stdout + done.stderr  # one file failed: the batch fails, as locally
    rows = table_rows(done.stdout)
    assert {name: cells[0] for name, cells in rows.items()} == {
        "broken.mkv": "failed", "first 'one'.mp4": "ok", "part 2/second $two ü.mkv": "ok"}, done.stdout
    nodes = {name: cells[-1] for name, cells in rows.items()}
    assert set(nodes.values()) == {"head", "worker"}, done.stdout  # both nodes worked
    assert "2 of 3 succeeded, 1 failed" in done.stdout
    assert "broken.mkv: subtitle: error: FILE=" in done.stdout and "not a media file" in done.stdout  # preflight, as locally
    assert re.search(r"cluster: 2 done, 0 running, 1 failed, 0 queued; [0-9.]+ audio h/h", done.stderr), done.stderr
    assert sorted(p.name for p in out.glob("*/*.subtitled.*")) == ["first-one.subtitled.mp4", "second-two-u.subtitled.mkv"]
    state = next(out.glob(".batch/subtitle-*"))
    results = {json.loads(p.read_text())["file"]: json.loads(p.read_text()) for p in (state / "results").glob("*.json")}
    broken = results[str(folder / "broken.mkv")]
    assert broken["status"] == "failed" and broken["exit_code"] != 0
    assert len(attempts(Path(broken["log"]))) == 1  # a bad input is a result: Ray does not retry it
    for result in results.values():
        if result["status"] == "ok":
            assert result["media_seconds"] == pytest.approx(SECONDS, abs=0.1) and result["node"] in ("head", "worker")
            stages = json.loads((Path(result["job_dir"]) / "manifest.json").read_text())["stages"]
            assert {"demux", "vad", "asr", "align", "subtitle", "mux"} <= set(stages)
    assert not list((state / "running").iterdir())


@needs_ray
def test_ctrl_c_cancels_the_rest_and_keeps_finished_jobs(ray_cluster: ray_nodes.RayCluster, speech: Path,
                                                         tmp_path: Path) -> None:
    folder = tmp_path / "films"
    folder.mkdir()
    for name in ("a.mp4", "b.mkv", "c.mp4"):
        pr.video_with_tracks(folder / name, [(speech, "eng", True)], SECONDS)
    out = tmp_path / "out"
    env = pr.clean_env(tmp_path / "cache", **ray_nodes.RAY_ENV)
    # its own process group, like a terminal's foreground job: Ctrl-C reaches make and the driver
    run = subprocess.Popen(ray_make(ray_cluster, folder, out, env), cwd=pr.REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    finished = None
    deadline = time.monotonic() + 600
    while finished is None and time.monotonic() < deadline and run.poll() is None:
        finished = next(iter(out.glob(".batch/subtitle-*/results/*.json")), None)
        time.sleep(0.2)
    assert finished is not None, "no job finished"
    os.killpg(run.pid, signal.SIGINT)
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode != 0
    assert "cluster: interrupted: cancelling" in stderr, stderr
    assert "1 of 3 succeeded" in stdout or "2 of 3 succeeded" in stdout, stdout + stderr
    rows = table_rows(stdout)
    done = json.loads(finished.read_text())
    assert done["status"] == "ok"
    statuses = {name: cells[0] for name, cells in rows.items()}
    assert statuses[Path(done["file"]).name] == "ok" and "not run" in statuses.values(), stdout
    # The finished job is intact; the stopped ones left no half-written file and no process.
    assert list(job.job_dir(done["file"], str(out)).glob("*.subtitled.*"))
    assert (job.job_dir(done["file"], str(out)) / "manifest.json").exists()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(pr.stage_pids(s, str(out)) for s in ("demux", "separate", "vad", "asr",
                                                                                   "align", "subtitle", "mux")):
        time.sleep(0.5)
    for name in ("a.mp4", "b.mkv", "c.mp4"):
        directory = job.job_dir(folder / name, str(out))
        assert not (directory.exists() and pr.temporaries(directory)), name
    for stage in ("demux", "separate", "vad", "asr", "align", "subtitle", "mux"):
        assert pr.stage_pids(stage, str(out)) == [], stage


@needs_ray
def test_losing_the_worker_node_mid_batch(ray_cluster: ray_nodes.RayCluster, speech: Path, tmp_path: Path) -> None:
    folder = tmp_path / "films"
    folder.mkdir()
    for name in ("a.mp4", "b.mkv"):
        pr.video_with_tracks(folder / name, [(speech, "eng", True)], SECONDS)
    env = pr.clean_env(tmp_path / "cache", **ray_nodes.RAY_ENV)
    local = pr.make("-j2", "subtitle", f"DIR={folder}", f"OUT_DIR={tmp_path / 'local'}", env=env, timeout=900)
    assert local.returncode == 0, local.stdout + local.stderr

    out = tmp_path / "ray"
    run = subprocess.Popen(ray_make(ray_cluster, folder, out, env), cwd=pr.REPO, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    # Wait until the worker node runs a job that has finished its first stages, then kill that node.
    victim = None
    deadline = time.monotonic() + 600
    while victim is None and time.monotonic() < deadline and run.poll() is None:
        for marker in out.glob(".batch/subtitle-*/running/*.json"):
            try:
                running = json.loads(marker.read_text())
            except (OSError, ValueError):
                continue
            file = json.loads((marker.parent.parent / "files.json").read_text())["files"][int(marker.stem) - 1]
            if running["node"] == "worker" and (job.job_dir(file, str(out)) / "speech.json").exists():
                victim = file
        time.sleep(0.2)
    assert victim, "no job reached vad on the worker node"
    ray_cluster.kill_node("worker")
    stdout, stderr = run.communicate(timeout=900)
    assert run.returncode == 0, stdout + stderr
    rows = table_rows(stdout)
    assert {name: cells[0] for name, cells in rows.items()} == {"a.mp4": "ok", "b.mkv": "ok"}, stdout
    assert rows[Path(victim).name][-1] == "head", stdout  # finished by the node that survived
    # The retry resumed the Make chain: demux and vad had finished on the worker and did not run again.
    state = next(out.glob(".batch/subtitle-*"))
    index = json.loads((state / "files.json").read_text())["files"].index(victim) + 1
    first, second = attempts(state / "logs" / f"{index}.log")
    assert "on node worker" in first and "on node head" in second
    done_first, ran_second = finished_stages(first), started_stages(second)
    assert {"demux", "vad"} <= done_first, first  # finished on the worker before it died (how much more: a race)
    assert not done_first & ran_second, (first, second)  # nothing finished there ran again on the head
    assert "mux" in ran_second, second
    # Nothing of the dead node's job kept running behind Ray's back.
    for stage in ("demux", "separate", "vad", "asr", "align", "subtitle", "mux"):
        assert pr.stage_pids(stage, str(out)) == []
    # Same outputs as the local run, file for file.
    for name in ("a.mp4", "b.mkv"):
        here, there = job.job_dir(folder / name, str(tmp_path / "local")), job.job_dir(folder / name, str(out))
        assert pr.results(there) == pr.results(here), name
        assert not pr.temporaries(there)

