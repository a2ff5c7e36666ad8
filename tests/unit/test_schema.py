"""shared.schema: typed hand-offs that readers check for kind, version and their core fields."""

from __future__ import annotations

import pytest

from shared import job_manifest, schema
from shared.speech import vad


def test_readers_refuse_wrong_kind_version_and_missing_fields() -> None:
    good = {"schema_version": schema.SCHEMA_VERSION, "kind": "aligned", "language": "hi", "segments": []}
    assert schema.check_kind(good, ("aligned", "transcript")) is good
    with pytest.raises(schema.SchemaError, match="expected kind transcript, found 'aligned'"):
        schema.check_kind(good, "transcript")
    with pytest.raises(schema.SchemaError, match="schema version 0"):
        schema.check_kind(dict(good, schema_version=0), "aligned")
    with pytest.raises(schema.SchemaError, match="x.json: a aligned file without 'segments'"):
        schema.check_kind({k: v for k, v in good.items() if k != "segments"}, "aligned", "x.json")
    with pytest.raises(schema.SchemaError, match="'tracks' has the wrong type"):
        schema.check_kind({"schema_version": 1, "kind": "subtitles", "tracks": {}}, "subtitles")


def test_distinct_types_for_each_hand_off() -> None:
    assert schema.TranscriptFile.__annotations__["kind"] != schema.AlignedTranscript.__annotations__["kind"]
    assert {"words", "align_method"} <= schema.AlignedSegment.__required_keys__
    assert not schema.TranscriptSegment.__required_keys__ & {"words", "align_method"}
    assert schema.SubtitleTracks.__required_keys__ == {"schema_version", "kind", "tracks"}
    assert {"name", "fps"} <= schema.SubtitleTracks.__optional_keys__
    assert set(schema.REQUIRED_FIELDS) == {"media", "speech", "transcript", "aligned", "translation", "subtitles", "manifest"}


def test_writers_build_what_readers_accept(tmp_path) -> None:
    class Backend:
        name, model_id = "silero", "vad-silero"
        opts = vad.VadOptions()

    info = vad.speech_info(Backend(), [(1.0, 2.0)], 3.0)
    assert schema.check_kind(info, "speech")["regions"] == [{"start": 1.0, "end": 2.0}]
    with job_manifest.StageRun("demux", tmp_path, ["in"], ["out"], {}, tools=()):
        pass
    manifest = job_manifest.read_manifest(tmp_path)
    assert schema.check_kind(manifest, "manifest")["stages"]["demux"]["stage"] == "demux"
    assert job_manifest.read_manifest(tmp_path / "none") == {"schema_version": 1, "kind": "manifest", "job": "none", "stages": {}}
