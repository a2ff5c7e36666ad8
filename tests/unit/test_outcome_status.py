"""A stage's exit status comes from the error itself (shared.outcome.status_of): a missing model
or environment is 3 whichever stage and exception type report it; anything else is 1."""

from __future__ import annotations

import click
import pytest

from shared import environment_manager, models, outcome
from shared.speech import stage as speech_stage


@pytest.mark.parametrize("error", [models.ModelNotCached("vad-x", "run ./cache-models.sh --model vad-x"),
                                   speech_stage.ModelMissing("model vad-x is not cached"),
                                   environment_manager.EnvironmentError_("the ml environment is not built")])
def test_a_missing_model_or_environment_exits_3_however_it_is_reported(error: Exception, monkeypatch) -> None:
    assert outcome.status_of(error) == outcome.MISSING

    @click.command()
    def stage() -> None:
        try:
            raise error
        except Exception as exc:
            raise click.ClickException(str(exc)) from None  # the cause hidden, as stages/vad.py does

    monkeypatch.setattr("sys.argv", ["vad.py"])
    monkeypatch.delenv("PIPELINE_RESULT", raising=False)
    with pytest.raises(SystemExit) as ended:
        outcome.run_stage(stage, "vad")
    assert ended.value.code == outcome.MISSING


def test_other_failures_exit_1_and_a_status_outside_the_table_is_ignored() -> None:
    class Http(Exception):
        status = 404

    assert outcome.status_of(ValueError("bad")) == outcome.STAGE_FAILED
    assert outcome.status_of(Http()) == outcome.STAGE_FAILED
    assert outcome.status_of(None) == outcome.STAGE_FAILED
