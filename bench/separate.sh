#!/usr/bin/env bash
# Benchmark: peak memory and time of the separate stage against input length, to check
# that windowed Demucs keeps memory flat (target: 20 min within 1.3x of 2 min).
# Uses demucs' own demucs_unittest model (built from code, no download) unless --model
# names a cached one (htdemucs). Prints figures and the ratios; not a test.
set -euo pipefail

WORK=""
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'bench/separate: %s\n' "$*" >&2; }
err() { printf 'bench/separate: error: %s\n' "$*" >&2; }

usage() {
  cat <<USAGE
Usage: bench/separate.sh [--minutes LIST] [--model ID] [--window SECONDS] [--keep DIR]

  --minutes LIST   input lengths in minutes, comma-separated (default: 2,20)
  --model ID       demucs model (default: demucs_unittest, built from code; htdemucs when cached)
  --window S       separation window in seconds (default: the SEPARATE_WINDOW setting)
  --keep DIR       work in DIR and keep it (default: a temporary folder, removed)
USAGE
}

# run_one MINUTES WORK MODEL WINDOW: prints "MINUTES WALL_S PEAK_MIB"
run_one() {
  local minutes=$1 work=$2 model=$3 window=$4 input out log start end
  input="$work/input-$minutes.wav"
  out="$work/vocals-$minutes.wav"
  log="$work/separate-$minutes.log"
  # speech-like noise, 16 kHz mono: content does not matter for memory, length does
  ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i "anoisesrc=d=$((minutes * 60)):c=pink:r=16000:a=0.3" \
    -ac 1 -c:a pcm_s16le "$input"
  local -a extra=()
  [[ -n $window ]] && extra=(--window "$window")
  start=$(date +%s.%N)
  (cd "$ROOT" && /usr/bin/time -f '%M' -o "$log.rss" .venvs/common/bin/python -m shared.environment_manager run separate -- \
    python stages/separate.py "$input" -o "$out" --job-dir "$work/job-$minutes" --separate on --model "$model" \
    "${extra[@]+"${extra[@]}"}" >"$log" 2>&1) || { err "failed: see $log"; tail -20 "$log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%s %.1f %.0f\n' "$minutes" "$(echo "$end - $start" | bc)" "$(echo "$(tail -1 "$log.rss") / 1024" | bc)"
}

main() {
  local minutes="2,20" model="demucs_unittest" window="" keep=""
  while (($#)); do
    case $1 in
      -h | --help) usage; exit 0 ;;
      --minutes) minutes=$2; shift 2 ;;
      --model) model=$2; shift 2 ;;
      --window) window=$2; shift 2 ;;
      --keep) keep=$2; shift 2 ;;
      *) err "unknown option $1"; usage >&2; exit 2 ;;
    esac
  done
  if ! command -v ffmpeg >/dev/null || ! command -v bc >/dev/null; then err "needs ffmpeg and bc"; exit 1; fi
  [[ -x /usr/bin/time ]] || { err "needs /usr/bin/time (apt-get install time)"; exit 1; }
  if [[ -n $keep ]]; then WORK=$keep; mkdir -p "$WORK"; else WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; fi
  local work=$WORK
  say "machine: $(nproc) CPU cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -sm); model $model"
  local m first_rss="" first_wall="" first_min="" line
  IFS=',' read -r -a lengths <<<"$minutes"
  printf '%-8s %9s %10s\n' minutes wall peak
  for m in "${lengths[@]}"; do
    line=$(run_one "$m" "$work" "$model" "$window")
    read -r _ wall rss <<<"$line"
    printf '%-8s %7s s %6s MiB\n' "$m" "$wall" "$rss"
    if [[ -z $first_rss ]]; then
      first_rss=$rss first_wall=$wall first_min=$m
    else
      printf 'memory %s min / %s min: %.2f (target <= 1.3); time per minute ratio: %.2f\n' "$m" "$first_min" \
        "$(echo "$rss / $first_rss" | bc -l)" "$(echo "($wall / $m) / ($first_wall / $first_min)" | bc -l)"
    fi
  done
}

main "$@"
