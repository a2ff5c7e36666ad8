#!/usr/bin/env bash
# Re-pin every environment's requirements from its .in file (run after editing a .in).
# The ML and MLX sets are pinned per platform: torch 2.8 (whisperx 3.8) has no macOS
# x86_64 wheels, and the CUDA libraries exist only on Linux, so one universal file
# cannot describe them. Needs uv (pip install uv).
set -euo pipefail

main() {
  cd "$(dirname "$0")"
  local py=3.10 plat
  for env in common dev; do
    uv pip compile -q "$env.in" --universal --python-version "$py" -o "$env.txt"
  done
  for plat in linux-x86_64:x86_64-manylinux_2_28 linux-aarch64:aarch64-manylinux_2_28 \
              macos-arm64:aarch64-apple-darwin windows-x86_64:x86_64-pc-windows-msvc; do
    uv pip compile -q ml.in --python-platform "${plat#*:}" --python-version "$py" \
      -o "ml-${plat%%:*}.txt"
  done
  uv pip compile -q mlx.in --python-platform aarch64-apple-darwin --python-version "$py" \
    -o mlx-macos-arm64.txt
  # cluster = common's pins (-c common.txt) plus Ray, so the driver sees the same packages.
  uv pip compile -q cluster.in --universal --python-version "$py" -o cluster.txt
}

main "$@"
