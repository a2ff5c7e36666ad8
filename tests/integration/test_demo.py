"""`make demo` offline, as CI runs it: the hub is unreachable, so tiny.en comes from its pip
package, translation is skipped with the reason, and everything promised must have run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from shared import demo, job
from tests.helpers.media import streams
from tests.integration import pipeline_runs as pr

SAMPLE = pr.REPO / "samples" / "demo.mp4"


def test_the_sample_is_small_and_has_speech_and_picture() -> None:
    assert SAMPLE.is_file(), "samples/demo.mp4 is missing: run samples/make_sample.sh"
    assert SAMPLE.stat().st_size < 400_000
    kinds = [s["codec_type"] for s in streams(SAMPLE)]
    assert kinds == ["video", "audio"]


def test_plan_offline_falls_back_to_the_packaged_model_and_skips_translation(tmp_path: Path) -> None:
    plan = demo.plan({"MODEL_CACHE_DIR": str(tmp_path)}, "hi", allow_fetch=False)
    assert plan.settings["ASR_MODEL"] == "tiny.en-bundled" and plan.settings["TGT"] == ""
    assert plan.skipped and plan.skipped[0].startswith("translation into hi (no translation model cached; run ./cache-models.sh")
    assert plan.languages == ["en"] and "translate.hi" not in plan.promised
    assert demo.plan({"MODEL_CACHE_DIR": str(tmp_path)}, "", allow_fetch=False).skipped == []


@pytest.fixture(scope="module")
def offline_demo(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("demo") / "out"
    cache = tmp_path_factory.mktemp("cache")
    # A hub that refuses connections: the download code runs and fails at once, as offline.
    env = pr.clean_env(cache, OUT_DIR=str(out), HF_ENDPOINT="http://127.0.0.1:9")
    for name in ("ASR_MODEL", "HF_HUB_OFFLINE"):
        env.pop(name)
    proc = subprocess.run(["make", "--no-print-directory", "demo"], cwd=pr.REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    return {"proc": proc, "out": out, "cache": cache, "env": env}


@pytest.mark.slow
@pytest.mark.ml
@pytest.mark.skipif(not pr.ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)")
def test_make_demo_offline(offline_demo) -> None:
    proc = offline_demo["proc"]
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert any(line.startswith("demo: ASR uses tiny.en-bundled") for line in lines)
    skipped = [line for line in lines if line.startswith("demo: skipped: ")]
    assert len(skipped) == 1 and "translation into hi (no translation model cached" in skipped[0]
    directory = offline_demo["out"] / job.slug(SAMPLE)
    muxed = directory / "demo.subtitled.mp4"
    subtitle_streams = streams(muxed, "subtitle")
    assert len(subtitle_streams) == 1 and subtitle_streams[0]["tags"]["language"] == "eng"
    manifest = json.loads((directory / "manifest.json").read_text())["stages"]
    assert {"demux", "separate", "vad", "asr", "align", "subtitle", "mux"} <= set(manifest)
    assert manifest["asr"]["model"] == "tiny.en-bundled"
    text = (directory / "transcript.txt").read_text().lower()
    for words in ("welcome to the subtitle pipeline demo", "thank you for watching"):
        assert words in text
    assert json.loads((directory / "subs" / "demo.en.qc.json").read_text())["violation_count"] == 0
    # a second `make demo` finds the job done
    again = subprocess.run(["make", "--no-print-directory", "demo"], cwd=pr.REPO, env=offline_demo["env"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "asr: " not in again.stderr
