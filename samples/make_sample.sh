#!/usr/bin/env bash
# Rebuild samples/demo.mp4: English sentences we wrote, spoken by espeak-ng with pauses
# between them, over a still colour-bar picture. Small on purpose (about 100 KB): it is
# committed, and `make demo` subtitles it. Needs espeak-ng and ffmpeg.
set -euo pipefail

SENTENCES=(
  "Welcome to the subtitle pipeline demo."
  "This short clip was made with a speech synthesizer."
  "The pipeline finds the speech and writes down every word."
  "Then it times each subtitle, and puts them back into the video."
  "Thank you for watching."
)
PAUSE_S=1.0
WORK_DIR=
SPEED_WPM=140

say() { printf '%s\n' "$*" >&2; }
err() { say "make_sample.sh: error: $*"; exit 1; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || err "$1 is not installed (apt-get install $2)"; }

usage() {
  cat <<USAGE
usage: samples/make_sample.sh [-o OUT] [-h]

Rebuild the demo clip from the sentences in this script.
  -o, --output OUT   where to write it (default: samples/demo.mp4 beside this script)
  -h, --help         this help
USAGE
}

# speak INDEX TEXT WORKDIR: one sentence as 16 kHz mono WAV with PAUSE_S of silence after it
speak() {
  local index=$1 text=$2 work=$3
  espeak-ng -v en-us -s "$SPEED_WPM" -w "$work/raw$index.wav" "$text"
  ffmpeg -hide_banner -nostdin -loglevel error -y -i "$work/raw$index.wav" \
    -af "apad=pad_dur=$PAUSE_S" -ac 1 -ar 16000 "$work/s$index.wav"
  printf "file '%s'\n" "$work/s$index.wav" >>"$work/list.txt"
}

build() {
  local out=$1 work
  work=$(mktemp -d)
  WORK_DIR=$work
  trap 'rm -rf "$WORK_DIR"' EXIT
  # half a second of silence first, so the first word does not start on frame one
  ffmpeg -hide_banner -nostdin -loglevel error -y -f lavfi -i "anullsrc=r=16000:cl=mono" -t 0.5 "$work/lead.wav"
  printf "file '%s'\n" "$work/lead.wav" >"$work/list.txt"
  local i
  for i in "${!SENTENCES[@]}"; do
    speak "$i" "${SENTENCES[$i]}" "$work"
  done
  ffmpeg -hide_banner -nostdin -loglevel error -y -f concat -safe 0 -i "$work/list.txt" -c:a pcm_s16le "$work/speech.wav"
  local seconds
  seconds=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$work/speech.wav")
  ffmpeg -hide_banner -nostdin -loglevel error -y \
    -f lavfi -i "smptebars=size=320x180:rate=10:duration=$seconds" -i "$work/speech.wav" \
    -map 0:v -map 1:a -c:v libx264 -preset veryslow -tune stillimage -crf 30 -g 100 -pix_fmt yuv420p \
    -c:a aac -b:a 32k -ac 1 -ar 16000 -metadata:s:a:0 language=eng -metadata title="subpipe demo" \
    -movflags +faststart "$out"
  say "wrote $out ($seconds s, $(wc -c <"$out") bytes)"
}

main() {
  local out
  out="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/demo.mp4"
  while [ $# -gt 0 ]; do
    case $1 in
      -o|--output) [ $# -ge 2 ] || { usage >&2; exit 2; }; out=$2; shift 2 ;;
      -h|--help) usage; return 0 ;;
      *) say "make_sample.sh: unknown option: $1"; usage >&2; exit 2 ;;
    esac
  done
  need_cmd espeak-ng espeak-ng
  need_cmd ffmpeg ffmpeg
  need_cmd ffprobe ffmpeg
  build "$out"
}

if [ -z "${MAKE_SAMPLE_SOURCED:-}" ]; then
  main "$@"
fi
