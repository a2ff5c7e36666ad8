#!/usr/bin/env bats
# bootstrap.sh, run against a copy of the repository in a folder with spaces in its path,
# with a fake uv (venvs whose bin/python wraps a real Python; sync only records its call),
# fake ffmpeg/ffprobe/df and a PATH that holds nothing else but a few real tools.

load helpers

setup() {
  setup_sandbox
  REPO="$BATS_TEST_TMPDIR/my repo"
  copy_repo "$REPO" bootstrap.sh shared config requirements
  rm -f "$REPO/config/hardware_cache.json"
  UV_LOG="$BATS_TEST_TMPDIR/uv calls.log"
  : >"$UV_LOG"
  TEST_PY=$(test_python) || skip "no Python >= 3.11 (or one with tomli) to run the environment manager"

  sandbox_tools bash env uname date mkdir wc tail head sed awk grep tr cat rm dirname \
    chmod touch mv ln cp ls sort stat paste
  fake_cmd ffmpeg 'echo "ffmpeg version 6.0 (fake)"'
  fake_cmd ffprobe 'echo "ffprobe version 6.0 (fake)"'
  # df -Pk DIR: a filesystem with FAKE_DF_AVAIL_KB free (default 100 GB).
  # shellcheck disable=SC2016  # expanded by the fake df when it runs
  fake_cmd df 'printf "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/fake 200000000 1000 %s 1%% /\n" "${FAKE_DF_AVAIL_KB:-104857600}"'
  fake_uv "$FAKE_BIN/uv"
  EXTRA_ENV=()
}

# test_python: a real interpreter that can run shared.environment_manager.
test_python() {
  local py
  for py in python3 python3.13 python3.12 python3.11 "$REPO_ROOT/.venvs/common/bin/python"; do
    command -v "$py" >/dev/null 2>&1 || continue
    "$py" -c 'import sys, importlib.util as u; sys.exit(not (u.find_spec("tomllib") or u.find_spec("tomli")))' 2>/dev/null || continue
    "$py" -c 'import sys; print(sys.executable)'
    return 0
  done
  return 1
}

# fake_uv PATH: a uv whose venvs are real (python -m venv --without-pip, with
# FAKE_UV_PYTHON, else the --python it was given) and whose `pip sync --python PY REQS`
# records its call in FAKE_UV_LOG and lays an empty package for each module of
# FAKE_UV_MODULES (comma-separated) into PY's site-packages, so that bootstrap's
# verification has something to import. A sync without --python fails, as real uv does
# outside a virtual environment.
fake_uv() {
  cat >"$1" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
case $1 in
  --version) echo "uv 0.0.0 (fake)" ;;
  venv)
    printf 'venv %s\n' "${*:2}" >>"$FAKE_UV_LOG"
    shift
    clear=0 python="" dir=""
    while (($#)); do
      case $1 in
        --clear) clear=1 ;;
        --python) python=$2; shift ;;
        *) dir=$1 ;;
      esac
      shift
    done
    if ((clear)); then rm -rf -- "$dir"; fi
    "${FAKE_UV_PYTHON:-$python}" -m venv --without-pip "$dir"
    ;;
  pip)
    [[ $2 == sync && $3 == --python && -x $4 ]] || { echo "fake uv: pip sync needs --python PY: $*" >&2; exit 2; }
    py=$4
    printf 'pip sync %s %s\n' "$(dirname "$(dirname "$py")")" "$5" >>"$FAKE_UV_LOG"
    site=$("$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    IFS=',' read -r -a modules <<<"${FAKE_UV_MODULES:-}"
    for module in "${modules[@]}"; do
      mkdir -p "$site/$module"
      : >"$site/$module/__init__.py"
    done
    ;;
  *) echo "fake uv: unexpected: $*" >&2; exit 3 ;;
esac
EOF
  chmod +x "$1"
}

# every_verify_module: the modules of every environment's verify list, comma-separated.
every_verify_module() {
  sed -n 's/^verify[[:space:]]*=[[:space:]]*\[\(.*\)\]/\1/p' "$REPO/config/environments.toml" |
    tr -d '" ' | paste -sd, -
}

# run_bootstrap ARGS...: run the copy's bootstrap.sh, stdin not a terminal, clean environment.
run_bootstrap() {
  run env -i HOME="$HOME_DIR" PATH="$(sandbox_path)" PYTHON="$TEST_PY" TERM=dumb \
    FAKE_UV_LOG="$UV_LOG" FAKE_DF_AVAIL_KB="${FAKE_DF_AVAIL_KB:-104857600}" \
    FAKE_UV_MODULES="${FAKE_UV_MODULES-$(every_verify_module)}" \
    "${EXTRA_ENV[@]}" "$REPO/bootstrap.sh" "$@" </dev/null
}

stamp_of() { printf '%s\n' "$REPO/.venvs/$1/.requirements.sha256"; }

planned_envs() { # the environments this platform builds, per the environment manager
  (cd "$REPO" && "$TEST_PY" -m shared.environment_manager plan | cut -f1)
}

@test "--help shows every option with its default and exits 0" {
  run_bootstrap --help
  [ "$status" -eq 0 ]
  for opt in --cache-models --skip-cache --force "--envs NAME[,NAME]" "-y, --yes" --debug "-h, --help"; do
    assert_contains "$output" "$opt"
  done
  assert_contains "$output" "default"
  [ ! -d "$REPO/.venvs" ]
}

@test "an unknown option exits 2 and names it" {
  run_bootstrap --frobnicate
  [ "$status" -eq 2 ]
  assert_contains "$output" "unknown option: --frobnicate"
  [ ! -d "$REPO/.venvs" ]
}

@test "an unknown environment name in --envs exits 2 before any work" {
  run_bootstrap --envs common,nosuchenv --skip-cache
  [ "$status" -eq 2 ]
  assert_contains "$output" "unknown environment 'nosuchenv'"
  [ ! -s "$UV_LOG" ]
  [ ! -d "$REPO/.venvs" ]
}

@test "--cache-models with --skip-cache exits 2" {
  run_bootstrap --cache-models --skip-cache
  [ "$status" -eq 2 ]
  assert_contains "$output" "--cache-models and --skip-cache"
}

@test "an environment that does not exist on this platform is a usage error" {
  planned_envs | grep -qx mlx && skip "mlx is built on this platform"
  run_bootstrap --envs mlx --skip-cache
  [ "$status" -eq 2 ]
  assert_contains "$output" "environment 'mlx' is not built on this platform"
}

@test "first run builds common first, stamps every environment, writes the hardware profile and a log; no prompt without a terminal" {
  run_bootstrap
  [ "$status" -eq 0 ]
  refute_contains "$output" "[y/N]"
  assert_contains "$output" "models: not downloaded"

  # common is created first, each environment from its own requirements file
  first_venv=$(grep -m1 '^venv ' "$UV_LOG")
  assert_contains "$first_venv" "--python $TEST_PY $REPO/.venvs/common"
  while read -r name; do
    grep -qxF "pip sync $REPO/.venvs/$name $(cd "$REPO" && "$TEST_PY" -m shared.environment_manager plan | awk -F'\t' -v n="$name" '$1 == n {print $2}')" "$UV_LOG"
    [ -s "$(stamp_of "$name")" ]
    assert_contains "$output" "$name: installing"
  done < <(planned_envs)

  # the environment manager now calls every one up to date
  run bash -c 'cd "$1" && "$2" -m shared.environment_manager plan | cut -f3 | sort -u' _ "$REPO" "$TEST_PY"
  [ "$output" = "up-to-date" ]

  # the hardware profile
  "$TEST_PY" - "$REPO/config/hardware_cache.json" <<'EOF'
import json, sys
profile = json.load(open(sys.argv[1]))
assert profile["schema_version"] == 1
assert set(profile["recommended"]) == {"device", "compute_type", "batch_size", "asr_backend", "threads", "hardware_class"}
EOF

  # the log holds what was printed plus the commands
  log=$(ls "$REPO"/logs/bootstrap-*.log)
  grep -q "common: installing" "$log"
  grep -q 'shared.hardware detect' "$log"
}

@test "a second run says up to date for each environment and changes nothing" {
  run_bootstrap --skip-cache
  [ "$status" -eq 0 ]
  calls_before=$(wc -l <"$UV_LOG")
  declare -A stamps
  while read -r name; do stamps[$name]=$(mtime "$(stamp_of "$name")"); done < <(planned_envs)
  python_before=$(mtime "$REPO/.venvs/common/bin/python")
  hardware_before=$(mtime "$REPO/config/hardware_cache.json")
  sleep 1

  SECONDS=0
  run_bootstrap --skip-cache
  [ "$status" -eq 0 ]
  [ "$SECONDS" -lt 15 ]
  while read -r name; do
    assert_contains "$output" "$name: up to date"
    [ "$(mtime "$(stamp_of "$name")")" = "${stamps[$name]}" ]
  done < <(planned_envs)
  [ "$(mtime "$REPO/.venvs/common/bin/python")" = "$python_before" ]
  [ "$(mtime "$REPO/config/hardware_cache.json")" = "$hardware_before" ]
  [ "$(wc -l <"$UV_LOG")" -eq "$calls_before" ]
  assert_contains "$output" "environments built: none"
}

@test "changed requirements re-sync that environment in place; --force recreates all" {
  run_bootstrap --skip-cache --envs common
  [ "$status" -eq 0 ]
  printf '# edited\n' >>"$REPO/requirements/common.txt"
  : >"$UV_LOG"
  run_bootstrap --skip-cache --envs common
  [ "$status" -eq 0 ]
  assert_contains "$output" "common: requirements changed; syncing"
  run grep -c '^venv ' "$UV_LOG"
  [ "$output" = "0" ]
  grep -q "^pip sync $REPO/.venvs/common " "$UV_LOG"

  : >"$UV_LOG"
  run_bootstrap --skip-cache --envs common --force
  [ "$status" -eq 0 ]
  grep -q "^venv --clear --python $TEST_PY $REPO/.venvs/common$" "$UV_LOG"
  grep -q "^pip sync $REPO/.venvs/common " "$UV_LOG"
}

@test "--envs builds common plus the names given, nothing else" {
  planned_envs | grep -qx dev || skip "no dev environment here"
  run_bootstrap --skip-cache --envs dev
  [ "$status" -eq 0 ]
  [ "$(grep -c '^venv ' "$UV_LOG")" -eq 2 ]
  [ -s "$(stamp_of common)" ]
  [ -s "$(stamp_of dev)" ]
  [ ! -e "$REPO/.venvs/ml" ]
}

@test "--cache-models runs ./cache-models.sh --all" {
  cat >"$REPO/cache-models.sh" <<EOF
#!/usr/bin/env bash
printf '%s\n' "\$*" >"$BATS_TEST_TMPDIR/cache-models args"
EOF
  chmod +x "$REPO/cache-models.sh"
  run_bootstrap --cache-models --envs common
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/cache-models args")" = "--all" ]
  assert_contains "$output" "cached (./cache-models.sh --all)"
}

@test "--cache-models without cache-models.sh fails the models step" {
  run_bootstrap --cache-models --envs common
  [ "$status" -eq 1 ]
  assert_contains "$output" "cache-models.sh is missing"
  assert_contains "$output" "step 'models' failed"
}

@test "--yes never prompts and downloads nothing without --cache-models" {
  cat >"$REPO/cache-models.sh" <<EOF
#!/usr/bin/env bash
touch "$BATS_TEST_TMPDIR/cache-models ran"
EOF
  chmod +x "$REPO/cache-models.sh"
  run_bootstrap --yes --envs common
  [ "$status" -eq 0 ]
  refute_contains "$output" "[y/N]"
  [ ! -e "$BATS_TEST_TMPDIR/cache-models ran" ]
}

@test "missing ffmpeg prints the install command for this OS and exits 1" {
  rm "$FAKE_BIN/ffmpeg"
  [ ! -e "$SANDBOX_BIN/ffmpeg" ]
  run_bootstrap --skip-cache
  [ "$status" -eq 1 ]
  assert_contains "$output" "ffmpeg not found"
  hint=$(BOOTSTRAP_SOURCE_ONLY=1 bash -c 'source "$1"; install_hint ffmpeg' _ "$REPO/bootstrap.sh")
  assert_contains "$output" "$hint"
  assert_contains "$output" "step 'ffmpeg' failed"
  assert_contains "$output" "log: $REPO/logs/bootstrap-"
  [ ! -s "$UV_LOG" ]
}

@test "install_hint names apt-get, dnf, brew and winget" {
  printf 'ID=ubuntu\nID_LIKE=debian\n' >"$BATS_TEST_TMPDIR/ubuntu release"
  printf 'ID="fedora"\n' >"$BATS_TEST_TMPDIR/fedora release"
  BOOTSTRAP_SOURCE_ONLY=1 source "$REPO/bootstrap.sh"
  [ "$(install_hint ffmpeg Linux "$BATS_TEST_TMPDIR/ubuntu release")" = "sudo apt-get install ffmpeg" ]
  [ "$(install_hint ffmpeg Linux "$BATS_TEST_TMPDIR/fedora release")" = "sudo dnf install ffmpeg" ]
  [ "$(install_hint ffmpeg Darwin)" = "brew install ffmpeg" ]
  [ "$(install_hint ffmpeg MINGW64_NT-10.0)" = "winget install ffmpeg" ]
}

@test "too little disk space fails the disk step before building" {
  FAKE_DF_AVAIL_KB=51200 run_bootstrap --skip-cache
  [ "$status" -eq 1 ]
  assert_contains "$output" "only 50 MB are free"
  assert_contains "$output" "step 'disk' failed"
  [ ! -s "$UV_LOG" ]
}

@test "a Python older than 3.10 is refused" {
  fake_cmd old-python 'echo 3.9.18'
  TEST_PY="$FAKE_BIN/old-python" run_bootstrap --skip-cache
  [ "$status" -eq 1 ]
  assert_contains "$output" "needs Python >= 3.10"
  assert_contains "$output" "step 'python' failed"
}

@test "UV points at the uv to use" {
  mv "$FAKE_BIN/uv" "$BATS_TEST_TMPDIR/my uv"
  EXTRA_ENV=(UV="$BATS_TEST_TMPDIR/my uv")
  run_bootstrap --skip-cache --envs common
  [ "$status" -eq 0 ]
  grep -q '^venv ' "$UV_LOG"
  assert_contains "$output" "uv: $BATS_TEST_TMPDIR/my uv"
}

@test "--debug traces the commands into the log" {
  run_bootstrap --skip-cache --envs common --debug
  [ "$status" -eq 0 ]
  log=$(ls "$REPO"/logs/bootstrap-*.log)
  grep -q '^+ build_env:' "$log"
  refute_contains "$output" "+ build_env:"
}

@test "the prompt defaults to no, and is skipped with --yes or CI=true" {
  BOOTSTRAP_SOURCE_ONLY=1 source "$REPO/bootstrap.sh"
  unset CI # CI itself runs with CI=true, which (rightly) never prompts
  ON_TERMINAL=1
  run should_cache_models <<<"y"
  [ "$status" -eq 0 ]
  run should_cache_models <<<"yes"
  [ "$status" -eq 0 ]
  run should_cache_models <<<""
  [ "$status" -eq 1 ]
  run should_cache_models <<<"n"
  [ "$status" -eq 1 ]
  OPT_YES=1
  run should_cache_models <<<"y"
  [ "$status" -eq 1 ]
  OPT_YES=0 CI=true
  run should_cache_models <<<"y"
  [ "$status" -eq 1 ]
  CI="" ON_TERMINAL=0
  run should_cache_models <<<"y"
  [ "$status" -eq 1 ]
  OPT_SKIP_CACHE=1 ON_TERMINAL=1
  run should_cache_models <<<"y"
  [ "$status" -eq 1 ]
}

@test "Python 3.10 (no tomllib) builds common first and plans with it" {
  py310=$(python3.10 -c 'import sys; print(sys.executable)' 2>/dev/null || true)
  [ -n "$py310" ] || skip "no python3.10 here"
  "$py310" -c 'import tomllib' 2>/dev/null && skip "python3.10 has tomllib?"
  EXTRA_ENV=(FAKE_UV_PYTHON="$TEST_PY")
  TEST_PY=$py310 run_bootstrap --skip-cache --envs common
  [ "$status" -eq 0 ]
  grep -q "^venv --clear --python $py310 $REPO/.venvs/common$" "$UV_LOG"
  grep -q "^pip sync $REPO/.venvs/common $REPO/requirements/common.txt$" "$UV_LOG"
  [ "$(grep -c '^pip sync' "$UV_LOG")" -eq 1 ]
  [ -s "$(stamp_of common)" ]
}

@test "on a terminal it asks: the default is no, y runs ./cache-models.sh --all" {
  script --version 2>/dev/null | grep -q util-linux || skip "no util-linux script(1) to make a terminal"
  cat >"$REPO/cache-models.sh" <<EOF2
#!/usr/bin/env bash
printf '%s\n' "\$*" >"$BATS_TEST_TMPDIR/cache-models args"
EOF2
  chmod +x "$REPO/cache-models.sh"
  cmd=$(printf '%q ' env -i HOME="$HOME_DIR" PATH="$(sandbox_path)" PYTHON="$TEST_PY" TERM=dumb \
    NO_COLOR=1 FAKE_UV_LOG="$UV_LOG" FAKE_UV_MODULES="$(every_verify_module)" "$REPO/bootstrap.sh" --envs common)

  run script -qec "$cmd" /dev/null <<<""
  [ "$status" -eq 0 ]
  assert_contains "$output" "Download the models now (several GB)? [y/N]"
  assert_contains "$output" "models: not downloaded"
  [ ! -e "$BATS_TEST_TMPDIR/cache-models args" ]

  run script -qec "$cmd" /dev/null <<<"y"
  [ "$status" -eq 0 ]
  [ "$(cat "$BATS_TEST_TMPDIR/cache-models args")" = "--all" ]
}

@test "an environment whose own interpreter cannot import a key module fails, unstamped, not 'built'" {
  FAKE_UV_MODULES="click,dotenv,huggingface_hub"
  run_bootstrap --yes --envs common
  [ "$status" -eq 1 ]
  assert_contains "$output" "common:"
  assert_contains "$output" "cannot import pysubs2"
  refute_contains "$output" "environments built: common"
  [ ! -e "$(stamp_of common)" ]
}

@test "a stamped environment without its packages (an older bootstrap's) is rebuilt, not 'up to date'" {
  run_bootstrap --yes --envs common
  [ "$status" -eq 0 ]
  [ -e "$(stamp_of common)" ]
  rm -rf "$REPO/.venvs/common/lib"
  : >"$UV_LOG"
  run_bootstrap --yes --envs common
  [ "$status" -eq 0 ]
  assert_contains "$output" "stamped but its packages are missing"
  grep -q "^venv --clear --python .* $REPO/.venvs/common$" "$UV_LOG"
  grep -q "^pip sync $REPO/.venvs/common " "$UV_LOG"
  assert_contains "$output" "environments built: common"
}
