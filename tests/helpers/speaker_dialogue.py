"""A spoken dialogue made with espeak-ng voices that differ, with the truth of who spoke when.

    turns = make_dialogue(tmp_path / "talk.wav", DIALOGUE)
    # turns: [Turn(speaker="A", start=0.0, end=1.9, words=[...]), ...] (seconds, 16 kHz mono WAV)

Each turn is synthesized on its own, trimmed of espeak's leading and trailing silence,
and placed after a gap, so the turn times are exact. Word times are not known exactly;
word tests take a word's speaker from the turn it was spoken in.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ESPEAK = shutil.which("espeak-ng")
RATE = 16000

# Three voices far apart in pitch, timbre and accent (espeak-ng variants + pitch).
VOICES: dict[str, list[str]] = {
    "A": ["-v", "en-us+m3", "-p", "25", "-s", "165"],
    "B": ["-v", "en+f4", "-p", "80", "-s", "175"],
    "C": ["-v", "en-gb-scotland+m7", "-p", "50", "-s", "150"],
}


@dataclass
class Turn:
    speaker: str
    text: str
    gap: float  # silence before this turn, seconds
    start: float = 0.0
    end: float = 0.0
    words: list[str] = field(default_factory=list)


# Alternating turns with 0.2-1 s gaps, a one-word turn ("Yes."), and a fast
# back-and-forth of short replies that a subtitle cue may share.
DIALOGUE: list[tuple[str, str, float]] = [
    ("A", "Good morning, thank you for coming in to talk with us today.", 0.5),
    ("B", "It is a pleasure to be here, I have been looking forward to this conversation.", 0.6),
    ("A", "Let us start with your early years. Where did you grow up?", 0.8),
    ("B", "I grew up in a small town near the coast, with my two brothers and my parents.", 0.4),
    ("A", "Did you like it there?", 0.7),
    ("B", "Yes.", 0.5),
    ("A", "Why?", 0.3),
    ("B", "The sea.", 0.3),
    ("A", "And the winters?", 0.25),
    ("B", "Cold and very long, but the summers made up for all of it every single year.", 0.3),
    ("C", "If I may add something, I lived in that same town for a while, and the harbour was the heart of it.", 1.0),
    ("A", "That is a wonderful detail. Tell me more about the harbour and the boats.", 0.6),
    ("C", "Fishing boats left before dawn and came back in the afternoon, loaded with the catch of the day.", 0.5),
    ("B", "My father worked on one of those boats for almost twenty years.", 0.2),
    ("A", "Thank you both, that brings us to the end of our first part.", 0.9),
]

MONOLOGUE: list[tuple[str, str, float]] = [
    ("A", "This recording has one speaker only, who talks about the weather for a while.", 0.3),
    ("A", "In the morning it rained, and in the afternoon the sun came out over the hills.", 0.6),
    ("A", "By the evening the wind had turned, and everyone expected a cold night ahead.", 0.4),
    ("A", "Tomorrow should be dry and bright, with a light breeze from the west.", 0.8),
    ("A", "That is all for today, thank you for listening to this short report.", 0.5),
]


def _speak(text: str, voice: Sequence[str], workdir: Path) -> np.ndarray:
    raw = workdir / "turn.wav"
    subprocess.run([ESPEAK or "espeak-ng", *voice, "-w", str(raw), text], check=True, capture_output=True)
    out = workdir / "turn16.wav"
    subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True, capture_output=True)
    import soundfile as sf

    samples, rate = sf.read(str(out), dtype="float32")
    assert rate == RATE
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[loud[0]:loud[-1] + 1] if len(loud) else samples


def make_dialogue(path: Path, script: Sequence[tuple[str, str, float]], tail: float = 0.5) -> list[Turn]:
    """Write the dialogue to ``path`` (16 kHz mono 16-bit WAV); its turns with their true times."""
    import soundfile as sf

    pieces: list[np.ndarray] = []
    turns: list[Turn] = []
    position = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for speaker, text, gap in script:
            speech = _speak(text, VOICES[speaker], Path(tmp))
            pieces.append(np.zeros(int(gap * RATE), dtype=np.float32))
            position += int(gap * RATE) / RATE
            start = position
            pieces.append(speech)
            position += len(speech) / RATE
            turns.append(Turn(speaker, text, gap, round(start, 3), round(position, 3),
                              [w for w in text.split() if w]))
    pieces.append(np.zeros(int(tail * RATE), dtype=np.float32))
    signal = np.concatenate(pieces) * 0.8
    sf.write(str(path), signal, RATE, subtype="PCM_16")
    return turns


def loop_dialogue(path: Path, source: Path, minutes: float) -> None:
    """Repeat the WAV ``source`` until ``minutes`` long into ``path`` (for benchmarks)."""
    import soundfile as sf

    samples, rate = sf.read(str(source), dtype="float32")
    total = int(minutes * 60 * rate)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        written = 0
        while written < total:
            piece = samples[: total - written]
            out.write(piece)
            written += len(piece)


def repeated(turns: Sequence[Turn], period: float, length: float) -> list[Turn]:
    """The turns of a recording ``period`` seconds long, looped to ``length`` seconds (the last ones cut)."""
    out: list[Turn] = []
    offset = 0.0
    while offset < length:
        for t in turns:
            start, end = t.start + offset, min(t.end + offset, length)
            if end - start > 0.05:
                out.append(Turn(t.speaker, t.text, t.gap, round(start, 3), round(end, 3), t.words))
        offset += period
    return out


def main(argv: Sequence[str]) -> None:
    """``python tests/helpers/speaker_dialogue.py OUT.wav TRUTH.json dialogue|monologue [MINUTES]`` (ml interpreter)."""
    import json

    out, truth_path, which = Path(argv[0]), Path(argv[1]), argv[2]
    turns = make_dialogue(out, DIALOGUE if which == "dialogue" else MONOLOGUE)
    if len(argv) > 3:  # a long recording (tests, benchmark): the dialogue repeated, and its truth with it
        import soundfile as sf

        period = sf.info(str(out)).frames / RATE
        looped = out.with_name(out.stem + ".long.wav")
        loop_dialogue(looped, out, float(argv[3]))
        looped.replace(out)
        turns = repeated(turns, period, float(argv[3]) * 60)
    truth_path.write_text(json.dumps([{"speaker": t.speaker, "start": t.start, "end": t.end, "words": t.words}
                                      for t in turns]), encoding="utf-8")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
