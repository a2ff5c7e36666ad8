"""A two-person espeak-ng dialogue timed like real conversation (0.1-0.4 s between sentences).

Each clause (a sentence cut at its commas) is spoken by espeak-ng in its speaker's voice;
its audible span is measured on the samples and the clauses are laid end to end with the
pauses of real talk: the comma pause espeak itself makes (~0.15 s), 0.1-0.4 s between
sentences, a little more at a change of speaker. Words get times inside their clause's
audible span in proportion to their letters, as a forced aligner would give them; every
word carries its speaker label (the diarize stage's ``SPEAKER_n``). ``write_wav`` writes
the mix, so the same dialogue can be fed to the speech stages.
"""

from __future__ import annotations

import array
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

ESPEAK = shutil.which("espeak-ng")
RATE = 22050
SPEED = 150  # words per minute: about 15 characters per second, as in unhurried conversation
VOICES = {"SPEAKER_1": "en+m3", "SPEAKER_2": "en+f3"}

# Questions and answers, a sentence longer than two lines, a list with commas, numbers with
# units, a name of three words.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("SPEAKER_1", "Did you see Mary Jane Watson at the station this morning?"),
    ("SPEAKER_2", "No, I didn't."),
    ("SPEAKER_2", "I was stuck in traffic for forty five minutes on the way back from the airport."),
    ("SPEAKER_1", "Really?"),
    ("SPEAKER_1", "What happened?"),
    ("SPEAKER_2", "There was an accident near the old bridge, so the police closed two lanes and everybody had to wait while they cleared the road, which took forever."),
    ("SPEAKER_1", "Well, we still need bread, milk, eggs, cheese and coffee for the party tonight."),
    ("SPEAKER_2", "The shop is only 3 kilometres away."),
    ("SPEAKER_2", "I can drive there after lunch if you want."),
    ("SPEAKER_1", "That would be great, thank you."),
    ("SPEAKER_1", "Where is the party?"),
    ("SPEAKER_2", "At my sister's house in the old town, near the river."),
    ("SPEAKER_1", "How many people are coming?"),
    ("SPEAKER_2", "About twenty, maybe more if the weather is good."),
    ("SPEAKER_1", "Did you invite the neighbours from the second floor?"),
    ("SPEAKER_2", "Yes."),
    ("SPEAKER_2", "They said they would bring a cake of about 2 kilograms and some fruit."),
    ("SPEAKER_1", "Perfect."),
)
SENTENCE_PAUSES = (0.1, 0.25, 0.4, 0.15, 0.3, 0.2)  # cycled
SPEAKER_CHANGE_EXTRA = 0.05
LEVEL = 0.02  # fraction of full scale that counts as audible


@dataclass(frozen=True)
class DialogueWord:
    word: str
    start: float
    end: float
    speaker: str
    sentence: int


def _speak(text: str, voice: str, folder: Path) -> array.array:
    path = folder / "clause.wav"
    subprocess.run([ESPEAK or "espeak-ng", "-v", voice, "-s", str(SPEED), "-w", str(path), text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with wave.open(str(path), "rb") as handle:
        assert handle.getframerate() == RATE and handle.getsampwidth() == 2 and handle.getnchannels() == 1
        samples = array.array("h", handle.readframes(handle.getnframes()))
    threshold = int(32767 * LEVEL)
    loud = [i for i, s in enumerate(samples) if abs(s) > threshold]
    return samples[loud[0] : loud[-1] + 1] if loud else array.array("h")


def synthesize(script: tuple[tuple[str, str], ...] = SCRIPT, lead_in: float = 1.0) -> tuple[list[DialogueWord], array.array]:
    """The dialogue's timed words and its samples (16-bit mono at RATE)."""
    words: list[DialogueWord] = []
    mix = array.array("h", [0] * int(lead_in * RATE))
    previous_speaker = None
    with tempfile.TemporaryDirectory(prefix="dialogue-") as tmp:
        for number, (speaker, sentence) in enumerate(script):
            if number:
                pause = SENTENCE_PAUSES[number % len(SENTENCE_PAUSES)]
                pause += SPEAKER_CHANGE_EXTRA if speaker != previous_speaker else 0.0
                mix.extend([0] * int(pause * RATE))
            previous_speaker = speaker
            clauses = [c.strip() for c in sentence.replace(", ", ",\n").split("\n") if c.strip()]
            for k, clause in enumerate(clauses):
                if k:
                    mix.extend([0] * int(0.15 * RATE))
                audio = _speak(clause, VOICES[speaker], Path(tmp))
                start = len(mix) / RATE
                mix.extend(audio)
                end = len(mix) / RATE
                tokens = clause.split()
                letters = [sum(ch.isalnum() for ch in t) or 1 for t in tokens]
                total = sum(letters)
                running = 0
                for token, count in zip(tokens, letters, strict=True):
                    a = start + (end - start) * running / total
                    running += count
                    b = start + (end - start) * running / total
                    words.append(DialogueWord(token, round(a, 3), round(b - 0.02 * (b - a), 3), speaker, number))
    mix.extend([0] * int(1.5 * RATE))
    return words, mix


def write_wav(samples: array.array, path: Path) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(samples.tobytes())
    return path


def aligned_json(words: list[DialogueWord], with_speakers: bool = True) -> dict:
    """An aligned.json (schema kind "aligned") holding the dialogue, one segment per sentence."""
    from shared.schema import SCHEMA_VERSION

    segments: list[dict] = []
    for w in words:
        if not segments or segments[-1]["_sentence"] != w.sentence:
            segments.append({"_sentence": w.sentence, "start": w.start, "words": []})
            if with_speakers:
                segments[-1]["speaker"] = w.speaker
        entry = {"word": w.word, "start": w.start, "end": w.end, "score": 0.9}
        if with_speakers:
            entry["speaker"] = w.speaker
        segments[-1]["words"].append(entry)
        segments[-1]["end"] = w.end
    for s in segments:
        s["text"] = " ".join(x["word"] for x in s["words"])
        del s["_sentence"]
    return {"schema_version": SCHEMA_VERSION, "kind": "aligned", "language": "en", "segments": segments}
