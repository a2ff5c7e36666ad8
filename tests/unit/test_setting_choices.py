"""A setting with a fixed list of values has that list once (shared.validation): preflight
checks against it, every stage's click.Choice offers it, and the code tables that run the
choices (the backends, the aligners, the translators) agree with it."""

from __future__ import annotations

import ast
from pathlib import Path

import click
import pytest

from shared import stage as skeleton
from shared import validation

REPO = Path(__file__).resolve().parents[2]


def test_the_domain_tables_offer_what_the_setting_accepts() -> None:
    from shared.speech import align, asr, vad
    from shared.translation import routing

    assert validation.choices_of("ALIGN") == align.METHODS
    assert set(validation.choices_of("ASR_BACKEND")) == {"auto", *asr.ASR_BACKENDS}
    assert set(validation.choices_of("VAD")) == {"auto", *vad.VAD_BACKENDS}
    assert set(validation.choices_of("TRANSLATOR")) == set(routing.TRANSLATORS)


def test_a_stage_option_accepts_what_preflight_accepts_in_any_case() -> None:
    kind = skeleton.choice_of("DIARIZE_BACKEND")
    assert tuple(kind.choices) == validation.choices_of("DIARIZE_BACKEND")
    assert kind.convert("Senko", None, None) == "senko"  # preflight lowers the case too
    assert validation.validate("DIARIZE_BACKEND", "Senko") is None
    with pytest.raises(click.BadParameter):
        kind.convert("senk", None, None)
    assert "did you mean senko" in validation.validate("DIARIZE_BACKEND", "senk")
    with pytest.raises(KeyError):
        validation.choices_of("BATCH_SIZE")  # a number, not a list


def test_no_stage_spells_out_a_settings_values_again() -> None:
    """Every click.Choice in stages/ is either choice_of(SETTING) or an option that is no setting."""
    literal = []
    for path in sorted((REPO / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "Choice"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "click"):
                values = ast.literal_eval(node.args[0]) if node.args else None
                literal.append((path.name, tuple(values or ())))
    # --fbank: a switch for tests and debugging, not a setting
    assert literal == [("diarize.py", ("auto", "native", "torchaudio"))], literal
