#!/usr/bin/env bash
# Download, verify, list and report the models of config/models.toml, so that the
# pipeline then runs with no network at all. A thin shell over shared/model_cache.py,
# run by the common environment's interpreter with the process environment the
# environment manager gives the stages (same HF_HOME / TORCH_HOME / MODEL_CACHE_DIR).
set -euo pipefail

usage() {
  cat <<'EOF'
usage: ./cache-models.sh [--all | --whisperx | --mlx | --align | --pyannote | --demucs |
                          --indictrans2 | --nllb | --model ID ...]
                         [--list] [--status] [--verify] [--dry-run] [--ct2]
                         [--export FILE.tar] [--import FILE.tar] [--adopt]
                         [--token T] [--cache-dir D] [-y] [-h]

What to fetch (combine freely; a group flag takes what this hardware class's defaults
and your settings use, --model takes any registry id):
  --all            every model the transcribe/translate/subtitle workflows use here:
                   ASR model, aligners (defaults' languages + SRC), Demucs when
                   separation is on, IndicTrans2 and NLLB defaults
  --whisperx       faster-whisper ASR model (ASR_MODEL, else the class default)
  --mlx            mlx-whisper ASR model (Apple Silicon)
  --align          wav2vec2 aligners
  --pyannote       pyannote speaker-diarization-community-1 (gated)
  --demucs         Demucs separation model
  --indictrans2    IndicTrans2 models, one per direction (gated)
  --nllb           NLLB-200 model
  --model ID       one model of config/models.toml (repeatable; see --list)

What to do (default: download what is selected and not cached yet):
  --list           the registry: ids, sizes, licences, gated or not
  --status         per model cached/partial/missing, size on disk, revision; per
                   workflow ready offline or not. Exit 0 only if ready (all workflows,
                   or those that use the selected models)
  --verify         re-hash every cached file against the sha256 recorded at download
                   time; report and re-fetch corrupt files
  --dry-run        what would be fetched and the total size; no download
  --ct2            also convert the NLLB models (those selected, else every cached one)
                   to CTranslate2 int8 under <cache>/ct2/: about 3x faster on a CPU
  --export FILE.tar
                   write the selected cached models (default: every cached one) with
                   their records and sha256 to FILE.tar, to carry to an offline machine
  --import FILE.tar
                   check every file of such an archive against its sha256, then install
                   it; a damaged or foreign archive is refused and nothing changes
  --adopt          take the selected models (default: any registry model found) from
                   your own Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub, else
                   ~/.cache/huggingface/hub), hashed here; recorded as adopted, not
                   hub-verified until an online --verify

Options:
  --token T        Hugging Face token for gated models (default: HF_TOKEN from the
                   environment or .env). Never printed, logged or stored in the cache.
  --cache-dir D    model cache (default: MODEL_CACHE_DIR, else .cache/ in the repository)
  -y, --yes        do not ask before downloading (never asks without a terminal)
  -h, --help       this help

Exit: 0 ok, 1 a model failed or a workflow is not ready, 2 usage error, 3 not enough disk.
Gated models: accept the terms at https://huggingface.co/<repo>, then set HF_TOKEN.
EOF
}

say() { printf 'cache-models: %s\n' "$*" >&2; }
err() { printf 'cache-models: error: %s\n' "$*" >&2; }

# usage_error MESSAGE: a bad command line; exit 2 with a pointer to -h.
usage_error() {
  err "$1 (see ./cache-models.sh -h)"
  exit 2
}

repo_root() {
  cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P
}

# common_python ROOT: the common environment's interpreter (POSIX or Windows layout).
common_python() {
  local root=$1 candidate
  for candidate in "$root/.venvs/common/bin/python" "$root/.venvs/common/Scripts/python.exe"; do
    if [[ -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# absolute_path PATH: PATH made absolute against the current directory (need not exist).
absolute_path() {
  case $1 in
    /* | [A-Za-z]:[\\/]*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
  esac
}

# parse_args ARGS...: checks the command line and fills PY_ARGS (for the Python module),
# TOKEN and CACHE_DIR. The token travels in the environment, never on a command line.
parse_args() {
  PY_ARGS=()
  TOKEN=""
  CACHE_DIR=""
  SHOW_HELP=0
  while (($#)); do
    case $1 in
      -h | --help) SHOW_HELP=1 ;;
      --all | --whisperx | --mlx | --align | --pyannote | --demucs | --indictrans2 | --nllb | \
        --list | --status | --verify | --dry-run | --ct2)
        PY_ARGS+=("$1")
        ;;
      -y | --yes) PY_ARGS+=(--yes) ;;
      --model)
        if (($# < 2)) || [[ -z $2 || $2 == -* ]]; then usage_error "--model needs a model id"; fi
        PY_ARGS+=(--model "$2")
        shift
        ;;
      --model=*)
        [[ -n ${1#*=} ]] || usage_error "--model needs a model id"
        PY_ARGS+=(--model "${1#*=}")
        ;;
      --token)
        if (($# < 2)) || [[ -z $2 ]]; then usage_error "--token needs a value"; fi
        TOKEN=$2
        shift
        ;;
      --token=*) TOKEN=${1#*=} ;;
      --cache-dir)
        if (($# < 2)) || [[ -z $2 ]]; then usage_error "--cache-dir needs a directory"; fi
        CACHE_DIR=$(absolute_path "$2")
        shift
        ;;
      --cache-dir=*) CACHE_DIR=$(absolute_path "${1#*=}") ;;
      --export | --import)
        if (($# < 2)) || [[ -z $2 ]]; then usage_error "$1 needs a FILE.tar"; fi
        PY_ARGS+=("$1" "$(absolute_path "$2")")
        shift
        ;;
      --export=* | --import=*)
        [[ -n ${1#*=} ]] || usage_error "${1%%=*} needs a FILE.tar"
        PY_ARGS+=("${1%%=*}" "$(absolute_path "${1#*=}")")
        ;;
      --adopt) PY_ARGS+=(--adopt) ;;
      *) usage_error "unknown option: $1" ;;
    esac
    shift
  done
  local modes=0 arg
  for arg in "${PY_ARGS[@]+"${PY_ARGS[@]}"}"; do
    case $arg in --list | --status | --verify | --dry-run | --export | --import | --adopt) modes=$((modes + 1)) ;; esac
  done
  ((modes <= 1)) || usage_error "choose one of --list, --status, --verify, --dry-run, --export, --import, --adopt"
}

main() {
  parse_args "$@"
  if ((SHOW_HELP)); then
    usage
    return 0
  fi
  local root python
  root=$(repo_root)
  python=$(common_python "$root") || {
    err "the common environment is not built: run ./bootstrap.sh"
    exit 1
  }
  if [[ -n $TOKEN ]]; then
    export HF_TOKEN=$TOKEN
  fi
  if [[ -n $CACHE_DIR ]]; then
    export MODEL_CACHE_DIR=$CACHE_DIR
  fi
  # --adopt reads the user's own hub cache; the environment manager gives the tool ours.
  if [[ -z ${ADOPT_FROM:-} ]]; then
    if [[ -n ${HF_HUB_CACHE:-} ]]; then
      export ADOPT_FROM=$HF_HUB_CACHE
    elif [[ -n ${HF_HOME:-} ]]; then
      export ADOPT_FROM=$HF_HOME/hub
    fi
  fi
  cd "$root"
  exec "$python" -m shared.environment_manager run cache-models -- \
    python -m shared.model_cache "${PY_ARGS[@]+"${PY_ARGS[@]}"}"
}

# bats sources the functions with CACHE_MODELS_SOURCE_ONLY=1 and runs nothing.
[[ ${CACHE_MODELS_SOURCE_ONLY:-0} == 1 ]] || main "$@"
