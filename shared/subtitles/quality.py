"""How well a track is segmented: where its cues break, measured on its text (and times).

A professional subtitler cuts at sentence ends first, then at clause boundaries (after a
comma, semicolon, colon or dash, before a conjunction or relative pronoun), and never
leaves a cue ending on an article or a preposition. For the boundaries between
consecutive cues this module reports:

* ``boundaries``: how many there are;
* ``sentence_or_clause``: the share at a sentence end or clause boundary (a change of
  speaker counts as one: a cue starting with a dash, or words of another speaker);
* ``mid_sentence_starts``: the share of cues after the first that start inside a
  sentence (the previous cue did not end one);
* ``dangling_ends``: cues that end on a word that must not end a line (an article,
  preposition, auxiliary, possessive: text.classify_break says FORBIDDEN) while their
  sentence goes on in the next cue;

and, against a reference segmentation of the same speech (``compare``), the precision
and recall of our cue boundaries (the start times of the cues after the first) within a
tolerance of 0.3 s, each reference boundary matched at most once.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.subtitles.text import Break, classify_break, ends_sentence

BOUNDARY_TOLERANCE = 0.3  # seconds
_DASHES = ("-", "–", "—", "‐")


def _tokens(lines: Sequence[str]) -> list[str]:
    return " ".join(line.strip() for line in lines).split()


def has_dashes(lines: Sequence[str]) -> bool:
    """True when every line of a cue of two lines or more starts with a dash (two speakers)."""
    visible = [line.strip() for line in lines if line.strip()]
    return len(visible) >= 2 and all(line.startswith(_DASHES) for line in visible)


def _strip_dash(token: str) -> str:
    return token.lstrip("".join(_DASHES)) or token


def segmentation(cues: Sequence[Sequence[str]], speakers: Sequence[tuple[str | None, str | None]] | None = None) -> dict:
    """The segmentation figures of cues given as their lines, in order.

    ``speakers[k]`` is (first, last) speaker of cue k when known: a boundary between two
    speakers is a good one whatever the words.
    """
    texts = [[_strip_dash(t) for t in _tokens(lines)] for lines in cues]
    texts = [t for t in texts if t]
    good = mid = 0
    dangling: list[int] = []
    boundaries = max(0, len(texts) - 1)
    for k in range(boundaries):
        last, first = texts[k][-1], texts[k + 1][0]
        kind = classify_break(last, first)
        speaker_change = bool(
            speakers and speakers[k][1] and speakers[k + 1][0] and speakers[k][1] != speakers[k + 1][0]
        ) or has_dashes(cues[k + 1]) or has_dashes(cues[k])
        if kind <= Break.CLAUSE or speaker_change:
            good += 1
        if not ends_sentence(last) and not speaker_change:
            mid += 1
        if kind == Break.FORBIDDEN and not speaker_change:
            dangling.append(k + 1)
    return {
        "cues": len(texts),
        "boundaries": boundaries,
        "sentence_or_clause": round(good / boundaries, 4) if boundaries else 1.0,
        "mid_sentence_starts": round(mid / boundaries, 4) if boundaries else 0.0,
        "dangling_ends": len(dangling),
        "dangling_cues": dangling,
    }


def compare(ours: Sequence[float], reference: Sequence[float], tolerance: float = BOUNDARY_TOLERANCE) -> dict:
    """Precision and recall of boundary times ``ours`` against ``reference`` within ``tolerance`` s."""
    ours, reference = sorted(ours), sorted(reference)
    matched = 0
    j = 0
    for t in ours:
        while j < len(reference) and reference[j] < t - tolerance - 1e-9:
            j += 1
        if j < len(reference) and abs(reference[j] - t) <= tolerance + 1e-9:
            matched += 1
            j += 1
    precision = matched / len(ours) if ours else 1.0
    recall = matched / len(reference) if reference else 1.0
    return {
        "tolerance": tolerance,
        "boundaries": len(ours),
        "reference_boundaries": len(reference),
        "matched": matched,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
    }


def boundary_times(starts: Sequence[float]) -> list[float]:
    """The boundary times of a track: the start of every cue after the first, in order."""
    return sorted(starts)[1:]
