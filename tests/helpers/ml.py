"""Running a piece of test code in the ml environment (numpy, torch, the models' libraries),
from a pytest process that runs in the dev environment.

``in_ml`` returns the JSON value of the script's ``result`` variable, so the assertions
stay in pytest (which shows what differed) and ruff lints them; the script only computes.
Skipped where the ml env is not built.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ML_PYTHON = REPO / ".venvs" / "ml" / "bin" / "python"
needs_ml = pytest.mark.skipif(not ML_PYTHON.exists(), reason="the ml environment is not built")
pytestmark = [pytest.mark.ml, needs_ml]


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ML_PYTHON), "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})


def in_ml(code: str) -> Any:
    """Run ``code`` in the ml environment; the JSON value of its variable ``result``."""
    proc = _run(textwrap.dedent(code) + "\nimport json as _j, sys as _s\n_s.stdout.write(_j.dumps(result))\n")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
