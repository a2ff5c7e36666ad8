#!/usr/bin/env bash
# Benchmark, side by side in one run: our pipeline against what a user gets from faster-whisper
# alone and from the whisperx CLI, same model, batch size and threads, on espeak-ng speech with
# pauses like real speech (0.2 to 1.5 s). Runs alternate (A B C A B C ...); each figure is the
# median of --runs. Prints wall, CPU (user+sys), peak RSS, WER and sentence-onset error per
# side, then the ratios A/B and A/C (wall and CPU). Figures, not a test.
#   A: make transcribe, CPU defaults (VAD=auto, ALIGN=auto: word-timed output)
#   B: bench/peer_fw.py: faster-whisper BatchedInferencePipeline, word_timestamps=True, its Silero VAD
#   C: the whisperx CLI, its defaults (pyannote VAD; alignment on only where its aligner is cached)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ML="$ROOT/.venvs/ml/bin"
DEV="$ROOT/.venvs/dev/bin"
COMMON="$ROOT/.venvs/common/bin"

say() { printf 'bench/peer: %s\n' "$*" >&2; }
err() { printf 'bench/peer: error: %s\n' "$*" >&2; }

usage() {
  cat <<USAGE
Usage: bench/peer.sh [--seconds LIST] [--runs N] [--model ID] [--device cpu|cuda] [--compute TYPE]
                     [--batch N] [--threads N] [--sides ABC] [--keep DIR] [--dry-run]

  --seconds LIST  clip lengths in seconds, comma-separated (default: 60,600)
  --runs N        alternating runs per side; medians are reported (default: 3)
  --model ID      ASR model id of config/models.toml (default: tiny.en-bundled on cpu,
                  large-v3-turbo on cuda); it must be cached
  --device NAME   cpu or cuda (default: cpu); cuda also prints real-time factors
  --compute TYPE  compute type on every side (default: int8 on cpu, float16 on cuda)
  --batch N       batch size on every side (default: 4 on cpu, 16 on cuda)
  --threads N     CPU threads on every side (default: 2)
  --sides LIST    which sides to run, e.g. AB (default: ABC)
  --keep DIR      work in DIR and keep it (default: a temporary folder, removed)
  --dry-run       print each side's command line and the settings, run nothing (no GPU or
                  cached model needed: checks the command lines, e.g. of --device cuda)
USAGE
}

# run a command under GNU time; prints "WALL CPU RSS_MIB" (RSS: the largest process)
measure() {
  local log="$1"; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%U %S %M' -o "$log.time" "$@" >"$log" 2>&1 || { err "failed: $*"; tail -20 "$log" >&2; return 1; }
  end=$(date +%s.%N)
  read -r user sys rss < <(tail -1 "$log.time")
  printf '%.2f %.2f %.0f\n' "$(echo "$end - $start" | bc)" "$(echo "$user + $sys" | bc)" "$(echo "$rss / 1024" | bc)"
}

col() { awk -v s="$2" -v c="$3" '$1 == s {print $c}' "$1" | median; }  # col FILE SIDE COLUMN: its median
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# cmd_a|cmd_b|cmd_c SECONDS OUT: set CMD to that side's command line (run from $ROOT)
cmd_a() {
  CMD=(make --no-print-directory transcribe FILE="$WORK/speech-$1.wav" OUT_DIR="$2" ASR_MODEL="$MODEL" DEVICE="$DEVICE"
       COMPUTE_TYPE="$COMPUTE" BATCH_SIZE="$BATCH" THREADS="$THREADS" SRC=en)
}
cmd_b() {
  CMD=("$ML/python" "$ROOT/bench/peer_fw.py" "$WORK/speech-$1.wav" "$MODEL_DIR" "$2" --device "$DEVICE"
       --compute-type "$COMPUTE" --batch "$BATCH" --threads "$THREADS" --language en)
}
cmd_c() {
  # shellcheck disable=SC2206 # C_ALIGN is empty or one word
  CMD=(env HF_HUB_OFFLINE=1 TORCH_HOME="$CACHE/torch" HF_HOME="$CACHE/huggingface" "$ML/whisperx" "$WORK/speech-$1.wav"
       --model "$MODEL_DIR" --model_cache_only True --device "$DEVICE" --compute_type "$COMPUTE" --batch_size "$BATCH"
       --threads "$THREADS" --language en --output_format json --output_dir "$2" $C_ALIGN)
}

side_a() { # seconds run
  local s="$1" r="$2" out="$WORK/a-$1-$2"
  rm -rf "$out"
  cmd_a "$s" "$out"
  (cd "$ROOT" && measure "$out.log" "${CMD[@]}")
  "$DEV/python" "$ROOT/bench/peer_score.py" "$WORK/truth-$s.json" --aligned "$(find "$out" -name aligned.json | head -1)"
}

side_b() {
  local s="$1" r="$2" out="$WORK/b-$1-$2"
  cmd_b "$s" "$out"
  measure "$out.log" "${CMD[@]}"
  "$DEV/python" "$ROOT/bench/peer_score.py" "$WORK/truth-$s.json" --words "$out.words.json" "$out.txt"
}

side_c() {
  local s="$1" r="$2" out="$WORK/c-$1-$2"
  rm -rf "$out"
  cmd_c "$s" "$out"
  measure "$out.log" "${CMD[@]}"
  "$DEV/python" "$ROOT/bench/peer_score.py" "$WORK/truth-$s.json" --whisperx "$out/speech-$s.json"
}

main() {
  local seconds="60,600" runs=3 sides="ABC" keep="" dry=""
  MODEL="" DEVICE=cpu COMPUTE="" BATCH="" THREADS=2
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --seconds) seconds="$2"; shift 2 ;;
      --runs) runs="$2"; shift 2 ;;
      --model) MODEL="$2"; shift 2 ;;
      --device) DEVICE="$2"; shift 2 ;;
      --compute) COMPUTE="$2"; shift 2 ;;
      --batch) BATCH="$2"; shift 2 ;;
      --threads) THREADS="$2"; shift 2 ;;
      --sides) sides="$2"; shift 2 ;;
      --keep) keep="$2"; shift 2 ;;
      --dry-run) dry=1; shift ;;
      -h|--help) usage; exit 0 ;;
      *) err "unknown option $1"; usage >&2; exit 2 ;;
    esac
  done
  case "$DEVICE" in
    cpu) MODEL="${MODEL:-tiny.en-bundled}"; COMPUTE="${COMPUTE:-int8}"; BATCH="${BATCH:-4}" ;;
    cuda) MODEL="${MODEL:-large-v3-turbo}"; COMPUTE="${COMPUTE:-float16}"; BATCH="${BATCH:-16}"
          [[ -n "$dry" ]] || "$ML/python" -c "import ctranslate2, sys; sys.exit(0 if ctranslate2.get_cuda_device_count() else 1)" \
            || { err "--device cuda: CTranslate2 sees no CUDA device on this machine"; exit 1; } ;;
    *) err "--device must be cpu or cuda, not $DEVICE"; exit 2 ;;
  esac
  [[ "$runs" =~ ^[1-9][0-9]*$ ]] || { err "--runs must be a positive number"; exit 2; }
  for tool in espeak-ng sox bc /usr/bin/time; do command -v "$tool" >/dev/null || { err "needs $tool"; exit 1; }; done
  for py in "$ML/python" "$DEV/python" "$COMMON/python"; do [[ -x "$py" ]] || { err "needs $py (./bootstrap.sh)"; exit 1; }; done

  CACHE="${MODEL_CACHE_DIR:-$ROOT/.cache}"
  MODEL_DIR=$(cd "$ROOT" && "$COMMON/python" -c "import sys; from pathlib import Path; from shared import models; \
print(models.resolve(sys.argv[1], Path(sys.argv[2]), Path('.')))" "$MODEL" "$CACHE" 2>/dev/null) \
    || { [[ -n "$dry" ]] && MODEL_DIR="<$MODEL: not cached here>"; } || { err "model $MODEL is not cached"; exit 1; }
  # whisperx aligns by default with torchaudio's WAV2VEC2_ASR_BASE_960H for English: on only where cached
  if compgen -G "$CACHE/torch/hub/checkpoints/wav2vec2_fairseq_base_ls960_asr_ls960*.pth" >/dev/null; then
    C_ALIGN=""; c_note="alignment on (its default)"
  else
    C_ALIGN="--no_align"; c_note="alignment OFF: its default English aligner is not cached (no hub here); onsets are segment starts"
  fi
  if [[ -n "$dry" ]]; then
    WORK="<work>"
    dry_run "$seconds" "$sides"
    return 0
  fi
  if [[ -n "$keep" ]]; then WORK="$keep"; mkdir -p "$WORK"; else WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT; fi

  # Every side's Python files compiled first, as a first run leaves them: with
  # PYTHONDONTWRITEBYTECODE=1 (set on some machines) and uv's uncompiled installs, each
  # interpreter would compile its imports again on every run, which A (a dozen interpreters)
  # pays far more often than B or C, and no user's second run pays at all.
  say "compiling the environments' Python files (once; later runs check only)"
  "$COMMON/python" -m compileall -q -j 0 "$ROOT/shared" "$ROOT/stages" "$ROOT/bench" >/dev/null 2>&1 || true
  local env_dir
  for env_dir in "$ROOT/.venvs/common" "$ROOT/.venvs/ml" "$ROOT/.venvs/dev"; do
    "$env_dir/bin/python" -m compileall -q -j 0 "$env_dir"/lib/python3*/site-packages >/dev/null 2>&1 || true
  done
  say "model $MODEL ($MODEL_DIR), device $DEVICE, compute $COMPUTE, batch $BATCH, threads $THREADS, $runs runs"
  say "C (whisperx CLI): $c_note"
  local s r side line
  for s in ${seconds//,/ }; do
    "$COMMON/python" "$ROOT/bench/speech_media.py" "$WORK/speech-$s.wav" --seconds "$s" --truth "$WORK/truth-$s.json" \
      --gaps 0.2,0.9,0.5,1.5,0.3,1.1,0.7
    for ((r = 1; r <= runs; r++)); do
      for side in $(echo "$sides" | grep -o .); do
        say "${s} s, run $r: side $side"
        line=$("side_${side,,}" "$s" "$r" | tr '\n' ' ')
        echo "$side $line" >>"$WORK/results-$s.txt"
      done
    done
    report "$s" "$sides"
  done
}

dry_run() { # seconds sides: the command lines, nothing run
  local seconds="$1" sides="$2" s side
  printf 'model %s (%s), device %s, compute %s, batch %s, threads %s\n' "$MODEL" "$MODEL_DIR" "$DEVICE" "$COMPUTE" "$BATCH" "$THREADS"
  printf 'C (whisperx CLI): %s\n' "$c_note"
  for s in ${seconds//,/ }; do
    for side in $(echo "$sides" | grep -o .); do
      "cmd_${side,,}" "$s" "$WORK/${side,,}-$s-1"
      printf '%s %s s: %s\n' "$side" "$s" "${CMD[*]}"
    done
  done
}

report() { # seconds sides
  local s="$1" sides="$2" f="$WORK/results-$1.txt" side
  # results lines: SIDE WALL CPU RSS WER w ONSET_MEDIAN m ONSET_MAX x MISSED n
  printf '\n%s s of speech (%s, %s, batch %s, %s threads), medians of %s runs:\n' "$s" "$MODEL" "$DEVICE" "$BATCH" "$THREADS" \
    "$(grep -c '^A ' "$f" || grep -c . "$f")"
  [[ "$sides" != *C* ]] || printf 'C (whisperx CLI): %s\n' "$c_note"
  printf '%-4s %9s %9s %9s %7s %8s %8s %7s %s\n' side wall cpu "RSS MiB" WER "onset md" "onset mx" missed RTF
  declare -gA WALL CPU
  for side in $(echo "$sides" | grep -o .); do
    WALL[$side]=$(col "$f" "$side" 2); CPU[$side]=$(col "$f" "$side" 3)
    printf '%-4s %8ss %8ss %9s %7s %7ss %7ss %7s %s\n' "$side" "${WALL[$side]}" "${CPU[$side]}" "$(col "$f" "$side" 4)" \
      "$(col "$f" "$side" 6)" "$(col "$f" "$side" 8)" "$(col "$f" "$side" 10)" "$(col "$f" "$side" 12)" \
      "$(echo "scale=4; ${WALL[$side]} / $s" | bc)"
  done
  for side in B C; do
    [[ "$sides" == *A* && "$sides" == *$side* ]] || continue
    printf 'A/%s: wall %.2f, cpu %.2f\n' "$side" "$(echo "${WALL[A]} / ${WALL[$side]}" | bc -l)" \
      "$(echo "${CPU[A]} / ${CPU[$side]}" | bc -l)"
  done
  # per-run ratios (each A against the B/C of the same round), to show the spread under load
  for side in B C; do
    [[ "$sides" == *A* && "$sides" == *$side* ]] || continue
    paste <(awk '$1 == "A" {print $2}' "$f") <(awk -v s="$side" '$1 == s {print $2}' "$f") \
      | awk -v s="$side" '{printf "%s%.2f", (NR > 1 ? ", " : "A/" s " wall per run: "), $1 / $2} END {print ""}'
  done
}

main "$@"
