#!/usr/bin/env bash
# Benchmark: NLLB through transformers (fp32) against CTranslate2 (int8) on CPU, same
# model, sentences, beam size and threads; each engine in its own process so its peak RSS
# is its own. Prints sentences/s and peak memory for each, and the ratios. Figures, not a test.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf 'bench/translate: %s\n' "$*" >&2; }
err() { printf 'bench/translate: error: %s\n' "$*" >&2; }

usage() {
  cat <<USAGE
Usage: bench/translate.sh [--model ID] [--tiny] [--sentences N] [--beams N] [--threads N]

  --model ID       an nllb model id of config/models.toml that is cached (default: the
                   cpu default, nllb-200-distilled-600M, when cached; else --tiny)
  --tiny           build the tiny test NLLB model in a temporary cache and use it
  --sentences N    sentences to translate (default: 64)
  --beams N        beam size on both sides (default: 4)
  --threads N      CPU threads on both sides (default: all)
The CTranslate2 int8 copy is converted first when the cache has none.
USAGE
}

ml_python() {
  "$ROOT/.venvs/common/bin/python" -m shared.environment_manager python translate
}

run_engine() {  # run_engine ENGINE -> one JSON line
  "$PY" -m shared.translation.bench "$MODEL" --engine "$1" --sentences "$SENTENCES" --beams "$BEAMS" --threads "$THREADS"
}

field() {  # field JSON NAME
  "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

main() {
  MODEL="" SENTENCES=64 BEAMS=4 THREADS=0
  local tiny=0
  while [ $# -gt 0 ]; do
    case "$1" in
      -h|--help) usage; return 0 ;;
      --model) MODEL="${2:?--model needs an id}"; shift 2 ;;
      --tiny) tiny=1; shift ;;
      --sentences) SENTENCES="${2:?}"; shift 2 ;;
      --beams) BEAMS="${2:?}"; shift 2 ;;
      --threads) THREADS="${2:?}"; shift 2 ;;
      *) err "unknown option: $1"; usage >&2; exit 2 ;;
    esac
  done
  cd "$ROOT"
  PY="$(ml_python)"
  [ -x "$PY" ] || { err "the ml environment is not built: ./bootstrap.sh --envs ml"; exit 1; }
  export PYTHONPATH="$ROOT"
  export MODEL_CACHE_DIR="${MODEL_CACHE_DIR:-$ROOT/.cache}"
  local tmp=""
  if [ -z "$MODEL" ] && [ "$tiny" = 0 ]; then
    if "$PY" -c 'import sys; from pathlib import Path; from shared import models; models.resolve("nllb-200-distilled-600M", Path(sys.argv[1]), Path("."))' "$MODEL_CACHE_DIR" 2>/dev/null; then
      MODEL=nllb-200-distilled-600M
    else
      say "nllb-200-distilled-600M is not cached: using the tiny test model"
      tiny=1
    fi
  fi
  if [ "$tiny" = 1 ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf -- "$tmp"' EXIT
    say "building the tiny NLLB model in $tmp"
    "$PY" tests/integration/tinymodels.py "$tmp" >/dev/null
    export MODEL_CACHE_DIR="$tmp" MODELS_TOML="$tmp/models.toml"
    MODEL="tiny-nllb"
  fi
  say "model $MODEL, $SENTENCES sentences, beams $BEAMS, threads ${THREADS/#0/all}"
  local hf ct
  hf="$(run_engine transformers)"
  ct="$(run_engine ctranslate2)"
  printf '%-13s %12s %14s %10s\n' engine sentences/s peak_RSS_MiB load_s
  for json in "$hf" "$ct"; do
    printf '%-13s %12s %14s %10s\n' "$(field "$json" engine)" "$(field "$json" sentences_per_s)" \
      "$(field "$json" peak_rss_mib)" "$(field "$json" load_s)"
  done
  "$PY" - "$hf" "$ct" <<'PY'
import json, sys
hf, ct = (json.loads(a) for a in sys.argv[1:3])
print(f"ratio ctranslate2/transformers: {ct['sentences_per_s'] / hf['sentences_per_s']:.2f}x sentences/s, "
      f"{ct['peak_rss_mib'] / hf['peak_rss_mib']:.2f}x peak RSS")
PY
}

[ -n "${TRANSLATE_BENCH_SOURCED:-}" ] && return 0  # bats sources the functions only
main "$@"
