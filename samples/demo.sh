#!/usr/bin/env bash
# `make demo`: build what is missing (environments, hardware profile), then subtitle the
# sample clip with shared/demo.py (small models; skipped parts named in one line).
set -euo pipefail

say() { printf 'demo: %s\n' "$*" >&2; }
err() { say "error: $*"; exit 1; }

usage() {
  cat <<USAGE
usage: samples/demo.sh [--no-fetch] [--tgt LANG] [-h]

Bootstrap what is missing (./bootstrap.sh --skip-cache --yes), then subtitle
samples/demo.mp4 end to end: out/<job>/demo.subtitled.mp4.
  --no-fetch   download nothing; use the models that are cached or ship in packages
  --tgt LANG   also translate into LANG when a model for it is cached (default: DEMO_TGT, else hi)
  -h, --help   this help
USAGE
}

repo_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# needs_bootstrap ROOT: true when an environment this platform needs is missing or stale,
# or there is no hardware profile
needs_bootstrap() {
  local root=$1 py="$1/.venvs/common/bin/python" plan
  [ -x "$py" ] || return 0
  [ -f "$root/config/hardware_cache.json" ] || return 0
  plan=$(cd "$root" && "$py" -m shared.environment_manager plan) || return 0
  printf '%s\n' "$plan" | awk -F'\t' '$3 != "up-to-date" {found=1} END {exit found ? 0 : 1}'
}

main() {
  local root args=()
  root=$(repo_root)
  while [ $# -gt 0 ]; do
    case $1 in
      --no-fetch) args+=(--no-fetch); shift ;;
      --tgt) [ $# -ge 2 ] || { usage >&2; exit 2; }; args+=(--tgt "$2"); shift 2 ;;
      -h|--help) usage; return 0 ;;
      *) say "unknown option: $1"; usage >&2; exit 2 ;;
    esac
  done
  if needs_bootstrap "$root"; then
    say "environments missing or out of date: running ./bootstrap.sh --skip-cache --yes"
    (cd "$root" && ./bootstrap.sh --skip-cache --yes) || err "bootstrap failed (see above; logs/ has the details)"
  fi
  cd "$root"
  exec "$root/.venvs/common/bin/python" -m shared.demo ${args[@]+"${args[@]}"}
}

if [ -z "${DEMO_SH_SOURCED:-}" ]; then
  main "$@"
fi
