"""docs/settings.md is generated from config/pipeline.env and must not drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shared import settings

REPO = Path(__file__).resolve().parents[2]


def test_committed_settings_page_equals_the_generated_one() -> None:
    committed = (REPO / settings.SETTINGS_DOC).read_text(encoding="utf-8")
    assert committed == settings.settings_markdown(REPO), "docs/settings.md is stale: run python -m shared.settings docs"


def test_every_setting_has_a_row_with_its_default_and_meaning() -> None:
    page = settings.settings_markdown(REPO)
    for setting in settings.read_defaults(REPO).values():
        assert setting.doc, f"{setting.name} has no comment in config/pipeline.env"
        (row,) = [line for line in page.splitlines() if line.startswith(f"| `{setting.name}` |")]
        assert (f"`{setting.default}`" if setting.default else "(empty)") in row


def test_generator_escapes_table_syntax_and_checks(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "pipeline.env").write_text("# --- odd ---\n# a | b, see <here>\nODD_TOKEN=x|y\n")
    page = settings.settings_markdown(tmp_path)
    assert "| `ODD_TOKEN` | `x\\|y` | a \\| b, see &lt;here> Secret: never printed or logged. |" in page
    assert "## odd" in page


def test_check_command_reports_a_stale_page() -> None:
    ok = subprocess.run([sys.executable, "-m", "shared.settings", "docs", "--check"], cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "shared.settings", "nonsense"], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
