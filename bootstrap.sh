#!/usr/bin/env bash
# Set up this repository: check the prerequisites, build the Python environments of
# config/environments.toml with uv, profile the hardware, and optionally cache the models.
# Idempotent: an environment whose pinned requirements did not change is left alone.
# Windows (PowerShell): bootstrap.ps1 does the same with the same options.
set -euo pipefail

# ---- state (set by parse_args / the steps) ---------------------------------------------
OPT_CACHE_MODELS=0
OPT_SKIP_CACHE=0
OPT_FORCE=0
OPT_ENVS=""
OPT_YES=0
OPT_DEBUG=0

ROOT=""
LOG_FILE=""
CURRENT_STEP=""
USAGE_ERROR=0
USE_COLOR=0
ON_TERMINAL=0
PY=""
COMMON_PY=""
UV_CMD=()
PLAN=()
BUILT=()
UP_TO_DATE=()
HARDWARE_LINE=""
MODELS_RESULT=""

MARGIN_MB=1024
HARDWARE_CACHE="config/hardware_cache.json"

usage() {
  cat <<'EOF'
usage: ./bootstrap.sh [options]

Builds the Python environments this platform needs (config/environments.toml) in
.venvs/<name>/ with uv, writes the hardware profile config/hardware_cache.json, and
optionally downloads the models (./cache-models.sh --all).

options:
  --cache-models      download the models after setting up (./cache-models.sh --all)
  --skip-cache        do not download the models and do not ask (default: ask on a
                      terminal, never ask without one)
  --force             rebuild the environments even when they are up to date
  --envs NAME[,NAME]  build only these environments (common is always ensured)
                      (default: every environment this platform needs)
  -y, --yes           unattended: never prompt; models are downloaded only with
                      --cache-models
  --debug             trace every command (set -x) into the log
  -h, --help          show this help

environment:
  PYTHON              the Python (>= 3.10) to build with (default: python3, then python)
  UV                  a uv binary to use (default: uv on PATH, installed with pip if absent)
  NO_COLOR, CI        disable colour; CI=true also never prompts

A log of each run is written to logs/bootstrap-<UTC time>.log.
Exit status: 0 done, 1 a step failed (named in the message), 2 bad usage.
EOF
}

# ---- output -------------------------------------------------------------------------------
log_line() {
  if [[ -n $LOG_FILE ]]; then printf '%s\n' "$*" >>"$LOG_FILE"; fi
}

paint() { # paint CODE TEXT: TEXT in colour CODE when colour is on
  if ((USE_COLOR)); then printf '\033[%sm%s\033[0m' "$1" "$2"; else printf '%s' "$2"; fi
}

say() {
  printf '%s %s\n' "$(paint 1 'bootstrap:')" "$*" >&2
  log_line "bootstrap: $*"
}

warn() {
  printf '%s %s\n' "$(paint 33 'bootstrap: warning:')" "$*" >&2
  log_line "bootstrap: warning: $*"
}

err() {
  printf '%s %s\n' "$(paint 31 'bootstrap: error:')" "$*" >&2
  log_line "bootstrap: error: $*"
}

usage_error() {
  err "$*"
  printf 'Try ./bootstrap.sh --help\n' >&2
  USAGE_ERROR=1
  exit 2
}

step() {
  CURRENT_STEP=$1
  say "== $1"
}

# run_logged CMD ARGS...: CMD's output goes to the log; on failure its last lines are shown too.
run_logged() {
  local start rc=0
  log_line "\$ $*"
  start=$(($(wc -l <"$LOG_FILE") + 1))
  "$@" >>"$LOG_FILE" 2>&1 || rc=$?
  if ((rc != 0)); then
    err "command failed (exit $rc): $*"
    tail -n "+$start" "$LOG_FILE" | tail -n 25 | sed 's/^/  | /' >&2
  fi
  return "$rc"
}

on_exit() {
  local rc=$?
  trap - EXIT
  ((USAGE_ERROR)) && exit 2
  if ((rc != 0)); then
    if ((rc == 130)); then
      err "interrupted during step '$CURRENT_STEP'"
    else
      err "step '$CURRENT_STEP' failed"
      rc=1
    fi
    [[ -n $LOG_FILE ]] && printf 'bootstrap: log: %s\n' "$LOG_FILE" >&2
  fi
  exit "$rc"
}

# ---- options ------------------------------------------------------------------------------
known_environments() { # names of config/environments.toml's [environments.NAME] tables
  sed -n 's/^\[environments\.\([A-Za-z0-9_-]*\)\][[:space:]]*$/\1/p' "$1"
}

toml_verify_modules() { # toml_verify_modules NAME: the verify list of [environments.NAME], comma-separated
  awk -v want="[environments.$1]" '
    /^\[/ { inside = ($0 == want) }
    inside && /^verify[[:space:]]*=/ { sub(/^[^=]*=[[:space:]]*/, ""); gsub(/[][" ]/, ""); print; exit }
  ' "$ROOT/config/environments.toml"
}

parse_args() {
  while (($#)); do
    case $1 in
      --cache-models) OPT_CACHE_MODELS=1 ;;
      --skip-cache) OPT_SKIP_CACHE=1 ;;
      --force) OPT_FORCE=1 ;;
      --envs)
        (($# >= 2)) || usage_error "--envs needs a value, e.g. --envs common,ml"
        OPT_ENVS=$2
        shift
        ;;
      --envs=*) OPT_ENVS=${1#--envs=} ;;
      -y | --yes) OPT_YES=1 ;;
      --debug) OPT_DEBUG=1 ;;
      -h | --help)
        usage
        exit 0
        ;;
      *) usage_error "unknown option: $1" ;;
    esac
    shift
  done
  if ((OPT_CACHE_MODELS && OPT_SKIP_CACHE)); then
    usage_error "--cache-models and --skip-cache contradict each other: choose one"
  fi
}

validate_envs() { # validate_envs TOML: every --envs name is a known environment
  [[ -n $OPT_ENVS ]] || return 0
  local known name
  known=$(known_environments "$1")
  local -a names
  IFS=',' read -r -a names <<<"$OPT_ENVS"
  ((${#names[@]})) || usage_error "--envs needs at least one name"
  for name in "${names[@]}"; do
    [[ -n $name ]] || usage_error "--envs has an empty name: $OPT_ENVS"
    if ! grep -qxF -- "$name" <<<"$known"; then
      usage_error "unknown environment '$name' in --envs; known: ${known//$'\n'/, }"
    fi
  done
}

# ---- platform ------------------------------------------------------------------------------
is_windows_shell() {
  case $(uname -s) in MINGW* | MSYS* | CYGWIN*) return 0 ;; *) return 1 ;; esac
}

venv_python() { # venv_python DIR: the interpreter inside that environment
  if [[ -x $1/bin/python ]]; then
    printf '%s\n' "$1/bin/python"
  elif [[ -e $1/Scripts/python.exe ]] || is_windows_shell; then
    printf '%s\n' "$1/Scripts/python.exe"
  else
    printf '%s\n' "$1/bin/python"
  fi
}

# install_hint PACKAGE [UNAME_S] [OS_RELEASE_FILE]: the command that installs PACKAGE here
install_hint() {
  local pkg=$1 kernel=${2:-$(uname -s)} os_release=${3:-/etc/os-release} ids=""
  case $kernel in
    Darwin)
      printf 'brew install %s\n' "$pkg"
      return
      ;;
    MINGW* | MSYS* | CYGWIN*)
      printf 'winget install %s\n' "$pkg"
      return
      ;;
  esac
  if [[ -r $os_release ]]; then
    ids=$(sed -n 's/^\(ID\|ID_LIKE\)=//p' "$os_release" | tr -d '"' | tr '\n' ' ')
  fi
  case " $ids " in
    *" debian "* | *" ubuntu "*) printf 'sudo apt-get install %s\n' "$pkg" ;;
    *" fedora "* | *" rhel "* | *" centos "*) printf 'sudo dnf install %s\n' "$pkg" ;;
    *" arch "*) printf 'sudo pacman -S %s\n' "$pkg" ;;
    *" opensuse"* | *" suse "*) printf 'sudo zypper install %s\n' "$pkg" ;;
    *) printf 'install %s with your package manager (e.g. sudo apt-get install %s)\n' "$pkg" "$pkg" ;;
  esac
}

# ---- steps ----------------------------------------------------------------------------------
version_ok() { # version_ok X.Y[.Z]: true when >= 3.10
  local major minor
  IFS=. read -r major minor _ <<<"$1"
  [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
  ((major > 3 || (major == 3 && minor >= 10)))
}

python_version() { # python_version PY: prints X.Y.Z, fails when PY does not run
  "$1" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null
}

check_python() {
  step "python"
  local candidate version
  local -a candidates
  if [[ -n ${PYTHON:-} ]]; then candidates=("$PYTHON"); else candidates=(python3 python); fi
  for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    version=$(python_version "$candidate") || continue
    if version_ok "$version"; then
      # The interpreter itself, not a launcher or pyenv shim in front of it.
      PY=$("$candidate" -c 'import sys; print(sys.executable)') || PY=$(command -v "$candidate")
      say "python: $PY ($version)"
      return 0
    fi
    warn "python: $candidate is $version; this project needs Python >= 3.10"
  done
  if [[ -n ${PYTHON:-} ]]; then
    err "python: PYTHON=$PYTHON is not a working Python >= 3.10"
  else
    err "python: no Python >= 3.10 found (looked for python3, python); install it: $(install_hint python3)"
    err "or point PYTHON at one: PYTHON=/path/to/python3.11 ./bootstrap.sh"
  fi
  return 1
}

check_ffmpeg() {
  step "ffmpeg"
  local tool missing=0
  for tool in ffmpeg ffprobe; do
    if command -v "$tool" >/dev/null 2>&1; then
      log_line "$tool: $(command -v "$tool")"
    else
      err "$tool not found on PATH"
      missing=1
    fi
  done
  if ((missing)); then
    err "install ffmpeg (it provides ffprobe too): $(install_hint ffmpeg)"
    return 1
  fi
  say "ffmpeg: $(command -v ffmpeg)"
}

# uv lives in a private tools folder when bootstrap installs it: pip's --target puts the
# package (and the uv binary it ships, in bin/) under .venvs/.tools/uv and nowhere else.
# Not --user: that writes into the user's site-packages and ~/.local/bin (often not on
# PATH), and Debian's externally managed Python refuses it; --target needs neither.
# The version installed there is pinned in requirements/uv.txt (bootstrap.ps1 reads it too).
uv_tools_dir() { printf '%s\n' "$ROOT/.venvs/.tools/uv"; }

uv_binary_in() { # uv_binary_in DIR: the uv binary that pip installed under DIR (--target)
  local candidate
  for candidate in "$1/bin/uv" "$1/bin/uv.exe" "$1/Scripts/uv.exe"; do
    if [[ -x $candidate ]]; then
      printf '%s\n' "$candidate"
      return 0
    fi
  done
  return 1
}

# find_uv: sets UV_CMD to a uv *binary*; no install. Never `python -m uv`: uv started as a
# module targets the interpreter that launched it, and that could be the system Python.
find_uv() {
  local bin
  if [[ -n ${UV:-} ]]; then
    if [[ -x $UV ]] || command -v "$UV" >/dev/null 2>&1; then
      UV_CMD=("$UV")
      return 0
    fi
    err "uv: UV=$UV is not an executable"
    return 1
  fi
  if command -v uv >/dev/null 2>&1; then
    UV_CMD=("$(command -v uv)")
  elif bin=$(uv_binary_in "$(uv_tools_dir)"); then
    UV_CMD=("$bin")
  elif bin=$("$PY" -c 'import uv; print(uv.find_uv_bin())' 2>/dev/null) && [[ -x $bin ]]; then
    # The uv pip package is installed for this Python: use the binary it ships.
    UV_CMD=("$bin")
  else
    return 1
  fi
}

ensure_uv() {
  ((${#UV_CMD[@]})) && return 0
  local saved=$CURRENT_STEP tools
  step "uv"
  if ! find_uv; then
    [[ -n ${UV:-} ]] && return 1
    tools=$(uv_tools_dir)
    say "uv: not found; installing it with pip into ${tools#"$ROOT"/} (a private folder; the system Python is not changed)"
    rm -rf -- "$tools"
    run_logged "$PY" -m pip install --disable-pip-version-check --no-warn-script-location \
      --quiet --target "$tools" -r "$ROOT/requirements/uv.txt" || {
      err "uv: could not install it with pip ($PY -m pip); install uv yourself (https://docs.astral.sh/uv/) and put it on PATH, or set UV=/path/to/uv"
      return 1
    }
    find_uv || {
      err "uv: pip installed it into $tools, but no uv binary is there; set UV=/path/to/uv"
      return 1
    }
  fi
  say "uv: ${UV_CMD[*]} ($("${UV_CMD[@]}" --version 2>/dev/null || echo 'version unknown'))"
  CURRENT_STEP=$saved
}

# verify_env NAME DIR MODULES: the environment's own interpreter imports MODULES and its
# sys.prefix is DIR; otherwise one line naming what is wrong, and failure.
verify_env() {
  local name=$1 dir=$2 modules=$3 py output
  py=$(venv_python "$dir")
  if [[ ! -x $py && ! -e $py ]]; then
    err "$name: .venvs/$name has no interpreter ($py); run ./bootstrap.sh --force --envs $name"
    return 1
  fi
  log_line "\$ $py -I $ROOT/shared/verify_env.py $dir $modules"
  if ! output=$("$py" -I "$ROOT/shared/verify_env.py" "$dir" "$modules" 2>&1); then
    log_line "$output"
    err "$name: ${output##*$'\n'}"
    return 1
  fi
  log_line "$output"
}

# build_env NAME REQUIREMENTS STATE MODULES: create/sync .venvs/NAME from REQUIREMENTS,
# check that its own interpreter imports MODULES, then stamp it.
build_env() {
  local name=$1 requirements=$2 state=$3 modules=${4:-} dir="$ROOT/.venvs/$1" py
  if [[ $state == up-to-date ]] && ((!OPT_FORCE)); then
    say "$name: up to date"
    UP_TO_DATE+=("$name")
    return 0
  fi
  ensure_uv
  CURRENT_STEP="environment $name"
  if ((OPT_FORCE)) || [[ $state == missing || $state == broken ]]; then
    if [[ $state == broken ]]; then
      say "$name: .venvs/$name is stamped but its packages are missing (an older bootstrap?); rebuilding it"
    fi
    say "$name: creating .venvs/$name"
    run_logged "${UV_CMD[@]}" venv --clear --python "$PY" "$dir"
  else
    say "$name: requirements changed; syncing"
  fi
  # A sync cut short must not leave an environment that looks up to date.
  rm -f -- "$dir/.requirements.sha256"
  py=$(venv_python "$dir")
  say "$name: installing ${requirements#"$ROOT"/} (this can take minutes the first time)"
  # --python names the target: uv never falls back to another interpreter. --compile-bytecode
  # as pip does by default: without it every stage interpreter compiles what it imports on
  # every run where bytecode cannot be written (PYTHONDONTWRITEBYTECODE, a read-only install).
  run_logged "${UV_CMD[@]}" pip sync --python "$py" "$requirements" --compile-bytecode
  verify_env "$name" "$dir" "$modules"
  if [[ $name == common ]]; then COMMON_PY=$py; fi
  run_logged "$(common_python)" -m shared.environment_manager stamp "$name"
  BUILT+=("$name")
}

common_python() {
  [[ -n $COMMON_PY ]] || COMMON_PY=$(venv_python "$ROOT/.venvs/common")
  printf '%s\n' "$COMMON_PY"
}

# The interpreter that can run the environment manager: needs tomllib (3.11+) or the
# common environment (which carries tomli on 3.10).
plan_python() {
  if "$PY" -c 'import tomllib' >/dev/null 2>&1; then
    printf '%s\n' "$PY"
  else
    common_python
  fi
}

read_plan() {
  step "plan"
  if ! "$PY" -c 'import tomllib' >/dev/null 2>&1; then
    # Python 3.10: build common from its fixed requirements first, then ask it.
    local common_state=missing
    if [[ -x $(common_python) ]]; then common_state=stale; fi
    if [[ -x $(common_python) ]] && "$(common_python)" -m shared.environment_manager plan >/dev/null 2>&1; then
      common_state=$("$(common_python)" -m shared.environment_manager plan | awk -F'\t' '$1 == "common" {print $3}')
    fi
    build_env common "$ROOT/requirements/common.txt" "$common_state" "$(toml_verify_modules common)"
    CURRENT_STEP="plan"
  fi
  local output
  log_line "\$ $(plan_python) -m shared.environment_manager plan"
  if ! output=$("$(plan_python)" -m shared.environment_manager plan 2>>"$LOG_FILE"); then
    err "plan: '$(plan_python) -m shared.environment_manager plan' failed:"
    tail -n 15 "$LOG_FILE" | sed 's/^/  | /' >&2
    return 1
  fi
  log_line "$output"
  local line
  PLAN=()
  while IFS= read -r line; do
    if [[ -n $line ]]; then PLAN+=("$line"); fi
  done <<<"$output"
  [[ -n ${PLAN[0]:-} ]] || {
    err "plan: the environment manager listed no environment for this platform"
    return 1
  }
  select_envs
}

select_envs() { # keep common plus the --envs names; a name not built here is a usage error
  [[ -n $OPT_ENVS ]] || return 0
  local -a names kept=()
  local name line found
  IFS=',' read -r -a names <<<"$OPT_ENVS"
  for name in "${names[@]}"; do
    found=0
    for line in "${PLAN[@]}"; do
      if [[ ${line%%$'\t'*} == "$name" ]]; then found=1; fi
    done
    ((found)) || usage_error "environment '$name' is not built on this platform ($(plan_python_tag))"
  done
  for line in "${PLAN[@]}"; do
    name=${line%%$'\t'*}
    if [[ $name == common ]] || [[ ",$OPT_ENVS," == *",$name,"* ]]; then kept+=("$line"); fi
  done
  PLAN=("${kept[@]}")
}

plan_python_tag() {
  "$(plan_python)" -c 'from shared.environment_manager import platform_tag; print(platform_tag())' 2>/dev/null || uname -sm
}

available_mb() { # free MB on the filesystem holding DIR
  df -Pk "$1" | awk 'NR == 2 {print int($4 / 1024)}'
}

check_disk() {
  step "disk"
  local line name state size need=0 to_build=""
  for line in "${PLAN[@]}"; do
    IFS=$'\t' read -r name _ state size _ <<<"$line"
    if [[ $state != up-to-date ]] || ((OPT_FORCE)); then
      need=$((need + ${size:-0}))
      to_build+="$name "
    fi
  done
  if ((need == 0)); then
    say "disk: nothing to build"
    return 0
  fi
  need=$((need + MARGIN_MB))
  local free
  free=$(available_mb "$ROOT")
  [[ $free =~ ^[0-9]+$ ]] || {
    warn "disk: could not read the free space (df); going on"
    return 0
  }
  if ((free < need)); then
    err "disk: building ${to_build% } needs about $need MB (with a $MARGIN_MB MB margin) but only $free MB are free on the filesystem of $ROOT"
    err "free some space, or build fewer environments with --envs"
    return 1
  fi
  say "disk: $free MB free, about $need MB needed for ${to_build% }"
}

build_envs() {
  step "environments"
  local line name requirements state modules
  for line in "${PLAN[@]}"; do
    IFS=$'\t' read -r name requirements state _ modules <<<"$line"
    # On Python 3.10 read_plan has built common already.
    if [[ " ${BUILT[*]:-} " == *" $name "* ]]; then continue; fi
    build_env "$name" "$requirements" "$state" "$modules"
  done
  CURRENT_STEP="environments"
}

detect_hardware() {
  step "hardware"
  run_logged "$(common_python)" -m shared.hardware detect --output "$ROOT/$HARDWARE_CACHE"
  HARDWARE_LINE=$("$(common_python)" -m shared.hardware show --cache "$ROOT/$HARDWARE_CACHE" 2>>"$LOG_FILE")
  say "hardware: $HARDWARE_LINE"
}

# should_cache_models: 0 = download, 1 = don't. Asks only on a terminal, never with
# --yes or CI=true; the answer defaults to no.
should_cache_models() {
  if ((OPT_CACHE_MODELS)); then return 0; fi
  if ((OPT_SKIP_CACHE)); then
    MODELS_RESULT="skipped (--skip-cache)"
    return 1
  fi
  if ((OPT_YES)) || [[ ${CI:-} == true ]] || ((!ON_TERMINAL)); then
    MODELS_RESULT="not downloaded (no prompt: unattended); run ./cache-models.sh --all"
    return 1
  fi
  local answer=""
  read -r -p "Download the models now (several GB)? [y/N] " answer || answer=""
  log_line "Download the models now (several GB)? [y/N] $answer"
  case $answer in
    [yY] | [yY][eE][sS]) return 0 ;;
    *)
      MODELS_RESULT="not downloaded; run ./cache-models.sh --all when you want them"
      return 1
      ;;
  esac
}

cache_models() {
  step "models"
  if ! should_cache_models; then
    say "models: $MODELS_RESULT"
    return 0
  fi
  if [[ ! -f $ROOT/cache-models.sh ]]; then
    err "models: cache-models.sh is missing from $ROOT"
    return 1
  fi
  say "models: ./cache-models.sh --all"
  if [[ -x $ROOT/cache-models.sh ]]; then
    run_logged "$ROOT/cache-models.sh" --all
  else
    run_logged bash "$ROOT/cache-models.sh" --all
  fi
  MODELS_RESULT="cached (./cache-models.sh --all)"
}

print_summary() {
  CURRENT_STEP="summary"
  say "done."
  say "  environments built: ${BUILT[*]:-none}"
  say "  up to date:         ${UP_TO_DATE[*]:-none}"
  say "  hardware:           $HARDWARE_LINE"
  say "  models:             ${MODELS_RESULT:-?}"
  say "next: make transcribe FILE=path/to/video.mkv"
  say "log: $LOG_FILE"
}

open_log() {
  mkdir -p "$ROOT/logs"
  LOG_FILE="$ROOT/logs/bootstrap-$(date -u +%Y%m%dT%H%M%SZ).log"
  [[ -e $LOG_FILE ]] && LOG_FILE="${LOG_FILE%.log}-$$.log"
  : >"$LOG_FILE"
  log_line "bootstrap.sh $(date -u +%Y-%m-%dT%H:%M:%SZ) in $ROOT"
  if ((OPT_DEBUG)); then
    # fd 9 is the trace's own handle on the log (bash < 4.1, e.g. macOS /bin/bash,
    # ignores BASH_XTRACEFD and traces to the terminal instead).
    exec 9>>"$LOG_FILE"
    BASH_XTRACEFD=9
    PS4='+ ${FUNCNAME[0]:-main}:${LINENO}: '
    set -x
  fi
}

main() {
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
  parse_args "$@"
  validate_envs "$ROOT/config/environments.toml"
  if [[ -t 0 && -t 1 ]]; then ON_TERMINAL=1; fi
  if [[ -t 2 && -z ${NO_COLOR:-} && -z ${CI:-} ]]; then USE_COLOR=1; fi
  cd "$ROOT"
  trap on_exit EXIT
  open_log
  check_python
  check_ffmpeg
  read_plan
  check_disk
  build_envs
  detect_hardware
  cache_models
  print_summary
}

# Sourced with BOOTSTRAP_SOURCE_ONLY=1 (the bats tests): define the functions, run nothing.
if [[ ${BOOTSTRAP_SOURCE_ONLY:-0} == 1 ]]; then
  # shellcheck disable=SC2317  # exit is reached when the file is executed, not sourced
  return 0 2>/dev/null || exit 0
fi
main "$@"
