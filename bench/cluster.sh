#!/usr/bin/env bash
# Benchmark: ENGINE=ray batch throughput on one Ray node against two, on this machine.
# Builds N espeak-ng clips (bench/speech_media.py under a still picture), starts a real Ray
# cluster from the cluster environment (tests/helpers/ray_nodes.py: a head, then a head and
# a worker node, each with --cpus CPUs, one job per CPU), runs
# `make subtitle DIR=... ENGINE=ray` on each into its own OUT_DIR and prints the wall time,
# the throughput in audio hours per hour, the two-node / one-node ratio, and per run the
# concurrency: the jobs' summed time over the wall time (how many jobs Ray kept running at
# once) and the mean time per job. Both nodes share this machine's cores: on a machine with
# no idle core, two nodes run twice the jobs at half the speed each, so the concurrency
# says how well Ray spreads the batch and the mean job time what the machine gave each job.
# Figures, not a test; a loaded machine inflates every time. --repeats alternates one node
# and two nodes R times.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV_PY="$ROOT/.venvs/dev/bin/python"
CLIPS=4
SECONDS_PER_CLIP=20
CPUS=1
MODEL="tiny.en-bundled"
REPEATS=1
KEEP=""

say() { printf 'bench/cluster: %s\n' "$*" >&2; }
err() { printf 'bench/cluster: error: %s\n' "$*" >&2; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || err "needs $1"; }

usage() {
  cat <<USAGE
Usage: bench/cluster.sh [--clips N] [--seconds S] [--cpus N] [--model ID] [--repeats R] [--keep DIR]

  --clips N     clips in the batch (default: $CLIPS)
  --seconds S   speech per clip, in seconds (default: $SECONDS_PER_CLIP)
  --cpus N      CPUs of each Ray node, one job per CPU (default: $CPUS)
  --model ID    ASR model id of config/models.toml (default: $MODEL)
  --repeats R   rounds of (one node, two nodes) (default: $REPEATS)
  --keep DIR    work in DIR and keep it (default: a temporary folder, removed)
Runs on the CPU (DEVICE=cpu COMPUTE_TYPE=int8 SEPARATE=off VAD=silero TGT=, THREADS=1).
USAGE
}

main() {
  while [ $# -gt 0 ]; do
    case $1 in
      --clips) [ $# -ge 2 ] || { usage >&2; exit 2; }; CLIPS=$2; shift 2 ;;
      --seconds) [ $# -ge 2 ] || { usage >&2; exit 2; }; SECONDS_PER_CLIP=$2; shift 2 ;;
      --cpus) [ $# -ge 2 ] || { usage >&2; exit 2; }; CPUS=$2; shift 2 ;;
      --model) [ $# -ge 2 ] || { usage >&2; exit 2; }; MODEL=$2; shift 2 ;;
      --repeats) [ $# -ge 2 ] || { usage >&2; exit 2; }; REPEATS=$2; shift 2 ;;
      --keep) [ $# -ge 2 ] || { usage >&2; exit 2; }; KEEP=$2; shift 2 ;;
      -h|--help) usage; return 0 ;;
      *) err "unknown option: $1 (see --help)" ;;
    esac
  done
  need_cmd ffmpeg; need_cmd make; need_cmd espeak-ng; need_cmd sox
  [ -x "$DEV_PY" ] || err "the dev environment is not built: ./bootstrap.sh"
  [ -x "$ROOT/.venvs/cluster/bin/ray" ] || err "the cluster environment is not built: ./bootstrap.sh --envs cluster"
  local work
  if [ -n "$KEEP" ]; then
    work=$KEEP
    mkdir -p "$work"
  else
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
  fi
  say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $CLIPS clips of $SECONDS_PER_CLIP s"
  (cd "$ROOT" && "$DEV_PY" - "$work" "$CLIPS" "$SECONDS_PER_CLIP" "$CPUS" "$MODEL" "$REPEATS") <<'PY'
import json, sys, time
from pathlib import Path

from tests.helpers.ray_nodes import RAY_ENV, RayCluster
from tests.integration import pipeline_runs as pr

work, clips, seconds, cpus, model = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
repeats = int(sys.argv[6])
folder = work / "clips"
folder.mkdir(parents=True, exist_ok=True)
wav = work / "speech.wav"
pr.speech_track(wav, seconds)
for n in range(clips):
    pr.video_with_tracks(folder / f"clip{n + 1}.mp4", [(wav, "eng", True)], seconds)
env = pr.clean_env(work / "cache", ASR_MODEL=model, **RAY_ENV)
settings = ["DEVICE=cpu", "COMPUTE_TYPE=int8", "SEPARATE=off", "VAD=silero", "TGT=", "THREADS=1", "RAY_CPUS_PER_JOB=1"]
rates = {1: [], 2: []}
for round_ in range(1, repeats + 1):
    for workers in (0, 1):
        out = work / f"out-{round_}-{workers + 1}"
        nodes = RayCluster(env, cpus=cpus, workers=workers).start()
        try:
            load = open("/proc/loadavg").read().split()[0]
            started = time.monotonic()
            done = pr.make("subtitle", f"DIR={folder}", f"OUT_DIR={out}", "ENGINE=ray", f"RAY_ADDRESS={nodes.address}",
                           *settings, env=env, timeout=3600)
            wall = time.monotonic() - started
        finally:
            nodes.stop()
        if done.returncode != 0:
            sys.exit(f"bench/cluster: the batch on {workers + 1} node(s) failed:\n{done.stdout}\n{done.stderr[-2000:]}")
        job_seconds = [json.loads(p.read_text())["seconds"] for p in out.glob(".batch/*/results/*.json")]
        rate = clips * seconds / wall
        rates[workers + 1].append(rate)
        print(f"round {round_}, {workers + 1} node(s) x {cpus} CPU: {clips} jobs in {wall:.1f} s; {rate:.2f} audio h/h; "
              f"concurrency {sum(job_seconds) / wall:.2f}; mean job {sum(job_seconds) / len(job_seconds):.1f} s "
              f"(load average {load} at the start)", flush=True)
        print(done.stdout, flush=True)
one, two = sum(rates[1]) / len(rates[1]), sum(rates[2]) / len(rates[2])
print(f"two nodes / one node: {two / one:.2f}x throughput (mean of {repeats} round(s); ideal 2x on idle cores)")
PY
}

main "$@"
