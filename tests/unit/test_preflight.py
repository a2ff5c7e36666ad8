"""Preflight's validators, the ASR model choice it shares with the stage, the exit-status
table's launcher rule and status's "what changed" text: fast, no make, no model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared import job_locks, job_manifest, job_params, job_status, outcome, preflight, selection, settings, validation
from shared.models import ModelNotCached
from tests.helpers import model_cache

REPO = Path(__file__).resolve().parents[2]
# Settings whose value is free text (a path or a URL is checked where it is used, a secret never shown).
FREE_TEXT = {"FILE", "DIR", "RAY_ADDRESS", "LLM_BASE_URL", "LLM_MODEL", "LLM_API_KEY", "MODEL_CACHE_DIR", "HF_TOKEN"}


def test_every_setting_has_one_validator_and_its_default_passes() -> None:
    defaults = settings.read_defaults(REPO)
    assert set(defaults) - FREE_TEXT <= set(validation.VALIDATORS), "a setting without a validator"
    for name, setting in defaults.items():
        assert validation.validate(name, setting.default, {}) is None, f"the default of {name} fails its own validator"


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("DEVICE", "gpu", "did you mean cuda?"),
    ("SEPARATE", "of", "did you mean off?"),
    ("SUB_FORMATS", "srt,pdf", "pdf is not a subtitle format"),
    ("VAD_ONSET", "1.5", "must be at most 1"),
    ("ASR_BEAM_SIZE", "two", "must be a whole number"),
    ("START", "1:75", "minutes and seconds must be below 60"),
    ("TGT", "en,xx", "unknown language 'xx'"),
    ("ASR_MODEL", "smal", "did you mean small?"),
    ("ASR_TEMPERATURES", "0,2", "must be numbers in [0, 1]"),
])
def test_a_bad_value_is_named_with_its_fix(name: str, value: str, expected: str) -> None:
    problem = validation.validate(name, value, {})
    assert problem is not None and problem.startswith(f"{name}={value}: ") and expected in problem


def _problems(**values: str) -> tuple[list[str], list[str]]:
    merged = {n: s.default for n, s in settings.read_defaults(REPO).items()} | values
    problems, warnings = preflight.setting_problems(merged, list(values))
    return [p.line() for p in problems], warnings


def test_unknown_setting_on_the_command_line_gets_the_nearest_name() -> None:
    merged = {n: s.default for n, s in settings.read_defaults(REPO).items()}
    problems, _ = preflight.setting_problems(merged, ["SUB_FORMAT", "TGT", "ARGS"])
    assert [p.line() for p in problems] == ["unknown setting SUB_FORMAT: did you mean SUB_FORMATS?"]


def test_the_traps_src_equals_tgt_and_bilingual_without_tgt() -> None:
    problems, _ = _problems(SRC="en", TGT="hi,eng")
    assert any("TGT=hi,eng includes the spoken language SRC=en: drop eng from TGT" in p for p in problems)
    problems, warnings = _problems(BILINGUAL="1", TGT="")
    assert not problems and any("BILINGUAL=1 does nothing without TGT" in w for w in warnings)


# ---- the ASR model choice: preflight's and the stage's one answer -------------------------
def test_the_english_fallback_is_refused_for_auto_and_hindi(tmp_path: Path) -> None:
    if not (REPO / ".venvs" / "ml").is_dir():
        pytest.skip("the ml environment (which ships tiny.en-bundled) is not built")
    empty_cache = tmp_path / "cache"
    for language, says in ((None, "not SRC=auto"), ("hi", "not SRC=hi")):
        with pytest.raises(selection.AsrModelProblem) as caught:
            selection.choose_asr_model("", "faster-whisper", "cpu", empty_cache, REPO, language)
        message = str(caught.value)
        assert "the default ASR model small is not cached" in message and "tiny.en-bundled knows English only" in message
        assert says in message and "./cache-models.sh --model small" in message
    # English can use it, and says it is a fallback
    model_id, why = selection.choose_asr_model("", "faster-whisper", "cpu", empty_cache, REPO, "en")
    assert model_id == "tiny.en-bundled" and why.startswith("fallback: small not cached")
    # an explicit English-only model with an explicit other language: a usage error
    with pytest.raises(selection.AsrModelProblem) as caught:
        selection.choose_asr_model("tiny.en-bundled", "faster-whisper", "cpu", empty_cache, REPO, "hi")
    assert caught.value.status == outcome.USAGE and "knows English only, not SRC=hi" in str(caught.value)
    with pytest.raises(ModelNotCached):
        selection.choose_asr_model("medium", "faster-whisper", "cpu", empty_cache, REPO, "hi")


def test_a_cached_multilingual_model_is_the_fallback_for_auto(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    snap = model_cache.snapshot_dir(cache, "Systran/faster-whisper-tiny", "c" * 40)
    snap.mkdir(parents=True)
    (snap / "model.bin").write_bytes(b"x" * 10)
    model_cache.mark_cached(cache, "tiny", "Systran/faster-whisper-tiny", "c" * 40)
    model_id, why = selection.choose_asr_model("", "faster-whisper", "cpu", cache, REPO, None)
    assert model_id == "tiny" and why.startswith("fallback")
    assert selection.detected_language_problem("tiny", "hi", 0.93, REPO) is None
    refusal = selection.detected_language_problem("tiny.en", "hi", 0.87, REPO)
    assert refusal is not None and "detected language hi (probability 0.87)" in refusal and "English only" in refusal


# ---- exit statuses through make ---------------------------------------------------------
@pytest.mark.parametrize(("make_status", "lines", "expected"), [
    (0, [], outcome.OK),
    (2, [], outcome.USAGE),                                  # make's own error: nothing recorded
    (2, ["2 preflight"], outcome.USAGE),
    (2, ["3 preflight"], outcome.MISSING),
    (2, ["0 preflight", "3 asr"], outcome.MISSING),
    (2, ["0 preflight", "4 subtitle", "1 mux"], outcome.QC_FAILED),
    (2, ["0 preflight"], outcome.STAGE_FAILED),              # a stage died without a word
])
def test_the_launcher_status_rule(make_status: int, lines: list[str], expected: int) -> None:
    assert outcome.pipeline_status(make_status, lines) == expected


# ---- status: what changed, read only -----------------------------------------------------
def test_status_names_the_setting_that_changed(tmp_path: Path) -> None:
    old = {"ASR_MODEL": "tiny.en", "SRC": "hi", "GLOSSARY": ""}
    (tmp_path / "params").mkdir()
    (tmp_path / "params" / "asr.json").write_text(job_status.params_text("asr", old))
    assert job_status.params_changes(tmp_path, "asr", old) is None
    changes = job_status.params_changes(tmp_path, "asr", dict(old, ASR_MODEL="small"))
    assert changes == ["ASR_MODEL tiny.en -> small"]
    assert job_status.params_changes(tmp_path, "align", old) == ["not run with these settings yet"]
    # the text is exactly what shared.job writes, so "no change" means make will not re-run it
    job_params.write_parameters(tmp_path / "w", {"asr": old})
    assert (tmp_path / "w" / "params" / "asr.json").read_text() == job_status.params_text("asr", old)
    assert json.loads(job_status.params_text("asr", old))["stage"] == "asr"


# ---- the traps of `check` and the missing-model messages ---------------------------------
def _cache_with(tmp_path: Path, *ids_repos: tuple[str, str]) -> Path:
    cache = tmp_path / "cache"
    for model_id, repo in ids_repos:
        snap = model_cache.snapshot_dir(cache, repo, "d" * 40)
        snap.mkdir(parents=True)
        (snap / "model.bin").write_bytes(b"x")
        model_cache.mark_cached(cache, model_id, repo, "d" * 40)
    return cache


def test_optional_aligners_do_not_count_against_ready(tmp_path: Path) -> None:
    from shared import selection

    if not (REPO / ".venvs" / "ml").is_dir():
        pytest.skip("the ml environment (which ships the silero VAD) is not built")
    cache = _cache_with(tmp_path, ("small", "Systran/faster-whisper-small"))
    values = {"DEVICE": "cpu", "SRC": "hi", "ALIGN": "auto", "SEPARATE": "off", "VAD": "auto", "TGT": ""}
    assert selection.workflow_problems("transcribe", values, cache, REPO) == []
    optional = selection.workflow_optional("transcribe", values, cache, REPO)
    assert len(optional) == 1 and optional[0].startswith("model align-hi (align) would improve the timings")
    # ALIGN=wav2vec2 asks for it: then it is needed
    assert any("align-hi" in p for p in selection.workflow_problems("transcribe", dict(values, ALIGN="wav2vec2"), cache, REPO))


def test_check_names_indictrans2_where_an_auto_run_may_want_it() -> None:
    from shared import selection

    ids = selection.stage_model_ids("translate", {"DEVICE": "cpu", "SRC": "auto", "TGT": "hi", "TRANSLATOR": "auto"}, REPO)
    assert "indictrans2-en-indic-dist-200M" in ids and "nllb-200-distilled-600M" in ids


def test_a_missing_indictrans2_says_gated_and_the_alternative(tmp_path: Path) -> None:
    values = {"DEVICE": "cpu", "SRC": "hi", "TGT": "en", "TRANSLATOR": "auto", "ASR_MODEL": "", "ALIGN": "auto"}
    lines = [p.line() for p in preflight.model_problems("translate", values, tmp_path / "empty", REPO)]
    (it2,) = [line for line in lines if "indictrans2-indic-en-dist-200M" in line]
    assert "gated: accept its terms at https://huggingface.co/" in it2 and "set HF_TOKEN" in it2
    assert "or set TRANSLATOR=nllb to use NLLB instead" in it2


def test_going_back_to_the_settings_of_the_output_redoes_nothing(tmp_path: Path) -> None:
    """A run with other settings that failed rewrote params/asr.json; the next run with the settings the
    output was made with back-dates it, so make does not redo asr and every stage after it."""
    import hashlib
    import os
    import time

    good, other = {"ASR_BEAM_SIZE": "5"}, {"ASR_BEAM_SIZE": "3"}
    job_params.write_parameters(tmp_path, {"asr": good})
    params = tmp_path / "params" / "asr.json"
    started = job_locks.now_iso()
    time.sleep(1.1)
    output = tmp_path / "transcript.json"
    output.write_text("{}")
    job_manifest.record_stage(tmp_path, "asr", {"stage": "asr", "start": started,
                                       "params_sha256": hashlib.sha256(params.read_bytes()).hexdigest()})
    assert job_params.write_parameters(tmp_path, {"asr": other}) == ["asr"]  # the failed run's settings
    os.utime(params, (time.time() + 5, time.time() + 5))
    assert params.stat().st_mtime > output.stat().st_mtime
    assert job_params.write_parameters(tmp_path, {"asr": good}) == ["asr"]  # back to the output's settings
    assert params.stat().st_mtime < output.stat().st_mtime
    job_params.write_parameters(tmp_path, {"asr": other})
    assert params.stat().st_mtime > output.stat().st_mtime  # other settings: out of date as it must be
