#!/usr/bin/env bats
# cache-models.sh: option parsing, help, and the checks it makes before Python runs.
# Downloads themselves are tested against the fake hub in
# tests/integration/test_cache_models.py.

load helpers

setup() {
  setup_sandbox
  SCRIPT="$REPO_ROOT/cache-models.sh"
}

# parse ARGS...: source the script's functions and parse; prints PY_ARGS, TOKEN, CACHE_DIR.
parse() {
  # shellcheck disable=SC1090
  CACHE_MODELS_SOURCE_ONLY=1 source "$SCRIPT"
  parse_args "$@"
  printf 'py=%s\n' "${PY_ARGS[*]-}"
  printf 'token=%s\n' "$TOKEN"
  printf 'cache=%s\n' "$CACHE_DIR"
  printf 'help=%s\n' "$SHOW_HELP"
}

@test "-h and --help print the usage with every option and exit 0" {
  for flag in -h --help; do
    run "$SCRIPT" "$flag"
    [ "$status" -eq 0 ]
    [[ $output == *"usage: ./cache-models.sh"* ]]
    for option in --all --whisperx --mlx --align --pyannote --demucs --indictrans2 --nllb --model \
      --list --status --verify --dry-run --token --cache-dir -y; do
      [[ $output == *"$option"* ]] || { echo "missing $option"; false; }
    done
  done
}

@test "sourcing with the guard variable runs nothing" {
  run bash -c 'CACHE_MODELS_SOURCE_ONLY=1 source "$1"; type -t parse_args' _ "$SCRIPT"
  [ "$status" -eq 0 ]
  [ "$output" = "function" ]
}

@test "an unknown option exits 2 and names it" {
  run "$SCRIPT" --everything
  [ "$status" -eq 2 ]
  [[ $output == *"unknown option: --everything"* ]]
}

@test "--model, --token and --cache-dir need a value" {
  for opt in --model --token --cache-dir; do
    run "$SCRIPT" "$opt"
    [ "$status" -eq 2 ]
  done
  run "$SCRIPT" --model --all
  [ "$status" -eq 2 ]
  [[ $output == *"--model needs a model id"* ]]
}

@test "two modes at once are a usage error" {
  run "$SCRIPT" --status --verify
  [ "$status" -eq 2 ]
  [[ $output == *"choose one of"* ]]
}

@test "selections and modes pass to Python; the token never does" {
  run parse --all --model tiny.en --model=align-hi --token "s3cret value" --dry-run -y
  [ "$status" -eq 0 ]
  [[ $output == *"py=--all --model tiny.en --model align-hi --dry-run --yes"* ]]
  [[ $output == *"token=s3cret value"* ]]
  [[ $(grep '^py=' <<<"$output") != *s3cret* ]]
}

@test "--cache-dir is made absolute against the current directory" {
  cd "$BATS_TEST_TMPDIR"
  run parse --cache-dir "my models"
  [[ $output == *"cache=$BATS_TEST_TMPDIR/my models"* ]]
  run parse --cache-dir=/abs/dir
  [[ $output == *"cache=/abs/dir"* ]]
}

@test "--export and --import take a FILE.tar made absolute; --adopt is a mode of its own" {
  cd "$BATS_TEST_TMPDIR"
  run parse --export "for laptop.tar" --nllb
  [ "$status" -eq 0 ]
  [[ $output == *"py=--export $BATS_TEST_TMPDIR/for laptop.tar --nllb"* ]]
  run parse --import=/media/usb/models.tar
  [[ $output == *"py=--import /media/usb/models.tar"* ]]
  run "$SCRIPT" --export
  [ "$status" -eq 2 ]
  [[ $output == *"--export needs a FILE.tar"* ]]
  run "$SCRIPT" --adopt --import x.tar
  [ "$status" -eq 2 ]
  [[ $output == *"choose one of"* ]]
}

@test "without the common environment it says to run ./bootstrap.sh and exits 1" {
  local copy="$BATS_TEST_TMPDIR/repo copy"
  mkdir -p "$copy"
  cp "$SCRIPT" "$copy/"
  run "$copy/cache-models.sh" --list
  [ "$status" -eq 1 ]
  [[ $output == *"run ./bootstrap.sh"* ]]
}

@test "--list prints the registry with sizes and licences" {
  [ -x "$REPO_ROOT/.venvs/common/bin/python" ] || skip "the common environment is not built"
  run "$SCRIPT" --list
  [ "$status" -eq 0 ]
  [[ $output == *"tiny.en-bundled"* ]]
  [[ $output == *"indictrans2-indic-en-1B"*"yes"*"mit"* ]]
  [[ $output == *"models,"*"in all"* ]]
}
