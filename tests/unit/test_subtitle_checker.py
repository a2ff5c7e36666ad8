"""The QC checker on known-bad files (one per rule), format round trips and the check CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pysubs2
import pytest

from shared.subtitles.builder import Cue
from shared.subtitles.checker import SubtitleFileError, check_file
from shared.subtitles.formats import render, to_ssafile
from shared.subtitles.rules import Rules

REPO = Path(__file__).resolve().parents[2]
STAGE = REPO / "stages" / "subtitle.py"
RULES = Rules()


def srt(*cues: tuple[str, str, str]) -> str:
    return "".join(f"{n}\n{a} --> {b}\n{text}\n\n" for n, (a, b, text) in enumerate(cues, 1))


GOOD = srt(("00:00:01,000", "00:00:03,000", "Hello there."), ("00:00:04,000", "00:00:05,000", "How are you?"))

BAD = {
    "line_chars": (srt(("00:00:01,000", "00:00:06,000", "This line is much too long to be read on a screen")), 1, 49),
    "lines": (srt(("00:00:01,000", "00:00:05,000", "one\ntwo\nthree")), 1, 3),
    "cps": (srt(("00:00:01,000", "00:00:02,000", "Thirty characters in a second")), 1, 29),
    "min_duration": (srt(("00:00:01,000", "00:00:01,500", "Hi")), 1, 0.5),
    "max_duration": (srt(("00:00:01,000", "00:00:09,000", "Too long on screen")), 1, 8),
    "overlap": (srt(("00:00:01,000", "00:00:03,000", "First"), ("00:00:02,500", "00:00:04,000", "Second")), 2, 0.5),
    "min_gap": (srt(("00:00:01,000", "00:00:03,000", "First"), ("00:00:03,040", "00:00:05,000", "Second")), 2, 1),
    "chain_gap": (srt(("00:00:01,000", "00:00:03,000", "First"), ("00:00:03,200", "00:00:05,000", "Second")), 2, 5),
    "empty": (srt(("00:00:01,000", "00:00:03,000", "First"), ("00:00:05,000", "00:00:07,000", "<i> </i>")), 2, 0),
}


@pytest.mark.parametrize("rule", sorted(BAD))
def test_each_rule_is_caught_with_cue_and_figure(tmp_path: Path, rule: str) -> None:
    text, cue, figure = BAD[rule]
    path = tmp_path / f"bad-{rule}.srt"
    path.write_text(text, encoding="utf-8")
    report = check_file(path, RULES, 25)
    found = [(v.cue, v.rule, v.figure) for v in report.violations]
    assert (cue, rule, pytest.approx(figure, abs=0.01)) in found
    assert all(r == rule for _, r, _ in found)


def test_a_good_file_passes_and_24_fps_is_assumed_and_said(tmp_path: Path) -> None:
    path = tmp_path / "good.srt"
    path.write_text(GOOD, encoding="utf-8")
    report = check_file(path, RULES)
    assert report.violations == [] and report.fps == 24 and report.fps_assumed
    assert "24 fps assumed" in report.lines()[-1]


def test_the_gap_depends_on_the_frame_rate(tmp_path: Path) -> None:
    path = tmp_path / "gap.srt"  # 67 ms: 2 frames at 30 fps (66.7 ms, to the millisecond), 1.7 at 25 fps
    path.write_text(srt(("00:00:01,000", "00:00:03,000", "First"), ("00:00:03,067", "00:00:05,000", "Second")), encoding="utf-8")
    assert [v.rule for v in check_file(path, RULES, 25).violations] == ["min_gap"]
    assert check_file(path, RULES, 30).violations == []


def test_devanagari_is_counted_by_grapheme(tmp_path: Path) -> None:
    line = "क्षत्रिय " * 5  # 45 code points x 5, 4 graphemes x 5 = 20 on screen
    path = tmp_path / "hi.srt"
    path.write_text(srt(("00:00:01,000", "00:00:04,000", line.strip())), encoding="utf-8")
    assert check_file(path, RULES, 25).violations == []


@pytest.mark.parametrize("fmt", ["srt", "vtt", "ass"])
def test_formats_round_trip_through_pysubs2(tmp_path: Path, fmt: str) -> None:
    cues = [Cue(1.0, 3.04, ("नमस्ते दोस्त,", "how are you?"), (0, 1, 2, 3), 1.0, 2.9),
            Cue(3.12, 5.5, ("Fine, thanks.",), (4, 5), 3.1, 5.0)]
    path = tmp_path / f"x.{fmt}"
    path.write_text(render(to_ssafile(cues), fmt), encoding="utf-8")
    back = pysubs2.load(str(path))
    assert back.format == fmt
    assert [e.plaintext.split("\n") for e in back] == [list(c.lines) for c in cues]
    step = 10 if fmt == "ass" else 1
    assert [(e.start, e.end) for e in back] == [(round(c.start * 1000 / step) * step, round(c.end * 1000 / step) * step) for c in cues]
    assert check_file(path, RULES, 25).violations == []


def test_unreadable_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SubtitleFileError, match="no such file"):
        check_file(tmp_path / "missing.srt", RULES)
    binary = tmp_path / "x.srt"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(SubtitleFileError):
        check_file(binary, RULES)


def run_check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(STAGE), "check", *args], capture_output=True, text=True, cwd=REPO)


def test_check_cli_lists_violations_and_strict_fails(tmp_path: Path) -> None:
    path = tmp_path / "bad.srt"
    path.write_text(BAD["cps"][0] + srt(("00:00:09,000", "00:00:10,000", "fine")).replace("1\n", "2\n", 1), encoding="utf-8")
    plain = run_check(str(path), "--fps", "25")
    assert plain.returncode == 0
    assert "cue 1 (00:00:01.000): cps: 29 characters in 1.000 s = 29.0 cps > 17" in plain.stdout
    strict = run_check(str(path), "--strict", "--json")
    assert strict.returncode == 4  # outcome.QC_FAILED
    report = json.loads(strict.stdout)
    assert report["by_rule"] == {"cps": 1} and report["fps_assumed"] is True
    assert run_check(str(path), "--strict", "--max-cps", "30").returncode == 0


def test_check_cli_good_file_and_usage_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.vtt"
    good.write_text(render(pysubs2.SSAFile.from_string(GOOD), "vtt"), encoding="utf-8")
    assert run_check(str(good), "--strict").returncode == 0
    missing = run_check(str(tmp_path / "nope.srt"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert run_check(str(good), "--fps", "fast").returncode == 2
