"""subtitle: aligned.json (+ translation.<lang>.json...) -> subs/ tracks; and the QC checker.

    python stages/subtitle.py JOB/aligned.json [JOB/translation.en.json ...] \\
        -o JOB/subs/tracks.json [--media JOB/media.json] [--name NAME] [--formats srt,vtt] \\
        [--bilingual] [--job-dir JOB]
    python stages/subtitle.py check FILE.srt|.vtt|.ass [--fps 25] [--strict] [--json]

Building writes, in the folder of tracks.json, for the source language and each
translation: ``<name>.<lang>.<fmt>`` for each of --formats (SRT, WebVTT, ASS through
pysubs2), ``<name>.<lang>.json`` (the cues with their lines, times and word indices),
``<name>.<lang>.txt`` (the text, one sentence per line) and ``<name>.<lang>.qc.json``
(the checker's report on what was written, with lead/lag against the speech). --bilingual
adds ``<name>.<src>-<tgt>.*`` per translation: the source line above the translation.
tracks.json lists the tracks for the mux stage (format in stages/mux.py).

The rules (shared/subtitles/rules.py) come from the SUB_* settings; each has an option.
Frame-based rules use media.json's frame rate, or 24 fps for audio-only input (said in
every qc.json). ``check`` works on any SRT/VTT/ASS file: one line per violation with cue
number, rule and figure; exit 1 with --strict when there is any, 2 when the file cannot
be read.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared import job, settings  # noqa: E402
from shared.languages import file_tag  # noqa: E402
from shared.schema import SCHEMA_VERSION, SchemaError, check_kind  # noqa: E402
from shared.speech import speakers as speakers_mod  # noqa: E402
from shared.subtitles import checker, formats  # noqa: E402
from shared.subtitles.builder import Cue, TimedWord, build_cues, words_per_sentence  # noqa: E402
from shared.subtitles.rules import ASSUMED_FPS, SETTING_FIELDS, Rules, parse_fps, rules_from_settings  # noqa: E402
from shared.subtitles.text import joiner_for  # noqa: E402
from shared.subtitles.translated import bilingual_cues, bilingual_rules, build_translated_track  # noqa: E402

log = logging.getLogger("subtitle")

RULE_OPTIONS = {name: (field, kind) for name, (field, kind) in SETTING_FIELDS.items()}
_LANG_SAFE = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def _rule_options(command):
    """Add one option per rule setting (--max-cps for SUB_MAX_CPS ...), defaulting to it."""
    for name, (field, kind) in reversed(list(RULE_OPTIONS.items())):
        flag = "--" + field.replace("_", "-")
        command = click.option(flag, field, type=kind, default=None,
                               help=f"default: {name} (config/pipeline.env)")(command)
    return command


def _rules(overrides: dict[str, Any]) -> Rules:
    try:
        base = rules_from_settings()
        return base.with_overrides(**{k: v for k, v in overrides.items() if k in Rules.__dataclass_fields__})
    except ValueError as exc:
        raise click.UsageError(f"subtitle rules: {exc}") from None


def _fps_option(value: str | None) -> float | None:
    try:
        return parse_fps(value if value is not None else settings.get("SUB_FPS"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fps") from None


class _StageGroup(click.Group):
    """A group whose default command is ``build``: ``subtitle.py aligned.json -o ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_StageGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Build subtitle tracks from word timings (the default command), or check a subtitle file."""


# ---- reading job files ------------------------------------------------------------------
def _read_json(path: Path, kind: str | tuple[str, ...], hint: str) -> dict:
    try:
        return check_kind(json.loads(path.read_text(encoding="utf-8")), kind, str(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, SchemaError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint=hint) from None


def aligned_words(data: dict, path: Path) -> list[TimedWord]:
    """The flat list of aligned words, in order (what translation sentences index)."""
    words = []
    for s_number, segment in enumerate(data.get("segments") or []):
        for w_number, word in enumerate(segment.get("words") or []):
            try:
                words.append(TimedWord(str(word["word"]), float(word["start"]), float(word["end"])))
            except (KeyError, TypeError, ValueError):
                raise click.BadParameter(
                    f"{path}: segment {s_number} word {w_number} has no word/start/end: re-run the align stage",
                    param_hint="ALIGNED") from None
    return words


def _language_code(code: str, what: str) -> str:
    """The short tag a track's files are named with (hi, fr, ks-Deva), from any code form."""
    code = file_tag((code or "").strip())
    if not code or not set(code) <= _LANG_SAFE:
        raise click.BadParameter(f"{what} has no usable language code ({code!r})", param_hint="INPUTS")
    return code


# ---- writing tracks ---------------------------------------------------------------------
def _qc(subs, cues: Sequence[Cue], rules: Rules, fps: float, fps_assumed: bool, fmts: Sequence[str], path: str) -> dict:
    resolution = max(checker.FORMAT_RESOLUTION.get(f, 0.001) for f in fmts)
    check = checker.cues_from_events(subs)
    violations = checker.check_cues(check, rules, fps, resolution)
    violations += checker.check_sync(check, [(c.speech_start, c.speech_end) for c in cues], rules, resolution)
    violations.sort(key=lambda v: (v.cue, checker.RULES.index(v.rule)))
    report = checker.Report(path, ",".join(fmts), fps, fps_assumed, rules, len(check), violations).as_dict()
    report["dense_speech_cues"] = [n for n, c in enumerate(cues, 1) if not c.feasible]
    return report


def write_track(out_dir: Path, stem: str, cues: list[Cue], rules: Rules, fps: float, fps_assumed: bool,
                fmts: Sequence[str], text_lines: Sequence[str], extra: dict,
                speakers: Sequence[Sequence[str]] | None = None, names: dict[str, str] | None = None,
                speaker_labels: str = "off") -> dict:
    """Write one track in every format, its cue JSON, text and qc.json; its tracks.json entry.

    ``speakers`` (per cue, its speakers' labels) gives the ASS file a style per speaker, the
    cue JSON a ``speakers`` list, and with ``speaker_labels="names"`` names in SRT/VTT.
    """
    names = names or {}
    subs = formats.to_ssafile(cues, title=stem, speakers=speakers, names=names)
    shown = ([[names.get(label, label) for label in labels] for labels in speakers]
             if speakers and speaker_labels == "names" else None)
    files = formats.write_track(subs, out_dir / stem, fmts, speaker_labels=shown)
    cue_json = {
        "schema_version": SCHEMA_VERSION,
        "kind": "cues",
        "fps": fps,
        "cues": [{"index": n, "start": round(c.start, 3), "end": round(c.end, 3), "lines": list(c.lines),
                  "words": list(c.words), "speech_start": round(c.speech_start, 3), "speech_end": round(c.speech_end, 3),
                  **({"speakers": list(speakers[n - 1])} if speakers else {})}
                 for n, c in enumerate(cues, 1)],
        **extra,
    }
    formats.write_json(out_dir / f"{stem}.json", cue_json)
    formats.atomic_write_text(out_dir / f"{stem}.txt", "".join(f"{line}\n" for line in text_lines))
    report = _qc(subs, cues, rules, fps, fps_assumed, fmts, files[fmts[0]])
    formats.write_json(out_dir / f"{stem}.qc.json", report)
    if report["violation_count"]:
        log.warning("%s: %d rule violations (%s), see %s.qc.json", stem, report["violation_count"],
                    ", ".join(f"{k} {v}" for k, v in report["by_rule"].items()), stem)
    else:
        log.info("%s: %d cues, no rule violations", stem, len(cues))
    return {
        "files": {f: Path(p).name for f, p in files.items()},
        "json": f"{stem}.json",
        "text": f"{stem}.txt",
        "qc": f"{stem}.qc.json",
        "cues": len(cues),
        "violations": report["violation_count"],
    }


def _formats(value: str) -> list[str]:
    chosen = [f.strip().lower() for f in value.split(",") if f.strip()]
    unknown = [f for f in chosen if f not in formats.FORMATS]
    if not chosen or unknown:
        raise click.BadParameter(f"{value!r}: give a comma-separated list of {', '.join(formats.FORMATS)}",
                                 param_hint="--formats")
    return list(dict.fromkeys(chosen))


@main.command("build", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("aligned", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("translations", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="tracks.json to write; the tracks go beside it")
@click.option("--media", "media_json", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="media.json (frame rate, duration); default: media.json in the job directory")
@click.option("--name", default=None, help="file name stem of the tracks (default: the input's name from media.json)")
@click.option("--formats", "formats_", default=lambda: settings.get("SUB_FORMATS") or "srt,vtt",
              show_default="SUB_FORMATS", help="comma-separated: srt, vtt, ass")
@click.option("--bilingual/--no-bilingual", default=lambda: job.is_on(settings.get("BILINGUAL")),
              show_default="BILINGUAL", help="also write source-above-translation tracks")
@click.option("--fps", "fps_text", default=None, show_default="SUB_FPS, else media.json, else 24",
              help="frame rate for the frame-based rules")
@click.option("--job-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="the job directory: manifest and logs (default: ALIGNED's folder)")
@click.option("--speaker-labels", default=lambda: settings.get("SUB_SPEAKER_LABELS") or "off",
              show_default="SUB_SPEAKER_LABELS", type=click.Choice(["off", "names"]),
              help="names: speaker names in SRT (Name: ) and VTT (<v Name>) when aligned.json has speakers")
@click.option("--speaker-names", default=lambda: settings.get("SPEAKER_NAMES"), show_default="SPEAKER_NAMES",
              help="SPEAKER_1=Asha,SPEAKER_2=Ravi")
@_rule_options
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def build(aligned: Path, translations: tuple[Path, ...], output: Path, media_json: Path | None, name: str | None,
          formats_: str, bilingual: bool, fps_text: str | None, job_dir: Path | None, speaker_labels: str,
          speaker_names: str | None, verbose: bool, **rule_values: Any) -> None:
    """Subtitle tracks from ALIGNED (word timings) and each TRANSLATIONS file."""
    job_dir = job_dir or aligned.parent
    job_dir.mkdir(parents=True, exist_ok=True)
    job.configure_logging("subtitle", job_dir, verbose)
    rules = _rules(rule_values)
    fmts = _formats(formats_)
    fps = _fps_option(fps_text)
    if media_json is None and (job_dir / "media.json").is_file():
        media_json = job_dir / "media.json"
    media = _read_json(media_json, "media", "--media") if media_json else None
    transcript = _read_json(aligned, ("aligned", "transcript"), "ALIGNED")
    words = aligned_words(transcript, aligned)
    try:
        names = speakers_mod.parse_names(speaker_names or "")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SPEAKER_NAMES") from None
    word_speakers = speakers_mod.word_speakers(transcript)
    has_speakers = any(word_speakers)
    if has_speakers and "ass" not in fmts:
        fmts.append("ass")  # speakers known: the ASS track shows them, a style per speaker
    source_lang = _language_code(transcript.get("language", ""), str(aligned))
    targets = []
    for path in translations:
        data = _read_json(path, "translation", "TRANSLATIONS")
        targets.append((_language_code(data.get("target_language", ""), str(path)), data, path))
    seen = [t[0] for t in targets]
    if len(set(seen)) != len(seen):
        raise click.BadParameter(f"two translations into the same language: {', '.join(seen)}", param_hint="TRANSLATIONS")
    fps_assumed = False
    if fps is None:
        fps = media.get("fps") if media else None
        if not fps:
            fps, fps_assumed = ASSUMED_FPS, True
    media_end = None
    if media:
        media_end = float(media.get("clip_end", media.get("duration", 0))) - float(media.get("clip_start", 0))
        media_end = media_end if media_end > 0 else None
    if not name:
        name = job.readable_name(media["source"]) if media and media.get("source") else "subtitles"
    if "/" in name or "\\" in name or not name.strip("."):
        raise click.BadParameter(f"{name!r} is not a file name stem", param_hint="--name")
    out_dir = output.parent
    parameters = {"rules": rules.as_dict(), "fps": fps, "fps_assumed": fps_assumed, "formats": fmts,
                  "bilingual": bilingual, "name": name}
    inputs = [str(aligned), *map(str, translations), *([str(media_json)] if media_json else [])]
    with job.StageRun("subtitle", job_dir, inputs, [str(output)], parameters, packages=("click", "pysubs2", "regex"),
                      tools=()) as run:
        if fps_assumed:
            log.info("no video frame rate: %g fps assumed for the frame-based rules", fps)
        common = {"fps": fps, "fps_assumed": fps_assumed, "fmts": fmts, "names": names, "speaker_labels": speaker_labels}
        source_cues = build_cues(words, rules, fps, media_end=media_end, joiner=joiner_for(source_lang))
        joiner = joiner_for(source_lang)
        sentences = [joiner.join(words[i].text.strip() for i in s) for s in words_per_sentence(words)]
        tracks = [dict(role="source", language=source_lang,
                       **write_track(out_dir, f"{name}.{source_lang}", source_cues, rules, text_lines=sentences,
                                     extra={"language": source_lang, "role": "source"},
                                     speakers=[speakers_mod.cue_speakers(c.words, word_speakers) for c in source_cues]
                                     if has_speakers else None, **common))]
        for lang, data, path in targets:
            try:
                track = build_translated_track(data.get("sentences") or [], words, source_cues, rules, fps, lang,
                                               media_end=media_end)
            except (ValueError, KeyError, TypeError) as exc:
                raise click.BadParameter(f"{path}: {exc}", param_hint="TRANSLATIONS") from None
            text_lines = [str(s.get("text", "")).strip() for s in track_sentences(data)]
            by_sentence = speakers_mod.sentence_speakers(data.get("sentences") or [], word_speakers)
            cue_speakers = ([speakers_mod.cue_speakers(source, by_sentence) for source in track.source_words]
                            if has_speakers else None)
            tracks.append(dict(role="target", language=lang,
                               **write_track(out_dir, f"{name}.{lang}", track.cues, rules, text_lines=text_lines,
                                             extra={"language": lang, "role": "target", "tokens": [t.text for t in track.tokens]},
                                             speakers=cue_speakers, **common)))
            if bilingual:
                cues = bilingual_cues(track, words, rules, source_lang)
                both = [f"{s.get('source', '').strip()}\n{s.get('text', '').strip()}\n" for s in track_sentences(data)]
                tracks.append(dict(role="bilingual", language=lang, languages=[source_lang, lang],
                                   **write_track(out_dir, f"{name}.{source_lang}-{lang}", cues, bilingual_rules(rules),
                                                 text_lines=both, extra={"languages": [source_lang, lang], "role": "bilingual"},
                                                 speakers=cue_speakers, **common)))
        formats.write_json(output, {"schema_version": SCHEMA_VERSION, "kind": "subtitles", "name": name, "fps": fps,
                                    "fps_assumed": fps_assumed, "tracks": tracks})
        run.details = {"tracks": [{"language": t["language"], "role": t["role"], "cues": t["cues"],
                                   "violations": t["violations"]} for t in tracks]}


def track_sentences(data: dict) -> list[dict]:
    """A translation's sentences in time order."""
    return sorted(data.get("sentences") or [], key=lambda s: (float(s.get("start", 0)), int(s.get("id", 0))))


@main.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--fps", "fps_text", default=None, show_default="SUB_FPS, else 24",
              help="frame rate for the gap rules (25, 29.97, 30000/1001)")
@click.option("--strict", is_flag=True, help="exit 1 when there is any violation")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@_rule_options
def check(file: Path, fps_text: str | None, strict: bool, as_json: bool, **rule_values: Any) -> None:
    """List every rule violation in FILE (SRT, WebVTT or ASS) with cue number, rule and figure."""
    rules = _rules(rule_values)
    fps = _fps_option(fps_text)
    try:
        report = checker.check_file(file, rules, fps)
    except checker.SubtitleFileError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    if strict and report.violations:
        sys.exit(1)


if __name__ == "__main__":
    main()
