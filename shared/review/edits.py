"""Reviewer corrections: what ``edits/<track>.json`` holds, how it is made and applied.

A track's edits are a list of *changes*. Each change says which cues it came from (their
times and text, as the subtitle stage built them: the *base*) and what the reviewer made
of them (zero or more cues with times and text), with the time of the change and what
changed. A text fix is one cue to one, a split one to two, a merge two to one, a delete
one to none, an insert none to one.

The subtitle stage builds its cues, then calls :func:`apply_edits` (one call in
``stages/subtitle.py``). A change is placed where a run of consecutive built cues shows
exactly the words it came from (the run nearest in time when the words occur more than
once), so a re-run with new settings keeps every correction whose words still match; an
insert is placed at its own times. A change that finds no such run, or whose result
would overlap its neighbours, is *unplaced*: logged and listed in
``subs/<track>.edits-report.json``, never guessed. That report also keeps the base cues,
which the review page edits against.

Hard rules (:func:`hard_rule_problems`) hold for every saved or applied result: every
cue has text, starts at or after 0, ends after it starts and ends before the next one
starts.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared import atomic, job_locks
from shared.schema import SCHEMA_VERSION
from shared.subtitles.builder import Cue

log = logging.getLogger(__name__)

EDITS_DIR = "edits"
REPORT_SUFFIX = ".edits-report.json"
PREVIOUS_SUFFIX = ".prev.json"
TIME_TOLERANCE = 0.0005  # seconds: times closer than this are the same time (JSON keeps ms)
MAX_CUES = 20_000
MAX_TEXT = 1000  # characters in one cue


class EditError(ValueError):
    """An edit that is malformed or breaks a hard rule; the message says which and where."""


@dataclass(frozen=True)
class CueText:
    """A cue as the edits see it: times and text (lines joined by newlines)."""

    start: float
    end: float
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "text": self.text}


def words_of(text: str) -> list[str]:
    """The words a text shows (whitespace and line breaks do not count)."""
    return text.split()


def cue_text(cue: Cue) -> CueText:
    return CueText(float(cue.start), float(cue.end), cue.text)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise EditError(f"{what} must be a number of seconds, got {value!r}")
    return float(value)


def _cue_from(data: Any, what: str) -> CueText:
    if not isinstance(data, Mapping):
        raise EditError(f"{what} must be an object with start, end and text")
    text = data.get("text")
    if not isinstance(text, str):
        raise EditError(f"{what}: text must be a string")
    if len(text) > MAX_TEXT:
        raise EditError(f"{what}: text is longer than {MAX_TEXT} characters")
    text = "\n".join(" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n") if line.strip())
    return CueText(_number(data.get("start"), f"{what}: start"), _number(data.get("end"), f"{what}: end"), text)


def hard_rule_problems(cues: Sequence[CueText]) -> list[str]:
    """Every broken hard rule in a track's cues (in time order), one message each."""
    problems = []
    for n, cue in enumerate(cues, 1):
        if not cue.text.strip():
            problems.append(f"cue {n}: no text (delete the cue instead)")
        if cue.start < 0:
            problems.append(f"cue {n}: starts before 0 ({cue.start:.3f} s)")
        if cue.end - cue.start < TIME_TOLERANCE:
            problems.append(f"cue {n}: ends at {cue.end:.3f} s, not after its start {cue.start:.3f} s")
        if n > 1 and cue.start < cues[n - 2].end - TIME_TOLERANCE:
            problems.append(f"cue {n}: starts at {cue.start:.3f} s, before cue {n - 1} ends ({cues[n - 2].end:.3f} s)")
    return problems


# ---- the edits file ----------------------------------------------------------------------
def edits_path(job_dir: Path, track: str) -> Path:
    return Path(job_dir) / EDITS_DIR / f"{track}.json"


def read_changes(path: Path) -> list[dict[str, Any]]:
    """The changes of an edits file (validated); [] when there is none."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EditError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != "edits" or not isinstance(data.get("changes"), list):
        raise EditError(f"{path} is not an edits file (kind 'edits' with a list of changes)")
    return [_check_change(c, f"{path}: change {n}") for n, c in enumerate(data["changes"], 1)]


def _check_change(change: Any, what: str) -> dict[str, Any]:
    if not isinstance(change, Mapping):
        raise EditError(f"{what} must be an object")
    sources = change.get("from")
    results = change.get("to")
    if not isinstance(sources, list) or not isinstance(results, list) or not (sources or results):
        raise EditError(f"{what} needs lists 'from' and 'to', not both empty")
    return {
        "from": [_cue_from(c, f"{what} from[{i}]").as_dict() for i, c in enumerate(sources)],
        "to": [_cue_from(c, f"{what} to[{i}]").as_dict() for i, c in enumerate(results)],
        "what": [str(w) for w in change.get("what") or []],
        "at": str(change.get("at") or ""),
    }


def write_changes(job_dir: Path, track: str, changes: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``edits/<track>.json`` atomically, the previous version kept as ``<track>.prev.json``."""
    path = edits_path(job_dir, track)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        atomic.write_text(path.with_name(track + PREVIOUS_SUFFIX), path.read_text(encoding="utf-8"))
    atomic.write_json(path, {"schema_version": SCHEMA_VERSION, "kind": "edits", "track": track, "saved": job_locks.now_iso(),
                          "changes": list(changes)})
    return path


# ---- from the page's cue list to changes -------------------------------------------------
def changes_from_review(base: Sequence[CueText], edited: Sequence[Mapping[str, Any]],
                        previous: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """The changes that turn ``base`` into the ``edited`` cues of the page.

    Each edited cue names the base cues it came from (``origin``: 0-based indices; empty
    for an inserted cue). Cues that share a base cue, or whose base cues lie around one
    that disappeared, form one change, so a change always covers a run of consecutive base
    cues. A base cue that no edited cue names was deleted. ``previous`` changes that are
    made again keep their time. EditError when the list is malformed or breaks a hard rule.
    """
    if not isinstance(edited, list) or len(edited) > MAX_CUES:
        raise EditError(f"cues must be a list of at most {MAX_CUES} cues")
    cues: list[tuple[CueText, list[int]]] = []
    for n, item in enumerate(edited, 1):
        cue = _cue_from(item, f"cue {n}")
        origin = item.get("origin", [])
        if not isinstance(origin, list) or any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(base)
                                               for i in origin):
            raise EditError(f"cue {n}: origin must list indices of the built cues (0 to {len(base) - 1})")
        cues.append((cue, sorted(set(origin))))
    problems = hard_rule_problems([c for c, _ in cues])
    if problems:
        raise EditError("; ".join(problems))
    # Runs of base cues: start from each edited cue's span, join overlapping spans.
    spans: list[list[int]] = []  # [first, last] base index, merged
    for _, origin in cues:
        if origin:
            spans.append([origin[0], origin[-1]])
    spans.sort()
    merged: list[list[int]] = []
    for first, last in spans:
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], last)
        else:
            merged.append([first, last])
    covered = {i for first, last in merged for i in range(first, last + 1)}
    groups = [(first, last) for first, last in merged] + [(i, i) for i in range(len(base)) if i not in covered]
    previous_at = {json.dumps({"from": p["from"], "to": p["to"]}, sort_keys=True): p.get("at", "") for p in previous}
    now = job_locks.now_iso()
    changes = []
    for first, last in sorted(groups):
        sources = list(base[first:last + 1])
        results = [c for c, origin in cues if origin and first <= origin[0] <= last]
        if [r.as_dict() for r in results] == [s.as_dict() for s in sources]:
            continue
        changes.append(_change(sources, results, previous_at, now))
    for cue, origin in cues:
        if not origin:
            changes.append(_change([], [cue], previous_at, now))
    return changes


def _change(sources: Sequence[CueText], results: Sequence[CueText], previous_at: Mapping[str, str], now: str) -> dict:
    entry = {"from": [s.as_dict() for s in sources], "to": [r.as_dict() for r in results]}
    what = []
    if not results:
        what.append("delete")
    elif not sources:
        what.append("insert")
    else:
        if len(results) > len(sources):
            what.append("split")
        elif len(results) < len(sources):
            what.append("merge")
        if words_of(" ".join(r.text for r in results)) != words_of(" ".join(s.text for s in sources)):
            what.append("text")
        elif [r.text for r in results] != [s.text for s in sources] and len(results) == len(sources):
            what.append("lines")
        if abs(results[0].start - sources[0].start) >= TIME_TOLERANCE:
            what.append("start")
        if abs(results[-1].end - sources[-1].end) >= TIME_TOLERANCE:
            what.append("end")
        if len(results) == len(sources) and len(results) > 1 and "start" not in what and "end" not in what and any(
                abs(r.start - s.start) >= TIME_TOLERANCE or abs(r.end - s.end) >= TIME_TOLERANCE
                for r, s in zip(results, sources, strict=True)):
            what.append("times")
    entry["what"] = what
    entry["at"] = previous_at.get(json.dumps(entry_key(entry), sort_keys=True)) or now
    return entry


def entry_key(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"from": entry["from"], "to": entry["to"]}


# ---- applying changes to built cues -------------------------------------------------------
@dataclass
class Applied:
    """The result of applying changes: the cues, each one's base indices, what was placed."""

    cues: list[Cue]
    origins: list[list[int]]
    placed: list[dict[str, Any]]
    unplaced: list[dict[str, Any]]


def _find_run(items: Sequence[tuple[Cue, list[int], bool]], target: list[str], near: float) -> tuple[int, int] | None:
    """The run [i, j) of untouched items whose words are ``target``, nearest in time to ``near``."""
    best = None
    for i in range(len(items)):
        found: list[str] = []
        j = i
        while j < len(items) and items[j][2] and len(found) < len(target):
            found += words_of(items[j][0].text)
            j += 1
        if j > i and found == target:
            distance = abs(items[i][0].start - near)
            if best is None or distance < best[0]:
                best = (distance, i, j)
    return (best[1], best[2]) if best else None


def _spread(indices: Sequence[int], counts: Sequence[int]) -> list[tuple[int, ...]]:
    """Word indices handed out to the result cues in proportion to their word counts."""
    total = sum(counts) or 1
    out, taken, seen = [], 0, 0
    for n, count in enumerate(counts):
        seen += count
        upto = len(indices) if n == len(counts) - 1 else round(len(indices) * seen / total)
        out.append(tuple(indices[taken:upto]))
        taken = upto
    return out


def apply_changes(cues: Sequence[Cue], changes: Iterable[Mapping[str, Any]]) -> Applied:
    """Apply ``changes`` (in order) to freshly built ``cues``; unplaceable ones are left out and listed."""
    # items: (cue, base indices it came from, untouched by any change)
    items: list[tuple[Cue, list[int], bool]] = [(c, [i], True) for i, c in enumerate(cues)]
    placed: list[dict[str, Any]] = []
    unplaced: list[dict[str, Any]] = []
    inserts = []
    for change in changes:
        sources = [CueText(float(c["start"]), float(c["end"]), c["text"]) for c in change["from"]]
        results = [CueText(float(c["start"]), float(c["end"]), c["text"]) for c in change["to"]]
        if not sources:
            inserts.append((change, results))
            continue
        run = _find_run(items, words_of(" ".join(s.text for s in sources)), sources[0].start)
        if run is None:
            unplaced.append({**change, "reason": "its words are no longer in consecutive cues"})
            continue
        i, j = run
        originals = items[i:j]
        word_indices = [w for cue, _, _ in originals for w in cue.words]
        origin = sorted({b for _, o, _ in originals for b in o})
        speech_start = min(c.speech_start for c, _, _ in originals)
        speech_end = max(c.speech_end for c, _, _ in originals)
        shares = _spread(word_indices, [len(words_of(r.text)) for r in results])
        new_items = [(Cue(r.start, r.end, tuple(r.text.split("\n")), share,
                          max(speech_start, r.start) if len(results) > 1 else speech_start,
                          min(speech_end, r.end) if len(results) > 1 else speech_end,
                          all(c.feasible for c, _, _ in originals)), list(origin), False)
                     for r, share in zip(results, shares, strict=True)]
        candidate = items[:i] + new_items + items[j:]
        if hard_rule_problems([cue_text(c) for c, _, _ in candidate[max(0, i - 1):i + len(new_items) + 1]]):
            unplaced.append({**change, "reason": "it would overlap the cues around it"})
            continue
        items = candidate
        placed.append(change)
    for change, results in inserts:
        candidate = sorted(items + [(Cue(r.start, r.end, tuple(r.text.split("\n")), (), r.start, r.end), [], False)
                                    for r in results], key=lambda item: item[0].start)
        if hard_rule_problems([cue_text(c) for c, _, _ in candidate]):
            unplaced.append({**change, "reason": "it would overlap a cue"})
            continue
        items = candidate
        placed.append(change)
    return Applied([c for c, _, _ in items], [o for _, o, _ in items], placed, unplaced)


def cue_dict(cue: Cue) -> dict[str, Any]:
    return {"start": round(cue.start, 3), "end": round(cue.end, 3), "lines": list(cue.lines), "words": list(cue.words),
            "speech_start": round(cue.speech_start, 3), "speech_end": round(cue.speech_end, 3)}


def cue_from_dict(data: Mapping[str, Any]) -> Cue:
    return Cue(float(data["start"]), float(data["end"]), tuple(data.get("lines") or ()), tuple(data.get("words") or ()),
               float(data.get("speech_start", data["start"])), float(data.get("speech_end", data["end"])))


def apply_edits(subs_dir: Path, track: str, cues: list[Cue]) -> list[Cue]:
    """The subtitle stage's hook: ``cues`` with the job's ``edits/<track>.json`` applied.

    The job directory is the parent of ``subs_dir``. Without an edits file the cues come
    back unchanged (and a stale report is removed). With one, the report
    ``subs/<track>.edits-report.json`` records the base cues and what was placed or not.
    """
    subs_dir = Path(subs_dir)
    report = subs_dir / (track + REPORT_SUFFIX)
    path = edits_path(subs_dir.parent, track)
    if not path.exists():
        if report.exists():
            os.unlink(report)
        return cues
    try:
        changes = read_changes(path)
    except EditError as exc:
        raise SystemExit(f"subtitle: {exc} (fix or remove it; the review page writes it)") from None
    result = apply_changes(cues, changes)
    for change in result.unplaced:
        before = " | ".join(c["text"].replace("\n", " ") for c in change["from"]) or "(insert)"
        log.warning("%s: edit of %r (%s) not placed: %s", track, before, ", ".join(change["what"]), change["reason"])
    log.info("%s: %d of %d edits applied from %s", track, len(result.placed), len(changes), path)
    atomic.write_json(report, {"schema_version": SCHEMA_VERSION, "kind": "edits-report", "track": track,
                            "edits": str(path), "applied": len(result.placed), "unplaced": result.unplaced,
                            "base": [cue_dict(c) for c in cues], "origins": result.origins})
    return result.cues
