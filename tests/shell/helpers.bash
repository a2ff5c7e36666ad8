# Shared helpers for the bats tests (load with `load helpers`).
#
# Everything a test makes lives under $BATS_TEST_TMPDIR, in folders whose names contain
# spaces, to flush out quoting bugs. Commands that cannot run here (or must not: uv,
# downloads) are replaced by fake executables; a test can also run a script with a PATH
# that holds only the fakes plus a chosen set of real tools, so "tool missing" paths are
# reachable on a machine that has the tool.
# shellcheck shell=bash

REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd -P)

# setup_sandbox: a HOME and a fake-bin folder with spaces in their paths.
#   HOME_DIR  the fake home          FAKE_BIN  where fake_cmd writes executables
#   SANDBOX_BIN  links to the real tools of sandbox_tools (see sandbox_path)
setup_sandbox() {
  HOME_DIR="$BATS_TEST_TMPDIR/home dir"
  FAKE_BIN="$BATS_TEST_TMPDIR/fake bin"
  SANDBOX_BIN="$BATS_TEST_TMPDIR/real tools"
  mkdir -p "$HOME_DIR" "$FAKE_BIN" "$SANDBOX_BIN"
}

# fake_cmd NAME [BODY]: an executable NAME in $FAKE_BIN running BODY (bash); BODY is read
# from stdin when not given.
fake_cmd() {
  local name=$1 body
  if (($# >= 2)); then body=$2; else body=$(cat); fi
  printf '#!/usr/bin/env bash\nset -euo pipefail\n%s\n' "$body" >"$FAKE_BIN/$name"
  chmod +x "$FAKE_BIN/$name"
}

# sandbox_tools TOOL...: link these real tools into $SANDBOX_BIN (missing ones are skipped).
sandbox_tools() {
  local tool real
  for tool in "$@"; do
    real=$(command -v "$tool" 2>/dev/null) || continue
    [[ $real == /* ]] || continue # a shell builtin or function
    ln -sf "$real" "$SANDBOX_BIN/$tool"
  done
}

# sandbox_path: a PATH with only the fakes and the linked real tools.
sandbox_path() {
  printf '%s:%s\n' "$FAKE_BIN" "$SANDBOX_BIN"
}

# copy_repo DEST PATH...: copy these repository paths into DEST (created).
copy_repo() {
  local dest=$1 path
  shift
  mkdir -p "$dest"
  for path in "$@"; do
    mkdir -p "$dest/$(dirname "$path")"
    cp -R "$REPO_ROOT/$path" "$dest/$path"
  done
}

# mtime PATH: modification time in seconds (GNU and BSD stat).
mtime() {
  stat -c %Y "$1" 2>/dev/null || stat -f %m "$1"
}

# assert_contains TEXT NEEDLE / refute_contains TEXT NEEDLE, with a readable failure.
assert_contains() {
  if [[ $1 != *"$2"* ]]; then
    printf 'expected to find: %s\n--- in:\n%s\n' "$2" "$1" >&2
    return 1
  fi
}

refute_contains() {
  if [[ $1 == *"$2"* ]]; then
    printf 'expected NOT to find: %s\n--- in:\n%s\n' "$2" "$1" >&2
    return 1
  fi
}
