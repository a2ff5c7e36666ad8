"""shared.policy: the one place for the stage list, GPU stages, cache root, every "auto", secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared import atomic, gpu_lock, job_params, models, policy, selection
from shared import environment_manager as em

REPO = Path(__file__).resolve().parents[2]


def test_every_stage_list_is_the_policy_one() -> None:
    """The Makefile, job_params.py, gpu_lock and environments.toml name the same stages as policy.STAGES."""
    assert job_params.STAGES == policy.STAGES
    assert gpu_lock.GPU_STAGES == policy.GPU_STAGES
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    found = re.search(r"^GPU_STAGES := (.*)$", makefile, re.M)
    assert found is not None and tuple(found.group(1).split()) == policy.GPU_STAGES
    rules = set(re.findall(r"\$\(call run-stage,([a-z-]+)\)", makefile))
    assert rules == set(policy.STAGES)
    mgr = em.Manager(root=REPO, tag="linux-x86_64", environ={})
    assert [s for s in mgr.stages() if s in policy.STAGES] == list(policy.STAGES)
    assert mgr.workflows()["subtitle"] == list(policy.STAGES)
    for stage in policy.STAGES:
        assert (REPO / "stages" / f"{stage}.py").is_file()


def test_cache_root_is_decided_once(tmp_path: Path) -> None:
    assert policy.cache_root({}, tmp_path) == tmp_path / ".cache"
    assert policy.cache_root({"MODEL_CACHE_DIR": "models"}, tmp_path) == tmp_path / "models"
    assert policy.cache_root({"MODEL_CACHE_DIR": str(tmp_path / "abs")}, REPO) == tmp_path / "abs"
    mgr = em.Manager(root=REPO, tag="linux-x86_64", environ={})
    assert mgr.cache_root({"MODEL_CACHE_DIR": "models"}) == REPO / "models"
    # No module computes the cache root by hand any more.
    offenders = []
    for path in [*(REPO / "shared").rglob("*.py"), *(REPO / "stages").glob("*.py")]:
        if path.name != "policy.py" and '/ ".cache"' in path.read_text(encoding="utf-8"):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_settings_defaults_come_from_pipeline_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert policy.default("VAD_ONSET") == "0.5"
    assert policy.setting("VAD_ONSET", environ={}) == "0.5"
    assert policy.setting("VAD_ONSET", environ={"VAD_ONSET": "0.7"}) == "0.7"
    with pytest.raises(KeyError):
        policy.default("NOT_A_SETTING")


@pytest.mark.parametrize(("device", "vad", "separate"), [("cpu", "silero", False), ("cuda", "pyannote", True),
                                                         ("mps", "silero", True)])
def test_auto_follows_the_hardware_class_defaults(device: str, vad: str, separate: bool) -> None:
    """VAD and SEPARATE auto are the hardware class's models.toml defaults: Apple Silicon runs Silero (the bug: pyannote)."""
    hw_class = policy.DEVICE_CLASS.get(device, "cpu")
    table = models.class_defaults(hw_class, REPO)
    assert policy.vad_backend("auto", device, REPO) == vad
    assert models.get_spec(table["vad"], REPO).backend == vad
    assert selection.stage_model_ids("vad", {"DEVICE": device, "VAD": "auto"}, REPO) == [table["vad"]]
    assert policy.separate_on("auto", device, REPO) is separate is bool(table["separate"])
    assert policy.vad_backend("pyannote", "cpu", REPO) == "pyannote"
    assert policy.separate_on("on", "cpu", REPO) is True


def test_asr_backend_auto_agrees_between_environment_manager_and_models(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    for name in ("environments.toml", "pipeline.env", "models.toml"):
        (tmp_path / "config" / name).write_bytes((REPO / "config" / name).read_bytes())
    (tmp_path / "config" / "hardware_cache.json").write_text(json.dumps(
        {"recommended": {"device": "mps", "asr_backend": "mlx", "hardware_class": "apple-silicon"}}))
    mgr = em.Manager(root=tmp_path, tag="macos-arm64", environ={})
    assert mgr.stage_environment_name("asr") == "mlx"
    assert policy.resolve_auto("ASR_BACKEND", {"ASR_BACKEND": "auto"}, tmp_path) == "mlx"
    assert selection.asr_model_id({"ASR_BACKEND": "auto"}, tmp_path).startswith("mlx-")
    # DEVICE=cpu on the same Mac: both say whisperx.
    values = {"ASR_BACKEND": "auto", "DEVICE": "cpu"}
    assert mgr.stage_environment_name("asr", dict(mgr.settings(), **values)) == "ml"
    assert not selection.asr_model_id(values, tmp_path).startswith("mlx-")
    assert policy.resolve_auto("DEVICE", {}, tmp_path) == "mps"
    assert policy.resolve_auto("VAD", {"VAD": "auto"}, tmp_path) == "silero"


def test_every_file_a_stage_reads_is_passed_by_make_and_is_its_prerequisite() -> None:
    """The Makefile shows the whole graph: each "$(J)/..." a recipe passes is a target or prerequisite."""
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    checked = {}
    for i, line in enumerate(lines):
        found = re.search(r"\$\(call run-stage,([a-z-]+)\)", line)
        if not found or not line.startswith("\t"):
            continue
        targets, _, prerequisites = lines[i - 1].partition(":")
        declared = set((targets + " " + prerequisites.lstrip("&:")).split())
        passed = set(re.findall(r'"(\$\(J\)/[^"]+)"', line)) | ({"$(TRACKS)"} if '"$(TRACKS)"' in line else set())
        passed = {p for p in passed if "$@" not in p}
        missing = passed - declared
        assert not missing, (found.group(1), missing)
        checked[found.group(1)] = passed
    assert "$(J)/media.json" in checked["subtitle"]  # the bug: subtitle read media.json behind Make's back
    assert "$(J)/speech.json" in checked["align"]


@pytest.mark.parametrize("writer", ["shared.subtitles.formats:atomic_write_text", "shared.hardware:write_atomic",
                                    "shared.model_cache:atomic_write_text", "shared.atomic:write_text"])
def test_every_atomic_writer_leaves_temporaries_that_remove_stale_temporaries_cleans(tmp_path: Path, writer: str) -> None:
    """A writer killed between writing and renaming leaves a temporary the next run removes (the
    formats writer's used to stay forever)."""
    import subprocess
    import sys

    module, name = writer.split(":")
    target = tmp_path / "movie.en.srt"
    script = (f"import os, sys; from pathlib import Path; import {module} as m; os.replace = lambda *a: os._exit(9); "
              f"m.{name}(Path(sys.argv[1]), 'text')")
    result = subprocess.run([sys.executable, "-c", script, str(target)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 9, result.stderr
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and not target.exists()
    assert [p.name for p in atomic.remove_stale_temporaries(target)] == left
    assert list(tmp_path.iterdir()) == []
