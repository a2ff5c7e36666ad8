"""Writing subtitle tracks through pysubs2 (SRT, WebVTT, ASS), and their JSON and text.

Times are rounded to whole milliseconds once, here; the checker reads back the same
events, so a track's qc.json describes exactly what was written.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pysubs2

from shared.subtitles.builder import Cue

# Format name -> pysubs2 format identifier; the file extension is the name.
FORMATS = {"srt": "srt", "vtt": "vtt", "ass": "ass"}


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (shared.atomic.write_text: its temporaries are cleaned
    by remove_stale_temporaries)."""
    from shared.atomic import write_text

    write_text(path, text)


def to_ssafile(cues: Sequence[Cue], title: str = "", speakers: Sequence[Sequence[str]] | None = None,
               names: Mapping[str, str] | None = None) -> pysubs2.SSAFile:
    """A pysubs2 file holding ``cues`` (times rounded to milliseconds).

    With ``speakers`` (per cue, the labels of its words in order) every speaker gets an ASS
    style of its own colour, each event takes its first speaker's style and carries the
    display name (SPEAKER_NAMES) in its Name field.
    """
    subs = pysubs2.SSAFile()
    if title:
        subs.info["Title"] = title
    subs.info["PlayResX"] = "1920"
    subs.info["PlayResY"] = "1080"
    style = subs.styles["Default"]
    style.fontsize = 54
    style.outline = 2.5
    style.shadow = 0
    style.marginv = 60
    for cue in cues:
        event = pysubs2.SSAEvent(start=round(cue.start * 1000), end=round(cue.end * 1000))
        event.plaintext = "\n".join(cue.lines)
        subs.events.append(event)
    if speakers:
        add_speaker_styles(subs, speakers, names or {})
    return subs


def render(subs: pysubs2.SSAFile, fmt: str) -> str:
    """The text of ``subs`` in format ``fmt`` (srt, vtt or ass)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown subtitle format {fmt!r}; choose from {', '.join(FORMATS)}")
    return subs.to_string(FORMATS[fmt])


def write_track(subs: pysubs2.SSAFile, base: Path, formats: Sequence[str],
                speaker_labels: Sequence[Sequence[str]] | None = None) -> dict[str, str]:
    """Write ``subs`` as ``base.<fmt>`` for each format; returns format -> path.

    ``speaker_labels`` (per event, display names; SUB_SPEAKER_LABELS=names) puts the names
    into SRT (``Name: ``) and WebVTT (``<v Name>``) text; ASS shows them through its styles.
    """
    written = {}
    for fmt in formats:
        path = base.with_name(f"{base.name}.{fmt}")
        labelled = with_speaker_labels(subs, speaker_labels, fmt) if speaker_labels and fmt in ("srt", "vtt") else subs
        atomic_write_text(path, render(labelled, fmt))
        written[fmt] = str(path)
    return written


def write_json(path: str | os.PathLike, data: object) -> None:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# ---- speakers ---------------------------------------------------------------------------
# Primary colours of the speaker styles (ASS &HAABBGGRR order through pysubs2.Color(r, g, b)):
# white first, then yellow, cyan, green, magenta, orange..., distinct on dark and light video.
SPEAKER_COLOURS = ((255, 255, 255), (255, 235, 80), (90, 220, 255), (140, 255, 140), (255, 150, 240),
                   (255, 170, 90), (190, 170, 255), (200, 200, 200))


def speaker_style_name(label: str) -> str:
    return label.replace(",", "_")  # a comma would break the ASS Styles line


def add_speaker_styles(subs: pysubs2.SSAFile, speakers: Sequence[Sequence[str]], names: Mapping[str, str]) -> None:
    """A style per speaker (Default's look in the speaker's colour); events take their first speaker's."""
    order: list[str] = []
    for labels in speakers:
        for label in labels:
            if label and label not in order:
                order.append(label)
    for n, label in enumerate(sorted(order, key=_label_order)):
        style = subs.styles["Default"].copy()
        style.primarycolor = pysubs2.Color(*SPEAKER_COLOURS[n % len(SPEAKER_COLOURS)])
        subs.styles[speaker_style_name(label)] = style
    for event, labels in zip(subs.events, speakers, strict=False):
        labels = [label for label in labels if label]
        if labels:
            event.style = speaker_style_name(labels[0])
            event.name = " / ".join(names.get(label, label) for label in labels).replace(",", " ")


def _label_order(label: str) -> tuple[int, str]:
    number = label.rsplit("_", 1)[-1]
    return (int(number), label) if number.isdigit() else (10**6, label)


def with_speaker_labels(subs: pysubs2.SSAFile, labels: Sequence[Sequence[str]], fmt: str) -> pysubs2.SSAFile:
    """A copy of ``subs`` whose text names the speaker: SRT ``Name: text``, WebVTT ``<v Name>text``.

    A dialogue cue (one line per speaker, each line starting with a dash) names each line's
    speaker; any other cue names its first speaker on its first line.
    """
    out = copy.deepcopy(subs)
    for event, names in zip(out.events, labels, strict=False):
        names = [n for n in names if n]
        if not names:
            continue
        lines = event.plaintext.split("\n")
        dialogue = len(names) > 1 and len(lines) == len(names) and all(line.lstrip().startswith("-") for line in lines)
        tagged = []
        for k, line in enumerate(lines):
            name = names[k] if dialogue else (names[0] if k == 0 else None)
            if name is None:
                tagged.append(line)
            elif fmt == "vtt":
                tagged.append(f"<v {name}>{line}")
            elif dialogue:
                tagged.append(f"- {name}: {line.lstrip()[1:].lstrip()}")
            else:
                tagged.append(f"{name}: {line}")
        event.plaintext = "\n".join(tagged)
    return out
