"""Group aligned words into sentences, keeping each sentence's word indices and times.

The flat word list is every ``segment["words"]`` of aligned.json concatenated in segment
order; a sentence's ``words`` are indices into that list, which is how the subtitle stage
maps a translated sentence back onto time. A segment without words (alignment off, or a
segment the aligner could not place) becomes one sentence of its own with no indices and
the segment's times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Sentence-final punctuation of the scripts we meet: Latin, Devanagari danda (। ॥), Arabic
# and Urdu (؟ ۔), CJK full stops, Ol Chiki (᱾), Meetei Mayek (꯫).
_FINAL = re.compile(r"[.!?।॥؟۔。！？᱾꯫…]+[\"'”’)\]]*$")
# Scripts written without spaces between words.
NO_SPACE_LANGUAGES = frozenset({"ja", "zh", "yue", "th", "lo", "my", "km", "bo"})


@dataclass
class SourceSentence:
    """A sentence to translate: its text, the flat word indices it covers and its times."""

    id: int
    text: str
    start: float
    end: float
    words: list[int] = field(default_factory=list)
    language: str = ""  # the segment's language as ASR reported it


def flat_words(transcript: dict) -> list[dict]:
    """Every aligned word of the transcript in order (the list sentence indices point into)."""
    return [word for segment in transcript.get("segments", []) for word in segment.get("words") or []]


def _join(tokens: list[str], language: str) -> str:
    sep = "" if language.split("_")[0][:2] in NO_SPACE_LANGUAGES else " "
    return re.sub(r"\s+", " ", sep.join(t.strip() for t in tokens)).strip()


def group_sentences(transcript: dict, max_words: int = 40, max_gap: float = 1.5) -> list[SourceSentence]:
    """Sentences of the transcript: split at final punctuation, at pauses over ``max_gap``
    seconds, at a change of segment language, and after ``max_words`` words (the guard that
    keeps one run-on sentence from exceeding the model's length)."""
    sentences: list[SourceSentence] = []
    index = 0
    current: list[int] = []
    tokens: list[str] = []
    words_seen: list[dict] = []
    current_lang = ""

    def flush() -> None:
        nonlocal current, tokens, words_seen
        if current:
            text = _join(tokens, current_lang)
            if text:
                sentences.append(SourceSentence(len(sentences), text, float(words_seen[0]["start"]),
                                                float(words_seen[-1]["end"]), list(current), current_lang))
        current, tokens, words_seen = [], [], []

    default_lang = str(transcript.get("language") or "")
    for segment in transcript.get("segments", []):
        lang = str(segment.get("language") or default_lang)
        words = segment.get("words") or []
        if not words:
            flush()
            text = str(segment.get("text", "")).strip()
            if text:
                sentences.append(SourceSentence(len(sentences), text, float(segment.get("start", 0.0)),
                                                float(segment.get("end", 0.0)), [], lang))
            continue
        for word in words:
            gap = float(word["start"]) - float(words_seen[-1]["end"]) if words_seen else 0.0
            if current and (gap > max_gap or lang != current_lang or len(current) >= max_words):
                flush()
            current_lang = lang
            current.append(index)
            tokens.append(str(word["word"]))
            words_seen.append(word)
            index += 1
            if _FINAL.search(str(word["word"]).strip()):
                flush()
    flush()
    return sentences
