"""Speakers in the subtitle stage's outputs: ASS styles, cue JSON, SRT/VTT names when asked, translations."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pysubs2

from tests.integration.test_subtitle_stage import run, write_job


def with_speakers(job: Path) -> None:
    """The hand-written job, with the first sentence by SPEAKER_1 and the question by SPEAKER_2."""
    aligned = json.loads((job / "aligned.json").read_text(encoding="utf-8"))
    for seg, label in zip(aligned["segments"], ("SPEAKER_1", "SPEAKER_2"), strict=True):
        seg["speaker"] = label
        for word in seg["words"]:
            word["speaker"] = label
    (job / "aligned.json").write_text(json.dumps(aligned, ensure_ascii=False), encoding="utf-8")


def build(job: Path, **settings: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUB_", "SPEAKER"))}
    env.update(settings)
    return run(str(job / "aligned.json"), str(job / "translation.en.json"), "-o", str(job / "subs" / "tracks.json"),
               "--job-dir", str(job), env=env)


def test_ass_gets_a_style_per_speaker_and_json_the_speakers(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_job(job, fps=25.0)
    with_speakers(job)
    result = build(job, SUB_FORMATS="srt,vtt", SPEAKER_NAMES="SPEAKER_1=Asha,SPEAKER_2=Ravi")
    assert result.returncode == 0, result.stderr
    subs = job / "subs"
    ass = pysubs2.load(str(subs / "delhi-trip-2024.hi.ass"))  # written because speakers are known
    assert {"SPEAKER_1", "SPEAKER_2"} <= set(ass.styles)
    assert ass.styles["SPEAKER_1"].primarycolor != ass.styles["SPEAKER_2"].primarycolor
    assert [e.style for e in ass.events][0] == "SPEAKER_1" and ass.events[-1].style == "SPEAKER_2"
    assert ass.events[0].name == "Asha" and ass.events[-1].name == "Ravi"
    cues = json.loads((subs / "delhi-trip-2024.hi.json").read_text(encoding="utf-8"))["cues"]
    assert cues[0]["speakers"] == ["SPEAKER_1"] and cues[-1]["speakers"] == ["SPEAKER_2"]
    # the translation keeps the speaker of its source sentence
    english = json.loads((subs / "delhi-trip-2024.en.json").read_text(encoding="utf-8"))["cues"]
    assert english[0]["speakers"] == ["SPEAKER_1"] and english[-1]["speakers"] == ["SPEAKER_2"]
    assert pysubs2.load(str(subs / "delhi-trip-2024.en.ass")).events[-1].style == "SPEAKER_2"
    # SUB_SPEAKER_LABELS=off (the default): no names in SRT/VTT text
    assert "Asha" not in (subs / "delhi-trip-2024.hi.srt").read_text(encoding="utf-8")
    assert "<v " not in (subs / "delhi-trip-2024.hi.vtt").read_text(encoding="utf-8")


def test_names_in_srt_and_vtt_when_asked(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_job(job, fps=25.0)
    with_speakers(job)
    result = build(job, SUB_FORMATS="srt,vtt", SUB_SPEAKER_LABELS="names", SPEAKER_NAMES="SPEAKER_2=Ravi")
    assert result.returncode == 0, result.stderr
    srt = pysubs2.load(str(job / "subs" / "delhi-trip-2024.en.srt"))
    assert srt.events[0].plaintext.startswith("SPEAKER_1: ") and srt.events[-1].plaintext.startswith("Ravi: ")
    vtt = (job / "subs" / "delhi-trip-2024.en.vtt").read_text(encoding="utf-8")
    assert "<v SPEAKER_1>" in vtt and "<v Ravi>Are you ready?" in vtt
    assert pysubs2.load(str(job / "subs" / "delhi-trip-2024.en.vtt")).events[-1].plaintext == "Are you ready?"
    # names in the text: an SDH track, for export's .sdh. name and mux's hearing_impaired flag
    tracks = json.loads((job / "subs" / "tracks.json").read_text(encoding="utf-8"))["tracks"]
    assert [t["sdh"] for t in tracks] == [True, True]


def test_no_speakers_no_change_and_bad_names_stop(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_job(job, fps=25.0)
    result = build(job, SUB_FORMATS="srt", SUB_SPEAKER_LABELS="names")
    assert result.returncode == 0, result.stderr
    assert not (job / "subs" / "delhi-trip-2024.hi.ass").exists()
    assert "speakers" not in json.loads((job / "subs" / "delhi-trip-2024.hi.json").read_text())["cues"][0]
    # asked for names but no speakers found: nothing names a speaker, so not SDH
    assert [t["sdh"] for t in json.loads((job / "subs" / "tracks.json").read_text())["tracks"]] == [False, False]
    bad = build(job, SPEAKER_NAMES="Asha")
    assert bad.returncode == 2 and "SPEAKER_NAMES" in bad.stderr


def test_a_dialogue_cue_names_each_line() -> None:
    from shared.subtitles import formats

    subs = pysubs2.SSAFile()
    for text in ("- Did you like it?\n- Yes.", "A long answer\nover two lines"):
        event = pysubs2.SSAEvent(start=0, end=1000)
        event.plaintext = text
        subs.events.append(event)
    names = [["Asha", "Ravi"], ["Ravi"]]
    vtt = formats.with_speaker_labels(subs, names, "vtt")
    srt = formats.with_speaker_labels(subs, names, "srt")
    assert vtt.events[0].plaintext == "<v Asha>- Did you like it?\n<v Ravi>- Yes."
    assert srt.events[0].plaintext == "- Asha: Did you like it?\n- Ravi: Yes."
    assert srt.events[1].plaintext == "Ravi: A long answer\nover two lines"
    assert subs.events[0].plaintext == "- Did you like it?\n- Yes."  # the original is untouched
