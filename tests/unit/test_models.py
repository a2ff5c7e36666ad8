"""The registry (config/models.toml) and stage-side model resolution, without a network."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from shared import models, policy, selection

ROOT = Path(__file__).resolve().parents[2]
ML_SITE = next(iter(sorted((ROOT / ".venvs" / "ml").glob("lib/python3*/site-packages"))), None)
CPU = {"DEVICE": "cpu", "SRC": "auto", "TGT": "", "ASR_BACKEND": "auto", "ASR_MODEL": "", "ALIGN": "auto",
       "VAD": "auto", "SEPARATE": "auto", "TRANSLATOR": "auto"}


@pytest.fixture(autouse=True)
def real_registry(monkeypatch):
    monkeypatch.delenv("MODELS_TOML", raising=False)


def ml_source(relative: str) -> str:
    if ML_SITE is None or not (ML_SITE / relative).is_file():
        pytest.skip("the ml environment is not built")
    return (ML_SITE / relative).read_text(encoding="utf-8")


def dict_literal(source: str, name: str) -> dict:
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found")


def test_registry_has_every_kind_of_model_with_complete_entries():
    reg = models.registry(ROOT)
    for model_id in ("tiny", "tiny.en", "base", "small", "medium", "large-v3", "large-v3-turbo", "tiny.en-bundled",
                     "mlx-large-v3-turbo", "align-en", "align-hi", "align-ur", "align-te", "align-ml", "vad-pyannote",
                     "vad-silero", "diarization-community-1", "htdemucs", "htdemucs_ft", "indictrans2-indic-en-1B",
                     "indictrans2-en-indic-1B", "indictrans2-indic-indic-1B", "indictrans2-indic-en-dist-200M",
                     "indictrans2-en-indic-dist-200M", "indictrans2-indic-indic-dist-320M", "nllb-200-distilled-600M",
                     "nllb-200-1.3B", "nllb-200-distilled-1.3B", "nllb-200-3.3B"):
        assert model_id in reg, model_id
    for spec in reg.values():
        assert spec.size_mb > 0 and spec.licence and spec.platforms, spec.id
        assert spec.group in (*models.GROUP_FLAGS, "vad"), spec.id
        if spec.source == "hf":
            assert re.fullmatch(r"[\w.-]+/[\w.-]+", spec.repo), spec.id
    assert all(reg[i].gated for i in reg if i.startswith("indictrans2-")) and reg["diarization-community-1"].gated
    assert not reg["nllb-200-distilled-600M"].gated


def test_faster_whisper_repos_are_faster_whispers_own():
    table = dict_literal(ml_source("faster_whisper/utils.py"), "_MODELS")
    reg = models.registry(ROOT)
    for model_id in ("tiny", "tiny.en", "base", "small", "medium", "large-v3", "large-v3-turbo"):
        assert reg[model_id].repo == table[model_id]


def test_aligners_are_whisperx_defaults():
    source = ml_source("whisperx/alignment.py")
    hf_table = dict_literal(source, "DEFAULT_ALIGN_MODELS_HF")
    torch_table = dict_literal(source, "DEFAULT_ALIGN_MODELS_TORCH")
    for lang, repo in hf_table.items():
        assert models.aligner_for(lang, ROOT).repo == repo
    for lang, bundle in torch_table.items():
        spec = models.aligner_for(lang, ROOT)
        assert spec.source == "url" and bundle in spec.description
        assert spec.url == f"https://download.pytorch.org/torchaudio/models/{spec.filename}"


def test_demucs_signatures_match_demucs_bags():
    for model_id, bag in (("htdemucs", "htdemucs.yaml"), ("htdemucs_ft", "htdemucs_ft.yaml")):
        sigs = re.findall(r"'(\w{8})'", ml_source(f"demucs/remote/{bag}"))
        spec = models.registry(ROOT)[model_id]
        assert set(spec.allow_patterns) == {bag, *(f"{s}.safetensors" for s in sigs)}


def test_package_models_resolve_to_files_of_the_ml_environment():
    ml_source("whisperx/alignment.py")
    assert models.resolve("vad-pyannote", Path("/nonexistent"), ROOT).name == "pytorch_model.bin"
    assert models.resolve("vad-silero", Path("/nonexistent"), ROOT).is_file()
    bundled = models.resolve("tiny.en-bundled", Path("/nonexistent"), ROOT)
    assert {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in bundled.iterdir()}


def test_defaults_per_hardware_class():
    assert selection.default_model("asr", "cpu", ROOT) == "small"
    assert selection.default_model("asr", "cuda", ROOT) == "large-v3"
    assert selection.default_model("asr_mlx", "apple-silicon", ROOT).startswith("mlx-")
    assert selection.default_model("indictrans2:indic-en", "cpu", ROOT) == "indictrans2-indic-en-dist-200M"
    with pytest.raises(models.RegistryError):
        selection.default_model("asr_mlx", "cpu", ROOT)


def test_languages_and_translation_choices():
    assert models.aligner_for("hin_Deva", ROOT).id == "align-hi"
    assert models.aligner_for("xx", ROOT) is None
    assert selection.translation_direction("hin", "en") == "indic-en"
    assert selection.translation_direction("en", "ta") == "en-indic"
    assert selection.translation_direction("hi", "ta") == "indic-indic"
    assert selection.translation_direction("fr", "en") is None
    assert [m.id for m in models.translation_models("nllb", ROOT, "cuda")][0] == "nllb-200-distilled-1.3B"
    assert [m.id for m in models.translation_models("indictrans2", ROOT, "cpu", "en-indic")] == [
        "indictrans2-en-indic-dist-200M", "indictrans2-en-indic-1B"]


def test_stage_model_ids_follow_the_settings():
    ids = selection.stage_model_ids
    assert ids("demux", CPU, ROOT) == []
    assert ids("asr", CPU, ROOT) == ["small"]
    assert ids("asr", dict(CPU, ASR_MODEL="medium", ASR_BACKEND="mlx"), ROOT) == ["mlx-medium"]
    assert ids("vad", CPU, ROOT) == ["vad-silero"]
    assert ids("vad", dict(CPU, DEVICE="cuda"), ROOT) == ["vad-pyannote"]
    assert ids("separate", CPU, ROOT) == []
    assert ids("separate", dict(CPU, DEVICE="cuda"), ROOT) == ["htdemucs"]
    assert ids("align", dict(CPU, SRC="te"), ROOT) == ["align-te"]
    assert ids("align", dict(CPU, ALIGN="whisper"), ROOT) == []
    assert ids("translate", dict(CPU, SRC="hi", TGT="en"), ROOT) == ["indictrans2-indic-en-dist-200M"]
    assert ids("translate", dict(CPU, SRC="fr", TGT="en"), ROOT) == ["nllb-200-distilled-600M"]
    assert ids("translate", dict(CPU, SRC="hi", TGT="en", TRANSLATOR="nllb"), ROOT) == ["nllb-200-distilled-600M"]
    assert ids("translate", dict(CPU, TGT="en", TRANSLATOR="llm"), ROOT) == []
    with pytest.raises(models.RegistryError, match="ASR_MODEL=nope"):
        ids("asr", dict(CPU, ASR_MODEL="nope"), ROOT)


def write_manifest(cache: Path, spec: models.ModelSpec, files: dict[str, bytes]) -> None:
    commit = "a" * 40
    snap = models.repo_dir(cache, spec.repo) / "snapshots" / commit
    snap.mkdir(parents=True)
    for name, data in files.items():
        (snap / name).write_bytes(data)
    manifest = {"source": "hf", "repo": spec.repo, "commit": commit,
                "files": [{"path": n, "size": len(d), "sha256": "-"} for n, d in files.items()]}
    models.manifest_path(cache, spec.id).parent.mkdir(parents=True, exist_ok=True)
    models.manifest_path(cache, spec.id).write_text(json.dumps(manifest))


def test_stage_models_cached_and_resolve(tmp_path):
    cache = tmp_path / "cache"
    assert selection.stage_models_cached("mux", CPU, cache, ROOT)
    assert not selection.stage_models_cached("cache-models", CPU, cache, ROOT)
    assert not selection.stage_models_cached("asr", CPU, cache, ROOT)
    with pytest.raises(models.ModelNotCached) as caught:
        models.resolve("small", cache, ROOT)
    assert str(caught.value) == "model small is not cached: run ./cache-models.sh --whisperx"
    with pytest.raises(models.ModelNotCached, match=r"run ./cache-models.sh --model align-ja$"):
        models.resolve("align-ja", cache, ROOT)

    spec = models.registry(ROOT)["small"]
    write_manifest(cache, spec, {"model.bin": b"weights", "config.json": b"{}"})
    assert selection.stage_models_cached("asr", CPU, cache, ROOT)
    assert models.resolve("small", cache, ROOT) == models.repo_dir(cache, spec.repo) / "snapshots" / ("a" * 40)
    # A file shorter than recorded means an unfinished or damaged model.
    (models.resolve("small", cache, ROOT) / "model.bin").write_bytes(b"w")
    assert models.model_state(spec, cache, ROOT) == "partial"
    assert not selection.stage_models_cached("asr", CPU, cache, ROOT)


def test_workflow_problems_end_with_the_fix(tmp_path):
    found = selection.workflow_problems("translate", dict(CPU, SRC="hi", TGT="en"), tmp_path, ROOT)
    assert found
    for line in found:
        assert re.search(r": run \./(cache-models\.sh --[\w.-]+( [\w.-]+)?|bootstrap\.sh --envs \w+)$", line), line
    assert any(line.endswith("run ./cache-models.sh --indictrans2") for line in found)
    with pytest.raises(models.RegistryError):
        selection.workflow_stages("nope", ROOT)


def test_group_and_all_selections_stay_reasonable():
    cpu = models.all_selection(CPU, ROOT, "cpu")
    assert "htdemucs" not in cpu and "diarization-community-1" not in cpu
    assert set(models.group_selection("align", dict(CPU, SRC="ur"), ROOT, "cpu")) == {"align-en", "align-hi", "align-ur"}
    assert "htdemucs" in models.all_selection(CPU, ROOT, "cuda")
    reg = models.registry(ROOT)
    assert sum(reg[i].size_mb for i in cpu) < 10_000  # not every model of the registry


@pytest.mark.parametrize("body, message", [
    ('[[models]]\nid="a"\nstage="asr"\nbackend="x"\ngroup="whisperx"\nsource="ftp"\n', "source must be"),
    ('[[models]]\nid="a"\nstage="asr"\nbackend="x"\ngroup="whisperx"\nsource="hf"\n', "needs 'repo'"),
    ('[[models]]\nid="a"\nstage="asr"\nbackend="x"\ngroup="g"\nsource="hf"\nrepo="o/a"\n' * 2, "listed twice"),
    ('[defaults.cpu]\nasr="missing"\n', "unknown model"),
])
def test_registry_errors_name_the_problem(tmp_path, monkeypatch, body, message):
    path = tmp_path / "models.toml"
    path.write_text(body, encoding="utf-8")
    monkeypatch.setenv("MODELS_TOML", str(path))
    with pytest.raises(models.RegistryError, match=message):
        models.registry(ROOT)


def test_hardware_class_reads_bootstraps_profile(tmp_path):
    (tmp_path / "config").mkdir()
    profile = tmp_path / "config" / "hardware_cache.json"
    assert policy.hardware_class(tmp_path) == "cpu"  # no profile yet: the safe class
    profile.write_text(json.dumps({"recommended": {"device": "cuda", "hardware_class": "cuda"}}))
    assert policy.hardware_class(tmp_path) == "cuda"
    profile.write_text(json.dumps({"recommended": {"device": "mps", "hardware_class": "apple-silicon"}}))
    assert policy.hardware_class(tmp_path) == "apple-silicon"
    assert policy.hardware_class(tmp_path, {"DEVICE": "cpu"}) == "cpu"  # the user's DEVICE wins


def test_language_forms_come_from_the_one_language_table():
    assert models.normalise_language("hin_Deva") == models.normalise_language("Hindi") == "hi"
    assert models.normalise_language("auto") == "auto" and models.normalise_language("") == ""
    assert models.whisper_language("no") == "no" and models.whisper_language("nb") == "no"  # Whisper's Norwegian
    assert models.whisper_language("tam") == "ta"
    assert models.aligner_for("nob", ROOT).id == models.aligner_for("no", ROOT).id  # any form finds the aligner
    assert models.is_indic("sat_Olck") and models.is_indic("mni_Mtei") and not models.is_indic("eng")
    assert selection.translation_direction("kas_Arab", "eng_Latn") == "indic-en"
