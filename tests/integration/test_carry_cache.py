"""Carry the model cache to a machine with no network: --export, --import, --adopt.

A tiny NLLB (tests/integration/tinymodels.py, real weights and tokenizer) is served by the
fake hub and fetched by ./cache-models.sh into cache A; A is exported to a tar, imported
into an empty cache under `unshare -n` (no network at all), and the translate stage runs
offline from it (through the environment manager, as make runs it). A damaged or foreign
archive is refused with one line and changes nothing. --adopt takes the model from a
user's own Hugging Face cache (A's hub folder, as an earlier whisperX run would leave it),
offline, recorded as adopted and not hub-verified until an online --verify.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.integration import pipeline_runs as pr
from tests.integration.fakehub import FakeHub
from tests.integration.test_offline_network import NO_NETWORK, WHY_NOT
from tests.integration.test_translate_stage import write_aligned

pytestmark = [pytest.mark.ml, pytest.mark.slow,
              pytest.mark.skipif(not pr.ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)"),
              pytest.mark.skipif(not NO_NETWORK, reason=WHY_NOT or "no network namespace")]

SCRIPT = pr.REPO / "cache-models.sh"
REGISTRY = """
schema = 1
[defaults.cpu]
nllb = "tiny-nllb"

[[models]]
id = "tiny-nllb"
stage = "translate"
backend = "nllb"
group = "nllb"
source = "hf"
repo = "test-org/tiny-nllb"
revision = "main"
size_mb = 1
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("build")
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
              "from tests.integration import tinymodels as t; t.build_tiny_nllb(Path(sys.argv[1]))")
    built = subprocess.run([str(pr.ML_PYTHON), "-c", script, str(scratch), str(pr.REPO)], capture_output=True, text=True,
                           timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    (snap,) = scratch.glob("huggingface/hub/models--test-org--tiny-nllb/snapshots/*")
    hub = FakeHub()
    hub.add_repo("test-org/tiny-nllb", {p.relative_to(snap).as_posix(): p.read_bytes() for p in snap.rglob("*") if p.is_file()})
    hub.start()
    tmp = tmp_path_factory.mktemp("carry")
    registry = tmp / "models.toml"
    registry.write_text(REGISTRY, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "MODEL", "TRANSLATE", "MAX_SENTENCE"))}
    env.update(HOME=str(tmp / "home"), HF_ENDPOINT=hub.url, MODELS_TOML=str(registry), DEVICE="cpu", SRC="en",
               TRANSLATOR="nllb", TRANSLATE_CT2="off", TRANSLATE_BEAMS="1", MAX_SENTENCE_TOKENS="16", LLM_POSTEDIT="0",
               GLOSSARY="", HF_HUB_DISABLE_PROGRESS_BARS="1")
    source = tmp / "cache A"
    fetched = cache_models(env, source, "--model", "tiny-nllb", "-y")
    assert fetched.returncode == 0, fetched.stderr
    archive = tmp / "models export.tar"
    exported = cache_models(env, source, "--export", str(archive), "--model", "tiny-nllb")
    assert exported.returncode == 0, exported.stderr
    yield {"hub": hub, "env": env, "source": source, "archive": archive, "tmp": tmp}
    hub.stop()


def cache_models(env: dict, cache: Path, *args: str, offline: bool = False, **extra: str) -> subprocess.CompletedProcess:
    command = [*(NO_NETWORK if offline else []), str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, env=dict(env, MODEL_CACHE_DIR=str(cache), **extra),
                          timeout=300, check=False)


def translate_offline(env: dict, cache: Path, job: Path) -> subprocess.CompletedProcess:
    job.mkdir(parents=True, exist_ok=True)
    write_aligned(job / "aligned.json", "en")
    command = [*NO_NETWORK, str(pr.COMMON_PYTHON), "-m", "shared.environment_manager", "run", "translate", "--", "python",
               str(pr.REPO / "stages" / "translate.py"), "--job-dir", str(job), str(job / "aligned.json"),
               "-o", str(job / "translation.fr.json"), "--language", "fr"]
    return subprocess.run(command, cwd=pr.REPO, capture_output=True, text=True, env=dict(env, MODEL_CACHE_DIR=str(cache)),
                          timeout=600, check=False)


def test_export_import_offline_then_translate_offline(world) -> None:
    with tarfile.open(world["archive"]) as tar:
        names = tar.getnames()
    assert "EXPORT.json" in names and any(n.endswith("/model.safetensors") for n in names)
    target = world["tmp"] / "empty cache B"
    imported = cache_models(world["env"], target, "--import", str(world["archive"]), offline=True)
    assert imported.returncode == 0, imported.stderr
    assert "imported 1 models" in imported.stderr and "sha256 checked" in imported.stderr
    manifest = json.loads((target / "manifests" / "tiny-nllb.json").read_text())
    original = json.loads((world["source"] / "manifests" / "tiny-nllb.json").read_text())
    assert manifest["commit"] == original["commit"] and manifest["imported_from"] == "models export.tar"
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {f["path"]: f["sha256"] for f in original["files"]}
    status = cache_models(world["env"], target, "--status", "--model", "tiny-nllb", offline=True)
    assert "tiny-nllb" in status.stdout and "cached" in status.stdout
    job = world["tmp"] / "job B"
    ran = translate_offline(world["env"], target, job)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert json.loads((job / "translation.fr.json").read_text())["backend"] == "nllb"


def test_a_damaged_archive_is_refused_in_one_line_and_nothing_is_installed(world) -> None:
    damaged = world["tmp"] / "damaged.tar"
    data = bytearray(world["archive"].read_bytes())
    with tarfile.open(world["archive"]) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/model.safetensors"))
    middle = member.offset_data + member.size // 2
    data[middle:middle + 64] = bytes(64)  # zeroed inside the weights: same size, wrong bytes
    damaged.write_bytes(bytes(data))
    target = world["tmp"] / "empty cache C"
    refused = cache_models(world["env"], target, "--import", str(damaged), offline=True)
    assert refused.returncode == 1
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "model.safetensors does not match its sha256: the archive is damaged" in lines[0]
    assert "nothing was imported" in lines[0]
    assert not (target / "manifests").exists() or not list((target / "manifests").iterdir())
    assert not list(target.rglob("model.safetensors"))


def test_a_foreign_archive_is_refused(world) -> None:
    foreign = world["tmp"] / "photos.tar"
    (world["tmp"] / "photo.jpg").write_bytes(b"\xff\xd8 not a model")
    with tarfile.open(foreign, "w") as tar:
        tar.add(world["tmp"] / "photo.jpg", arcname="photo.jpg")
    target = world["tmp"] / "empty cache D"
    refused = cache_models(world["env"], target, "--import", str(foreign), offline=True)
    assert refused.returncode == 1 and "not a model export of cache-models.sh" in refused.stderr
    assert not list(target.rglob("*.json"))


def test_adopt_from_the_users_hub_cache_offline_then_verify_online(world) -> None:
    target = world["tmp"] / "empty cache E"
    user_hub = world["source"] / "huggingface" / "hub"  # where a whisperX run would have left the model
    adopted = cache_models(world["env"], target, "--adopt", "--model", "tiny-nllb", offline=True, HF_HUB_CACHE=str(user_hub))
    assert adopted.returncode == 0, adopted.stderr
    assert "adopted tiny-nllb" in adopted.stderr and "not hub-verified" in adopted.stderr
    manifest = json.loads((target / "manifests" / "tiny-nllb.json").read_text())
    assert manifest["adopted_from"] == str(user_hub) and manifest["hub_verified"] is False
    assert all(len(f["sha256"]) == 64 for f in manifest["files"])
    ran = translate_offline(world["env"], target, world["tmp"] / "job E")
    assert ran.returncode == 0, ran.stderr[-3000:]
    verified = cache_models(world["env"], target, "--verify")  # online: the fake hub confirms every hash
    assert verified.returncode == 0, verified.stderr
    assert json.loads((target / "manifests" / "tiny-nllb.json").read_text())["hub_verified"] is True
