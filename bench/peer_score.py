"""Scores for bench/peer.sh: WER and sentence-onset error of one side's output against the script.

    python bench/peer_score.py TRUTH.json --aligned aligned.json | --words words.json TEXT.txt
                                         | --whisperx out.json

The known timing is each sentence's onset (bench/speech_media.py measures where espeak's
audible signal starts); a side's error for a sentence is the distance from that onset to
the nearest start of a word that spells the sentence's first word (whisperx without
alignment has segment times only: the segment starts are used). Prints one line:
``WER <w> ONSET_MEDIAN <s> ONSET_MAX <s> MISSED <n>``.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^a-z' ]", " ", text.lower().replace("2", "two"))).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("truth")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--aligned", help="our aligned.json")
    group.add_argument("--words", nargs=2, metavar=("WORDS_JSON", "TEXT"), help="peer_fw.py's outputs")
    group.add_argument("--whisperx", help="the whisperx CLI's JSON output")
    args = parser.parse_args(argv)

    import jiwer

    truth = json.loads(Path(args.truth).read_text(encoding="utf-8"))
    if args.aligned:
        doc = json.loads(Path(args.aligned).read_text(encoding="utf-8"))
        text = " ".join(s["text"] for s in doc["segments"])
        starts = [(w["word"], w["start"]) for s in doc["segments"] for w in s["words"]]
    elif args.words:
        starts = [(w["word"], w["start"]) for w in json.loads(Path(args.words[0]).read_text(encoding="utf-8"))]
        text = Path(args.words[1]).read_text(encoding="utf-8")
    else:
        doc = json.loads(Path(args.whisperx).read_text(encoding="utf-8"))
        text = " ".join(s["text"] for s in doc["segments"])
        starts = [(s["text"].split()[0] if s["text"].split() else "", s["start"]) for s in doc["segments"]]
        for s in doc["segments"]:  # aligned output carries words: use them
            starts.extend((w["word"], w["start"]) for w in s.get("words", []) if w.get("start") is not None)

    wer = jiwer.wer(norm(" ".join(t["text"] for t in truth)), norm(text))
    errors, missed = [], 0
    for sentence in truth:
        first = norm(sentence["text"]).split()[0]
        near = [abs(start - sentence["onset"]) for word, start in starts
                if norm(word) == first and abs(start - sentence["onset"]) < 1.5]
        if near:
            errors.append(min(near))
        else:
            missed += 1
    median = statistics.median(errors) if errors else float("nan")
    worst = max(errors) if errors else float("nan")
    print(f"WER {wer:.3f} ONSET_MEDIAN {median:.3f} ONSET_MAX {worst:.3f} MISSED {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
