"""A damaged model is caught before it is used, or fails in one line; --verify finds the rest.

On the tiny NLLB (tests/integration/tinymodels.py) in a real cache layout with the
completion record cache-models.sh writes, the translate stage is run on a hand-made
aligned.json after its weights file was:
- truncated (the record unchanged): refused at once as "changed on disk";
- truncated and "resized" in the record too (its time still tells): refused the same way;
- overwritten with random bytes at the same size, its time put back: it can only fail to
  load, and does so in one line naming model, path and fix, the traceback in the log only;
- damaged inside its tensors, same size and time: nothing short of hashing sees it, and
  ``cache-models.sh --verify`` does, and records the full verify.
A file only touched (content intact) is refused, and accepted again after --verify.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration import pipeline_runs as pr
from tests.integration.test_translate_stage import write_aligned

pytestmark = [pytest.mark.ml, pytest.mark.slow,
              pytest.mark.skipif(not pr.ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)")]

CHANGED = "model tiny-nllb was changed on disk since it was cached"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("pristine cache")
    script = ("import sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
              "from tests.integration import tinymodels as t; c = Path(sys.argv[1]); t.build_tiny_nllb(c); t.write_registry(c)")
    built = subprocess.run([str(pr.ML_PYTHON), "-c", script, str(cache), str(pr.REPO)], capture_output=True, text=True,
                           timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    return cache


@pytest.fixture
def cache(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "cache"
    shutil.copytree(pristine, copy, symlinks=True)  # copy2: times kept, as cp -a would
    return copy


def weights(cache: Path) -> Path:
    (path,) = cache.glob("huggingface/hub/models--test-org--tiny-nllb/snapshots/*/model.safetensors")
    return path


def record(cache: Path) -> dict:
    return json.loads((cache / "manifests" / "tiny-nllb.json").read_text())


def translate(cache: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    job = tmp_path / "job"
    job.mkdir(exist_ok=True)
    write_aligned(job / "aligned.json", "en")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "TRANSLATE", "MAX_SENTENCE", "HF_"))}
    env.update(MODEL_CACHE_DIR=str(cache), HF_HOME=str(cache / "huggingface"), HF_HUB_OFFLINE="1",
               MODELS_TOML=str(cache / "models.toml"), TRANSLATE_BEAMS="1", MAX_SENTENCE_TOKENS="16", DEVICE="cpu",
               TRANSLATOR="nllb", TRANSLATE_CT2="off", LLM_POSTEDIT="0", SRC="en", GLOSSARY="", FILE="",
               PYTHONPATH=str(pr.REPO))
    return subprocess.run([str(pr.ML_PYTHON), str(pr.REPO / "stages" / "translate.py"), str(job / "aligned.json"),
                           "-o", str(job / "translation.fr.json"), "--language", "fr", "--job-dir", str(job)],
                          cwd=pr.REPO, env=env, capture_output=True, text=True, timeout=600, check=False)


def verify(cache: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MODEL_CACHE_DIR=str(cache), MODELS_TOML=str(cache / "models.toml"),
               HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_ETAG_TIMEOUT="2", HF_HUB_DOWNLOAD_TIMEOUT="2")
    return subprocess.run([str(pr.COMMON_PYTHON), "-m", "shared.model_cache", "--verify"], cwd=pr.REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def put_back_time(path: Path, entry: dict) -> None:
    os.utime(path, ns=(entry["mtime_ns"], entry["mtime_ns"]))


def test_an_intact_cache_translates(cache: Path, tmp_path: Path) -> None:
    result = translate(cache, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_truncated_weights_file_is_refused_before_loading(cache: Path, tmp_path: Path) -> None:
    path = weights(cache)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    result = translate(cache, tmp_path)
    assert result.returncode != 0
    assert CHANGED in result.stderr and "run ./cache-models.sh --verify" in result.stderr
    assert "Traceback" not in result.stderr
    assert CHANGED in (tmp_path / "job" / "logs" / "translate.log").read_text()  # the log says why too


def test_a_truncated_file_recorded_with_its_new_size_is_still_refused(cache: Path, tmp_path: Path) -> None:
    path = weights(cache)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - 1000)
    manifest = record(cache)
    for entry in manifest["files"]:
        if entry["path"] == "model.safetensors":
            entry["size"] = path.stat().st_size  # the record "resized" to match; its time still tells
    (cache / "manifests" / "tiny-nllb.json").write_text(json.dumps(manifest))
    result = translate(cache, tmp_path)
    assert result.returncode != 0 and CHANGED in result.stderr and "modified" in result.stderr
    assert "Traceback" not in result.stderr


def test_random_bytes_at_the_same_size_and_time_fail_in_one_line(cache: Path, tmp_path: Path) -> None:
    path = weights(cache)
    entry = next(e for e in record(cache)["files"] if e["path"] == "model.safetensors")
    path.write_bytes(random.Random(3).randbytes(entry["size"]))
    put_back_time(path, entry)
    result = translate(cache, tmp_path)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "could not be loaded" in line]
    assert len(errors) == 1 and "model tiny-nllb" in errors[0] and str(path.parent) in errors[0]
    assert "run ./cache-models.sh --verify" in errors[0]
    log = (tmp_path / "job" / "logs" / "translate.log").read_text()
    assert "Traceback (most recent call last)" in log and "could not be loaded" in log  # the traceback: log only


def test_damage_inside_the_tensors_is_found_by_verify_which_records_the_full_verify(cache: Path, tmp_path: Path) -> None:
    path = weights(cache)
    entry = next(e for e in record(cache)["files"] if e["path"] == "model.safetensors")
    data = bytearray(path.read_bytes())
    data[-4000:] = random.Random(5).randbytes(4000)  # the header intact: it loads, with wrong weights
    path.write_bytes(bytes(data))
    put_back_time(path, entry)
    assert translate(cache, tmp_path).returncode == 0  # size and time match: only a hash can tell
    result = verify(cache)
    assert result.returncode == 1
    assert "corrupt: tiny-nllb: model.safetensors does not match its recorded sha256" in result.stderr
    last = json.loads((cache / "manifests" / ".last-verify.json").read_text())
    assert last["failures"] == 1 and last["models"] == ["tiny-nllb"] and last["verified_at"]


def test_a_touched_but_intact_file_is_accepted_again_after_verify(cache: Path, tmp_path: Path) -> None:
    path = weights(cache)
    later = path.stat().st_mtime_ns + 3600 * 10**9
    os.utime(path, ns=(later, later))
    refused = translate(cache, tmp_path)
    assert refused.returncode != 0 and CHANGED in refused.stderr
    checked = verify(cache)
    assert checked.returncode == 0, checked.stderr
    assert "ok: tiny-nllb" in checked.stderr
    assert record(cache)["verified_at"]
    again = translate(cache, tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
