"""shared/stage.py: every stage gets its common options, logging, typed input and 16 kHz check from one place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from shared import policy
from shared import stage as skeleton
from tests.helpers.media import pcm_wav

REPO = Path(__file__).resolve().parents[2]
ML_PYTHON = REPO / ".venvs" / "ml" / "bin" / "python"


@pytest.mark.parametrize("name", policy.STAGES)
def test_every_stage_is_built_on_the_skeleton(name: str) -> None:
    text = (REPO / "stages" / f"{name}.py").read_text(encoding="utf-8")
    assert "skeleton.common_options(" in text and f'skeleton.start("{name}", ' in text
    assert '"--job-dir"' not in text and '"--verbose"' not in text  # not restated by the stage
    assert "noqa: E402" not in text and "configure_logging" not in text
    args = [name] if name != "subtitle" else ["subtitle", "build"]
    shown = subprocess.run([sys.executable, str(REPO / "stages" / f"{args[0]}.py"), *args[1:], "--help"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "--job-dir" in shown.stdout and "-v, --verbose" in shown.stdout


def test_start_creates_the_job_directory_and_its_log(tmp_path: Path) -> None:
    directory = skeleton.start("demux", None, tmp_path / "job", verbose=True)
    assert directory == tmp_path / "job" and (directory / "logs" / "demux.log").is_file()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(click.BadParameter, match="cannot write"):
        skeleton.start("demux", blocker / "job", tmp_path, verbose=False)


def test_read_input_checks_kind_version_and_json(tmp_path: Path) -> None:
    good = tmp_path / "speech.json"
    good.write_text(json.dumps({"schema_version": 1, "kind": "speech", "regions": [], "chunks": []}))
    assert skeleton.read_input(good, "speech", "SPEECH_JSON")["kind"] == "speech"
    with pytest.raises(click.BadParameter, match="expected kind transcript") as wrong:
        skeleton.read_input(good, "transcript", "TRANSCRIPT_JSON")
    assert wrong.value.param_hint == "TRANSCRIPT_JSON"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(click.BadParameter, match="bad.json"):
        skeleton.read_input(bad, "speech", "SPEECH_JSON")
    with pytest.raises(click.BadParameter, match="No such file"):
        skeleton.read_input(tmp_path / "none.json", "speech", "SPEECH_JSON")


@pytest.mark.ml
@pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built")
@pytest.mark.parametrize("name", ["separate", "vad", "asr", "align"])
def test_speech_stages_refuse_audio_that_is_not_16_khz(tmp_path: Path, name: str) -> None:
    audio = pcm_wav(tmp_path / "audio.wav", 0.1, rate=44100)
    speech = tmp_path / "speech.json"
    speech.write_text(json.dumps({"schema_version": 1, "kind": "speech", "regions": [], "chunks": []}))
    transcript = tmp_path / "transcript.json"
    transcript.write_text(json.dumps({"schema_version": 1, "kind": "transcript", "language": "en", "segments": []}))
    inputs = {"separate": [audio], "vad": [audio], "asr": [audio, speech], "align": [transcript, audio]}[name]
    out = tmp_path / "out.json"
    result = subprocess.run([str(ML_PYTHON), str(REPO / "stages" / f"{name}.py"), *map(str, inputs), "-o", str(out),
                             "--job-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
                                 "MODEL_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2, result.stderr
    assert "44100 Hz" in result.stderr and "16 kHz" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_stage_setting_is_the_pipeline_env_default_or_the_policy_decision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEPARATE_WINDOW", "")
    assert skeleton.setting("SEPARATE_WINDOW") == policy.default("SEPARATE_WINDOW") == "60"
    monkeypatch.setenv("SEPARATE_WINDOW", "90")
    assert skeleton.default_from("SEPARATE_WINDOW")() == "90"
    monkeypatch.setenv("DEVICE", "")
    assert skeleton.setting("DEVICE") == policy.recommended_hardware(policy.REPO_ROOT)["device"]


def test_check_audio_reads_a_pcm_wav_header_and_leaves_the_rest_to_soundfile(tmp_path: Path) -> None:
    """The header path (no soundfile: the common interpreter) gives what soundfile would, and a
    header that claims more than the file holds, or a format the standard library cannot read,
    is not trusted."""
    mono = pcm_wav(tmp_path / "mono.wav", 1.5, sample=1)
    meta = skeleton.check_audio(mono, mono=True)
    assert (meta.sample_rate, meta.channels, meta.frames) == (16000, 1, 24000)
    assert skeleton.wav_header(mono) == meta == skeleton.pcm_info(mono)
    stereo = pcm_wav(tmp_path / "stereo.wav", channels=2, sample=1)
    assert skeleton.check_audio(stereo).channels == 2 and skeleton.pcm_info(stereo) is None
    with pytest.raises(click.BadParameter, match="2 channel"):
        skeleton.check_audio(stereo, mono=True)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(mono.read_bytes()[:-16000])  # the header still says 24,000 frames
    assert skeleton.wav_header(truncated) is None and skeleton.pcm_info(truncated) is None
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    assert skeleton.wav_header(text) is None


@pytest.mark.ml
@pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built")
def test_a_truncated_wav_is_counted_by_soundfile(tmp_path: Path) -> None:
    mono = pcm_wav(tmp_path / "mono.wav", 1.5, sample=1)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(mono.read_bytes()[:-16000])
    code = ("import sys; from shared import stage; m = stage.check_audio(sys.argv[1], mono=True); "
            "print(m.frames)")
    shown = subprocess.run([str(ML_PYTHON), "-c", code, str(truncated)], cwd=REPO, capture_output=True, text=True,
                           timeout=120, check=True)
    assert int(shown.stdout) == 24000 - 8000  # what is there, not what the header claims
