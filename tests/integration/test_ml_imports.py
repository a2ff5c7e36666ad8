"""The ml environment that bootstrap builds really imports the pipeline's ML libraries."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ML_DIR = ROOT / ".venvs" / "ml"
ML_PYTHON = ML_DIR / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
MODULES = ["whisperx", "demucs", "pyannote.audio", "transformers", "IndicTransToolkit"]


@pytest.mark.ml
@pytest.mark.slow
@pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built (./bootstrap.sh --envs ml)")
def test_ml_environment_imports_the_stage_libraries():
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('ok', len(sys.argv) - 1)\n"
    result = subprocess.run([str(ML_PYTHON), "-c", code, *MODULES], capture_output=True, text=True,
                            timeout=600, check=False, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1] == f"ok {len(MODULES)}"
