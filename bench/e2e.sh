#!/usr/bin/env bash
# Benchmark: `make subtitle` end to end on CPU. Prints
#   - the no-op re-run time of a finished job (median of 5; target under 1 s);
#   - per speech length (default 1, 5 and 20 minutes): wall time, real-time factor, peak RSS
#     of the largest process, and each stage's seconds from the manifest;
#   - linearity: (T(20 min) - T0) / (20 x (T(1 min) - T0)), where T0, the fixed cost (process
#     start-up and model loading), is the intercept of the line through the two shortest
#     lengths: target at most 1.2 (with only two lengths it is 1 by construction);
#   - flatness: peak RSS at the longest length / at 1 minute: target at most 1.3.
# Figures, not a test. Speech: bench/speech_media.py (espeak-ng sentences with pauses) under
# a still 10 fps picture; ASR tiny.en int8 (the packaged copy), Silero VAD, no separation.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEV_PY="$ROOT/.venvs/dev/bin/python"
MINUTES="1,5,20"
MODEL="tiny.en-bundled"
KEEP=""
WORK=""
RUNS=5
CLIP5=""

say() { printf 'bench/e2e: %s\n' "$*" >&2; }
err() { printf 'bench/e2e: error: %s\n' "$*" >&2; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || err "needs $1"; }

usage() {
  cat <<USAGE
Usage: bench/e2e.sh [--minutes LIST] [--model ID] [--keep DIR]
       bench/e2e.sh --clip5 [--runs N] [--model ID] [--keep DIR]

  --minutes LIST   speech lengths in minutes, comma-separated (default: $MINUTES)
  --model ID       ASR model id of config/models.toml (default: $MODEL)
  --keep DIR       work in DIR and keep it (default: a temporary folder, removed)
  --clip5          only the start-up cost: \`make transcribe\` of a 5 s speech WAV from
                   scratch, CPU defaults (no DEVICE/SEPARATE/VAD overrides), --runs times;
                   prints the median wall and CPU (user+sys) and the processes it started
                   (with strace: every execve, and the Python interpreters among them)
  --runs N         runs of --clip5 (default: $RUNS)
Runs on the CPU (DEVICE=cpu COMPUTE_TYPE=int8), SEPARATE=off, TGT empty.
USAGE
}

# make_clip SECONDS OUT: espeak speech under a still picture
make_clip() {
  local seconds=$1 out=$2 wav="${2%.*}.wav"
  "$DEV_PY" "$ROOT/bench/speech_media.py" "$wav" --seconds "$seconds" 2>/dev/null
  ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i "color=c=0x203040:size=160x90:rate=10:duration=$seconds" \
    -i "$wav" -map 0:v -map 1:a -c:v libx264 -preset ultrafast -tune stillimage -g 250 -pix_fmt yuv420p \
    -c:a aac -b:a 48k -metadata:s:a:0 language=eng "$out"
  rm -f "$wav"
}

# run_make LOG ARGS...: "WALL_S PEAK_MIB" of make ARGS (the largest process's peak RSS)
run_make() {
  local log=$1; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$log.rss" make --no-print-directory -C "$ROOT" "$@" >"$log" 2>&1 \
    || { tail -20 "$log" >&2; err "make $* failed (log: $log)"; }
  end=$(date +%s.%N)
  printf '%.2f %.0f\n' "$(echo "$end - $start" | bc)" "$(echo "$(tail -1 "$log.rss") / 1024" | bc)"
}

# clip5: the 5 s clip's start-up cost (see --clip5). Python files are compiled first, as a
# first run leaves them (PYTHONDONTWRITEBYTECODE=1 would otherwise make every interpreter
# compile its modules again on every run, which is not what a user's second run pays).
clip5() {
  local wav="$WORK/clip5.wav" out="$WORK/out-clip5" i start end walls=() cpus=() procs="" pythons=""
  "$DEV_PY" "$ROOT/bench/speech_media.py" "$wav" --seconds 5 2>/dev/null
  "$ROOT/.venvs/common/bin/python" -m compileall -q -j 0 "$ROOT/shared" "$ROOT/stages" >/dev/null 2>&1 || true
  local env_dir
  for env_dir in "$ROOT"/.venvs/common "$ROOT"/.venvs/ml; do
    [ -d "$env_dir" ] && "$env_dir/bin/python" -m compileall -q -j 0 "$env_dir"/lib/python3*/site-packages >/dev/null 2>&1 || true
  done
  local args=(--no-print-directory -C "$ROOT" transcribe "FILE=$wav" "OUT_DIR=$out" "ASR_MODEL=$MODEL" "MODEL_CACHE_DIR=$WORK/cache")
  for ((i = 1; i <= RUNS; i++)); do
    rm -rf "$out"
    start=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$WORK/clip5.time" make "${args[@]}" >"$WORK/clip5-$i.log" 2>&1 \
      || { tail -20 "$WORK/clip5-$i.log" >&2; err "make transcribe failed (log: $WORK/clip5-$i.log)"; }
    end=$(date +%s.%N)
    walls+=("$(echo "$end - $start" | bc)")
    cpus+=("$(awk '{print $1 + $2}' "$WORK/clip5.time")")
  done
  if command -v strace >/dev/null 2>&1; then
    rm -rf "$out"
    strace -f -qq -e trace=execve -e signal=none -o "$WORK/clip5.strace" make "${args[@]}" >/dev/null 2>&1 || true
    procs=$(grep -c 'execve(.* = 0$' "$WORK/clip5.strace" || true)
    pythons=$(grep 'execve(.* = 0$' "$WORK/clip5.strace" | grep -c 'bin/python' || true)
  fi
  printf '5 s clip, make transcribe from scratch, %s runs (load average now: %s)\n' "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
  printf '  wall median %.2f s (target < 3 s; runs: %s)\n' "$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "${walls[*]}"
  printf '  cpu  median %.2f s user+sys (runs: %s)\n' "$(printf '%s\n' "${cpus[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "${cpus[*]}"
  [ -z "$procs" ] || printf '  processes started: %s, of them Python interpreters: %s\n' "$procs" "$pythons"
  printf '  stages (manifest seconds): %s\n' "$(stage_seconds "$(job_of "$wav" "$out")")"
}

# stage_seconds JOB_DIR: "stage=seconds ..." from the manifest
stage_seconds() {
  "$DEV_PY" - "$1/manifest.json" <<'PY'
import json, sys
stages = json.load(open(sys.argv[1]))["stages"]
print(" ".join(f"{name}={entry['seconds']:.1f}" for name, entry in stages.items()))
PY
}

job_of() { # job_of FILE OUT_DIR
  (cd "$ROOT" && FILE="$1" OUT_DIR="$2" "$ROOT/.venvs/common/bin/python" -m shared.job dir)
}

measure() { # measure SECONDS LABEL: prints a result line, sets LAST_WALL LAST_RSS
  local seconds=$1 label=$2 clip out wall rss job
  clip="$WORK/clip-$label.mkv"
  out="$WORK/out-$label"
  make_clip "$seconds" "$clip"
  read -r wall rss < <(run_make "$WORK/make-$label.log" subtitle "FILE=$clip" "OUT_DIR=$out" "${SETTINGS[@]}")
  job=$(job_of "$clip" "$out")
  LAST_WALL=$wall
  LAST_RSS=$rss
  printf '%-8s %8.1f s  RTF %.4f  peak %5d MiB  %s\n' "$label" "$wall" "$(echo "$wall / $seconds" | bc -l)" "$rss" \
    "$(stage_seconds "$job")"
}

noop() { # noop: median wall time of 5 no-op re-runs of the 5 s job
  local clip="$WORK/clip-5s.mkv" out="$WORK/out-5s" times=() i wall rss
  for i in 1 2 3 4 5; do
    read -r wall rss < <(run_make "$WORK/noop-$i.log" subtitle "FILE=$clip" "OUT_DIR=$out" "${SETTINGS[@]}")
    times+=("$wall")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

main() {
  while [ $# -gt 0 ]; do
    case $1 in
      --minutes) [ $# -ge 2 ] || { usage >&2; exit 2; }; MINUTES=$2; shift 2 ;;
      --model) [ $# -ge 2 ] || { usage >&2; exit 2; }; MODEL=$2; shift 2 ;;
      --keep) [ $# -ge 2 ] || { usage >&2; exit 2; }; KEEP=$2; shift 2 ;;
      --clip5) CLIP5=1; shift ;;
      --runs) [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || { usage >&2; exit 2; }; RUNS=$2; shift 2 ;;
      -h|--help) usage; return 0 ;;
      *) err "unknown option: $1 (see --help)" ;;
    esac
  done
  need_cmd ffmpeg; need_cmd bc; need_cmd make; need_cmd espeak-ng; need_cmd sox
  [ -x /usr/bin/time ] || err "needs GNU time (/usr/bin/time; apt-get install time)"
  [ -x "$DEV_PY" ] || err "the dev environment is not built: ./bootstrap.sh"
  if [ -n "$KEEP" ]; then
    WORK=$KEEP
    mkdir -p "$WORK"
  else
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
  fi
  if [ -n "$CLIP5" ]; then
    clip5
    return 0
  fi
  SETTINGS=("ASR_MODEL=$MODEL" DEVICE=cpu COMPUTE_TYPE=int8 SEPARATE=off VAD=silero TGT= "MODEL_CACHE_DIR=$WORK/cache")
  say "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB, $(uname -sm); model $MODEL int8, CPU"

  measure 5 5s
  printf 'no-op re-run (median of 5): %s s (target < 1 s)\n' "$(noop)"

  local minutes walls=() rsses=() used=()
  IFS=, read -r -a lengths <<<"$MINUTES"
  for minutes in "${lengths[@]}"; do
    measure "$((minutes * 60))" "${minutes}min"
    used+=("$minutes"); walls+=("$LAST_WALL"); rsses+=("$LAST_RSS")
  done
  local n=${#used[@]}
  [ "$n" -ge 2 ] || return 0
  local m1=${used[0]} t1=${walls[0]} m2=${used[1]} t2=${walls[1]} ml=${used[n-1]} tl=${walls[n-1]} slope t0 k
  slope=$(echo "($t2 - $t1) / ($m2 - $m1)" | bc -l)
  t0=$(echo "$t1 - $slope * $m1" | bc -l)
  k=$(echo "$ml / $m1" | bc -l)
  printf 'fixed cost (intercept of %s and %s min): %.1f s; %.1f s per minute of speech after it\n' "$m1" "$m2" "$t0" "$slope"
  printf 'time linearity: (T%smin - T0) / (%.0f x (T%smin - T0)) = %.3f (target <= 1.2)\n' \
    "$ml" "$k" "$m1" "$(echo "($tl - $t0) / ($k * ($t1 - $t0))" | bc -l)"
  printf 'memory flatness: peak %smin / peak %smin = %.3f (target <= 1.3)\n' "$ml" "$m1" \
    "$(echo "${rsses[n-1]} / ${rsses[0]}" | bc -l)"
}

main "$@"
