#!/usr/bin/env bash
# Benchmark: `make transcribe` (one process per stage) against the whisperx command line,
# same model, compute type, batch size, VAD and alignment setting, on espeak-ng speech.
# Prints wall time, peak RSS and WER for each side and the ratios. Figures, not a test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ML="$ROOT/.venvs/ml/bin"
DEV="$ROOT/.venvs/dev/bin"

say() { printf 'bench/asr: %s\n' "$*" >&2; }
err() { printf 'bench/asr: error: %s\n' "$*" >&2; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || { err "needs $1"; exit 1; }; }

usage() {
  cat <<USAGE
Usage: bench/asr.sh [--seconds LIST] [--model ID] [--vad pyannote|silero] [--ours-vad auto|silero|pyannote]
                    [--batch N] [--compute TYPE] [--keep DIR]

  --seconds LIST   clip lengths, comma-separated (default: 60,600)
  --model ID       ASR model id of config/models.toml (default: tiny.en-bundled)
  --vad NAME       VAD on both sides (default: pyannote; whisperx's silero needs GitHub)
  --ours-vad NAME  VAD on our side only (default: the same as --vad); --ours-vad auto
                   compares our CPU defaults (Silero) with the whisperx CLI's (pyannote)
  --batch N        batch size on both sides (default: 4)
  --compute TYPE   compute type on both sides (default: int8)
  --keep DIR       work in DIR and keep it (default: a temporary folder, removed)
Alignment is off on both sides (no aligner is cached offline); separation is off.
USAGE
}

# peak RSS (MiB) and wall seconds of a command: "WALL RSS" on stdout, its output in $2
measure() {
  local log="$1"; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$log.rss" "$@" >"$log" 2>&1 || { err "failed: $*"; tail -20 "$log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf '%.2f %.0f\n' "$(echo "$end - $start" | bc)" "$(echo "$(tail -1 "$log.rss") / 1024" | bc)"
}

wer() { # wer TRUTH.json HYPOTHESIS.txt
  "$DEV/python" - "$1" "$2" <<'PY'
import json, re, sys
import jiwer
norm = lambda t: re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", t.lower().replace("2", "two"))).strip()
ref = norm(" ".join(s["text"] for s in json.load(open(sys.argv[1]))))
hyp = norm(open(sys.argv[2], encoding="utf-8").read())
print(f"{jiwer.wer(ref, hyp):.3f}")
PY
}

run_one() {
  local seconds="$1" work="$2" model="$3" vad="$4" batch="$5" compute="$6" ours_vad="$7"
  local clip="$work/speech-$seconds.wav" model_dir ours theirs
  python3 "$ROOT/bench/speech_media.py" "$clip" --seconds "$seconds" --truth "$work/truth-$seconds.json"
  model_dir=$("$ROOT/.venvs/common/bin/python" -c "import sys; from pathlib import Path; from shared import models; print(models.resolve(sys.argv[1], Path('$ROOT/.cache'), Path('$ROOT')))" "$model")

  say "$seconds s: make transcribe"
  ours=$(cd "$ROOT" && measure "$work/ours-$seconds.log" make --no-print-directory transcribe FILE="$clip" \
    OUT_DIR="$work/out-$seconds" ASR_MODEL="$model" VAD="$ours_vad" ALIGN=off SEPARATE=off BATCH_SIZE="$batch" \
    COMPUTE_TYPE="$compute" DEVICE=cpu SRC=en)
  find "$work/out-$seconds" -name transcript.txt -exec cat {} + >"$work/ours-$seconds.txt"

  say "$seconds s: whisperx CLI"
  theirs=$(HF_HUB_OFFLINE=1 TORCH_HOME="$ROOT/.cache/torch" measure "$work/whisperx-$seconds.log" "$ML/whisperx" "$clip" \
    --model "$model_dir" --model_cache_only True --device cpu --compute_type "$compute" --batch_size "$batch" \
    --vad_method "$vad" --no_align --language en --output_format txt --output_dir "$work/wx-$seconds")
  cat "$work/wx-$seconds"/*.txt >"$work/whisperx-$seconds.txt"

  local ow orss tw trss
  read -r ow orss <<<"$ours"
  read -r tw trss <<<"$theirs"
  printf '%-6s %-18s %8s s %7s MiB  WER %s\n' "${seconds}s" "make transcribe" "$ow" "$orss" "$(wer "$work/truth-$seconds.json" "$work/ours-$seconds.txt")"
  printf '%-6s %-18s %8s s %7s MiB  WER %s\n' "${seconds}s" "whisperx CLI" "$tw" "$trss" "$(wer "$work/truth-$seconds.json" "$work/whisperx-$seconds.txt")"
  printf '%-6s time ratio (ours/whisperx) %.2f, memory ratio %.2f\n' "${seconds}s" "$(echo "$ow / $tw" | bc -l)" "$(echo "$orss / $trss" | bc -l)"
}

main() {
  local seconds="60,600" model="tiny.en-bundled" vad="pyannote" ours_vad="" batch=4 compute=int8 keep=""
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --seconds) seconds="$2"; shift 2 ;;
      --model) model="$2"; shift 2 ;;
      --vad) vad="$2"; shift 2 ;;
      --ours-vad) ours_vad="$2"; shift 2 ;;
      --batch) batch="$2"; shift 2 ;;
      --compute) compute="$2"; shift 2 ;;
      --keep) keep="$2"; shift 2 ;;
      *) err "unknown option $1"; usage >&2; exit 2 ;;
    esac
  done
  ours_vad="${ours_vad:-$vad}"
  need_cmd espeak-ng; need_cmd sox; need_cmd bc; need_cmd make
  [ -x /usr/bin/time ] || { err "needs /usr/bin/time (apt-get install time)"; exit 1; }
  [ -x "$ML/whisperx" ] || { err "the ml environment is not built (./bootstrap.sh --envs ml)"; exit 1; }
  local work
  if [ -n "$keep" ]; then work="$keep"; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi
  say "machine: $(nproc) CPU cores, $(awk '/MemTotal/ {printf "%.0f GB", $2/1048576}' /proc/meminfo), $(uname -sm)"
  say "model $model, compute $compute, batch $batch, VAD ours $ours_vad / whisperx $vad, alignment off, separation off"
  local s
  IFS=',' read -r -a lengths <<<"$seconds"
  for s in "${lengths[@]}"; do
    run_one "$s" "$work" "$model" "$vad" "$batch" "$compute" "$ours_vad"
  done
}

if [ -z "${BENCH_ASR_SOURCED:-}" ]; then
  main "$@"
fi
