"""subtitle: aligned.json (+ translation.<lang>.json...) -> subs/ tracks; and the QC checker.

    python stages/subtitle.py JOB/aligned.json [JOB/translation.en.json ...] \\
        -o JOB/subs/tracks.json [--media JOB/media.json] [--name NAME] [--formats srt,vtt] \\
        [--bilingual] [--job-dir JOB]
    python stages/subtitle.py check FILE.srt|.vtt|.ass [--fps 25] [--strict] [--json] [--ref THEIRS.srt]
    python stages/subtitle.py summary JOB/subs/tracks.json

Building writes, in the folder of tracks.json, for the source language and each
translation: ``<name>.<lang>.<fmt>`` for each of --formats (SRT, WebVTT, ASS through
pysubs2), ``<name>.<lang>.json`` (the cues with their lines, times and word indices),
``<name>.<lang>.txt`` (the text, one sentence per line) and ``<name>.<lang>.qc.json``
(the checker's report on what was written, with lead/lag against the speech). --bilingual
adds ``<name>.<src>-<tgt>.*`` per translation: the source line above the translation.
tracks.json lists the tracks for the mux stage (format: shared/schema.py SubtitleTracks).

Words may carry the diarize stage's ``speaker``: cues change at a speaker change, or show
two short parts with a leading hyphen each. Shot changes (SUB_SHOT_CHANGES=off|auto|FILE,
--shot-changes) are kept clear of and snapped to. Each qc.json also rates the segmentation
(shared/subtitles/quality.py); the manifest keeps the violations per rule. A track that
breaks a rule prints "N cues break the rules (cps 2, ...): see subs/NAME.qc.json" (the
``summary`` command prints the same from tracks.json, for the verbs); with SUB_QC=fail
(--qc fail) the stage exits 4 (shared/outcome.py) after writing every output.

The rules (shared/subtitles/rules.py) come from the SUB_* settings; each has an option.
Frame-based rules use media.json's frame rate, or 24 fps for audio-only input (said in
every qc.json). ``check`` works on any SRT/VTT/ASS file: one line per violation with cue
number, rule and figure, then its segmentation figures (and, with --ref, boundary
precision/recall against a reference within 0.3 s); exit 1 with --strict when there is
any violation, 2 when a file cannot be read.
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

from shared import job, job_manifest, outcome, settings
from shared import stage as skeleton
from shared.languages import file_tag
from shared.review.edits import apply_edits
from shared.schema import SCHEMA_VERSION, CueFile, CueRecord, SchemaError, SubtitleTrack, SubtitleTracks, check_kind
from shared.speech import speakers as speakers_mod
from shared.subtitles import checker, formats, quality, shots
from shared.subtitles.builder import Cue, TimedWord, build_cues, words_per_sentence
from shared.subtitles.rules import (
    ASSUMED_FPS,
    SETTING_FIELDS,
    Costs,
    Rules,
    costs_from_settings,
    parse_fps,
    rules_from_settings,
)
from shared.subtitles.text import joiner_for
from shared.subtitles.translated import bilingual_cues, bilingual_rules, build_translated_track

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


def _costs() -> Costs:
    try:
        return costs_from_settings()
    except ValueError as exc:
        raise click.UsageError(f"subtitle costs: {exc}") from None


QC_MODES = ("warn", "fail")


def _qc_mode(value: str | None) -> str:
    mode = (value if value is not None else skeleton.setting("SUB_QC")).strip().lower()
    if mode not in QC_MODES:
        raise click.BadParameter(f"{mode!r}: give warn or fail (SUB_QC)", param_hint="--qc")
    return mode


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
            speaker = word.get("speaker") or segment.get("speaker") if isinstance(word, dict) else None
            try:
                words.append(TimedWord(str(word["word"]), float(word["start"]), float(word["end"]),
                                       str(speaker) if speaker else None))
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
def _qc(subs, cues: Sequence[Cue], rules: Rules, fps: float, fps_assumed: bool, fmts: Sequence[str], path: str,
        speakers: Sequence[Sequence[str | None]] | None = None) -> dict:
    resolution = max(checker.FORMAT_RESOLUTION.get(f, 0.001) for f in fmts)
    check = checker.cues_from_events(subs)
    violations = checker.check_cues(check, rules, fps, resolution)
    violations += checker.check_sync(check, [(c.speech_start, c.speech_end) for c in cues], rules, resolution)
    if speakers:
        violations += checker.check_speakers(check, speakers)
    violations.sort(key=lambda v: (v.cue, checker.RULES.index(v.rule)))
    report = checker.Report(path, ",".join(fmts), fps, fps_assumed, rules, len(check), violations).as_dict()
    report["dense_speech_cues"] = [n for n, c in enumerate(cues, 1) if not c.feasible]
    report["cues_breaking_rules"] = len({v.cue for v in violations})
    ends = [(labels[0], labels[-1]) if labels else (None, None) for labels in speakers] if speakers else None
    report["segmentation"] = quality.segmentation([c.lines for c in cues], ends)
    return report


def qc_line(track: dict, folder: str = "subs") -> str:
    """The result line for a track with violations: "3 cues break the rules (cps 2, ...): see subs/X.qc.json"."""
    count = track.get("cues_breaking_rules", 0)
    rules = ", ".join(f"{rule} {n}" for rule, n in (track.get("by_rule") or {}).items())
    noun = "cue breaks" if count == 1 else "cues break"
    return f"{count} {noun} the rules ({rules}): see {folder}/{track['qc']}"


def write_track(out_dir: Path, stem: str, cues: list[Cue], rules: Rules, fps: float, fps_assumed: bool,
                fmts: Sequence[str], text_lines: Sequence[str], extra: dict,
                word_speakers: Sequence[str | None] | None = None, names: dict[str, str] | None = None,
                speaker_labels: str = "off") -> dict:
    """Write one track in every format, its cue JSON, text and qc.json; its tracks.json entry.

    ``word_speakers`` (the speaker of each word the cues index, when diarization ran) gives the
    QC checker its speaker rule, the ASS file a style per speaker, the cue JSON a ``speakers``
    list, and with ``speaker_labels="names"`` names in SRT/VTT. Taken per cue after the
    reviewer's edits, so a split or merged cue keeps its own words' speakers.
    """
    cues = apply_edits(out_dir, stem, cues)  # the reviewer's corrections (edits/<stem>.json), see make review
    names = names or {}
    per_word = ([[word_speakers[i] for i in c.words if 0 <= i < len(word_speakers)] for c in cues]
                if word_speakers else None)
    speakers = [speakers_mod.cue_speakers(range(len(w)), w) for w in per_word] if per_word else None
    subs = formats.to_ssafile(cues, title=stem, speakers=speakers, names=names)
    shown = ([[names.get(label, label) for label in labels] for labels in speakers]
             if speakers and speaker_labels == "names" else None)
    files = formats.write_track(subs, out_dir / stem, fmts, speaker_labels=shown)
    cue_json = CueFile(
        schema_version=SCHEMA_VERSION,
        kind="cues",
        fps=fps,
        cues=[CueRecord(index=n, start=round(c.start, 3), end=round(c.end, 3), lines=list(c.lines),
                        words=list(c.words), speech_start=round(c.speech_start, 3), speech_end=round(c.speech_end, 3),
                        **({"speakers": list(speakers[n - 1])} if speakers else {}))
              for n, c in enumerate(cues, 1)],
        **extra,
    )
    formats.write_json(out_dir / f"{stem}.json", cue_json)
    formats.atomic_write_text(out_dir / f"{stem}.txt", "".join(f"{line}\n" for line in text_lines))
    report = _qc(subs, cues, rules, fps, fps_assumed, fmts, files[fmts[0]], per_word)
    formats.write_json(out_dir / f"{stem}.qc.json", report)
    if report["violation_count"]:
        log.warning("%s: %d rule violations (%s), see %s.qc.json", stem, report["violation_count"],
                    ", ".join(f"{k} {v}" for k, v in report["by_rule"].items()), stem)
    else:
        log.info("%s: %d cues, no rule violations", stem, len(cues))
    return {
        "files": {f: Path(p).name for f, p in files.items()},
        # SDH: the text names who speaks (SUB_SPEAKER_LABELS=names with speakers found); export and mux mark it
        "sdh": bool(shown and any(shown)),
        "json": f"{stem}.json",
        "text": f"{stem}.txt",
        "qc": f"{stem}.qc.json",
        "cues": len(cues),
        "violations": report["violation_count"],
        "cues_breaking_rules": report["cues_breaking_rules"],
        "by_rule": report["by_rule"],
        "segmentation": {k: v for k, v in report["segmentation"].items() if k != "dangling_cues"},
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
@click.option("--formats", "formats_", default=skeleton.default_from("SUB_FORMATS"),
              show_default="SUB_FORMATS", help="comma-separated: srt, vtt, ass")
@click.option("--bilingual/--no-bilingual", default=lambda: job.is_on(skeleton.setting("BILINGUAL")),
              show_default="BILINGUAL", help="also write source-above-translation tracks")
@click.option("--fps", "fps_text", default=None, show_default="SUB_FPS, else media.json, else 24",
              help="frame rate for the frame-based rules")
@click.option("--qc", "qc_text", default=None, show_default="SUB_QC",
              help="warn: say when a track breaks the rules; fail: also exit 4 after writing everything")
@click.option("--shot-changes", "shots_text", default=None, show_default="SUB_SHOT_CHANGES",
              help="off, auto (ffmpeg scene detection on the video) or a file of shot-change times in seconds")
@click.option("--speaker-labels", default=skeleton.default_from("SUB_SPEAKER_LABELS"),
              show_default="SUB_SPEAKER_LABELS", type=skeleton.choice_of("SUB_SPEAKER_LABELS"),
              help="names: speaker names in SRT (Name: ) and VTT (<v Name>) when aligned.json has speakers")
@click.option("--speaker-names", default=skeleton.default_from("SPEAKER_NAMES"), show_default="SPEAKER_NAMES",
              help="SPEAKER_1=Asha,SPEAKER_2=Ravi")
@_rule_options
@skeleton.common_options("ALIGNED's folder")
def build(aligned: Path, translations: tuple[Path, ...], output: Path, media_json: Path | None, name: str | None,
          formats_: str, bilingual: bool, fps_text: str | None, job_dir: Path | None, qc_text: str | None,
          shots_text: str | None, speaker_labels: str, speaker_names: str | None, verbose: bool,
          **rule_values: Any) -> None:
    """Subtitle tracks from ALIGNED (word timings) and each TRANSLATIONS file."""
    job_dir = skeleton.start("subtitle", job_dir, aligned.parent, verbose)
    rules = _rules(rule_values)
    costs = _costs()
    qc_mode = _qc_mode(qc_text)
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
    has_speakers = any(w.speaker for w in words)  # aligned_words: each word's speaker, else its segment's
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
    from shared.atomic import remove_stale_temporaries_in

    remove_stale_temporaries_in(out_dir)  # every track file of a killed run (srt, vtt, ass, json, txt, qc)
    try:
        shot_spec = shots.parse_spec(shots_text if shots_text is not None else settings.get("SUB_SHOT_CHANGES"))
        shot_threshold = shots.parse_threshold(settings.get("SUB_SHOT_THRESHOLD"))
        snap_frames = shots.parse_snap(settings.get("SUB_SHOT_SNAP_FRAMES"))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--shot-changes") from None
    parameters = {"rules": rules.as_dict(), "fps": fps, "fps_assumed": fps_assumed, "formats": fmts,
                  "bilingual": bilingual, "name": name, "costs": costs.as_dict(), "qc": qc_mode,
                  "shot_changes": shot_spec, "shot_threshold": shot_threshold, "shot_snap_frames": snap_frames}
    inputs = [str(aligned), *map(str, translations), *([str(media_json)] if media_json else [])]
    with job_manifest.StageRun("subtitle", job_dir, inputs, [str(output)], parameters, packages=("click", "pysubs2", "regex"),
                      tools=()) as run:
        if fps_assumed:
            log.info("no video frame rate: %g fps assumed for the frame-based rules", fps)
        common = {"fps": fps, "fps_assumed": fps_assumed, "fmts": fmts, "names": names, "speaker_labels": speaker_labels}
        try:
            cuts = shots.shot_changes(shot_spec, media, shot_threshold)
        except shots.ShotError as exc:
            raise click.BadParameter(str(exc), param_hint="--shot-changes") from None
        if cuts is not None:
            log.info("%d shot changes (%s); cues snap to them within %d frames", len(cuts), shot_spec, snap_frames)
        timing = {"shot_changes": cuts or (), "snap_frames": snap_frames}
        source_cues = build_cues(words, rules, fps, media_end=media_end, joiner=joiner_for(source_lang), costs=costs,
                                 **timing)
        joiner = joiner_for(source_lang)
        sentences = [joiner.join(words[i].text.strip() for i in s) for s in words_per_sentence(words)]
        tracks = [SubtitleTrack(role="source", language=source_lang,
                       **write_track(out_dir, f"{name}.{source_lang}", source_cues, rules, text_lines=sentences,
                                     extra={"language": source_lang, "role": "source"},
                                     word_speakers=[w.speaker for w in words] if has_speakers else None, **common))]
        for lang, data, path in targets:
            try:
                track = build_translated_track(data.get("sentences") or [], words, source_cues, rules, fps, lang,
                                               media_end=media_end, costs=costs, **timing)
            except (ValueError, KeyError, TypeError) as exc:
                raise click.BadParameter(f"{path}: {exc}", param_hint="TRANSLATIONS") from None
            text_lines = [str(s.get("text", "")).strip() for s in track_sentences(data)]
            # each translated token carries the speaker of its source words (shared.subtitles.translated)
            token_speakers = [t.speaker for t in track.tokens] if has_speakers else None
            tracks.append(SubtitleTrack(role="target", language=lang,
                               **write_track(out_dir, f"{name}.{lang}", track.cues, rules, text_lines=text_lines,
                                             extra={"language": lang, "role": "target", "tokens": [t.text for t in track.tokens]},
                                             word_speakers=token_speakers, **common)))
            if bilingual:
                cues = bilingual_cues(track, words, rules, source_lang)
                both = [f"{s.get('source', '').strip()}\n{s.get('text', '').strip()}\n" for s in track_sentences(data)]
                tracks.append(SubtitleTrack(role="bilingual", language=lang, languages=[source_lang, lang],
                                   **write_track(out_dir, f"{name}.{source_lang}-{lang}", cues, bilingual_rules(rules),
                                                 text_lines=both, extra={"languages": [source_lang, lang], "role": "bilingual"},
                                                 word_speakers=token_speakers, **common)))
        formats.write_json(output, SubtitleTracks(schema_version=SCHEMA_VERSION, kind="subtitles", name=name, fps=fps,
                                                  fps_assumed=fps_assumed, tracks=tracks))
        run.details = {"qc": qc_mode, "tracks": [
            {"language": t["language"], "role": t["role"], "cues": t["cues"], "violations": t["violations"],
             "cues_breaking_rules": t["cues_breaking_rules"], "by_rule": t["by_rule"],
             "segmentation": t["segmentation"]} for t in tracks]}
    folder = out_dir.name or "."
    broken = [qc_line(t, folder) for t in tracks if t["violations"]]
    for line in broken:
        click.echo(f"subtitle: {line}", err=True)
    if broken and qc_mode == "fail":
        log.error("SUB_QC=fail: %d track(s) break the rules; the tracks and their qc.json are written", len(broken))
        sys.exit(outcome.QC_FAILED)


def track_sentences(data: dict) -> list[dict]:
    """A translation's sentences in time order."""
    return sorted(data.get("sentences") or [], key=lambda s: (float(s.get("start", 0)), int(s.get("id", 0))))


@main.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--fps", "fps_text", default=None, show_default="SUB_FPS, else 24",
              help="frame rate for the gap rules (25, 29.97, 30000/1001)")
@click.option("--strict", is_flag=True, help="exit 4 (QC failed) when there is any violation")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
@click.option("--ref", "reference", type=click.Path(path_type=Path), default=None,
              help="a reference segmentation of the same speech: boundary precision/recall within 0.3 s")
@_rule_options
def check(file: Path, fps_text: str | None, strict: bool, as_json: bool, reference: Path | None,
          **rule_values: Any) -> None:
    """List every rule violation in FILE (SRT, WebVTT or ASS) with cue number, rule and figure,
    then how FILE is segmented (share of cue boundaries at a sentence end or clause boundary)."""
    rules = _rules(rule_values)
    fps = _fps_option(fps_text)
    try:
        report = checker.check_file(file, rules, fps)
        subs, _fmt = checker.load_subtitles(file)
    except checker.SubtitleFileError as exc:
        raise click.BadParameter(str(exc), param_hint="FILE") from None
    try:
        ref_subs = checker.load_subtitles(reference)[0] if reference is not None else None
    except checker.SubtitleFileError as exc:
        raise click.BadParameter(str(exc), param_hint="--ref") from None
    cues = checker.cues_from_events(subs)
    data = report.as_dict()
    data["segmentation"] = quality.segmentation([c.lines for c in cues])
    if ref_subs is not None:
        ours = quality.boundary_times([c.start for c in cues])
        theirs = quality.boundary_times([c.start for c in checker.cues_from_events(ref_subs)])
        data["reference"] = {"file": str(reference), **quality.compare(ours, theirs)}
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        for line in report.lines():
            click.echo(line)
        for line in segmentation_lines(data):
            click.echo(line)
    if strict and report.violations:
        from shared import outcome

        sys.exit(outcome.QC_FAILED)


def segmentation_lines(data: dict) -> list[str]:
    """The segmentation figures of a check report, for people."""
    seg = data["segmentation"]
    lines = [f"segmentation: {seg['sentence_or_clause']:.0%} of {seg['boundaries']} cue boundaries at a sentence end "
             f"or clause boundary; {seg['mid_sentence_starts']:.0%} of cues start mid-sentence; "
             f"{seg['dangling_ends']} end on an article, preposition or the like"
             + (f" (cues {', '.join(map(str, seg['dangling_cues']))})" if seg["dangling_cues"] else "")]
    ref = data.get("reference")
    if ref:
        lines.append(f"against {ref['file']}: boundary precision {ref['precision']:.0%}, recall {ref['recall']:.0%} "
                     f"({ref['matched']} of {ref['boundaries']} ours, {ref['reference_boundaries']} theirs, "
                     f"within {ref['tolerance']:g} s)")
    return lines


@main.command("summary", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("tracks_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def summary(tracks_json: Path) -> None:
    """Print one line per track of TRACKS_JSON that breaks the rules (the verbs' result line)."""
    data = _read_json(tracks_json, "subtitles", "TRACKS_JSON")
    folder = tracks_json.parent.name or "."
    for track in data.get("tracks") or []:
        if track.get("violations"):
            click.echo(qc_line(track, folder))


if __name__ == "__main__":
    from shared import outcome

    outcome.run_stage(main, "subtitle", own_process=True)
