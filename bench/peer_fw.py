"""Side B of bench/peer.sh: what a user writes with faster-whisper alone, in one process.

BatchedInferencePipeline with word_timestamps=True and its default Silero VAD; the words
go to a JSON file as [{"word", "start", "end"}] and the text to a .txt file.

    python bench/peer_fw.py AUDIO MODEL_DIR OUT_PREFIX --device cpu --compute-type int8 --batch 4 --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio")
    parser.add_argument("model_dir")
    parser.add_argument("out_prefix")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--language", default="en")
    args = parser.parse_args(argv)

    from faster_whisper import BatchedInferencePipeline, WhisperModel

    started = time.monotonic()
    model = WhisperModel(args.model_dir, device=args.device, compute_type=args.compute_type,
                         cpu_threads=args.threads, local_files_only=True)
    pipeline = BatchedInferencePipeline(model)
    segments, info = pipeline.transcribe(args.audio, batch_size=args.batch, word_timestamps=True,
                                         language=args.language)
    words, lines = [], []
    for seg in segments:
        lines.append(seg.text.strip())
        words.extend({"word": w.word.strip(), "start": w.start, "end": w.end} for w in seg.words or [])
    with open(args.out_prefix + ".words.json", "w", encoding="utf-8") as fh:
        json.dump(words, fh)
    with open(args.out_prefix + ".txt", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"peer_fw: {len(words)} words in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
