"""./cache-models.sh against a fake hub on 127.0.0.1: its real download code, no internet.

Each test writes a small registry (MODELS_TOML) whose repositories live on the fake hub
(HF_ENDPOINT), runs the real script in a subprocess and looks at the cache, the exit
code, the output and the hub's request log.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shared import models, selection
from tests.integration.fakehub import FakeHub, git_blob_id

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "cache-models.sh"
TOKEN = "hf_testtoken_Zq81xWv03"
WRONG_TOKEN = "hf_wrongtoken_Kp55dd"
COMMON_PY = REPO_ROOT / ".venvs" / "common" / "bin" / "python"

pytestmark = pytest.mark.skipif(not COMMON_PY.exists(), reason="the common environment is not built")

ASR_FILES = {
    "config.json": b'{"alignment_heads": [], "lang_ids": []}',
    "model.bin": os.urandom(300_000),
    "vocabulary.txt": b"a\nb\nc\n",
    "README.md": b"# not fetched: outside allow_patterns\n",
}
NLLB_FILES = {"config.json": b'{"model_type": "m2m_100"}', "pytorch_model.bin": os.urandom(120_000)}
INDIC_FILES = {"config.json": b'{"model_type": "IndicTrans"}', "model.safetensors": os.urandom(90_000)}
ALIGNER = os.urandom(50_000)
# huggingface_hub writes in 10 MiB chunks, so a cut only leaves bytes behind in a bigger file.
BIG = os.urandom(24 * 2**20)


def registry_text(hub_url: str) -> str:
    return f"""
schema = 1
[defaults.cpu]
asr = "tiny-asr"
vad = "tiny-vad"
separate = false
separation = "tiny-demucs"
align_languages = ["en"]
indictrans2 = {{ indic-en = "tiny-indic", en-indic = "tiny-indic", indic-indic = "tiny-indic" }}
nllb = "tiny-nllb"

[[models]]
id = "tiny-asr"
stage = "asr"
backend = "faster-whisper"
group = "whisperx"
source = "hf"
repo = "test-org/tiny-asr"
revision = "main"
allow_patterns = ["config.json", "model.bin", "vocabulary.*"]
size_mb = 1

[[models]]
id = "big-asr"
stage = "asr"
backend = "faster-whisper"
group = "whisperx"
source = "hf"
repo = "test-org/big-asr"
size_mb = 24

[[models]]
id = "tiny-vad"
stage = "vad"
backend = "silero"
group = "vad"
source = "package"
package = "huggingface_hub"
path = "huggingface_hub/__init__.py"
environment = "common"

[[models]]
id = "align-en"
stage = "align"
backend = "torchaudio"
group = "align"
source = "url"
url = "{hub_url}/files/w2v_en.pth"
filename = "w2v_en.pth"
sha256 = "{hashlib.sha256(ALIGNER).hexdigest()}"
size_mb = 1
languages = ["en"]

[[models]]
id = "tiny-demucs"
stage = "separate"
backend = "demucs"
group = "demucs"
source = "hf"
repo = "test-org/tiny-demucs"
size_mb = 1

[[models]]
id = "tiny-nllb"
stage = "translate"
backend = "nllb"
group = "nllb"
source = "hf"
repo = "test-org/tiny-nllb"
size_mb = 1

[[models]]
id = "tiny-indic"
stage = "translate"
backend = "indictrans2"
group = "indictrans2"
source = "hf"
repo = "test-org/tiny-indic"
gated = true
size_mb = 1
languages = ["indic->en", "en->indic", "indic->indic"]
"""


@pytest.fixture
def hub():
    fake = FakeHub()
    fake.add_repo("test-org/tiny-asr", ASR_FILES)
    fake.add_repo("test-org/big-asr", {"model.bin": BIG})
    fake.add_repo("test-org/tiny-demucs", {"htdemucs.yaml": b"models: ['x']\n"})
    fake.add_repo("test-org/tiny-nllb", NLLB_FILES)
    fake.add_repo("test-org/tiny-indic", INDIC_FILES, gated=True)
    fake.accepted_tokens.add(TOKEN)
    fake.start()
    fake.add_url_file("w2v_en.pth", ALIGNER)
    yield fake
    fake.stop()


class Runner:
    """Runs ./cache-models.sh with a hermetic environment; keeps every output for the token grep."""

    def __init__(self, tmp: Path, hub: FakeHub):
        self.cache = tmp / "model cache"  # a space, to flush out quoting bugs
        self.registry = tmp / "models.toml"
        self.registry.write_text(registry_text(hub.url), encoding="utf-8")
        self.hub = hub
        self.outputs: list[str] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
        self.env.update({
            "HOME": str(tmp / "home"), "HF_ENDPOINT": hub.url, "MODELS_TOML": str(self.registry),
            "MODEL_CACHE_DIR": str(self.cache), "DEVICE": "cpu", "SRC": "en", "TGT": "",
            "ALIGN": "auto", "VAD": "auto", "SEPARATE": "auto", "TRANSLATOR": "auto", "ASR_MODEL": "",
            "ASR_BACKEND": "whisperx", "CACHE_MODELS_FAKE_FREE_MB": "", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        })

    def __call__(self, *args: str, token: str | None = None, **env: str) -> subprocess.CompletedProcess:
        run_env = dict(self.env, **env)
        if token is not None:
            run_env["HF_TOKEN"] = token
        result = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=run_env, timeout=120)
        self.outputs += [result.stdout, result.stderr]
        return result

    def repo(self, name: str) -> Path:
        return models.repo_dir(self.cache, f"test-org/{name}")

    def assert_no_token_anywhere(self) -> None:
        for text in self.outputs:
            assert TOKEN not in text and WRONG_TOKEN not in text
        for path in self.cache.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                assert TOKEN.encode() not in data and WRONG_TOKEN.encode() not in data, path


@pytest.fixture
def run(tmp_path, hub, monkeypatch):
    runner = Runner(tmp_path, hub)
    monkeypatch.setenv("MODELS_TOML", str(runner.registry))
    return runner


def snapshot(run: Runner, name: str, commit: str) -> Path:
    return run.repo(name) / "snapshots" / commit


def test_all_fills_the_hub_layout_and_a_second_run_makes_no_request(run, hub):
    first = run("--all", "-y", token=TOKEN)
    assert first.returncode == 0, first.stderr
    assert hub.count() > 0

    asr = hub.repos["test-org/tiny-asr"]
    repo = run.repo("tiny-asr")
    assert (repo / "refs" / "main").read_text() == asr.commit
    snap = snapshot(run, "tiny-asr", asr.commit)
    assert sorted(p.name for p in snap.iterdir()) == ["config.json", "model.bin", "vocabulary.txt"]
    # Blobs are named as the hub names them: LFS by sha256, small git files by git blob id.
    assert (snap / "model.bin").resolve() == repo / "blobs" / hashlib.sha256(ASR_FILES["model.bin"]).hexdigest()
    assert (snap / "config.json").resolve() == repo / "blobs" / git_blob_id(ASR_FILES["config.json"])
    assert (snap / "model.bin").read_bytes() == ASR_FILES["model.bin"]
    manifest = json.loads((run.cache / "manifests" / "tiny-asr.json").read_text())
    assert manifest["commit"] == asr.commit
    assert {f["path"]: f["sha256"] for f in manifest["files"]}["model.bin"] == hashlib.sha256(ASR_FILES["model.bin"]).hexdigest()
    aligner = run.cache / "torch" / "hub" / "checkpoints" / "w2v_en.pth"
    assert aligner.read_bytes() == ALIGNER
    # --all on cpu: separation is off, so Demucs is not fetched.
    assert not run.repo("tiny-demucs").exists()
    assert (snapshot(run, "tiny-indic", hub.repos["test-org/tiny-indic"].commit) / "model.safetensors").is_file()

    hub.reset_log()
    second = run("--all", "-y", token=TOKEN)
    assert second.returncode == 0, second.stderr
    assert hub.count() == 0, hub.requests
    assert "cached: tiny-asr (skipped)" in second.stderr

    status = run("--status", token=TOKEN)
    assert status.returncode == 0, status.stdout + status.stderr
    assert hub.count() == 0
    run.assert_no_token_anywhere()


def test_stages_then_resolve_offline_with_no_request(run, hub):
    assert run("--whisperx", "--align").returncode == 0
    values = {"DEVICE": "cpu", "SRC": "en", "ASR_BACKEND": "whisperx", "ASR_MODEL": "", "ALIGN": "auto", "VAD": "auto"}
    assert selection.stage_models_cached("asr", values, run.cache, REPO_ROOT)
    assert selection.stage_models_cached("align", values, run.cache, REPO_ROOT)
    assert selection.stage_models_cached("vad", values, run.cache, REPO_ROOT)  # package-bundled
    snap = models.resolve("tiny-asr", run.cache, REPO_ROOT)
    assert (snap / "model.bin").read_bytes() == ASR_FILES["model.bin"]

    # What the environment manager gives the asr stage: offline, and a library asking for
    # "main" finds the snapshot through refs/main without one request.
    env = subprocess.run([str(COMMON_PY), "-m", "shared.environment_manager", "env", "asr"],
                         capture_output=True, text=True, env=run.env, cwd=REPO_ROOT, check=True).stdout
    assert "HF_HUB_OFFLINE=1" in env.splitlines()
    hub.reset_log()
    code = ("from huggingface_hub import hf_hub_download; "
            "print(hf_hub_download('test-org/tiny-asr', 'model.bin'))")
    child = dict(run.env, HF_HUB_OFFLINE="1", HF_HOME=str(run.cache / "huggingface"))
    out = subprocess.run([str(COMMON_PY), "-c", code], capture_output=True, text=True, env=child, check=True)
    assert Path(out.stdout.strip()).read_bytes() == ASR_FILES["model.bin"]
    assert hub.count() == 0


def test_an_interrupted_download_resumes_on_the_next_run(run, hub):
    hub.cut_next("model.bin")
    first = run("--model", "big-asr")
    assert first.returncode == 1
    assert "download interrupted" in first.stderr and "run again to resume" in first.stderr
    sha = hashlib.sha256(BIG).hexdigest()
    blobs = run.repo("big-asr") / "blobs"
    kept = (blobs / f"{sha}.incomplete").stat().st_size
    assert 0 < kept < len(BIG)
    assert not (run.cache / "manifests" / "big-asr.json").exists()
    assert models.model_state(models.get_spec("big-asr", REPO_ROOT), run.cache, REPO_ROOT) == "partial"

    second = run("--model", "big-asr")
    assert second.returncode == 0, second.stderr
    gets = [r for r in hub.requests if r.method == "GET" and r.path == f"/cdn/{sha}"]
    assert [g.range for g in gets] == [None, f"bytes={kept}-"]  # the second asked only for the rest
    assert (blobs / sha).read_bytes() == BIG
    assert not (blobs / f"{sha}.incomplete").exists()
    assert models.model_state(models.get_spec("big-asr", REPO_ROOT), run.cache, REPO_ROOT) == "cached"


def test_verify_catches_and_repairs_a_corrupt_file(run, hub):
    assert run("--whisperx", "--align").returncode == 0
    commit = hub.repos["test-org/tiny-asr"].commit
    model_bin = snapshot(run, "tiny-asr", commit) / "model.bin"
    original = model_bin.read_bytes()
    model_bin.resolve().write_bytes(bytes(len(original)))  # same size, wrong bytes
    aligner = run.cache / "torch" / "hub" / "checkpoints" / "w2v_en.pth"
    aligner.write_bytes(b"x" * len(ALIGNER))

    clean = run("--verify", "--nllb")  # a model that is not cached is reported, nothing else
    assert clean.returncode == 1 and "tiny-nllb: not cached" in clean.stderr

    hub.reset_log()
    result = run("--verify")
    assert result.returncode == 0, result.stderr
    assert "corrupt: tiny-asr: model.bin" in result.stderr
    assert "corrupt: align-en: torch/hub/checkpoints/w2v_en.pth" in result.stderr
    assert "repaired: tiny-asr" in result.stderr and "repaired: align-en" in result.stderr
    assert model_bin.read_bytes() == original
    assert aligner.read_bytes() == ALIGNER
    # Only the broken files travelled again; config.json and vocabulary.txt stayed.
    fetched = {r.path for r in hub.requests if r.method == "GET" and not r.path.startswith("/api/")}
    assert fetched == {f"/cdn/{hashlib.sha256(original).hexdigest()}", "/files/w2v_en.pth"}
    again = run("--verify")
    assert again.returncode == 0 and "corrupt" not in again.stderr


def test_a_gated_repo_without_a_token_fails_alone_with_the_fix(run, hub):
    result = run("--whisperx", "--indictrans2", "--nllb")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "https://huggingface.co/test-org/tiny-indic" in line]
    assert lines, result.stderr
    assert "needs a Hugging Face token" in lines[0] and "HF_TOKEN" in lines[0] and "--token" in lines[0]
    assert "models failed" in result.stderr
    for name in ("tiny-asr", "tiny-nllb"):
        assert (run.cache / "manifests" / f"{name}.json").is_file()
    assert not (run.cache / "manifests" / "tiny-indic.json").exists()
    assert any(r.path.startswith("/api/models/test-org/tiny-indic") and not r.authorized for r in hub.requests)

    refused = run("--indictrans2", "--token", WRONG_TOKEN)
    assert refused.returncode == 1
    assert "403" in refused.stderr and "https://huggingface.co/test-org/tiny-indic" in refused.stderr

    accepted = run("--indictrans2", "--token", TOKEN)
    assert accepted.returncode == 0, accepted.stderr
    assert any(r.path.startswith("/api/models/test-org/tiny-indic") and r.authorized for r in hub.requests)
    run.assert_no_token_anywhere()


def test_not_enough_disk_refuses_before_any_request(run, hub):
    result = run("--all", token=TOKEN, CACHE_MODELS_FAKE_FREE_MB="2")
    assert result.returncode == 3
    assert "not enough free disk" in result.stderr and "nothing was downloaded" in result.stderr
    assert hub.count() == 0
    assert not (run.cache / "huggingface").exists()
    dry = run("--all", "--dry-run", token=TOKEN)
    assert dry.returncode == 0 and "would fetch tiny-asr" in dry.stdout and "total to download: ~4 MB" in dry.stdout
    assert hub.count() == 0


def test_status_exit_codes_follow_the_selected_workflows(run, hub):
    empty = run("--status")
    assert empty.returncode == 1
    assert "workflow transcribe: NOT ready" in empty.stdout
    assert "model tiny-asr (asr) is not cached: run ./cache-models.sh --whisperx" in empty.stdout

    assert run("--nllb").returncode == 0
    # With no target language no workflow uses NLLB: only the model itself is judged.
    assert run("--status", "--nllb").returncode == 0
    # With TGT=fr, translate and subtitle use it, and they still lack the ASR model.
    translating = run("--status", "--nllb", TGT="fr")
    assert translating.returncode == 1 and "workflow translate: NOT ready" in translating.stdout
    assert "workflow transcribe" not in translating.stdout

    assert run("--whisperx", "--align").returncode == 0
    assert run("--status", TGT="fr").returncode == 0
    assert run("--status", TGT="hi").returncode == 1  # en->hi needs IndicTrans2 (gated, not cached)
    lines = run("--status").stdout.splitlines()
    row = next(line for line in lines if line.startswith("tiny-asr "))
    assert "cached" in row and hub.repos["test-org/tiny-asr"].commit[:12] in row


def test_a_stage_resolving_a_missing_model_fails_fast_with_the_flag(run):
    with pytest.raises(models.ModelNotCached) as caught:
        models.resolve("tiny-asr", run.cache, REPO_ROOT)
    assert str(caught.value) == "model tiny-asr is not cached: run ./cache-models.sh --whisperx"
    with pytest.raises(models.ModelNotCached) as caught:
        models.resolve("tiny-demucs", run.cache, REPO_ROOT)
    assert str(caught.value) == "model tiny-demucs is not cached: run ./cache-models.sh --demucs"
    problems = selection.workflow_problems("translate", {"DEVICE": "cpu", "SRC": "en", "TGT": "fr"}, run.cache, REPO_ROOT)
    assert problems and all(p.endswith(("--whisperx", "--align", "--nllb")) for p in problems)


def test_usage_errors_exit_2_before_any_request(run, hub):
    assert run("--model", "no-such-model").returncode == 2
    assert run().returncode == 2
    assert hub.count() == 0


def test_the_module_runs_without_the_shell(run, hub):
    env = dict(run.env, HF_TOKEN=TOKEN)
    result = subprocess.run([sys.executable, "-m", "shared.model_cache", "--model", "tiny-nllb", "-y"],
                            capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (run.cache / "manifests" / "tiny-nllb.json").is_file()


def test_a_hub_that_cannot_be_reached_is_not_an_interrupted_download(run):
    import socket

    with socket.socket() as sock:  # a port nothing listens on: the connection is refused, no byte arrives
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = run("--model", "tiny-asr", HF_ENDPOINT=closed, HF_HUB_ETAG_TIMEOUT="2", HF_HUB_DOWNLOAD_TIMEOUT="2")
    assert result.returncode == 1
    assert f"127.0.0.1:{closed.rsplit(':', 1)[1]} cannot be reached" in result.stderr
    assert "nothing was downloaded" in result.stderr and "interrupted" not in result.stderr


def test_a_download_shows_bytes_rate_and_eta_in_throttled_lines(run, hub):
    """Off a terminal (captured output), a 25 MB file over a 10 MB/s link: a few plain lines
    with bytes, rate and ETA, through shared.progress, never one per chunk."""
    hub.bytes_per_second = 10e6
    result = run("--model", "big-asr", PROGRESS_INTERVAL="1")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("cache-models: download big-asr ")]
    total = f"{len(BIG) / 2**20:.1f}"  # MB as cache-models counts them (MiB)
    assert lines[-1].startswith(f"cache-models: download big-asr 100% ({total}/{total} MB, ")
    pattern = re.compile(r"cache-models: download big-asr (\d+)% \((\d+\.\d)/" + re.escape(total)
                         + r" MB, (\d+\.\d) MB/s\) ETA (\d+:\d\d)")
    partial = [pattern.fullmatch(line) for line in lines[:-1]]
    assert partial and all(partial), lines
    percents = [int(m.group(1)) for m in partial]
    assert percents == sorted(percents) and percents[-1] < 100
    assert all(2.0 <= float(m.group(3)) <= 12.0 for m in partial[1:])  # about the link's 10 MB/s
    assert 2 <= len(lines) <= 5  # about 2.5 s of download, one line a second at most (plus the last)
    assert "\r" not in result.stderr  # no bar drawn into a file
