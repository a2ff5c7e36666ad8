"""Speech test media with a known script and known timing: espeak-ng sentences between silences.

Standard library only (wave, array, subprocess: espeak-ng and sox), so the dev-environment
tests and the benchmark scripts can both build clips. The truth of each sentence is its
text and its onset: where espeak's audible signal starts in the mix, measured on the
generated samples (espeak pads its output with silence of its own, so the onset is not
the sentence's offset in the mix).

    python bench/speech_media.py OUT.wav --seconds 60 [--truth OUT.json]
"""

from __future__ import annotations

import argparse
import array
import json
import math
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

RATE = 16000
SENTENCES = (
    "The weather was cold and clear on the morning of the trip.",
    "She opened the window and looked at the quiet street below.",
    "We need to finish the report before the meeting on Friday.",
    "The children played football in the park after school.",
    "He bought fresh bread and milk from the corner shop.",
    "Please turn off the lights when you leave the room.",
    "The train to the city leaves every hour from platform two.",
    "My brother is learning to play the piano this year.",
    "They walked along the river until the sun went down.",
    "The doctor told him to drink more water and rest.",
    "Our team won the game in the last minute.",
    "I will call you again tomorrow afternoon.",
)
# Silence between sentences, cycled: short and long gaps, all above the VAD's min silence.
GAPS = (1.2, 2.0, 1.5, 2.6, 1.0, 1.8)
LEAD_IN = 1.0
ONSET_LEVEL = 0.02  # fraction of full scale that counts as audible


@dataclass
class SentenceTruth:
    text: str
    onset: float  # first audible sample, seconds from the start of the mix
    end: float  # last audible sample


def need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise RuntimeError(f"{tool} is not installed (apt-get install {tool})")
    return path


def read_wav(path: Path) -> array.array:
    with wave.open(str(path), "rb") as fh:
        if fh.getsampwidth() != 2 or fh.getnchannels() != 1 or fh.getframerate() != RATE:
            raise ValueError(f"{path}: expected 16-bit mono {RATE} Hz")
        samples = array.array("h")
        samples.frombytes(fh.readframes(fh.getnframes()))
    return samples


def write_wav(path: Path, samples: array.array) -> None:
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1)
        fh.setsampwidth(2)
        fh.setframerate(RATE)
        fh.writeframes(samples.tobytes())


def audible_span(samples: array.array) -> tuple[int, int]:
    """First and last sample index whose level reaches ONSET_LEVEL of full scale."""
    limit = int(32767 * ONSET_LEVEL)
    first = next((i for i, v in enumerate(samples) if abs(v) >= limit), 0)
    last = next((i for i in range(len(samples) - 1, -1, -1) if abs(samples[i]) >= limit), len(samples) - 1)
    return first, last


def speak(text: str, workdir: Path, index: int, voice: str = "en-us", speed: int = 150) -> array.array:
    """``text`` spoken by espeak-ng, as 16 kHz mono 16-bit samples."""
    raw, out = workdir / f"s{index}.raw.wav", workdir / f"s{index}.wav"
    subprocess.run([need("espeak-ng"), "-v", voice, "-s", str(speed), "-w", str(raw), text], check=True)
    subprocess.run([need("sox"), "-R", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True)
    return read_wav(out)


def build_speech(out: Path, seconds: float, voice: str = "en-us", sentences: tuple[str, ...] = SENTENCES,
                 gaps: tuple[float, ...] = GAPS) -> list[SentenceTruth]:
    """Write ``sentences`` (cycled) with ``gaps`` of silence (cycled) between them to ``out``
    until ``seconds``; their truth."""
    mix = array.array("h", bytes(2 * int(LEAD_IN * RATE)))
    truth: list[SentenceTruth] = []
    spoken: dict[int, array.array] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index = 0
        while True:
            which = index % len(sentences)
            if which not in spoken:
                spoken[which] = speak(sentences[which], Path(tmp), which, voice)
            samples = spoken[which]
            gap = gaps[index % len(gaps)]
            if (len(mix) + len(samples)) / RATE + gap > seconds and truth:
                break
            first, last = audible_span(samples)
            truth.append(SentenceTruth(sentences[which], round((len(mix) + first) / RATE, 4),
                                       round((len(mix) + last) / RATE, 4)))
            mix.extend(samples)
            mix.extend(array.array("h", bytes(2 * int(gap * RATE))))
            index += 1
    remaining = int(seconds * RATE) - len(mix)
    if remaining > 0:
        mix.extend(array.array("h", bytes(2 * remaining)))
    write_wav(out, mix)
    return truth


def build_silence(out: Path, seconds: float = 10.0) -> None:
    """Digital silence with a faint noise floor (as a quiet room, not a zeroed buffer)."""
    import random

    rng = random.Random(7)
    write_wav(out, array.array("h", (int(rng.gauss(0, 20)) for _ in range(int(seconds * RATE)))))


def build_tones(out: Path, seconds: float = 10.0) -> None:
    """Music-like tones: a chord progression of sine notes with envelopes, no voice."""
    chords = ((261.63, 329.63, 392.0), (220.0, 261.63, 329.63), (174.61, 220.0, 261.63), (196.0, 246.94, 293.66))
    beat = 0.5
    samples = array.array("h")
    for n in range(int(seconds * RATE)):
        t = n / RATE
        chord = chords[int(t / (4 * beat)) % len(chords)]
        within = (t % beat) / beat
        envelope = math.exp(-3.0 * within)
        melody = chord[int(t / beat) % 3] * 2
        value = sum(math.sin(2 * math.pi * f * t) for f in chord) / 3 * 0.5 + 0.3 * envelope * math.sin(
            2 * math.pi * melody * t)
        samples.append(int(max(-1.0, min(1.0, value * 0.6)) * 32767))
    write_wav(out, samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--kind", choices=("speech", "silence", "tones"), default="speech")
    parser.add_argument("--truth", type=Path, help="write the sentences' text and onsets here (speech)")
    parser.add_argument("--gaps", default=",".join(map(str, GAPS)),
                        help="seconds of silence between sentences, cycled (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.kind == "silence":
        build_silence(args.out, args.seconds)
    elif args.kind == "tones":
        build_tones(args.out, args.seconds)
    else:
        truth = build_speech(args.out, args.seconds, gaps=tuple(float(g) for g in args.gaps.split(",")))
        if args.truth:
            args.truth.write_text(json.dumps([asdict(t) for t in truth], indent=1) + "\n", encoding="utf-8")
        print(f"{args.out}: {len(truth)} sentences in {args.seconds:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
