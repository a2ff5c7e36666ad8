"""Reviewer edits: made from the page's cue list, applied by the subtitle stage, kept across re-runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import wave
from pathlib import Path

import pysubs2
import pytest

from shared.review import edits
from shared.subtitles.builder import Cue

REPO = Path(__file__).resolve().parents[2]
STAGE = REPO / "stages" / "subtitle.py"

SCRIPT = ("Welcome to the review page of our pipeline. Here you can read every subtitle while the video plays. "
          "Fix a word, move a cue, and save your work. The next run keeps your corrections in place. "
          "Short cues are easy to read, long ones are not. "
          "Thank you for checking the subtitles before you ship them.")


def script_words() -> list[dict]:
    """The script as aligned words: 0.3 s a word, a 0.8 s pause after each sentence; a few low scores."""
    words, t = [], 0.5
    for n, text in enumerate(SCRIPT.split()):
        words.append({"word": text, "start": round(t, 3), "end": round(t + 0.25, 3),
                      "score": 0.2 if n in (3, 17) else 0.95, "timed_by": "wav2vec2"})
        t += 0.3 + (0.8 if text.endswith(".") else 0.0)
    return words


def write_job(job: Path, media_source: Path | None = None) -> Path:
    """A job with aligned.json, media.json and a 16 kHz audio.wav (a tone while each word is spoken)."""
    words = script_words()
    duration = math.ceil(words[-1]["end"] + 1.0)
    aligned = {"schema_version": 1, "kind": "aligned", "language": "en", "language_probability": 0.99,
               "backend": "test", "model": "test", "duration": duration, "removed": [],
               "segments": [{"id": 0, "start": words[0]["start"], "end": words[-1]["end"], "text": SCRIPT, "words": words}]}
    media = {"schema_version": 1, "kind": "media", "source": str(media_source or job / "Review Test.mp4"),
             "container": "mov,mp4", "duration": float(duration), "has_video": True, "fps": 25.0, "fps_assumed": False,
             "audio_tracks": [], "subtitle_streams": 0, "selected_track": 0, "clip_start": 0.0,
             "clip_end": float(duration), "audio": "audio.wav"}
    job.mkdir(parents=True, exist_ok=True)
    (job / "aligned.json").write_text(json.dumps(aligned), encoding="utf-8")
    (job / "media.json").write_text(json.dumps(media), encoding="utf-8")
    rate = 16000
    samples = bytearray(duration * rate * 2)
    for word in words:
        for i in range(int(word["start"] * rate), int(word["end"] * rate)):
            value = int(8000 * math.sin(2 * math.pi * 220 * i / rate))
            samples[2 * i:2 * i + 2] = value.to_bytes(2, "little", signed=True)
    with wave.open(str(job / "audio.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(bytes(samples))
    return job


def build(job: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STAGE), str(job / "aligned.json"), "-o", str(job / "subs" / "tracks.json"),
                           "--formats", "srt,vtt", "--job-dir", str(job), "--name", "review", *extra],
                          capture_output=True, text=True, cwd=REPO, check=False)


def cue_list(job: Path, track: str = "review.en") -> list[dict]:
    return json.loads((job / "subs" / f"{track}.json").read_text(encoding="utf-8"))["cues"]


def page_cues(cues: list[dict]) -> list[dict]:
    """The cue list as the page first shows it: times, text, origin."""
    return [{"start": c["start"], "end": c["end"], "text": "\n".join(c["lines"]), "origin": [n]} for n, c in enumerate(cues)]


def base_of(cues: list[dict]) -> list[edits.CueText]:
    return [edits.CueText(c["start"], c["end"], "\n".join(c["lines"])) for c in cues]


@pytest.fixture()
def job(tmp_path: Path) -> Path:
    job = write_job(tmp_path / "job one")
    result = build(job)
    assert result.returncode == 0, result.stderr
    assert len(cue_list(job)) >= 6
    return job


def test_changes_say_what_changed_and_skip_untouched_cues(job: Path) -> None:
    cues = cue_list(job)
    page = page_cues(cues)
    page[0]["text"] = page[0]["text"].replace("Welcome", "Welcome back")
    page[1]["end"] = round(page[1]["end"] - 0.2, 3)
    first, _, second = page[2]["text"].replace("\n", " ").partition(" ")
    middle = round((page[2]["start"] + page[2]["end"]) / 2, 3)
    page[2:3] = [dict(page[2], text=first, end=middle - 0.1), dict(page[2], text=second, start=middle)]
    merged = dict(page[4], end=page[5]["end"], text=page[4]["text"] + "\n" + page[5]["text"],
                  origin=page[4]["origin"] + page[5]["origin"])
    page[4:6] = [merged]
    del page[-1]
    gap_start = round(cues[-1]["end"] + 0.5, 3)
    page.append({"start": gap_start, "end": gap_start + 1, "text": "An inserted cue", "origin": []})
    changes = edits.changes_from_review(base_of(cues), page)
    whats = [c["what"] for c in changes]
    assert whats[:2] == [["text"], ["end"]] and whats[3:] == [["merge"], ["delete"], ["insert"]]
    assert whats[2][0] == "split" and "text" not in whats[2]
    assert [len(c["from"]) for c in changes] == [1, 1, 1, 2, 1, 0]
    assert [len(c["to"]) for c in changes] == [1, 1, 2, 1, 0, 1]
    assert changes[0]["from"][0]["text"] == "\n".join(cues[0]["lines"]) and changes[0]["at"]
    # saved again unchanged: the same changes, with their first times
    again = edits.changes_from_review(base_of(cues), page, previous=[dict(c, at="2020-01-01") for c in changes])
    assert [c["at"] for c in again] == ["2020-01-01"] * len(changes)


@pytest.mark.parametrize("breakage, message", [
    (lambda page: page[1].update(start=page[0]["end"] - 0.5), "before cue 1 ends"),
    (lambda page: page[0].update(end=page[0]["start"] - 0.3), "not after its start"),
    (lambda page: page[0].update(text="  "), "no text"),
    (lambda page: page[0].update(origin=[999]), "origin"),
    (lambda page: page[0].update(start="soon"), "number"),
])
def test_edits_that_break_a_hard_rule_are_refused(job: Path, breakage, message: str) -> None:
    cues = cue_list(job)
    page = page_cues(cues)
    breakage(page)
    with pytest.raises(edits.EditError, match=message):
        edits.changes_from_review(base_of(cues), page)


def test_the_subtitle_stage_applies_saved_edits_and_keeps_the_previous_version(job: Path) -> None:
    cues = cue_list(job)
    page = page_cues(cues)
    page[0]["text"] = page[0]["text"].replace("Welcome", "Greetings")
    edits.write_changes(job, "review.en", edits.changes_from_review(base_of(cues), page))
    page[1]["start"] = round(page[1]["start"] + 0.12, 3)
    edits.write_changes(job, "review.en", edits.changes_from_review(base_of(cues), page))
    assert len(json.loads((job / "edits" / "review.en.prev.json").read_text())["changes"]) == 1
    assert len(json.loads((job / "edits" / "review.en.json").read_text())["changes"]) == 2
    result = build(job)
    assert result.returncode == 0, result.stderr
    srt = pysubs2.load(str(job / "subs" / "review.en.srt"))
    assert srt[0].plaintext == "Greetings\nto the review page of our pipeline."
    assert abs(srt[1].start / 1000 - page[1]["start"]) < 0.002
    assert len(srt) == len(cues)
    report = json.loads((job / "subs" / "review.en.edits-report.json").read_text())
    assert report["applied"] == 2 and report["unplaced"] == []
    assert [c["lines"] for c in report["base"]] == [c["lines"] for c in cues]  # the base the page edits against
    assert "2 of 2 edits applied" in result.stderr
    # no edits file: cues as built, and the stale report goes
    for name in ("review.en.json", "review.en.prev.json"):
        (job / "edits" / name).unlink()
    assert build(job).returncode == 0
    assert pysubs2.load(str(job / "subs" / "review.en.srt"))[0].plaintext.startswith("Welcome")
    assert not (job / "subs" / "review.en.edits-report.json").exists()


def test_a_rerun_with_new_settings_keeps_edits_whose_words_match_and_reports_the_rest(job: Path) -> None:
    cues = cue_list(job)
    page = page_cues(cues)
    last = len(page) - 1
    page[last]["text"] = page[last]["text"].replace("Thank you", "Thanks")
    page[0]["text"] = page[0]["text"].replace("Welcome", "Greetings")
    edits.write_changes(job, "review.en", edits.changes_from_review(base_of(cues), page))
    # a new run: another ASR heard the first word differently, and shorter lines cut the text differently
    aligned = json.loads((job / "aligned.json").read_text(encoding="utf-8"))
    aligned["segments"][0]["words"][0]["word"] = "Hello"
    aligned["segments"][0]["text"] = aligned["segments"][0]["text"].replace("Welcome", "Hello", 1)
    (job / "aligned.json").write_text(json.dumps(aligned), encoding="utf-8")
    result = build(job, "--max-line-chars", "16", "--max-lines", "1")
    assert result.returncode == 0, result.stderr
    new_cues = cue_list(job)
    report = json.loads((job / "subs" / "review.en.edits-report.json").read_text())
    placed = {c["from"][0]["text"] for c in report["unplaced"]}
    texts = [" ".join(c["lines"]) for c in new_cues]
    # each edit is either applied (its new text shows) or reported as not placed, never lost silently
    for old, new in (("Welcome", "Greetings"), ("Thank you", "Thanks")):
        applied = any(new in t for t in texts)
        unplaced = any(old in p for p in placed)
        assert applied != unplaced, (old, texts, placed)
    assert "Greetings" not in " ".join(texts) and "Thanks" in " ".join(texts)
    assert [c["from"][0]["text"].split()[0] for c in report["unplaced"]] == ["Welcome"], "its words are gone"
    assert "not placed" in result.stderr


def test_apply_changes_finds_the_words_when_the_cutting_moved() -> None:
    def cue(start: float, end: float, text: str) -> Cue:
        return Cue(start, end, tuple(text.split("\n")), (), start, end)

    base = [cue(0, 2, "one two three four"), cue(3, 5, "five six")]
    change = {"from": [{"start": 0, "end": 2, "text": "one two three four"}],
              "to": [{"start": 0, "end": 2, "text": "one too three four"}], "what": ["text"], "at": ""}
    # the same words in two cues now: the change covers both
    rebuilt = [cue(0, 1, "one two"), cue(1.1, 2, "three four"), cue(3, 5, "five six")]
    applied = edits.apply_changes(rebuilt, [change])
    assert [c.text for c in applied.cues] == ["one too three four", "five six"] and not applied.unplaced
    # the words are gone: reported, nothing changed
    other = [cue(0, 2, "one two three"), cue(2.5, 5, "four five six")]
    applied = edits.apply_changes(other, [change])
    assert [c.text for c in applied.cues] == ["one two three", "four five six"] and len(applied.unplaced) == 1
    # a placement that would overlap the next cue is not made
    late = dict(change, to=[{"start": 0, "end": 3.5, "text": "one two three four"}])
    applied = edits.apply_changes(base, [late])
    assert [c.end for c in applied.cues] == [2, 5] and applied.unplaced[0]["reason"].startswith("it would overlap")


def test_a_broken_edits_file_stops_the_stage_with_one_line_and_keeps_the_outputs(job: Path) -> None:
    before = (job / "subs" / "review.en.srt").read_bytes()
    (job / "edits").mkdir()
    (job / "edits" / "review.en.json").write_text('{"kind": "edits", "changes": [{"from": "x"}]}')
    result = build(job)
    assert result.returncode != 0
    assert "review.en.json: change 1 needs lists 'from' and 'to'" in result.stderr and "Traceback" not in result.stderr
    assert (job / "subs" / "review.en.srt").read_bytes() == before
