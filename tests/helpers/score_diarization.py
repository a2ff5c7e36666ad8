"""Score a speakers.json against a dialogue's truth (run with the ml interpreter: pyannote.metrics).

    python tests/helpers/score_diarization.py truth.json speakers.json   -> JSON on stdout

truth.json: [{"speaker", "start", "end", "words": [...]}, ...] (tests/helpers/speaker_dialogue.py).
Prints the diarization error rate with a 0.25 s forgiveness collar and without, the
speaker count, and the speaker-attributed word accuracy: each true word, placed inside its
turn in proportion to its length, gets a speaker from the hypothesis turns through the
same code the align stage uses (shared.speech.speakers.assign); a word counts as right
when that speaker maps (optimal one-to-one mapping of pyannote.metrics) to its true speaker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pyannote.core import Annotation, Segment  # noqa: E402
from pyannote.metrics.diarization import DiarizationErrorRate  # noqa: E402

from shared.speech import speakers as sp  # noqa: E402


def words_in_turn(turn: dict) -> list[dict]:
    words = turn["words"]
    total = sum(len(w) + 1 for w in words)
    out, position = [], turn["start"]
    for w in words:
        length = (turn["end"] - turn["start"]) * (len(w) + 1) / total
        out.append({"word": w, "start": position, "end": position + length * 0.9, "truth": turn["speaker"]})
        position += length
    return out


def main(truth_path: str, speakers_path: str) -> None:
    truth = json.loads(Path(truth_path).read_text())
    hyp_info = json.loads(Path(speakers_path).read_text())
    reference, hypothesis = Annotation(), Annotation()
    for turn in truth:
        reference[Segment(turn["start"], turn["end"])] = turn["speaker"]
    for turn in hyp_info["turns"]:
        hypothesis[Segment(turn["start"], turn["end"])] = turn["speaker"]
    collar = DiarizationErrorRate(collar=0.25)
    mapping = collar.optimal_mapping(reference, hypothesis)  # hypothesis label -> reference label
    segments = [{"start": t["start"], "end": t["end"], "text": " ".join(t["words"]), "words": words_in_turn(t)}
                for t in truth]
    labelled, _ = sp.assign(segments, hyp_info["turns"])
    words = [w for s in labelled for w in s["words"]]
    right = sum(1 for w in words if mapping.get(w.get("speaker")) == w["truth"])
    wrong = [(w["word"], w["truth"], w.get("speaker")) for w in words if mapping.get(w.get("speaker")) != w["truth"]]
    print(json.dumps({
        "der": collar(reference, hypothesis),
        "der_no_collar": DiarizationErrorRate()(reference, hypothesis),
        "speakers": len(hyp_info["speakers"]),
        "word_accuracy": right / max(1, len(words)),
        "words": len(words),
        "wrong_words": wrong,
    }))


if __name__ == "__main__":
    main(*sys.argv[1:3])
